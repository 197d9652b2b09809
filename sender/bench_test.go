package sender

import "testing"

func BenchmarkEnvelope(b *testing.B) {
	ev := message("").Event
	for b.Loop() {
		if _, err := Envelope(ev); err != nil {
			b.Fatal(err)
		}
	}
}

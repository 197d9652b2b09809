package signing

import (
	"bytes"
	"testing"
)

func BenchmarkStandard(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 512)
	secrets := []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	for b.Loop() {
		Standard(secrets, "dlv_01M82W0AMJEH7V4B3S7BBYHV4M", 1763807700, body)
	}
}

func BenchmarkHex(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 512)
	secrets := []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	for b.Loop() {
		DefaultHex.Sign(secrets, "dlv_01M82W0AMJEH7V4B3S7BBYHV4M", 1763807700, body)
	}
}

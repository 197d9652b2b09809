package redisstore

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

// A delivery's first line reads back as written, whatever its strings and
// numbers hold, and reading never panics on a line that is not one.
func FuzzDeliveryLine(f *testing.F) {
	f.Add("batch.progress", "HTTP 500", `{"a":"<\u2028>"}`, 3, int64(1764380000123), "not json")
	f.Add("", "", "", 0, int64(0), `["x",1,"\"`)
	f.Add("a\"b\\c", "line\nbreak", "\x00\xff", -1, int64(-5), `[1,2,3]`)
	f.Fuzz(func(t *testing.T, typ, errText, body string, attempt int, at int64, garbage string) {
		d := &webhook.Delivery{ID: "dlv_1", TenantID: "ten_1", WebhookID: "wh_1", EventID: "evt_1", EventType: typ,
			Status: webhook.DeliveryFailed, Attempt: attempt, MaxAttempts: attempt + 1, NextRetryAt: unixMs(at), NextTrigger: webhook.TriggerManual,
			FailedAtRetry: attempt, LastResponseStatus: 500, LastResponseBody: body, LastResponseTimeMs: at, LastError: errText,
			CreatedAt: unixMs(at), UpdatedAt: unixMs(at)}
		got, attempts, err := parseDelivery(d.TenantID, d.ID, deliveryLine(d))
		if err != nil || attempts != "" {
			t.Fatalf("parse %q: %v", deliveryLine(d), err)
		}
		// JSON keeps strings as valid UTF-8: invalid bytes read back as U+FFFD.
		want := *d
		want.EventType, want.LastResponseBody, want.LastError = utf8(typ), utf8(body), utf8(errText)
		if *got != want {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", deliveryLine(d), *got, want)
		}
		// The hand-written arrays are the encoder's, byte for byte.
		f1, f2, none := float64(at)/7, math.Float64frombits(uint64(at)), (*float64)(nil)
		p1, p2 := &f1, &f2
		if want, err := compactJSON([]any{typ, errText, body, attempt, at, p1, p2, none}); err == nil {
			if got := appendArray(nil, &typ, &errText, &body, &attempt, &at, &p1, &p2, &none); string(got) != string(want) {
				t.Fatalf("appendArray = %s\nencoder     %s", got, want)
			}
		}
		_, _, _ = parseDelivery("ten_1", "dlv_1", garbage)
		_, _, _ = parseDelivery("ten_1", "dlv_1", "pending 0 "+garbage)
	})
}

func utf8(s string) string {
	return string([]rune(s))
}

// An event as CreateEvent writes it reads back by hand as the JSON decoder
// reads it, whatever its data holds; anything else is left to the decoder
// (or read the same), and reading never panics.
func FuzzEventBody(f *testing.F) {
	f.Add("batch.progress", `{"created_at":1,"x":"\"}"}`, "order-1", int64(1764380000123))
	f.Add("a.b", `{}`, "", int64(0))
	f.Add(`we"ird\`, `{"client_id":"x","created_at":2}`, `c"id`, int64(-5))
	f.Fuzz(func(t *testing.T, typ, data, clientID string, at int64) {
		if !json.Valid([]byte(data)) || !strings.HasPrefix(strings.TrimSpace(data), "{") {
			b, _ := json.Marshal(map[string]string{"k": data})
			data = string(b)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, []byte(data))
		body, err := compactJSON(storedEvent{Type: typ, Data: compact.Bytes(), ClientID: clientID, CreatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		ev := &webhook.Event{Type: typ, Data: compact.Bytes(), ClientID: clientID, CreatedAt: time.UnixMilli(at)}
		if enc, err := encodeEvent(ev); err != nil || !bytes.Equal(enc, body) {
			t.Fatalf("encodeEvent(%+v) = %s, %v; the encoder writes %s", ev, enc, err, body)
		}
		if _, ok := cutEvent(string(body)); !ok && webhook.PlainJSON(typ) && webhook.PlainJSON(clientID) {
			t.Fatalf("cutEvent(%s) left a plain event to the decoder", body)
		}
		for _, in := range []string{string(body), data, typ} {
			got, ok := cutEvent(in)
			var want storedEvent
			if ok && (json.Unmarshal([]byte(in), &want) != nil || want.Type != got.Type || !bytes.Equal(want.Data, got.Data) ||
				want.ClientID != got.ClientID || want.CreatedAt != got.CreatedAt) {
				t.Fatalf("cutEvent(%s) = %+v, the decoder reads %+v", in, got, want)
			}
		}
	})
}

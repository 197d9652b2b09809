package redisstore

import (
	"testing"

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
			EndedRetry: attempt, LastResponseStatus: 500, LastResponseBody: body, LastResponseTimeMs: at, LastError: errText,
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
		_, _, _ = parseDelivery("ten_1", "dlv_1", garbage)
		_, _, _ = parseDelivery("ten_1", "dlv_1", "pending 0 "+garbage)
	})
}

func utf8(s string) string {
	return string([]rune(s))
}

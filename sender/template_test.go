package sender

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

// A payload template is tried on a sample message when it is parsed: one
// that does not parse, fails or renders something other than JSON is
// refused; a good one renders a message's fields.
func TestParseTemplate(t *testing.T) {
	for _, bad := range []string{`{"id": {{.EventID}}}`, `{{.Nope`, `{{.Missing.Field}}`, `{"n": {{add .Attempt "x"}}}`} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("ParseTemplate(%s) took it", bad)
		}
	}
	if tmpl, err := ParseTemplate(""); tmpl != nil || err != nil {
		t.Errorf(`ParseTemplate("") = %v, %v; want the default envelope (nil)`, tmpl, err)
	}
	tmpl, err := ParseTemplate(`{"event":{{json .Type}},"retry":{{sub .Attempt 1}},"next":{{add .Attempt 1}},"at":{{.Unix}},"data":{{json .Data}}}`)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{PayloadTemplate: tmpl})
	ev := &webhook.Event{ID: "evt_1", Type: "batch.done", Data: json.RawMessage(`{"a":"<b>"}`), CreatedAt: time.Unix(1767225600, 0)}
	body, err := s.Payload(webhook.Message{Event: ev, Delivery: &webhook.Delivery{ID: "dlv_1"}, Webhook: &webhook.Webhook{ID: "wh_1"}, Attempt: 3})
	if want := `{"event":"batch.done","retry":2,"next":4,"at":1767225600,"data":{"a":"<b>"}}`; err != nil || string(body) != want {
		t.Errorf("Payload = %s, %v; want %s", body, err, want)
	}
}

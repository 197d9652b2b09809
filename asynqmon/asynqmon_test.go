package asynqmon

import (
	"testing"
	"time"

	"github.com/tidingshq/tidings/tasks"
	"github.com/tidingshq/tidings/webhook"
)

// The dashboard shows a delivery task by its IDs, in either payload form.
func TestFormatPayload(t *testing.T) {
	p := tasks.Payload{TenantID: "ten_1", DeliveryID: "dlv_1", EventID: "evt_1", WebhookID: "wh_1"}
	want := "delivery dlv_1 → webhook wh_1 (event evt_1)"
	if got := FormatPayload(tasks.TypeDeliver, p.Encode()); got != want {
		t.Errorf("FormatPayload(%s) = %q, want %q", p.Encode(), got, want)
	}
	// A delivery whose ID names its event: the payload leaves the event out.
	evt := webhook.NewID(webhook.PrefixEvent, time.Now())
	p = tasks.Payload{TenantID: "ten_1", DeliveryID: webhook.NewDeliveryID(evt, nil), EventID: evt, WebhookID: "wh_1"}
	want = "delivery " + p.DeliveryID + " → webhook wh_1 (event " + evt + ")"
	if got := FormatPayload(tasks.TypeDeliver, p.Encode()); got != want {
		t.Errorf("FormatPayload(%s) = %q, want %q", p.Encode(), got, want)
	}
	if got := FormatPayload(tasks.TypeDeliver, []byte("x")); got != "unreadable payload" {
		t.Errorf("a bad payload shows %q", got)
	}
	if got := FormatPayload("other", []byte("abc")); got != "3 bytes" {
		t.Errorf("another task type shows %q", got)
	}
}

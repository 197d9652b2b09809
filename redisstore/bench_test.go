package redisstore

import (
	"testing"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

// BenchmarkParseDelivery reads a delivery's first line, as Begin does for
// every attempt.
func BenchmarkParseDelivery(b *testing.B) {
	now := time.Now()
	d := &webhook.Delivery{ID: webhook.NewID(webhook.PrefixDelivery, now), WebhookID: webhook.NewID(webhook.PrefixWebhook, now),
		EventID: webhook.NewID(webhook.PrefixEvent, now), EventType: "batch.progress", Status: webhook.DeliveryPending, Attempt: 2,
		MaxAttempts: 8, NextTrigger: webhook.TriggerScheduled, LastResponseStatus: 500, LastError: "HTTP 500", CreatedAt: now, UpdatedAt: now}
	line := deliveryLine(d)
	for b.Loop() {
		if _, _, err := parseDelivery("ten_1", d.ID, line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAttemptEncoding writes what RecordAttempt stores for every
// attempt: the attempt's line and the delivery's new header.
func BenchmarkAttemptEncoding(b *testing.B) {
	ms := 12.5
	now := time.Now()
	a := &webhook.Attempt{Attempt: 1, At: now, Trigger: webhook.TriggerScheduled, ResponseStatus: 200, ResponseTimeMs: 3,
		Timing: webhook.Timing{ConnectMs: &ms, FirstByteMs: &ms}}
	d := &webhook.Delivery{ID: webhook.NewID(webhook.PrefixDelivery, now), WebhookID: webhook.NewID(webhook.PrefixWebhook, now),
		EventID: webhook.NewID(webhook.PrefixEvent, now), EventType: "batch.progress", Status: webhook.DeliverySucceeded, Attempt: 1,
		MaxAttempts: 8, NextTrigger: webhook.TriggerScheduled, LastResponseStatus: 200, CreatedAt: now, UpdatedAt: now}
	for b.Loop() {
		_, _ = storeAttempt(a).MarshalJSON()
		_ = headerOf(d)
	}
}

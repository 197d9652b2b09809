package tasks_test

import (
	"context"
	"testing"
	"time"

	"github.com/tidingshq/tidings/redisstore"
	"github.com/tidingshq/tidings/tasks"
	"github.com/tidingshq/tidings/webhook"
)

// A publish matches its event against the webhooks the store keeps in
// process, and the write checks that they are current: a change made by
// another process (its own store) shows in the very next publish, single
// or batch, and what a publish answers is what it stored.
func TestPublishSeesOtherProcessesChanges(t *testing.T) {
	f := newRollbackFixture(t)
	ctx := context.Background()
	ten := f.ep.TenantID
	other := redisstore.New(f.rc, redisstore.Options{Retention: time.Hour}) // another process
	publish := func(name string, want ...string) {
		t.Helper()
		for _, batch := range []bool{false, true} {
			ev := f.event()
			var ds []*webhook.Delivery
			var err error
			if batch {
				render := func(got []*webhook.Delivery) ([]byte, error) { ds = got; return []byte(`{}`), nil }
				_, err = f.good.PublishBatch(ctx, tasks.BatchRequest{Events: []tasks.BatchEvent{{Event: ev, Render: render}},
					Render: func([]tasks.BatchItem) ([]byte, error) { return []byte(`{}`), nil }})
			} else {
				ds, err = f.good.Publish(ctx, ev)
			}
			if err != nil {
				t.Fatalf("%s (batch %v): %v", name, batch, err)
			}
			var got []string
			for _, d := range ds {
				got = append(got, d.WebhookID)
			}
			_, stored, err := f.store.GetEvent(ctx, ten, ev.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) || len(stored) != len(want) || (len(want) == 1 && (got[0] != want[0] || stored[want[0]] == "")) {
				t.Errorf("%s (batch %v): delivered to %v, stored %v; want %v", name, batch, got, stored, want)
			}
		}
	}
	publish("first publish", f.ep.ID)
	publish("kept list", f.ep.ID)
	if _, err := other.SetStatus(ctx, ten, f.ep.ID, webhook.StatusPaused, ""); err != nil {
		t.Fatal(err)
	}
	publish("after another process paused the webhook")
	now := time.Now()
	wh2 := &webhook.Webhook{ID: webhook.NewID(webhook.PrefixWebhook, now), TenantID: ten, URL: "https://example.com",
		Events: []string{"batch.*"}, Secret: webhook.NewSecret(), Status: webhook.StatusActive, CreatedAt: now, UpdatedAt: now}
	if err := other.CreateWebhook(ctx, wh2); err != nil {
		t.Fatal(err)
	}
	publish("after another process created a webhook", wh2.ID)
	wh2.Events = []string{"other.*"}
	if err := other.SaveSettings(ctx, wh2); err != nil {
		t.Fatal(err)
	}
	publish("after another process changed its filter")
}

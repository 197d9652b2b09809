package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

// Operational event types: Tidings telling a tenant about its own webhooks.
const (
	EventWebhookDisabled   = "tidings.webhook.disabled"
	EventDeliveryExhausted = "tidings.delivery.exhausted"
)

// PublishDeadline bounds one publish request. An idempotency key it claims
// is held for twice that at most, so a request cut short by a crash of the
// API or of Redis never locks its key for longer (60 s at most).
const PublishDeadline = 10 * time.Second

// IdempotencyLease is how long a publish request holds its idempotency
// keys while it runs.
const IdempotencyLease = 2 * PublishDeadline

// Publish stores an event and queues one delivery (one task) per matching
// active webhook of its tenant, however many of its filters match, and
// counts it published (Recorder.Published). When it returns nil, the event
// and every task are in Redis; on error it leaves nothing behind, unless
// the error is the replicas' (acknowledge): then both are stored.
func (q *Queue) Publish(ctx context.Context, ev *webhook.Event) ([]*webhook.Delivery, error) {
	return q.publish(ctx, ev, true)
}

// publish is Publish, which counts the event only when counted.
func (q *Queue) publish(ctx context.Context, ev *webhook.Event, counted bool) ([]*webhook.Delivery, error) {
	mark, err := q.replicaMark(ctx)
	if err != nil {
		return nil, err
	}
	var ds []*webhook.Delivery
	err = q.withWebhooks(ctx, ev.TenantID, func(webhooks []*webhook.Webhook, version string) error {
		ds = q.matching(ev, webhooks)
		return q.write(ctx, ev, ds, false, nil, version)
	})
	if err != nil {
		return nil, err
	}
	if counted {
		q.rec.Published(1)
	}
	return ds, q.acknowledge(ctx, mark, ev.TenantID, ds, false)
}

// Request is a publish request with idempotency keys: the keys
// ("h:<Idempotency-Key>", "c:<client id>") and the fingerprint of its body.
type Request struct {
	Event       *webhook.Event
	Keys        []string
	Fingerprint string
	TTL         time.Duration // how long the keys remember the response
	// Render is the response of the request once its deliveries are known;
	// the keys keep it, and replays answer it.
	Render func(ds []*webhook.Delivery) ([]byte, error)
}

// PublishOnce publishes the request's event unless one of its keys was used
// before: then it answers the first response (replayed true) when the body
// is the same, webhook.ErrIdempotencyKeyMismatch when it is not, and
// webhook.ErrIdempotencyKeyInUse while the first request still runs (for at
// most IdempotencyLease). A retry after a crash either replays the response
// of the event that was stored, queueing whatever of it was not queued yet,
// or creates the event once.
func (q *Queue) PublishOnce(ctx context.Context, r Request) (resp []byte, replayed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, PublishDeadline)
	defer cancel()
	ten := r.Event.TenantID
	mark, err := q.replicaMark(ctx)
	if err != nil {
		return nil, false, err
	}
	rec, err := q.store.ClaimIdempotency(ctx, ten, r.Keys, r.Fingerprint, IdempotencyLease)
	if err != nil {
		return nil, false, err
	}
	if rec != nil {
		resp, err := q.replay(ctx, ten, rec, r.Fingerprint)
		if err == nil {
			err = q.acknowledge(ctx, mark, ten, nil, true)
		}
		return resp, err == nil, err
	}

	var ds []*webhook.Delivery
	err = q.withWebhooks(ctx, ten, func(webhooks []*webhook.Webhook, version string) error {
		ds = q.matching(r.Event, webhooks)
		resp, err := r.Render(ds)
		if err != nil {
			return err
		}
		rec = &webhook.IdempotencyRecord{Keys: r.Keys, Fingerprint: r.Fingerprint, EventID: r.Event.ID, Response: resp, TTL: r.TTL}
		return q.write(ctx, r.Event, ds, false, rec, version)
	})
	if err != nil {
		q.release(ctx, ten, r)
		return nil, false, err
	}
	q.rec.Published(1)
	if err := q.store.CompleteIdempotency(ctx, ten, rec); err != nil {
		q.log.Warn("idempotency record not marked done", "event_id", r.Event.ID, "error", err)
	}
	return rec.Response, false, q.acknowledge(ctx, mark, ten, ds, false)
}

// replay is the answer to a request whose key was held already (rec): the
// first response when the body is the same, after queueing whatever of its
// events was not queued yet (an accepted record: the first request
// stopped); webhook.ErrIdempotencyKeyMismatch when it is not the same;
// webhook.ErrIdempotencyKeyInUse while the first request still runs.
func (q *Queue) replay(ctx context.Context, tenantID string, rec *webhook.IdempotencyRecord, fingerprint string) ([]byte, error) {
	if err := q.store.ConfirmKey(ctx, tenantID); err != nil {
		return nil, err
	}
	switch {
	case rec.Fingerprint != fingerprint:
		return nil, webhook.ErrIdempotencyKeyMismatch
	case rec.State == webhook.IdempotencyRunning:
		return nil, webhook.ErrIdempotencyKeyInUse
	case rec.State == webhook.IdempotencyAccepted:
		if err := q.finishAccepted(ctx, tenantID, rec); err != nil {
			return nil, err
		}
	}
	return rec.Response, nil
}

// release gives back the keys of a request that stored nothing.
func (q *Queue) release(ctx context.Context, tenantID string, r Request) {
	if err := q.store.ReleaseIdempotency(context.WithoutCancel(ctx), tenantID, r.Keys, r.Fingerprint); err != nil {
		q.log.Warn("idempotency keys not released; they free themselves when their lease ends", "error", err)
	}
}

// finishAccepted queues the tasks of the events (one, or a batch's) whose
// request stopped after storing them (a crash), then marks its keys done.
// A task queued already counts as queued; one whose delivery has ended
// finds it ended.
func (q *Queue) finishAccepted(ctx context.Context, tenantID string, rec *webhook.IdempotencyRecord) error {
	var ds []*webhook.Delivery
	for _, id := range strings.Fields(rec.EventID) {
		ev, byWebhook, err := q.store.GetEvent(ctx, tenantID, id)
		if err != nil {
			return fmt.Errorf("tasks: replay of accepted event %s: %w", id, err)
		}
		webhooks := make([]string, 0, len(byWebhook))
		for wh := range byWebhook {
			webhooks = append(webhooks, wh)
		}
		sort.Strings(webhooks)
		for _, wh := range webhooks {
			ds = append(ds, webhook.NewDelivery(byWebhook[wh], ev, wh, webhook.TriggerScheduled, q.settings.Schedule.Attempts(), ev.CreatedAt))
		}
	}
	if err := q.Enqueue(ctx, ds); err != nil {
		return err
	}
	return q.store.CompleteIdempotency(ctx, tenantID, rec)
}

// withWebhooks runs write, which stores new events of a tenant, with the
// tenant's webhooks to match them against: first with the list the store
// keeps in process and its version, which the write checks, so that a
// publish costs no read of the webhooks; when they changed since, with a
// list read now (version "").
func (q *Queue) withWebhooks(ctx context.Context, tenantID string, write func(webhooks []*webhook.Webhook, version string) error) error {
	if webhooks, version, ok := q.store.KeptWebhooks(tenantID); ok {
		if err := write(webhooks, version); !errors.Is(err, webhook.ErrWebhooksChanged) {
			return err
		}
	}
	webhooks, err := q.store.AllWebhooks(ctx, tenantID)
	if err != nil {
		return err
	}
	return write(webhooks, "")
}

// matching is the new deliveries of an event to the endpoints (its
// tenant's) that take it: active, with a filter that matches its type.
func (q *Queue) matching(ev *webhook.Event, webhooks []*webhook.Webhook) []*webhook.Delivery {
	var matched []string
	for _, e := range webhooks {
		if e.Status == webhook.StatusActive && webhook.Matches(e.Events, ev.Type) {
			matched = append(matched, e.ID)
		}
	}
	return q.deliveries(ev, matched...)
}

// Test sends webhook.test to one webhook whatever its filter or status; the
// delivery follows the ladder but never counts toward disabling.
func (q *Queue) Test(ctx context.Context, ep *webhook.Webhook) (*webhook.Event, *webhook.Delivery, error) {
	now := time.Now()
	data, _ := json.Marshal(map[string]string{"test_id": webhook.NewID("test_", now), "message": "This is a test webhook"})
	ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: ep.TenantID, Type: "webhook.test", Data: data, CreatedAt: now}
	d := q.deliveries(ev, ep.ID)[0]
	d.Test = true
	return ev, d, q.write(ctx, ev, []*webhook.Delivery{d}, true, nil, "")
}

// Notify publishes an operational event to a tenant through the same
// pipeline; only webhooks naming the type or tidings.* receive it. It is
// not counted as published: the metric counts what the API accepts.
func (q *Queue) Notify(ctx context.Context, tenantID, eventType string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("tasks: encode %s: %w", eventType, err)
	}
	now := time.Now()
	ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: tenantID, Type: eventType, Data: b, CreatedAt: now}
	_, err = q.publish(ctx, ev, false)
	return err
}

// deliveries are the new deliveries of an event to these webhooks, stored
// with it: their IDs are the event's (webhook.NewDeliveryID), distinct.
func (q *Queue) deliveries(ev *webhook.Event, webhookIDs ...string) []*webhook.Delivery {
	ds := make([]*webhook.Delivery, 0, len(webhookIDs))
	taken := func(id string) bool {
		return slices.ContainsFunc(ds, func(d *webhook.Delivery) bool { return d.ID == id })
	}
	for _, wh := range webhookIDs {
		ds = append(ds, webhook.NewDelivery(webhook.NewDeliveryID(ev.ID, taken), ev, wh, webhook.TriggerScheduled, q.settings.Schedule.Attempts(), ev.CreatedAt))
	}
	return ds
}

// write stores an event with its deliveries (and the accepted record of
// its idempotency keys, if any), then queues the tasks; if queueing fails
// the event and the record are removed again. version is the store's
// CreateEvent's listVersion.
func (q *Queue) write(ctx context.Context, ev *webhook.Event, ds []*webhook.Delivery, test bool, idem *webhook.IdempotencyRecord, version string) error {
	if err := q.store.CreateEvent(ctx, ev, ds, test, idem, version); err != nil {
		return err
	}
	if err := q.Enqueue(ctx, ds); err != nil {
		if derr := q.store.DeleteEvent(context.WithoutCancel(ctx), ev, ds, idem); derr != nil {
			q.log.Error("publish: event not removed after a failed enqueue", "event_id", ev.ID, "error", derr)
		}
		return err
	}
	return nil
}

package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tidingshq/tidings/webhook"
)

// queueStore is what the Queue needs of the store.
type queueStore interface {
	EndDeliveries(ctx context.Context, tenantID, webhookID string, ids []string, status webhook.DeliveryStatus, reason string) (int, error)
	SetStatus(ctx context.Context, tenantID, id string, status webhook.EndpointStatus, reason string) (bool, error)
	PendingDeliveries(ctx context.Context, tenantID, webhookID string) ([]string, error)
	Rerun(ctx context.Context, d *webhook.Delivery, extra int, trigger string) error
	AllEndpoints(ctx context.Context, tenantID string) ([]*webhook.Endpoint, error)
	GetEndpoint(ctx context.Context, tenantID, id string) (*webhook.Endpoint, error)
	CreateEvent(ctx context.Context, ev *webhook.Event, deliveries []*webhook.Delivery, test bool) error
	DeleteEvent(ctx context.Context, ev *webhook.Event, deliveries []*webhook.Delivery) error
}

// Recorder observes deliveries for metrics.
type Recorder interface {
	// Attempted counts an attempt's outcome and duration.
	Attempted(outcome webhook.Outcome, took time.Duration)
	// Waited counts a deferral (webhook.WaitConcurrency or WaitRateLimit).
	Waited(reason string)
	// Cancelled counts deliveries ended as cancelled.
	Cancelled(n int)
}

// Queue enqueues, cancels and re-runs deliveries.
type Queue struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	store     queueStore
	settings  Settings
	log       *slog.Logger
	rec       Recorder
}

// NewQueue returns a Queue. The client and inspector share the process's
// Redis client and are never closed through the Queue.
func NewQueue(client *asynq.Client, inspector *asynq.Inspector, store queueStore, settings Settings, log *slog.Logger, rec Recorder) *Queue {
	if rec == nil {
		rec = noRecorder{}
	}
	return &Queue{client: client, inspector: inspector, store: store, settings: settings, log: log, rec: rec}
}

type noRecorder struct{}

func (noRecorder) Attempted(webhook.Outcome, time.Duration) {}
func (noRecorder) Waited(string)                            {}
func (noRecorder) Cancelled(int)                            {}

// Settings returns the delivery settings.
func (q *Queue) Settings() Settings { return q.settings }

// Enqueue queues one task per delivery, a fan-out's up to enqueueParallel
// at a time (Asynq enqueues one task per round trip). A delivery already
// queued (TaskID conflict) counts as queued.
func (q *Queue) Enqueue(ctx context.Context, ds []*webhook.Delivery) error {
	errs := make([]error, len(ds))
	sem := make(chan struct{}, enqueueParallel)
	var wg sync.WaitGroup
	for i, d := range ds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := q.client.EnqueueContext(ctx, NewDeliverTask(d, q.settings)); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
				errs[i] = fmt.Errorf("tasks: enqueue %s: %w: %w", d.ID, webhook.ErrUnavailable, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// enqueueParallel bounds one fan-out's share of the Redis connection pool.
const enqueueParallel = 16

// Cancel ends pending deliveries of a webhook as cancelled and drops their
// queued tasks. A task already running finishes; its delivery stays
// cancelled.
func (q *Queue) Cancel(ctx context.Context, tenantID, webhookID string, ids []string) error {
	n, err := q.store.EndDeliveries(ctx, tenantID, webhookID, ids, webhook.DeliveryCancelled, "")
	if err != nil {
		return err
	}
	q.rec.Cancelled(n)
	for _, id := range ids {
		// Best effort: a task left behind finds its delivery cancelled.
		_ = q.inspector.DeleteTask(QueueName, id)
	}
	return nil
}

// Disable disables a webhook, cancels its pending deliveries and, when
// notify, publishes tidings.webhook.disabled to the tenant. A failing
// delivery of a tidings.* event passes notify false: operational events
// never beget operational events. A webhook already disabled is left as it
// is (several deliveries may exhaust their ladders at once).
func (q *Queue) Disable(ctx context.Context, tenantID, webhookID, reason string, notify bool) error {
	changed, err := q.store.SetStatus(ctx, tenantID, webhookID, webhook.StatusDisabled, reason)
	if err != nil || !changed {
		return err
	}
	ids, err := q.store.PendingDeliveries(ctx, tenantID, webhookID)
	if err != nil {
		return err
	}
	q.log.Warn("webhook.disabled", "tenant_id", tenantID, "webhook_id", webhookID, "reason", reason, "cancelled", len(ids))
	if err := q.Cancel(ctx, tenantID, webhookID, ids); err != nil {
		return err
	}
	if !notify {
		return nil
	}
	ep, err := q.store.GetEndpoint(ctx, tenantID, webhookID)
	if err != nil {
		return err
	}
	return q.Notify(ctx, tenantID, EventWebhookDisabled, webhook.EndpointView(ep))
}

// Operational event types: Tidings telling a tenant about its own webhooks.
const (
	EventWebhookDisabled   = "tidings.webhook.disabled"
	EventDeliveryExhausted = "tidings.delivery.exhausted"
)

// Notify publishes an operational event to a tenant through the same
// pipeline; only webhooks naming the type or tidings.* receive it.
func (q *Queue) Notify(ctx context.Context, tenantID, eventType string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("tasks: encode %s: %w", eventType, err)
	}
	now := time.Now()
	ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: tenantID, Type: eventType, Data: b, CreatedAt: now}
	_, err = q.Publish(ctx, ev)
	return err
}

// NewDelivery is a new pending delivery of ev to a webhook, with one run of
// the ladder, for an event stored before (recover).
func (q *Queue) NewDelivery(ev *webhook.Event, webhookID, trigger string, now time.Time) *webhook.Delivery {
	return webhook.NewDelivery(webhook.NewID(webhook.PrefixDelivery, now), ev, webhookID, trigger, q.settings.Schedule.Attempts(), now)
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

// Publish stores an event and queues one delivery (one task) per matching
// active webhook of its tenant, however many of its filters match. When it
// returns nil, the event and every task are in Redis; on error it leaves
// nothing behind.
func (q *Queue) Publish(ctx context.Context, ev *webhook.Event) ([]*webhook.Delivery, error) {
	endpoints, err := q.store.AllEndpoints(ctx, ev.TenantID)
	if err != nil {
		return nil, err
	}
	var matched []string
	for _, e := range endpoints {
		if e.Status == webhook.StatusActive && webhook.Matches(e.Events, ev.Type) {
			matched = append(matched, e.ID)
		}
	}
	ds := q.deliveries(ev, matched...)
	return ds, q.write(ctx, ev, ds, false)
}

// Test sends webhook.test to one webhook whatever its filter or status; the
// delivery follows the ladder but never counts toward disabling.
func (q *Queue) Test(ctx context.Context, ep *webhook.Endpoint) (*webhook.Event, *webhook.Delivery, error) {
	now := time.Now()
	data, _ := json.Marshal(map[string]string{"test_id": webhook.NewID("test_", now), "message": "This is a test webhook"})
	ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: ep.TenantID, Type: "webhook.test", Data: data, CreatedAt: now}
	d := q.deliveries(ev, ep.ID)[0]
	d.Test = true
	return ev, d, q.write(ctx, ev, []*webhook.Delivery{d}, true)
}

// write stores an event with its deliveries, then queues the tasks; if
// queueing fails the event is removed again.
func (q *Queue) write(ctx context.Context, ev *webhook.Event, ds []*webhook.Delivery, test bool) error {
	if err := q.store.CreateEvent(ctx, ev, ds, test); err != nil {
		return err
	}
	if err := q.Enqueue(ctx, ds); err != nil {
		_ = q.store.DeleteEvent(context.WithoutCancel(ctx), ev, ds)
		return err
	}
	return nil
}

// Rerun gives a finished delivery a fresh run of the ladder and queues it:
// webhook.ErrConflict if it is still pending. Asynq's TaskID stays taken
// while the old task exists in any state (archived included), so the old
// task is deleted before the same ID is queued again.
func (q *Queue) Rerun(ctx context.Context, d *webhook.Delivery, trigger string) error {
	if err := q.store.Rerun(ctx, d, q.settings.Schedule.Attempts(), trigger); err != nil {
		return err
	}
	if err := q.inspector.DeleteTask(QueueName, d.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		q.log.Warn("rerun: old task not deleted", "delivery_id", d.ID, "error", err)
	}
	return q.Enqueue(ctx, []*webhook.Delivery{d})
}

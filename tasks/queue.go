package tasks

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// queueStore is what the Queue needs of the store.
type queueStore interface {
	EndDeliveries(ctx context.Context, tenantID, webhookID string, ids []string, status webhook.DeliveryStatus, reason string) (int, error)
	SetStatus(ctx context.Context, tenantID, id string, status webhook.WebhookStatus, reason string) (bool, error)
	PendingDeliveries(ctx context.Context, tenantID, webhookID string) ([]string, error)
	DeleteWebhook(ctx context.Context, tenantID, id string) ([]string, error)
	Rerun(ctx context.Context, d *webhook.Delivery, extra int, trigger string) error
	UndoRerun(ctx context.Context, d *webhook.Delivery) (bool, error)
	AllWebhooks(ctx context.Context, tenantID string) ([]*webhook.Webhook, error)
	KeptWebhooks(tenantID string) ([]*webhook.Webhook, string, bool)
	ConfirmKey(ctx context.Context, tenantID string) error
	GetWebhook(ctx context.Context, tenantID, id string) (*webhook.Webhook, error)
	CreateEvent(ctx context.Context, ev *webhook.Event, deliveries []*webhook.Delivery, test bool, idem *webhook.IdempotencyRecord, listVersion string) error
	DeleteEvent(ctx context.Context, ev *webhook.Event, deliveries []*webhook.Delivery, idem *webhook.IdempotencyRecord) error
	GetEvent(ctx context.Context, tenantID, id string) (*webhook.Event, map[string]string, error)
	ClaimIdempotency(ctx context.Context, tenantID string, keys []string, fingerprint string, lease time.Duration) (*webhook.IdempotencyRecord, error)
	CompleteIdempotency(ctx context.Context, tenantID string, recs ...*webhook.IdempotencyRecord) error
	ReleaseIdempotency(ctx context.Context, tenantID string, keys []string, fingerprints ...string) error
	ClaimIdempotencyBatch(ctx context.Context, tenantID string, keys, fingerprints []string, lease time.Duration) ([]*webhook.IdempotencyRecord, bool, error)
	CreateEvents(ctx context.Context, tenantID string, pubs []webhook.Publication, batch *webhook.IdempotencyRecord, listVersion string) error
	DeleteEvents(ctx context.Context, tenantID string, pubs []webhook.Publication, batch *webhook.IdempotencyRecord) error
	EventsBetween(ctx context.Context, tenantID, webhookID string, since, until time.Time, after string, limit int) ([]*webhook.Event, []string, string, error)
	GetDeliveries(ctx context.Context, tenantID string, ids []string) ([]*webhook.Delivery, error)
	AddDeliveries(ctx context.Context, ev *webhook.Event, deliveries []*webhook.Delivery) error
	DeleteDeliveries(ctx context.Context, ds []*webhook.Delivery) error
}

// Recorder observes publishes and deliveries for metrics.
type Recorder interface {
	// Published counts events a publish stored (replays excluded), also
	// when the publish is answered 503 after that: they are delivered.
	Published(n int)
	// Attempted counts an attempt's outcome and duration.
	Attempted(outcome webhook.Outcome, took time.Duration)
	// Waited counts a deferral (webhook.WaitConcurrency or WaitRateLimit).
	Waited(reason string)
	// Cancelled counts deliveries ended as cancelled.
	Cancelled(n int)
}

// Queue enqueues, cancels and re-runs deliveries, and runs the jobs that
// write the store and queue tasks together: publish, re-run, recover,
// delete, disable. Each stores first and queues second, and when queueing
// fails it undoes what it stored, so a failed job leaves no pending
// delivery without a task.
type Queue struct {
	tasks     *scriptQueue
	inspector *asynq.Inspector
	store     queueStore
	settings  Settings
	log       *slog.Logger
	rec       Recorder
	replicas  replicaWaiter // nil: acknowledge without waiting
}

// NewQueue returns a Queue that writes tasks on rdb (Asynq's Redis) and
// finds them with inspector. Neither is closed through the Queue.
func NewQueue(rdb redis.UniversalClient, inspector *asynq.Inspector, store queueStore, settings Settings, log *slog.Logger, rec Recorder) *Queue {
	if rec == nil {
		rec = noRecorder{}
	}
	return &Queue{tasks: &scriptQueue{rdb: rdb}, inspector: inspector, store: store, settings: settings, log: log, rec: rec}
}

type noRecorder struct{}

func (noRecorder) Published(int)                            {}
func (noRecorder) Attempted(webhook.Outcome, time.Duration) {}
func (noRecorder) Waited(string)                            {}
func (noRecorder) Cancelled(int)                            {}

// replicaWaiter waits until replicas hold the writes made to the masters
// of some hash tags, unless a failover came since the mark
// (redisstore.Replicas).
type replicaWaiter interface {
	Mark(ctx context.Context) (string, error)
	Wait(ctx context.Context, mark string, tags ...string) error
}

// WaitForReplicas makes every publish wait on w until replicas hold what
// it wrote (TIDINGS_REDIS_WAIT_REPLICAS).
func (q *Queue) WaitForReplicas(w replicaWaiter) { q.replicas = w }

// replicaMark names the primaries in charge before a publish writes, so
// that acknowledge can tell a failover in between; "" without a waiter.
func (q *Queue) replicaMark(ctx context.Context) (string, error) {
	if q.replicas == nil {
		return "", nil
	}
	return q.replicas.Mark(ctx)
}

// acknowledge returns once the replicas hold every write a publish made
// since mark: the tenant's keys (events, deliveries, idempotency records)
// and the queues of its deliveries ds, or every delivery queue for a
// replay, whose first request's deliveries are not known here (it may have
// been answered 503 while it waited; its retry must not be answered 202
// before the replicas have it). webhook.ErrUnavailable if they do not in
// time or a failover came in between. Without a waiter it returns at once.
func (q *Queue) acknowledge(ctx context.Context, mark, tenantID string, ds []*webhook.Delivery, replayed bool) error {
	if q.replicas == nil {
		return nil
	}
	tags := []string{tenantID}
	if replayed {
		tags = append(tags, q.settings.Queues...)
	}
	for _, d := range ds {
		if name := q.settings.QueueOf(d.WebhookID); !slices.Contains(tags, name) {
			tags = append(tags, name)
		}
	}
	return q.replicas.Wait(ctx, mark, tags...)
}

// Enqueue queues one task per delivery, those of one queue in one script
// (scriptEnqueue). A delivery already queued (TaskID conflict) counts as
// queued.
func (q *Queue) Enqueue(ctx context.Context, ds []*webhook.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	return q.tasks.enqueueAll(ctx, ds, q.settings)
}

// Cancel ends pending deliveries of a webhook as cancelled and drops their
// queued tasks. A task already running finishes; its delivery stays
// cancelled. A task left behind finds its delivery cancelled, so no
// rollback is needed.
func (q *Queue) Cancel(ctx context.Context, tenantID, webhookID string, ids []string) error {
	n, err := q.store.EndDeliveries(ctx, tenantID, webhookID, ids, webhook.DeliveryCancelled, "")
	if err != nil {
		return err
	}
	q.rec.Cancelled(n)
	var others []string
	for _, id := range ids {
		_ = q.deleteTask(webhookID, id, &others)
	}
	return nil
}

// DeleteWebhook deletes a webhook and cancels its pending deliveries.
func (q *Queue) DeleteWebhook(ctx context.Context, tenantID, id string) error {
	pending, err := q.store.DeleteWebhook(ctx, tenantID, id)
	if err != nil {
		return err
	}
	return q.Cancel(ctx, tenantID, id, pending)
}

// deleteTask deletes a delivery's task from the queue it is in: its
// webhook's queue under the current shard count, else another delivery
// queue (the shard count changed since it was queued). others caches the
// list of delivery queues across calls (nil: not listed yet).
func (q *Queue) deleteTask(webhookID, id string, others *[]string) error {
	first := q.settings.QueueOf(webhookID)
	err := q.inspector.DeleteTask(first, id)
	if !taskNotFound(err) {
		return err
	}
	if *others == nil {
		all, lerr := q.inspector.Queues()
		if lerr != nil {
			return lerr
		}
		*others = []string{}
		for _, name := range all {
			if name != first && IsDeliveryQueue(name) {
				*others = append(*others, name)
			}
		}
	}
	for _, name := range *others {
		if e := q.inspector.DeleteTask(name, id); !taskNotFound(e) {
			return e
		}
	}
	return err
}

func taskNotFound(err error) bool {
	return errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound)
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
	ep, err := q.store.GetWebhook(ctx, tenantID, webhookID)
	if err != nil {
		return err
	}
	return q.Notify(ctx, tenantID, EventWebhookDisabled, webhook.WebhookView(ep))
}

// Rerun gives a finished delivery (d, as read) a fresh run of the ladder and
// queues it: webhook.ErrConflict if it is still pending. Asynq's TaskID
// stays taken while the old task exists in any state (archived included),
// so the old task is deleted before the same ID is queued again. If the
// task cannot be queued, the delivery is put back as it was.
func (q *Queue) Rerun(ctx context.Context, d *webhook.Delivery, trigger string) error {
	if err := q.store.Rerun(ctx, d, q.settings.Schedule.Attempts(), trigger); err != nil {
		return err
	}
	var others []string
	if err := q.deleteTask(d.WebhookID, d.ID, &others); err != nil && !taskNotFound(err) {
		q.log.Warn("rerun: old task not deleted", "delivery_id", d.ID, "error", err)
	}
	if err := q.Enqueue(ctx, []*webhook.Delivery{d}); err != nil {
		if _, uerr := q.store.UndoRerun(context.WithoutCancel(ctx), d); uerr != nil {
			q.log.Error("rerun: not undone after a failed enqueue", "delivery_id", d.ID, "error", uerr)
		}
		return err
	}
	return nil
}

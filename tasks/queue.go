package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/tidingshq/tidings/webhook"
)

// queueStore is what the Queue needs of the store.
type queueStore interface {
	EndDeliveries(ctx context.Context, tenantID, webhookID string, ids []string, status webhook.DeliveryStatus, reason string) (int, error)
	SetStatus(ctx context.Context, tenantID, id string, status webhook.EndpointStatus, reason string) error
	PendingDeliveries(ctx context.Context, tenantID, webhookID string) ([]string, error)
	Rerun(ctx context.Context, d *webhook.Delivery, extra int, trigger string) error
}

// Queue enqueues, cancels and re-runs deliveries.
type Queue struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	store     queueStore
	settings  Settings
	log       *slog.Logger
}

// NewQueue returns a Queue. The client and inspector share the process's
// Redis client and are never closed through the Queue.
func NewQueue(client *asynq.Client, inspector *asynq.Inspector, store queueStore, settings Settings, log *slog.Logger) *Queue {
	return &Queue{client: client, inspector: inspector, store: store, settings: settings, log: log}
}

// Settings returns the delivery settings.
func (q *Queue) Settings() Settings { return q.settings }

// Enqueue queues one task per delivery. A delivery already queued (TaskID
// conflict) counts as queued.
func (q *Queue) Enqueue(ctx context.Context, ds []*webhook.Delivery) error {
	for _, d := range ds {
		t, err := NewDeliverTask(d, q.settings)
		if err != nil {
			return err
		}
		if _, err := q.client.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("tasks: enqueue %s: %w: %w", d.ID, webhook.ErrUnavailable, err)
		}
	}
	return nil
}

// Cancel ends pending deliveries of a webhook as cancelled and drops their
// queued tasks. A task already running finishes; its delivery stays
// cancelled.
func (q *Queue) Cancel(ctx context.Context, tenantID, webhookID string, ids []string) error {
	if _, err := q.store.EndDeliveries(ctx, tenantID, webhookID, ids, webhook.DeliveryCancelled, ""); err != nil {
		return err
	}
	for _, id := range ids {
		// Best effort: a task left behind finds its delivery cancelled.
		_ = q.inspector.DeleteTask(QueueName, id)
	}
	return nil
}

// Disable disables a webhook and cancels its pending deliveries.
func (q *Queue) Disable(ctx context.Context, tenantID, webhookID, reason string) error {
	if err := q.store.SetStatus(ctx, tenantID, webhookID, webhook.StatusDisabled, reason); err != nil {
		return err
	}
	ids, err := q.store.PendingDeliveries(ctx, tenantID, webhookID)
	if err != nil {
		return err
	}
	q.log.Warn("webhook.disabled", "tenant_id", tenantID, "webhook_id", webhookID, "reason", reason, "cancelled", len(ids))
	return q.Cancel(ctx, tenantID, webhookID, ids)
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

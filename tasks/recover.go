package tasks

import (
	"context"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

// recoverBatch is how many index entries Recover reads at a time.
const recoverBatch = 500

// Recover catches a webhook up on what it missed: for every event of its
// tenant created in [since, until] that its filter matches and that has no
// succeeded delivery to it, one delivery is queued. A failed or cancelled
// one is re-run; a missing one (the webhook was paused or disabled then) is
// created. Pending ones are left alone, so running it twice queues nothing
// new. It returns how many it queued; on error, those queued before it
// stay queued, and nothing half-done is left.
func (q *Queue) Recover(ctx context.Context, ep *webhook.Webhook, since, until time.Time) (int, error) {
	requeued := 0
	after := ""
	for {
		events, dlvIDs, next, err := q.store.EventsBetween(ctx, ep.TenantID, ep.ID, since, until, after, recoverBatch)
		if err != nil {
			return requeued, err
		}
		var matched []*webhook.Event
		var recorded []string
		for i, ev := range events {
			if webhook.Matches(ep.Events, ev.Type) {
				matched, recorded = append(matched, ev), append(recorded, dlvIDs[i])
			}
		}
		existing, err := q.store.GetDeliveries(ctx, ep.TenantID, nonEmpty(recorded))
		if err != nil {
			return requeued, err
		}
		byID := make(map[string]*webhook.Delivery, len(existing))
		for _, d := range existing {
			if d != nil {
				byID[d.ID] = d
			}
		}
		for i, ev := range matched {
			d := byID[recorded[i]]
			switch {
			case d == nil: // none, or its record is gone: create one
				err = q.recoverMissing(ctx, ev, ep.ID)
			case d.Status == webhook.DeliveryFailed || d.Status == webhook.DeliveryCancelled:
				err = q.Rerun(ctx, d, webhook.TriggerRecover)
			default:
				continue // pending or succeeded
			}
			if err != nil {
				return requeued, err
			}
			requeued++
		}
		if next == "" {
			return requeued, nil
		}
		after = next
	}
}

// recoverMissing creates and queues a delivery of a stored event to a
// webhook that had none; if it cannot be queued, it is removed again.
func (q *Queue) recoverMissing(ctx context.Context, ev *webhook.Event, webhookID string) error {
	d := webhook.NewDelivery(webhook.NewID(webhook.PrefixDelivery, time.Now()), ev, webhookID, webhook.TriggerRecover, q.settings.Schedule.Attempts(), time.Now())
	ds := []*webhook.Delivery{d}
	if err := q.store.AddDeliveries(ctx, ev, ds); err != nil {
		return err
	}
	if err := q.Enqueue(ctx, ds); err != nil {
		if derr := q.store.DeleteDeliveries(context.WithoutCancel(ctx), ds); derr != nil {
			q.log.Error("recover: delivery not removed after a failed enqueue", "delivery_id", d.ID, "error", derr)
		}
		return err
	}
	return nil
}

// nonEmpty is ids without the empty ones.
func nonEmpty(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

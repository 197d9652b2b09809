package handlers

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/webhook"
)

type recoverRequest struct {
	Since *string `json:"since"`
	Until *string `json:"until"`
}

// recoverWebhook queues one delivery for every event of the tenant in the
// window that the webhook's filter matches and that has no succeeded
// delivery to it: a failed or cancelled one is re-run, a missing one (the
// webhook was paused or disabled then) is created. Pending ones are left
// alone, so running it twice queues nothing new.
func (a *API) recoverWebhook(c *gin.Context) {
	e, ok := a.endpoint(c)
	if !ok {
		return
	}
	var req recoverRequest
	if err := a.bind(c, &req, false); err != nil {
		fail(c, a.log, err)
		return
	}
	now := a.now()
	ve := &webhook.ValidationError{}
	since, until := now, now
	if req.Since == nil {
		ve.Add("since", "is required")
	} else if t, err := time.Parse(time.RFC3339Nano, *req.Since); err != nil {
		ve.Add("since", "must be an RFC 3339 time")
	} else {
		since = t
	}
	if req.Until != nil {
		if t, err := time.Parse(time.RFC3339Nano, *req.Until); err != nil {
			ve.Add("until", "must be an RFC 3339 time")
		} else {
			until = t
		}
	}
	if ve.Err() == nil && until.Before(since) {
		ve.Add("until", "must not be before since")
	}
	if err := ve.Err(); err != nil {
		fail(c, a.log, err)
		return
	}

	ctx := c.Request.Context()
	requeued := 0
	after := ""
	for {
		events, dlvIDs, next, err := a.store.EventsBetween(ctx, e.TenantID, e.ID, since, until, after, 500)
		if err != nil {
			fail(c, a.log, err)
			return
		}
		var existing []string
		var fresh []*webhook.Delivery
		byEvent := map[string]*webhook.Event{}
		for i, ev := range events {
			if !webhook.Matches(e.Events, ev.Type) {
				continue
			}
			if dlvIDs[i] != "" {
				existing = append(existing, dlvIDs[i])
				continue
			}
			d := a.queue.NewDelivery(ev, e.ID, webhook.TriggerRecover, now)
			fresh = append(fresh, d)
			byEvent[ev.ID] = ev
		}
		ds, err := a.store.GetDeliveries(ctx, e.TenantID, existing)
		if err != nil {
			fail(c, a.log, err)
			return
		}
		for _, d := range ds {
			if d == nil || (d.Status != webhook.DeliveryFailed && d.Status != webhook.DeliveryCancelled) {
				continue
			}
			if err := a.queue.Rerun(ctx, d, webhook.TriggerRecover); err != nil {
				fail(c, a.log, err)
				return
			}
			requeued++
		}
		for _, d := range fresh {
			ev := byEvent[d.EventID]
			if err := a.store.AddDeliveries(ctx, ev, []*webhook.Delivery{d}); err != nil {
				fail(c, a.log, err)
				return
			}
			if err := a.queue.Enqueue(ctx, []*webhook.Delivery{d}); err != nil {
				fail(c, a.log, err)
				return
			}
			requeued++
		}
		if next == "" {
			break
		}
		after = next
	}
	c.JSON(http.StatusAccepted, gin.H{"requeued": requeued})
}

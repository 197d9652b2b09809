package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/webhook"
)

func (a *API) listDeliveries(c *gin.Context) {
	cursor, limit, err := listParams(c, webhook.PrefixDelivery, "status", "event_type")
	f := webhook.DeliveryFilter{Status: webhook.DeliveryStatus(c.Query("status")), EventType: c.Query("event_type")}
	if _, ok := c.GetQuery("status"); ok && !webhook.ValidDeliveryStatus(string(f.Status)) {
		err = mergeInvalid(err, "status", "must be one of pending, succeeded, failed, cancelled")
	}
	if _, ok := c.GetQuery("event_type"); ok && !webhook.ValidEventType(f.EventType) {
		err = mergeInvalid(err, "event_type", "must be an event type such as batch.progress")
	}
	if err != nil {
		fail(c, a.log, err)
		return
	}
	e, ok := a.webhookOf(c)
	if !ok {
		return
	}
	page, err := a.history.ListDeliveries(c.Request.Context(), e.TenantID, e.ID, f, cursor, limit)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, renderList(page, webhook.DeliveryView))
}

func (a *API) getDelivery(c *gin.Context) {
	ctx := c.Request.Context()
	d, attempts, err := a.history.DeliveryAttempts(ctx, tenantOf(c), c.Param("id"))
	if err != nil {
		fail(c, a.log, err)
		return
	}
	out := struct {
		webhook.DeliveryJSON
		Attempts []attemptJSON `json:"attempts"`
	}{DeliveryJSON: webhook.DeliveryView(d), Attempts: make([]attemptJSON, 0, len(attempts))}
	for _, at := range attempts {
		out.Attempts = append(out.Attempts, renderAttempt(at))
	}
	c.JSON(http.StatusOK, out)
}

// retryDelivery gives a delivery that is not pending a fresh run of the
// ladder: 409 if it is pending.
func (a *API) retryDelivery(c *gin.Context) {
	ctx := c.Request.Context()
	d, err := a.history.GetDelivery(ctx, tenantOf(c), c.Param("id"))
	if err != nil {
		fail(c, a.log, err)
		return
	}
	if d.Status == webhook.DeliveryPending {
		fail(c, a.log, webhook.ErrConflict)
		return
	}
	if err := a.queue.Rerun(ctx, d, webhook.TriggerManual); err != nil {
		fail(c, a.log, err)
		return
	}
	d, err = a.history.GetDelivery(ctx, d.TenantID, d.ID)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	c.JSON(http.StatusAccepted, webhook.DeliveryView(d))
}

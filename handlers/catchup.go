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

// recoverWebhook is POST /v1/webhooks/{id}/recover: catch-up. It queues one
// delivery for every event in the window that the webhook missed
// (tasks.Queue.Recover).
func (a *API) recoverWebhook(c *gin.Context) {
	e, ok := a.webhookOf(c)
	if !ok {
		return
	}
	var req recoverRequest
	if _, err := a.bind(c, &req, false); err != nil {
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

	requeued, err := a.queue.Recover(c.Request.Context(), e, since, until)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"requeued": requeued})
}

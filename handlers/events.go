package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"sort"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/tasks"
	"github.com/tidingshq/tidings/webhook"
)

type eventRequest struct {
	Type string          `json:"type" validate:"required,eventtype"`
	Data json.RawMessage `json:"data"`
	ID   *string         `json:"id" validate:"omitempty,clientid"`
}

type publishedDelivery struct {
	ID        string `json:"id"`
	WebhookID string `json:"webhook_id"`
}

type publishResponse struct {
	ID         string              `json:"id"`
	Type       string              `json:"type"`
	ClientID   *string             `json:"client_id,omitempty"`
	CreatedAt  string              `json:"created_at"`
	Deliveries []publishedDelivery `json:"deliveries"`
}

const maxIdempotencyKey = 255

// publish is POST /v1/events: one event, one delivery (one task) per
// matching active webhook. 202 means the event and every task are in Redis.
func (a *API) publish(c *gin.Context) {
	ctx := c.Request.Context()
	tenantID := tenantOf(c)
	var req eventRequest
	body, err := a.bind(c, &req, false)
	ve := &webhook.ValidationError{}
	if err != nil && !errors.As(err, &ve) {
		fail(c, a.log, err)
		return
	}
	data, err := webhook.CanonicalJSON(req.Data)
	if err != nil && len(bytes.TrimSpace(req.Data)) > 0 {
		fail(c, a.log, errInvalidJSON("data: "+err.Error()))
		return
	}
	switch {
	case len(data) == 0 || string(data) == "null":
		ve.Add("data", "is required")
	case data[0] != '{':
		ve.Add("data", "must be a JSON object")
	}
	idemKey, hasIdem := c.Request.Header["Idempotency-Key"]
	if hasIdem && (len(idemKey[0]) == 0 || len(idemKey[0]) > maxIdempotencyKey) {
		ve.Add("Idempotency-Key", "must be 1-255 characters")
	}
	if err := ve.Err(); err != nil {
		fail(c, a.log, err)
		return
	}

	now := a.now()
	ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: tenantID, Type: req.Type, Data: data, CreatedAt: now}
	if req.ID != nil {
		ev.ClientID = *req.ID
	}
	render := func(ds []*webhook.Delivery) ([]byte, error) { return json.Marshal(publishedOf(ev, req.ID, ds)) }
	var keys []string
	if hasIdem {
		keys = append(keys, "h:"+idemKey[0])
	}
	if req.ID != nil {
		keys = append(keys, "c:"+*req.ID)
	}
	// With TIDINGS_REDIS_WAIT_REPLICAS, which primaries are in charge
	// before the first write (see replicated).
	mark, err := a.queue.ReplicaMark(ctx)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	var out []byte
	replayed := false
	if len(keys) == 0 {
		var ds []*webhook.Delivery
		if ds, err = a.queue.Publish(ctx, ev); err == nil {
			out, err = render(ds)
		}
	} else {
		out, replayed, err = a.queue.PublishOnce(ctx, tasks.Request{Event: ev, Keys: keys, Fingerprint: fingerprintOf(body),
			TTL: a.opts.IdempotencyTTL, Render: render})
	}
	if err == nil && a.queue.WaitsForReplicas() {
		err = a.replicated(ctx, mark, tenantID, out)
	}
	if err != nil {
		fail(c, a.log, err)
		return
	}
	if replayed {
		c.Header("Idempotent-Replayed", "true")
	} else {
		a.opts.Published()
	}
	c.Data(http.StatusAccepted, "application/json; charset=utf-8", out)
}

// replicated waits until replicas hold what the answer out says was
// written (TIDINGS_REDIS_WAIT_REPLICAS): the tenant's keys, the idempotency
// record included, and its deliveries' queues; a failover since mark is a
// 503. A replay waits too: the first request may have been answered 503
// while it waited, and its retry with the same key must not be answered
// 202 before the replicas have it.
func (a *API) replicated(ctx context.Context, mark, tenantID string, out []byte) error {
	var resp publishResponse
	_ = json.Unmarshal(out, &resp)
	webhookIDs := make([]string, 0, len(resp.Deliveries))
	for _, d := range resp.Deliveries {
		webhookIDs = append(webhookIDs, d.WebhookID)
	}
	return a.queue.Replicated(ctx, mark, tenantID, webhookIDs)
}

// fingerprintOf hashes a request body, ignoring insignificant whitespace.
func fingerprintOf(body []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, body) != nil {
		buf.Reset()
		buf.Write(body)
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:])
}

// publishedOf is the answer to a publish of ev.
func publishedOf(ev *webhook.Event, clientID *string, ds []*webhook.Delivery) *publishResponse {
	resp := &publishResponse{ID: ev.ID, Type: ev.Type, ClientID: clientID, CreatedAt: webhook.FormatTime(ev.CreatedAt), Deliveries: []publishedDelivery{}}
	for _, d := range ds {
		resp.Deliveries = append(resp.Deliveries, publishedDelivery{ID: d.ID, WebhookID: d.WebhookID})
	}
	return resp
}

func (a *API) testWebhook(c *gin.Context) {
	e, ok := a.endpoint(c)
	if !ok {
		return
	}
	ev, d, err := a.queue.Test(c.Request.Context(), e)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"event_id": ev.ID, "delivery_id": d.ID})
}

func (a *API) listEvents(c *gin.Context) {
	cursor, limit, err := listParams(c, webhook.PrefixEvent, "type")
	typ, hasType := c.GetQuery("type")
	if hasType && !webhook.ValidEventType(typ) {
		err = mergeInvalid(err, "type", "must be an event type such as batch.progress")
	}
	if err != nil {
		fail(c, a.log, err)
		return
	}
	page, err := a.history.ListEvents(c.Request.Context(), tenantOf(c), typ, cursor, limit)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, renderList(page, func(ev *webhook.Event) eventJSON { return renderEvent(ev, false) }))
}

func (a *API) getEvent(c *gin.Context) {
	ctx := c.Request.Context()
	ev, byWebhook, err := a.history.GetEvent(ctx, tenantOf(c), c.Param("id"))
	if err != nil {
		fail(c, a.log, err)
		return
	}
	ids := make([]string, 0, len(byWebhook))
	for _, id := range byWebhook {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ds, err := a.history.GetDeliveries(ctx, ev.TenantID, ids)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	type item struct {
		ID        string `json:"id"`
		WebhookID string `json:"webhook_id"`
		Status    string `json:"status"`
		Attempt   int    `json:"attempt"`
	}
	items := []item{}
	for _, d := range ds {
		if d != nil {
			items = append(items, item{d.ID, d.WebhookID, string(d.Status), d.Attempt})
		}
	}
	out := renderEvent(ev, true)
	out.Deliveries = items
	c.JSON(http.StatusOK, out)
}

// eventTypes is the catalog when one is configured, else the types the
// tenant has published or subscribed to.
func (a *API) eventTypes(c *gin.Context) {
	type item struct {
		Type        string `json:"type"`
		Description string `json:"description"`
	}
	out := []item{}
	if a.opts.EventTypes != nil {
		for _, t := range a.opts.EventTypes {
			out = append(out, item{t.Type, t.Description})
		}
	} else {
		types, err := a.history.EventTypes(c.Request.Context(), tenantOf(c))
		if err != nil {
			fail(c, a.log, err)
			return
		}
		for _, t := range types {
			out = append(out, item{Type: t})
		}
	}
	c.JSON(http.StatusOK, gin.H{"data": out})
}

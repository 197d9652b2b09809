package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

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
	data, err := checkData(req.Data, "", ve)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	idemKey, hasIdem := idempotencyKey(c, ve)
	if err := ve.Err(); err != nil {
		fail(c, a.log, err)
		return
	}

	ev, render := a.newEvent(tenantID, &req, data, a.now())
	var keys []string
	if hasIdem {
		keys = append(keys, "h:"+idemKey)
	}
	if req.ID != nil {
		keys = append(keys, "c:"+*req.ID)
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
	if err != nil {
		a.forgetRevoked(c, err)
		fail(c, a.log, err)
		return
	}
	if replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	c.Data(http.StatusAccepted, "application/json; charset=utf-8", out)
}

// maxBatch is the most events one batch publish carries.
const maxBatch = 100

type batchRequest struct {
	Events []json.RawMessage `json:"events"`
}

// publishBatch is POST /v1/events/batch: 1-100 events, each answered, in
// order, as a single publish of it would be; validation is all or nothing.
// 202 means every event and every task is in Redis.
func (a *API) publishBatch(c *gin.Context) {
	tenantID := tenantOf(c)
	var req batchRequest
	body, err := a.bind(c, &req, false)
	ve := &webhook.ValidationError{}
	if err != nil && !errors.As(err, &ve) {
		fail(c, a.log, err)
		return
	}
	if len(req.Events) == 0 || len(req.Events) > maxBatch {
		ve.Add("events", fmt.Sprintf("must have 1-%d items", maxBatch))
	}
	now := a.now()
	events := make([]tasks.BatchEvent, 0, len(req.Events))
	seen := map[string]int{}
	for i, raw := range req.Events {
		prefix := fmt.Sprintf("events[%d].", i)
		er, data := a.checkEvent(raw, prefix, ve)
		e := tasks.BatchEvent{Fingerprint: fingerprintOf(raw)}
		if er.ID != nil {
			if j, dup := seen[*er.ID]; dup {
				ve.Add(prefix+"id", fmt.Sprintf("repeats events[%d].id", j))
			}
			seen[*er.ID] = i
			e.Key = "c:" + *er.ID
		}
		if data != nil {
			e.Event, e.Render = a.newEvent(tenantID, er, data, now)
		}
		events = append(events, e)
	}
	idemKey, hasIdem := idempotencyKey(c, ve)
	if err := ve.Err(); err != nil {
		fail(c, a.log, err)
		return
	}
	r := tasks.BatchRequest{Events: events, TTL: a.opts.IdempotencyTTL, Render: renderBatch}
	if hasIdem {
		r.Key, r.Fingerprint = "h:"+idemKey, fingerprintOf(body)
	}
	res, err := a.queue.PublishBatch(c.Request.Context(), r)
	var ke *tasks.EventKeyError
	if errors.As(err, &ke) {
		err = conflictOn(ke.Err, fmt.Sprintf("events[%d].id", ke.Index))
	}
	if err != nil {
		a.forgetRevoked(c, err)
		fail(c, a.log, err)
		return
	}
	if res.Replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	c.Data(http.StatusAccepted, "application/json; charset=utf-8", res.Response)
}

// renderBatch is a batch's answer: {"data":[…]}, each event's answer as a
// single publish gave it, "replayed": true added to those accepted before.
func renderBatch(items []tasks.BatchItem) ([]byte, error) {
	out := []byte(`{"data":[`)
	for i, it := range items {
		if i > 0 {
			out = append(out, ',')
		}
		r := bytes.TrimSpace(it.Response)
		if it.Replayed {
			if len(r) < 2 || r[len(r)-1] != '}' {
				return nil, fmt.Errorf("handlers: replayed answer is not an object: %q", r)
			}
			out = append(append(out, r[:len(r)-1]...), `,"replayed":true}`...)
			continue
		}
		out = append(out, r...)
	}
	return append(out, "]}"...), nil
}

// checkEvent decodes and validates one element of a batch's events,
// adding what is wrong to ve with prefix ("events[i].") before each field
// name; data is its canonical JSON.
func (a *API) checkEvent(raw []byte, prefix string, ve *webhook.ValidationError) (*eventRequest, []byte) {
	var req eventRequest
	err := decode(raw, &req, false)
	if err == nil {
		err = a.val.check(&req)
	}
	var fe *webhook.ValidationError
	switch {
	case errors.As(err, &fe):
		for f, reason := range fe.Fields {
			ve.Add(prefix+f, reason)
		}
	case err != nil: // not an object: the whole body parsed
		ve.Add(strings.TrimSuffix(prefix, "."), "must be a JSON object")
		return &req, nil
	}
	data, _ := checkData(req.Data, prefix, ve)
	return &req, data
}

// checkData checks an event's data (a JSON object) and returns its
// canonical JSON; what is wrong goes to ve under prefix + "data". Data
// that is not JSON is invalid_json for a single publish (prefix ""), a
// field error in a batch.
func checkData(raw json.RawMessage, prefix string, ve *webhook.ValidationError) ([]byte, error) {
	data, err := webhook.CanonicalJSON(raw)
	if err != nil && len(bytes.TrimSpace(raw)) > 0 {
		if prefix == "" {
			return nil, errInvalidJSON("data: " + err.Error())
		}
		ve.Add(prefix+"data", "must be a JSON object")
		return nil, nil
	}
	switch {
	case len(data) == 0 || string(data) == "null":
		ve.Add(prefix+"data", "is required")
	case data[0] != '{':
		ve.Add(prefix+"data", "must be a JSON object")
	}
	return data, nil
}

// idempotencyKey reads the Idempotency-Key header, if sent.
func idempotencyKey(c *gin.Context, ve *webhook.ValidationError) (string, bool) {
	h, ok := c.Request.Header["Idempotency-Key"]
	if !ok {
		return "", false
	}
	if len(h[0]) == 0 || len(h[0]) > maxIdempotencyKey {
		ve.Add("Idempotency-Key", "must be 1-255 characters")
	}
	return h[0], true
}

// newEvent is the event a valid publish request stores, and how its answer
// is rendered once its deliveries are known.
func (a *API) newEvent(tenantID string, req *eventRequest, data []byte, now time.Time) (*webhook.Event, func([]*webhook.Delivery) ([]byte, error)) {
	ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: tenantID, Type: req.Type, Data: data, CreatedAt: now}
	if req.ID != nil {
		ev.ClientID = *req.ID
	}
	return ev, func(ds []*webhook.Delivery) ([]byte, error) { return json.Marshal(publishedOf(ev, req.ID, ds)) }
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
	e, ok := a.webhookOf(c)
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

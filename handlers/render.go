package handlers

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/redisstore"
	"github.com/tidingshq/tidings/webhook"
)

// timeOrNil renders a time in the contract's format, nil when zero.
func timeOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := formatTime(t)
	return &s
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type webhookJSON struct {
	ID             string            `json:"id"`
	URL            string            `json:"url"`
	Events         []string          `json:"events"`
	Description    string            `json:"description"`
	Headers        map[string]string `json:"headers"`
	Metadata       map[string]string `json:"metadata"`
	Status         string            `json:"status"`
	RateLimit      *int              `json:"rate_limit"`
	FailureCount   int               `json:"failure_count"`
	DisabledReason *string           `json:"disabled_reason"`
	LastDeliveryAt *string           `json:"last_delivery_at"`
	LastSuccessAt  *string           `json:"last_success_at"`
	CreatedAt      string            `json:"created_at"`
	UpdatedAt      string            `json:"updated_at"`
	Secret         string            `json:"secret,omitempty"`
}

func renderWebhook(e *webhook.Endpoint) webhookJSON {
	out := webhookJSON{
		ID: e.ID, URL: e.URL, Events: e.Events, Description: e.Description,
		Headers: e.Headers, Metadata: e.Metadata, Status: string(e.Status), FailureCount: e.FailureCount,
		LastDeliveryAt: timeOrNil(e.LastDeliveryAt), LastSuccessAt: timeOrNil(e.LastSuccessAt),
		CreatedAt: formatTime(e.CreatedAt), UpdatedAt: formatTime(e.UpdatedAt),
	}
	if out.Headers == nil {
		out.Headers = map[string]string{}
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	if e.RateLimit > 0 {
		rl := e.RateLimit
		out.RateLimit = &rl
	}
	if e.Status == webhook.StatusDisabled && e.DisabledReason != "" {
		r := e.DisabledReason
		out.DisabledReason = &r
	}
	return out
}

type deliveryJSON struct {
	ID                 string  `json:"id"`
	WebhookID          string  `json:"webhook_id"`
	EventID            string  `json:"event_id"`
	EventType          string  `json:"event_type"`
	Status             string  `json:"status"`
	Attempt            int     `json:"attempt"`
	MaxAttempts        int     `json:"max_attempts"`
	NextRetryAt        *string `json:"next_retry_at"`
	LastResponseStatus *int    `json:"last_response_status"`
	LastResponseBody   *string `json:"last_response_body"`
	LastResponseTimeMs *int64  `json:"last_response_time_ms"`
	LastError          *string `json:"last_error"`
	CreatedAt          string  `json:"created_at"`
	UpdatedAt          string  `json:"updated_at"`
}

func renderDelivery(d *webhook.Delivery) deliveryJSON {
	out := deliveryJSON{
		ID: d.ID, WebhookID: d.WebhookID, EventID: d.EventID, EventType: d.EventType, Status: string(d.Status),
		Attempt: d.Attempt, MaxAttempts: d.MaxAttempts, CreatedAt: formatTime(d.CreatedAt), UpdatedAt: formatTime(d.UpdatedAt),
	}
	if d.Status == webhook.DeliveryPending {
		out.NextRetryAt = timeOrNil(d.NextRetryAt)
	}
	if d.HasAttempt {
		if d.LastResponseStatus != 0 {
			st := d.LastResponseStatus
			out.LastResponseStatus = &st
			body := d.LastResponseBody
			out.LastResponseBody = &body
		}
		ms := d.LastResponseTimeMs
		out.LastResponseTimeMs = &ms
	}
	if d.LastError != "" {
		e := d.LastError
		out.LastError = &e
	}
	return out
}

type attemptJSON struct {
	Attempt        int            `json:"attempt"`
	At             string         `json:"at"`
	Trigger        string         `json:"trigger"`
	ResponseStatus *int           `json:"response_status"`
	ResponseBody   *string        `json:"response_body"`
	ResponseTimeMs int64          `json:"response_time_ms"`
	Timing         webhook.Timing `json:"timing"`
	ErrorClass     *string        `json:"error_class"`
	Error          *string        `json:"error"`
	NextRetryAt    *string        `json:"next_retry_at"`
}

func renderAttempt(a webhook.Attempt) attemptJSON {
	out := attemptJSON{Attempt: a.Attempt, At: formatTime(a.At), Trigger: a.Trigger, ResponseTimeMs: a.ResponseTimeMs,
		Timing: a.Timing, NextRetryAt: timeOrNil(a.NextRetryAt)}
	if a.ResponseStatus != 0 {
		st, body := a.ResponseStatus, a.ResponseBody
		out.ResponseStatus, out.ResponseBody = &st, &body
	}
	if a.ErrorClass != "" {
		cl, msg := a.ErrorClass, a.Error
		out.ErrorClass, out.Error = &cl, &msg
	}
	return out
}

type eventJSON struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	ClientID   *string         `json:"client_id,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	CreatedAt  string          `json:"created_at"`
	Deliveries any             `json:"deliveries,omitempty"`
}

func renderEvent(ev *webhook.Event, withData bool) eventJSON {
	out := eventJSON{ID: ev.ID, Type: ev.Type, CreatedAt: formatTime(ev.CreatedAt)}
	if ev.ClientID != "" {
		id := ev.ClientID
		out.ClientID = &id
	}
	if withData {
		out.Data = ev.Data
	}
	return out
}

// listJSON is the contract's list shape.
type listJSON[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

func renderList[S, T any](p redisstore.Page[S], f func(S) T) listJSON[T] {
	out := listJSON[T]{Data: make([]T, 0, len(p.Items))}
	for _, it := range p.Items {
		out.Data = append(out.Data, f(it))
	}
	if p.NextCursor != "" {
		c := p.NextCursor
		out.NextCursor = &c
	}
	return out
}

// listParams reads limit and cursor; every other allowed query parameter is
// named in allowed, and an unknown one is a 422.
func listParams(c *gin.Context, idPrefix string, allowed ...string) (cursor string, limit int, err error) {
	ve := &webhook.ValidationError{}
	known := map[string]bool{"limit": true, "cursor": true}
	for _, k := range allowed {
		known[k] = true
	}
	for k := range c.Request.URL.Query() {
		if !known[k] {
			ve.Add(k, "unknown query parameter")
		}
	}
	limit = 20
	if v, ok := c.GetQuery("limit"); ok {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 1 || n > 100 {
			ve.Add("limit", "must be an integer from 1 to 100")
		} else {
			limit = n
		}
	}
	if v, ok := c.GetQuery("cursor"); ok {
		id, good := redisstore.DecodeCursor(v, idPrefix)
		if !good || v == "" {
			ve.Add("cursor", "is not a cursor returned by this list")
		}
		cursor = id
	}
	return cursor, limit, ve.Err()
}

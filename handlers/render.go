package handlers

import (
	"encoding/json"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/webhook"
)

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
	out := attemptJSON{Attempt: a.Attempt, At: webhook.FormatTime(a.At), Trigger: a.Trigger, ResponseTimeMs: a.ResponseTimeMs,
		Timing: a.Timing, NextRetryAt: webhook.TimeOrNil(a.NextRetryAt)}
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
	out := eventJSON{ID: ev.ID, Type: ev.Type, CreatedAt: webhook.FormatTime(ev.CreatedAt)}
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

func renderList[S, T any](p webhook.Page[S], f func(S) T) listJSON[T] {
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
		id, good := webhook.DecodeCursor(v, idPrefix)
		if !good || v == "" {
			ve.Add("cursor", "is not a cursor returned by this list")
		}
		cursor = id
	}
	return cursor, limit, ve.Err()
}

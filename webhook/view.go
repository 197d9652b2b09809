package webhook

import "time"

// TimeOrNil renders a time in the contract's format, nil when zero.
func TimeOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := FormatTime(t)
	return &s
}

// TimeLayout is the contract's time format: RFC 3339 UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime formats t in TimeLayout.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// WebhookJSON is the public view of a webhook (no secret unless set).
type WebhookJSON struct {
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

// WebhookView renders an endpoint as the API shows it, without its secret.
func WebhookView(e *Webhook) WebhookJSON {
	out := WebhookJSON{
		ID: e.ID, URL: e.URL, Events: e.Events, Description: e.Description,
		Headers: e.Headers, Metadata: e.Metadata, Status: string(e.Status), FailureCount: e.FailureCount,
		LastDeliveryAt: TimeOrNil(e.LastDeliveryAt), LastSuccessAt: TimeOrNil(e.LastSuccessAt),
		CreatedAt: FormatTime(e.CreatedAt), UpdatedAt: FormatTime(e.UpdatedAt),
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
	if e.Status == StatusDisabled && e.DisabledReason != "" {
		r := e.DisabledReason
		out.DisabledReason = &r
	}
	return out
}

// DeliveryJSON is the public view of a delivery.
type DeliveryJSON struct {
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

// DeliveryView renders a delivery as the API shows it.
func DeliveryView(d *Delivery) DeliveryJSON {
	out := DeliveryJSON{
		ID: d.ID, WebhookID: d.WebhookID, EventID: d.EventID, EventType: d.EventType, Status: string(d.Status),
		Attempt: d.Attempt, MaxAttempts: d.MaxAttempts, CreatedAt: FormatTime(d.CreatedAt), UpdatedAt: FormatTime(d.UpdatedAt),
	}
	if d.Status == DeliveryPending {
		out.NextRetryAt = TimeOrNil(d.NextRetryAt)
	}
	// The last_* response fields describe an answer: an attempt that got
	// none (a refused connection, a timeout) leaves them null.
	if d.Attempt > 0 && d.LastResponseStatus != 0 {
		st, body, ms := d.LastResponseStatus, d.LastResponseBody, d.LastResponseTimeMs
		out.LastResponseStatus, out.LastResponseBody, out.LastResponseTimeMs = &st, &body, &ms
	}
	if d.LastError != "" {
		e := d.LastError
		out.LastError = &e
	}
	return out
}

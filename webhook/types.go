package webhook

import (
	"encoding/json"
	"time"
)

// Tenant is one customer of the platform; every other resource belongs to one.
type Tenant struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// APIKey is a tenant's bearer credential. Only the SHA-256 of its value is
// stored; the value is shown once, when the key is created.
type APIKey struct {
	ID        string
	TenantID  string
	Value     string // set only on creation
	CreatedAt time.Time
}

// WebhookStatus is the state of a webhook.
type WebhookStatus string

// Webhook states: paused is the user's doing, disabled is Tidings'.
const (
	StatusActive   WebhookStatus = "active"
	StatusPaused   WebhookStatus = "paused"
	StatusDisabled WebhookStatus = "disabled"
)

// Reasons for a disabled webhook.
const (
	DisabledFailing = "failing"
	DisabledGone    = "gone"
)

// Webhook is where a tenant wants events delivered (its endpoint's URL),
// which ones, and how they are signed. Its counters are kept apart from its settings by
// the store so that workers and the API never overwrite each other.
type Webhook struct {
	ID          string
	TenantID    string
	URL         string
	Events      []string
	Description string
	Headers     map[string]string
	Metadata    map[string]string
	RateLimit   int // deliveries per second; 0 is unlimited
	Secret      string
	// OldSecrets are rotated-out secrets still signing until they expire.
	OldSecrets []OldSecret
	CreatedAt  time.Time
	UpdatedAt  time.Time

	Status         WebhookStatus
	DisabledReason string
	FailureCount   int
	// ExhaustedStreak counts deliveries that used up the ladder since the
	// last success; reaching the configured limit disables the endpoint.
	ExhaustedStreak int
	LastDeliveryAt  time.Time
	LastSuccessAt   time.Time
}

// OldSecret is a previous signing secret kept live during a rotation's grace
// period.
type OldSecret struct {
	Secret    string    `json:"secret"`
	ExpiresAt time.Time `json:"expires_at"`
}

// LiveSecrets returns the secrets that sign a request sent at now: the
// current one first, then every old one still in its grace period.
func (e *Webhook) LiveSecrets(now time.Time) []string {
	out := []string{e.Secret}
	for _, o := range e.OldSecrets {
		if now.Before(o.ExpiresAt) {
			out = append(out, o.Secret)
		}
	}
	return out
}

// Event is one thing that happened on the platform, published by a tenant.
type Event struct {
	ID        string
	TenantID  string
	Type      string
	Data      json.RawMessage
	ClientID  string
	CreatedAt time.Time
}

// DeliveryStatus is the state of one event × endpoint delivery.
type DeliveryStatus string

// Delivery states. Pending covers queued, in flight and waiting for a retry.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliverySucceeded DeliveryStatus = "succeeded"
	DeliveryFailed    DeliveryStatus = "failed"
	DeliveryCancelled DeliveryStatus = "cancelled"
)

// ValidDeliveryStatus reports whether s names a delivery state.
func ValidDeliveryStatus(s string) bool {
	switch DeliveryStatus(s) {
	case DeliveryPending, DeliverySucceeded, DeliveryFailed, DeliveryCancelled:
		return true
	}
	return false
}

// Triggers: what caused an attempt.
const (
	TriggerScheduled = "scheduled"
	TriggerManual    = "manual"
	TriggerRecover   = "recover"
)

// Delivery is one event sent to one endpoint, over as many attempts as the
// ladder allows. The store, not the queue, is the source of truth for its
// attempt count and next retry time.
type Delivery struct {
	ID          string
	TenantID    string
	WebhookID   string
	EventID     string
	EventType   string
	Status      DeliveryStatus
	Attempt     int // attempts made so far
	MaxAttempts int
	NextRetryAt time.Time // zero when none is scheduled
	// NextTrigger is recorded on the next attempt: manual after a retry,
	// recover after a recover, else scheduled.
	NextTrigger string
	// Test deliveries are sent whatever the endpoint's status and never
	// count toward disabling it.
	Test bool
	// FailedAtRetry is the queue's retry count of the task when the handler
	// ended the delivery as failed (-1 if it did not). Asynq keeps that count
	// when an archived task is run again from the dashboard, and raises it
	// when a crashed task is recovered, so the handler can tell the two
	// apart.
	FailedAtRetry int

	LastResponseStatus int // 0 when no response
	LastResponseBody   string
	LastResponseTimeMs int64
	LastError          string

	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewDelivery is a pending delivery of ev to a webhook, not attempted yet,
// with maxAttempts (one run of the ladder), created at.
func NewDelivery(id string, ev *Event, webhookID, trigger string, maxAttempts int, at time.Time) *Delivery {
	return &Delivery{ID: id, TenantID: ev.TenantID, WebhookID: webhookID, EventID: ev.ID, EventType: ev.Type,
		Status: DeliveryPending, MaxAttempts: maxAttempts, NextTrigger: trigger, FailedAtRetry: -1, CreatedAt: at, UpdatedAt: at}
}

// Error classes of a failed attempt.
const (
	ErrorTimeout           = "timeout"
	ErrorConnectionRefused = "connection_refused"
	ErrorDNS               = "dns"
	ErrorTLS               = "tls"
	ErrorBlockedAddress    = "blocked_address"
	ErrorRedirect          = "redirect"
	ErrorHTTPStatus        = "http_status"
	ErrorOther             = "other"
)

// Timing is how long each phase of an attempt took; nil for a phase that did
// not happen (no TLS, a reused connection).
type Timing struct {
	DNSMs       *float64 `json:"dns_ms"`
	ConnectMs   *float64 `json:"connect_ms"`
	TLSMs       *float64 `json:"tls_ms"`
	FirstByteMs *float64 `json:"first_byte_ms"`
}

// Attempt is one HTTP request of a delivery and what came of it.
type Attempt struct {
	Attempt        int
	At             time.Time
	Trigger        string
	ResponseStatus int // 0 when no response
	ResponseBody   string
	ResponseTimeMs int64
	Timing         Timing
	ErrorClass     string // "" on success
	Error          string
	NextRetryAt    time.Time // zero when none is scheduled
	// RetryAfter is the wait a 429 or 503 asked for (0 if none); not stored.
	RetryAfter time.Duration
}

// Succeeded reports whether the attempt got a 2xx answer.
func (a *Attempt) Succeeded() bool { return a.ErrorClass == "" }

// MaxResponseBody is how much of a response body is kept.
const MaxResponseBody = 1024

// Message is what one attempt sends: an event to an endpoint, as attempt
// number Attempt of a delivery.
type Message struct {
	Webhook  *Webhook
	Event    *Event
	Delivery *Delivery
	Attempt  int
}

// Outcome is what an attempt did to its delivery and endpoint.
type Outcome string

// Outcomes of an attempt.
const (
	OutcomeSuccess   Outcome = "success"
	OutcomeRetry     Outcome = "retry"     // failed, another attempt is scheduled
	OutcomeExhausted Outcome = "exhausted" // failed, the ladder is used up
	OutcomeGone      Outcome = "gone"      // 410: failed, the endpoint is disabled
)

// Why a delivery waits without using an attempt.
const (
	WaitConcurrency = "concurrency" // the endpoint has its maximum in flight
	WaitRateLimit   = "rate_limit"  // the endpoint's rate_limit is used up
)

// Slot names one of an endpoint's in-flight slots, held across every worker
// process for at most Lease (a worker that dies frees it).
type Slot struct {
	// Member is the slot's member in the webhook's in-flight set: the run of
	// the delivery that took it (tasks names it).
	Member      string
	MaxInFlight int // the endpoint's cap (TIDINGS_ENDPOINT_CONCURRENCY)
	Lease       time.Duration
}

// BeginRequest asks the store for what one attempt of a delivery needs, and
// for an in-flight slot if the delivery is due.
type BeginRequest struct {
	TenantID, DeliveryID, EventID, WebhookID string
	Slot                                     Slot
}

// Prepared is what one attempt needs, read in one round trip, and whether
// the endpoint's in-flight slot was taken for it.
type Prepared struct {
	// Any of these may be nil: the delivery or event expired, the webhook
	// was deleted.
	Delivery *Delivery
	Event    *Event
	Webhook  *Webhook
	// HasSlot reports that an in-flight slot (and a rate token) was taken
	// for the delivery; recording the attempt (or a release) gives it back.
	HasSlot bool
	// Wait is why no slot was taken although the delivery is due
	// (WaitConcurrency or WaitRateLimit), with TokenIn until a token is due
	// for the rate limit; "" otherwise.
	Wait    string
	TokenIn time.Duration
}

// AttemptRecord is an attempt to record, with its outcome and the slot it
// held.
type AttemptRecord struct {
	Delivery *Delivery
	Attempt  *Attempt
	Outcome  Outcome
	// FailedAtRetry is the task's retry count, kept when the attempt ends
	// the delivery as failed (see Delivery.FailedAtRetry).
	FailedAtRetry int
	Slot          Slot
	// SlotPassed: the worker gave the slot to the next delivery of the
	// endpoint as the request ended, so recording renews its lease instead
	// of giving it back.
	SlotPassed bool
}

// The states of an idempotency record.
const (
	IdempotencyRunning  = "running"  // a request holds the keys, for a lease
	IdempotencyAccepted = "accepted" // the event is stored; its tasks may not all be queued
	IdempotencyDone     = "done"     // the event and every task are stored
)

// IdempotencyRecord is what a publish request's idempotency keys (its
// Idempotency-Key header and its client id) remember.
type IdempotencyRecord struct {
	Keys        []string // "h:<Idempotency-Key>", "c:<client id>"
	State       string   // IdempotencyRunning, IdempotencyAccepted or IdempotencyDone
	Fingerprint string   // of the request's body
	EventID     string   // once accepted
	Response    []byte   // the first response, once accepted
	TTL         time.Duration
}

// StatsBucket is one hour of a webhook's attempts by outcome.
type StatsBucket struct {
	Start     time.Time
	Succeeded int
	Failed    int
}

// Publication is a new event as a batch publish stores it: with its new
// deliveries and, when it has a client id, the accepted record of that key
// (nil without one).
type Publication struct {
	Event      *Event
	Deliveries []*Delivery
	Idem       *IdempotencyRecord
}

// Package tasks is the Asynq side of Tidings: the delivery task and its
// payload, the RetryDelayFunc built from the ladder, the Queue that enqueues,
// cancels and re-runs deliveries, and the Handler that makes each attempt.
//
// It declares the small interfaces it needs (store, sender); cmd passes in
// redisstore and sender.
package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tidingshq/tidings/webhook"
)

// TypeDeliver is the task type of one delivery.
const TypeDeliver = "webhook:deliver"

// Payload is a delivery task's payload: IDs only. The body and the secret
// stay in the store, so neither reaches Asynq, its heartbeat or the dashboard.
// Asynq keeps the payload in every queued task's hash (and copies it into
// worker heartbeats), so it is written as the IDs separated by spaces
// (Encode), the event's left out when the delivery's ID names it
// (webhook.DeliveryEvent).
type Payload struct {
	TenantID   string
	DeliveryID string
	EventID    string
	WebhookID  string
}

// PayloadOf is the payload of a delivery's task.
func PayloadOf(d *webhook.Delivery) Payload {
	return Payload{TenantID: d.TenantID, DeliveryID: d.ID, EventID: d.EventID, WebhookID: d.WebhookID}
}

// Encode is the payload as Asynq stores it: "<tenant> <delivery> <webhook>"
// when the delivery's ID names its event, else "<tenant> <delivery> <event>
// <webhook>".
func (p Payload) Encode() []byte {
	if webhook.NamesEvent(p.DeliveryID, p.EventID) {
		return []byte(p.TenantID + " " + p.DeliveryID + " " + p.WebhookID)
	}
	return []byte(p.TenantID + " " + p.DeliveryID + " " + p.EventID + " " + p.WebhookID)
}

// ParsePayload reads a delivery task's payload, in either of its forms.
func ParsePayload(b []byte) (Payload, error) {
	var p Payload
	ids := strings.Split(string(b), " ")
	if slices.Contains(ids, "") {
		return p, fmt.Errorf("want 3 or 4 IDs, got %q", b)
	}
	switch len(ids) {
	case 4:
		return Payload{ids[0], ids[1], ids[2], ids[3]}, nil
	case 3:
		if evt, ok := webhook.DeliveryEvent(ids[1]); ok {
			return Payload{ids[0], ids[1], evt, ids[2]}, nil
		}
	}
	return p, fmt.Errorf("want 3 or 4 IDs, got %q", b)
}

// Settings are the delivery settings shared by the queue and the handler.
type Settings struct {
	Schedule webhook.Schedule
	// Timeout bounds one HTTP attempt, connect to last byte.
	Timeout time.Duration
	// DisableAfter is how many exhausted deliveries in a row disable an
	// endpoint; 0 never.
	DisableAfter int
	// EndpointConcurrency caps in-flight deliveries per endpoint across all
	// workers.
	EndpointConcurrency int
	// Queues are the delivery queues (QueueNames); none means the one
	// queue "webhooks".
	Queues []string
}

// QueueOf is the queue of a webhook's deliveries.
func (s Settings) QueueOf(webhookID string) string { return queueFor(s.Queues, webhookID) }

// TaskTimeout is the Asynq timeout of a delivery task: whole seconds (Asynq
// truncates), comfortably above the HTTP timeout, so that the handler always
// returns first with its own classified result (a timed-out task is retried
// whatever the handler returns).
func (s Settings) TaskTimeout() time.Duration {
	return time.Duration(math.Ceil((s.Timeout + 10*time.Second).Seconds())) * time.Second
}

// ShutdownTimeout is how long a stopping worker lets in-flight deliveries
// finish: longer than a task may run, so none is cut off and re-sent.
func (s Settings) ShutdownTimeout() time.Duration { return s.TaskTimeout() + 5*time.Second }

// MaxRetry is the Asynq retry budget of a delivery task. The store is the
// source of truth for attempts and the handler ends a delivery itself
// (SkipRetry) when its ladder is used up, so Asynq's counter is only a
// backstop against a task that fails outside the handler forever. Asynq
// archives before it asks IsFailure when Retried reaches MaxRetry, so the
// budget is roomy: it covers crashes and lease expiries (which Asynq counts
// although no attempt was recorded), transient store errors, and the extra
// ladders of an archived task run again from the dashboard, which keeps its
// Retried count.
func (s Settings) MaxRetry() int { return max(25, 3*s.Schedule.Attempts()) }

// RetryError is returned by the handler after a failed attempt: the next
// attempt is due At (the delivery's next_retry_at, as the store recorded).
type RetryError struct {
	At  time.Time
	Err error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("%v; next attempt at %s", e.Err, e.At.Format(time.RFC3339Nano))
}
func (e *RetryError) Unwrap() error { return e.Err }

// DeferError asks for the task to run again After from now without using an
// attempt: the endpoint is busy or over its rate.
type DeferError struct {
	After  time.Duration
	Reason string
}

func (e *DeferError) Error() string { return "deferred (" + e.Reason + ")" }

// crashRetryDelay is the wait before re-running a task that failed outside
// the handler's own outcome: a crashed worker's lease expiry, a store error.
const crashRetryDelay = time.Second

// RetryDelay is Asynq's RetryDelayFunc. The handler computed the due time
// from the store's attempt count (Asynq's n counts crashes and deferrals
// differently), so it is carried by the error. Asynq keeps due times in
// whole seconds (the floor), so half a second is added: the task then comes
// due at the nearest second to the exact time, and the handler waits out
// the rest when that is early (never before next_retry_at).
func RetryDelay(_ int, err error, _ *asynq.Task) time.Duration {
	var re *RetryError
	var de *DeferError
	switch {
	case errors.As(err, &re):
		return max(time.Until(re.At), 0) + 500*time.Millisecond
	case errors.As(err, &de):
		return de.After + 500*time.Millisecond
	}
	return crashRetryDelay
}

// IsFailure is Asynq's IsFailure: neither a deferral nor an unreachable
// store is the delivery's failure, so neither counts against the task's
// retry budget. A delivery whose tenant's keys are out of reach for a
// while (a Redis Cluster master failing over, while the queue's master
// serves) is tried again every second until they are back, rather than
// archived after its budget's worth of seconds.
func IsFailure(err error) bool {
	var de *DeferError
	return !errors.As(err, &de) && !errors.Is(err, webhook.ErrUnavailable)
}

// Logger adapts slog to Asynq's logger.
type Logger struct{ L *slog.Logger }

// asynqIdlePoll is what Asynq logs at debug level each time a fetcher finds
// the queue empty: a hundred lines a second from an idle worker, so dropped.
const asynqIdlePoll = "All queues are empty"

func (l Logger) Debug(args ...any) {
	if msg := fmt.Sprint(args...); msg != asynqIdlePoll {
		l.L.Debug(msg, "component", "asynq")
	}
}

func (l Logger) Info(args ...any)  { l.L.Info(fmt.Sprint(args...), "component", "asynq") }
func (l Logger) Warn(args ...any)  { l.L.Warn(fmt.Sprint(args...), "component", "asynq") }
func (l Logger) Error(args ...any) { l.L.Error(fmt.Sprint(args...), "component", "asynq") }
func (l Logger) Fatal(args ...any) {
	l.L.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}

// BaseContext is a detached context for handlers (never cancelled on
// shutdown: Asynq would count that as a failure).
func BaseContext() context.Context { return context.Background() }

package tasks

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tidingshq/tidings/webhook"
)

// handlerStore is what the handler needs of the store.
type handlerStore interface {
	Begin(ctx context.Context, tenantID, deliveryID, eventID, webhookID, slot string, maxInFlight int, lease time.Duration) (*webhook.Turn, error)
	RecordAttempt(ctx context.Context, d *webhook.Delivery, a *webhook.Attempt, outcome webhook.Outcome, endedRetry int, slot string, handedOn bool, lease time.Duration) (int, error)
	EndDeliveries(ctx context.Context, tenantID, webhookID string, ids []string, status webhook.DeliveryStatus, reason string) (int, error)
	Acquire(ctx context.Context, tenantID, webhookID, slot string, maxInFlight, rate int, lease time.Duration) (string, time.Duration, error)
	Release(ctx context.Context, tenantID, webhookID, slot string) error
}

// attemptSender makes one HTTP attempt.
type attemptSender interface {
	Send(ctx context.Context, m webhook.Message, now time.Time) webhook.Attempt
}

// Handler processes delivery tasks.
type Handler struct {
	store  handlerStore
	sender attemptSender
	queue  *Queue
	log    *slog.Logger
	now    func() time.Time
	gates  *gates
}

// NewHandler returns the delivery handler.
func NewHandler(store handlerStore, sender attemptSender, queue *Queue, log *slog.Logger, now func() time.Time) *Handler {
	if now == nil {
		now = time.Now
	}
	return &Handler{store: store, sender: sender, queue: queue, log: log, now: now, gates: newGates()}
}

// ProcessTask makes the next attempt of a delivery and records it before
// returning, so that a success is in the store before Asynq acknowledges the
// task and a redelivered task never sends it again.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := ParsePayload(t.Payload())
	if err != nil {
		return fmt.Errorf("tasks: bad payload: %v: %w", err, asynq.SkipRetry)
	}
	// One round trip reads the delivery, its event and its webhook and, when
	// the delivery is due, takes the endpoint's in-flight slot (and rate
	// token); RecordAttempt gives the slot back. The slot's member in the
	// webhook's in-flight set names this run of the delivery (runOf).
	settings := h.queue.settings
	retried, _ := asynq.GetRetryCount(ctx)
	slot := runOf(p.DeliveryID, retried)
	b, err := h.store.Begin(ctx, p.TenantID, p.DeliveryID, p.EventID, p.WebhookID, slot, settings.EndpointConcurrency, settings.TaskTimeout())
	if err != nil {
		return err // the store is unreachable: try again shortly
	}
	d, ev, ep := b.Delivery, b.Event, b.Endpoint
	// Bookkeeping after the send must happen even if the task's context ends.
	bg := context.WithoutCancel(ctx)
	if d != nil && d.Status == webhook.DeliveryFailed && d.EndedRetry == retried {
		// The archived task of a failed delivery was run again (the
		// dashboard's "run"): that is a manual retry, a fresh ladder. A
		// crashed task recovered after the delivery failed has a higher
		// retry count and falls through to be dropped.
		if err := h.queue.store.Rerun(bg, d, settings.Schedule.Attempts(), webhook.TriggerManual); err != nil {
			return err
		}
		d.Status, d.MaxAttempts, d.NextTrigger, d.EndedRetry = webhook.DeliveryPending, d.MaxAttempts+settings.Schedule.Attempts(), webhook.TriggerManual, -1
	}
	switch {
	case d == nil:
		return nil // past retention or removed: nothing to deliver
	case d.Status != webhook.DeliveryPending:
		return nil // succeeded, failed or cancelled: never sent again by the queue
	case ev == nil:
		return h.end(bg, d, webhook.DeliveryFailed, "event expired before delivery")
	case ep == nil:
		return h.end(bg, d, webhook.DeliveryCancelled, "webhook deleted")
	case ep.Status != webhook.StatusActive && !d.Test:
		return h.end(bg, d, webhook.DeliveryCancelled, "webhook "+string(ep.Status))
	}
	n := d.Attempt + 1
	if n > d.MaxAttempts {
		// Only reachable when Asynq re-ran a task whose last attempt was
		// recorded but not acknowledged.
		h.release(bg, b, d, slot)
		if err := h.end(bg, d, webhook.DeliveryFailed, ""); err != nil {
			return err
		}
		return fmt.Errorf("delivery %s: attempts used up: %w", d.ID, asynq.SkipRetry)
	}

	// A busy or rate-limited endpoint waits without using an attempt: the
	// task is deferred, so it holds no worker slot — unless a slot is
	// expected within milliseconds, then the worker waits for it here
	// (gate.go).
	if !b.Holding {
		wait, delay := b.Wait, b.Delay
		acquire := func() (err error) {
			wait, delay, err = h.store.Acquire(ctx, d.TenantID, d.WebhookID, slot, settings.EndpointConcurrency, ep.RateLimit, settings.TaskTimeout())
			return err
		}
		if wait == "" { // Begin did not try (a dashboard run made it due)
			if err := acquire(); err != nil {
				return err
			}
		}
		for deadline := h.now().Add(maxSlotWait); wait == webhook.WaitConcurrency; {
			granted, again := h.gates.wait(ctx, d.WebhookID, h.now(), deadline)
			if granted != "" {
				wait, slot = "", granted
			} else if again {
				err = acquire()
			}
			if err != nil {
				return err
			}
			if !again {
				break
			}
		}
		if wait != "" {
			h.queue.rec.Waited(wait)
			return &DeferError{After: deferDelay(wait, delay), Reason: wait}
		}
		b.Holding = true
	}

	a := h.sender.Send(ctx, webhook.Message{Endpoint: ep, Event: ev, Delivery: d, Attempt: n}, h.now())
	// The request is over: the slot goes at once to a delivery of the same
	// endpoint waiting here, if any (not under a rate limit, which needs a
	// token per delivery). It keeps the slot's member in the in-flight set,
	// so recording this attempt only renews the lease, in any order with
	// the next holder's record.
	var next *waiter
	if ep.RateLimit == 0 {
		if next = h.gates.pick(d.WebhookID); next != nil {
			next.granted <- slot
			h.gates.released(d.WebhookID, h.now())
		}
	}
	a.Trigger = d.NextTrigger
	if a.Trigger == "" {
		a.Trigger = webhook.TriggerScheduled
	}
	outcome, delay := h.judge(d, &a)
	if outcome == webhook.OutcomeRetry {
		a.NextRetryAt = h.now().Add(delay).UTC()
	}
	streak, err := h.store.RecordAttempt(bg, d, &a, outcome, retried, slot, next != nil, settings.TaskTimeout())
	if err != nil {
		if next == nil {
			h.release(bg, b, d, slot)
		}
		return err
	}
	if next == nil {
		h.gates.released(d.WebhookID, h.now())
	}
	h.logAttempt(d, &a, delay)
	h.queue.rec.Attempted(outcome, time.Duration(a.ResponseTimeMs)*time.Millisecond)

	switch outcome {
	case webhook.OutcomeSuccess:
		return nil
	case webhook.OutcomeRetry:
		return &RetryError{After: delay, Err: fmt.Errorf("attempt %d: %s: %s", n, a.ErrorClass, a.Error)}
	case webhook.OutcomeGone:
		if !d.Test {
			if err := h.queue.Disable(bg, d.TenantID, d.WebhookID, webhook.DisabledGone, !operational(d)); err != nil {
				h.log.Error("disable webhook", "webhook_id", d.WebhookID, "error", err)
			}
		}
		return fmt.Errorf("attempt %d: endpoint answered 410 Gone: %w", n, asynq.SkipRetry)
	}
	// Exhausted.
	if !d.Test && !operational(d) {
		done := *d
		done.Status, done.Attempt, done.NextRetryAt = webhook.DeliveryFailed, n, time.Time{}
		done.LastResponseStatus, done.LastResponseBody, done.LastResponseTimeMs, done.LastError = a.ResponseStatus, a.ResponseBody, a.ResponseTimeMs, a.Error
		done.UpdatedAt = a.At
		if err := h.queue.Notify(bg, d.TenantID, EventDeliveryExhausted, webhook.DeliveryView(&done)); err != nil {
			h.log.Error("publish "+EventDeliveryExhausted, "delivery_id", d.ID, "error", err)
		}
	}
	limit := h.queue.settings.DisableAfter
	if !d.Test && limit > 0 && streak >= limit {
		if err := h.queue.Disable(bg, d.TenantID, d.WebhookID, webhook.DisabledFailing, !operational(d)); err != nil {
			h.log.Error("disable webhook", "webhook_id", d.WebhookID, "error", err)
		}
	}
	return fmt.Errorf("attempt %d: %s: %s; ladder exhausted: %w", n, a.ErrorClass, a.Error, asynq.SkipRetry)
}

// judge classifies an attempt: success, gone, exhausted, or retry after the
// ladder's next delay (or the receiver's Retry-After, if longer).
func (h *Handler) judge(d *webhook.Delivery, a *webhook.Attempt) (webhook.Outcome, time.Duration) {
	sched := h.queue.settings.Schedule
	switch {
	case a.Succeeded():
		return webhook.OutcomeSuccess, 0
	case a.ResponseStatus == http.StatusGone:
		return webhook.OutcomeGone, 0
	case a.Attempt >= d.MaxAttempts:
		return webhook.OutcomeExhausted, 0
	}
	// The current run of the ladder started after attempt MaxAttempts-Attempts().
	inRun := a.Attempt - (d.MaxAttempts - sched.Attempts())
	delay := max(sched.Delay(inRun), a.RetryAfter)
	return webhook.OutcomeRetry, delay
}

// runOf names a run of a delivery, as the member of the in-flight slot it
// takes: the delivery ID and the task's retry count, which Asynq raises
// whenever a run ends in error or its worker died. A run that handed its
// slot on and then failed to record its attempt leaves that slot to the
// next delivery under its own name; the next run of the same delivery must
// not take that slot for its own (the store renews a slot its member holds
// already), or the endpoint would have one request more than its cap.
func runOf(deliveryID string, retried int) string {
	return deliveryID + "." + strconv.Itoa(retried)
}

// release gives back an in-flight slot taken for an attempt not recorded.
func (h *Handler) release(ctx context.Context, b *webhook.Turn, d *webhook.Delivery, slot string) {
	if !b.Holding {
		return
	}
	if err := h.store.Release(ctx, d.TenantID, d.WebhookID, slot); err != nil {
		h.log.Warn("release endpoint slot", "delivery_id", d.ID, "error", err)
		return
	}
	h.gates.released(d.WebhookID, h.now())
}

func (h *Handler) end(ctx context.Context, d *webhook.Delivery, status webhook.DeliveryStatus, reason string) error {
	n, err := h.store.EndDeliveries(ctx, d.TenantID, d.WebhookID, []string{d.ID}, status, reason)
	if status == webhook.DeliveryCancelled {
		h.queue.rec.Cancelled(n)
	}
	if err == nil {
		h.log.Info("delivery.ended", "delivery_id", d.ID, "webhook_id", d.WebhookID, "status", string(status), "reason", reason)
	}
	return err
}

// logAttempt writes the one canonical line per attempt.
func (h *Handler) logAttempt(d *webhook.Delivery, a *webhook.Attempt, delay time.Duration) {
	var next any
	if delay > 0 {
		next = delay.String()
	}
	var class any
	if a.ErrorClass != "" {
		class = a.ErrorClass
	}
	h.log.Info("delivery.attempted",
		"delivery_id", d.ID, "webhook_id", d.WebhookID, "event_type", d.EventType, "attempt", a.Attempt,
		"status_code", a.ResponseStatus, "duration_ms", a.ResponseTimeMs, "error_class", class, "next_retry_in", next)
}

// operational reports whether d carries one of Tidings' own events, whose
// failures never cause another operational event.
func operational(d *webhook.Delivery) bool {
	return strings.HasPrefix(d.EventType, webhook.OperationalPrefix)
}

// deferDelay is how long a deferred delivery waits: until the bucket has a
// token, or briefly for a free slot; jitter keeps deferred deliveries from
// coming back in lockstep. Asynq keeps due times in whole seconds, so a
// deferral costs up to a second whatever is asked.
func deferDelay(reason string, wait time.Duration) time.Duration {
	if reason == webhook.WaitConcurrency {
		return rand.N(500 * time.Millisecond)
	}
	return wait + rand.N(250*time.Millisecond)
}

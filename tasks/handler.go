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
	Begin(ctx context.Context, req webhook.BeginRequest) (*webhook.Prepared, error)
	RecordAttempt(ctx context.Context, rec webhook.AttemptRecord) (streak int, err error)
	EndDeliveries(ctx context.Context, tenantID, webhookID string, ids []string, status webhook.DeliveryStatus, reason string) (int, error)
	Rerun(ctx context.Context, d *webhook.Delivery, extra int, trigger string) error
	Acquire(ctx context.Context, tenantID, webhookID string, slot webhook.Slot, rate int) (string, time.Duration, error)
	Release(ctx context.Context, tenantID, webhookID, member string) error
}

// attemptSender makes one HTTP attempt.
type attemptSender interface {
	Send(ctx context.Context, m webhook.Message, now time.Time) webhook.Attempt
}

// webhookActions act on an endpoint after an outcome: Queue's.
type webhookActions interface {
	Disable(ctx context.Context, tenantID, webhookID, reason string, notify bool) error
	Notify(ctx context.Context, tenantID, eventType string, data any) error
}

// HandlerOptions are the handler's dependencies.
type HandlerOptions struct {
	Store    handlerStore
	Sender   attemptSender
	Actions  webhookActions // disables endpoints and publishes operational events
	Settings Settings
	Recorder Recorder // nil: none
	Log      *slog.Logger
	Now      func() time.Time // nil: time.Now
}

// Handler processes delivery tasks.
type Handler struct {
	store    handlerStore
	sender   attemptSender
	actions  webhookActions
	settings Settings
	rec      Recorder
	log      *slog.Logger
	now      func() time.Time
	gates    *gates
}

// NewHandler returns the delivery handler.
func NewHandler(o HandlerOptions) *Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Recorder == nil {
		o.Recorder = noRecorder{}
	}
	return &Handler{store: o.Store, sender: o.Sender, actions: o.Actions, settings: o.Settings, rec: o.Recorder,
		log: o.Log, now: o.Now, gates: newGates()}
}

// run is one run of a delivery's task: what Begin read, and the endpoint
// slot it holds.
type run struct {
	d       *webhook.Delivery
	ev      *webhook.Event
	ep      *webhook.Webhook
	retried int          // Asynq's retry count of the task
	slot    webhook.Slot // named for this run (slotMember)
	hasSlot bool
	wait    string        // why Begin took no slot (webhook.Wait…), "" if it took one or did not try
	tokenIn time.Duration // for WaitRateLimit: until a token is due
	tried   bool          // Begin tried to take a slot
}

// ProcessTask makes the next attempt of a delivery and records it before
// returning, so that a success is in the store before Asynq acknowledges the
// task and a redelivered task never sends it again.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := ParsePayload(t.Payload())
	if err != nil {
		return fmt.Errorf("tasks: bad payload: %v: %w", err, asynq.SkipRetry)
	}
	r, err := h.begin(ctx, p)
	if err != nil {
		return err // the store is unreachable: try again shortly
	}
	// Bookkeeping after the send must happen even if the task's context ends.
	bg := context.WithoutCancel(ctx)
	if send, err := h.deliverable(bg, r); !send {
		return err
	}
	if err := h.untilDue(ctx, bg, r); err != nil {
		return err
	}
	if err := h.takeSlot(ctx, r); err != nil {
		return err
	}
	a, passed := h.send(ctx, r)
	return h.record(bg, r, &a, passed)
}

// begin reads the delivery, its event and its webhook and, when the
// delivery is pending, takes the endpoint's slot, in one round trip. A
// failed delivery whose archived task was run again (the dashboard's
// "run") is made pending for a fresh ladder: a manual retry.
func (h *Handler) begin(ctx context.Context, p Payload) (*run, error) {
	retried, _ := asynq.GetRetryCount(ctx)
	slot := webhook.Slot{Member: slotMember(p.DeliveryID, retried), MaxInFlight: h.settings.EndpointConcurrency, Lease: h.settings.TaskTimeout()}
	b, err := h.store.Begin(ctx, webhook.BeginRequest{TenantID: p.TenantID, DeliveryID: p.DeliveryID, EventID: p.EventID, WebhookID: p.WebhookID, Slot: slot})
	if err != nil {
		return nil, err
	}
	r := &run{d: b.Delivery, ev: b.Event, ep: b.Webhook, retried: retried, slot: slot, hasSlot: b.HasSlot,
		wait: b.Wait, tokenIn: b.TokenIn, tried: b.HasSlot || b.Wait != ""}
	// A crashed task recovered after its delivery failed has a higher retry
	// count than the one the delivery failed at, and is dropped below.
	if d := r.d; d != nil && d.Status == webhook.DeliveryFailed && d.FailedAtRetry == retried {
		extra := h.settings.Schedule.Attempts()
		if err := h.store.Rerun(context.WithoutCancel(ctx), d, extra, webhook.TriggerManual); err != nil {
			return nil, err
		}
		d.Status, d.MaxAttempts, d.NextTrigger, d.FailedAtRetry = webhook.DeliveryPending, d.MaxAttempts+extra, webhook.TriggerManual, -1
	}
	return r, nil
}

// deliverable reports whether the delivery is to be sent now; if not, it
// ends the delivery when its webhook or event is gone, and returns what the
// task returns.
func (h *Handler) deliverable(ctx context.Context, r *run) (bool, error) {
	d := r.d
	switch {
	case d == nil:
		return false, nil // past retention or removed: nothing to deliver
	case d.Status != webhook.DeliveryPending:
		return false, nil // succeeded, failed or cancelled: never sent again by the queue
	case r.ev == nil:
		return false, h.end(ctx, d, webhook.DeliveryFailed, "event expired before delivery")
	case r.ep == nil:
		return false, h.end(ctx, d, webhook.DeliveryCancelled, "webhook deleted")
	case r.ep.Status != webhook.StatusActive && !d.Test:
		return false, h.end(ctx, d, webhook.DeliveryCancelled, "webhook "+string(r.ep.Status))
	case d.Attempt >= d.MaxAttempts:
		// Only reachable when Asynq re-ran a task whose last attempt was
		// recorded but not acknowledged.
		h.release(ctx, r)
		if err := h.end(ctx, d, webhook.DeliveryFailed, ""); err != nil {
			return false, err
		}
		return false, fmt.Errorf("delivery %s: attempts used up: %w", d.ID, asynq.SkipRetry)
	}
	return true, nil
}

// maxEarly is the most a task may come due before its delivery's
// next_retry_at and still wait for it in the worker: Asynq keeps due times
// in whole seconds, so a retry comes due up to half a second early
// (RetryDelay rounds to the nearest second). A task much earlier than that
// (a crashed worker's task recovered at once) is deferred to its time.
const maxEarly = time.Second

// dueMargin is how long after next_retry_at an attempt is made at the
// earliest. The stored time is in milliseconds, and two requests take
// different times to reach the receiver; the margin keeps the receiver from
// seeing two attempts closer together than the ladder's delay.
const dueMargin = 20 * time.Millisecond

// untilDue holds the attempt until the delivery's next_retry_at (and
// dueMargin): never before it. The slot Begin took is given back meanwhile.
func (h *Handler) untilDue(ctx, bg context.Context, r *run) error {
	if r.d.NextRetryAt.IsZero() {
		return nil
	}
	early := r.d.NextRetryAt.Add(dueMargin).Sub(h.now())
	if early <= 0 {
		return nil
	}
	h.release(bg, r)
	r.hasSlot, r.wait, r.tried = false, "", false
	if early > maxEarly {
		return &DeferError{After: early, Reason: "not due"}
	}
	t := time.NewTimer(early)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// takeSlot makes sure the run holds one of the endpoint's in-flight slots
// (and a rate token). A busy or rate-limited endpoint waits without using
// an attempt: the task is deferred, so it holds no worker slot — unless a
// slot is expected within milliseconds, then the worker waits for it here
// (gate.go).
func (h *Handler) takeSlot(ctx context.Context, r *run) error {
	if r.hasSlot {
		return nil
	}
	acquire := func() (err error) {
		r.wait, r.tokenIn, err = h.store.Acquire(ctx, r.d.TenantID, r.d.WebhookID, r.slot, r.ep.RateLimit)
		return err
	}
	if !r.tried { // Begin did not try (a dashboard run, or the run waited to be due)
		if err := acquire(); err != nil {
			return err
		}
	}
	for deadline := h.now().Add(maxSlotWait); r.wait == webhook.WaitConcurrency; {
		granted, again := h.gates.wait(ctx, r.d.WebhookID, h.now(), deadline)
		if !again {
			break
		}
		if granted != "" {
			r.wait, r.slot.Member = "", granted
		} else if err := acquire(); err != nil {
			return err
		}
	}
	if r.wait != "" {
		h.rec.Waited(r.wait)
		return &DeferError{After: deferDelay(r.wait, r.tokenIn), Reason: r.wait}
	}
	r.hasSlot = true
	return nil
}

// send makes the attempt. As the request ends, the slot goes at once to a
// delivery of the same endpoint waiting in this process, if any (not under a
// rate limit, which needs a token per delivery); passed reports it. The
// slot keeps its member in the in-flight set, so recording this attempt
// only renews the lease, in any order with the next holder's record.
func (h *Handler) send(ctx context.Context, r *run) (a webhook.Attempt, passed bool) {
	a = h.sender.Send(ctx, webhook.Message{Webhook: r.ep, Event: r.ev, Delivery: r.d, Attempt: r.d.Attempt + 1}, h.now())
	if r.ep.RateLimit == 0 {
		if next := h.gates.pick(r.d.WebhookID); next != nil {
			next.granted <- r.slot.Member
			h.gates.released(r.d.WebhookID, h.now())
			passed = true
		}
	}
	a.Trigger = r.d.NextTrigger
	if a.Trigger == "" {
		a.Trigger = webhook.TriggerScheduled
	}
	return a, passed
}

// record stores the attempt and its outcome, then acts on it: the error
// returned tells Asynq to retry (RetryError), or to archive (SkipRetry).
func (h *Handler) record(ctx context.Context, r *run, a *webhook.Attempt, passed bool) error {
	d := r.d
	outcome, delay := h.classify(d, a)
	if outcome == webhook.OutcomeRetry {
		a.NextRetryAt = a.At.Add(delay).UTC()
	}
	streak, err := h.store.RecordAttempt(ctx, webhook.AttemptRecord{Delivery: d, Attempt: a, Outcome: outcome,
		FailedAtRetry: r.retried, Slot: r.slot, SlotPassed: passed})
	if err != nil {
		if !passed {
			h.release(ctx, r)
		}
		return err
	}
	if !passed {
		h.gates.released(d.WebhookID, h.now())
	}
	h.logAttempt(d, a, delay)
	h.rec.Attempted(outcome, time.Duration(a.ResponseTimeMs)*time.Millisecond)

	switch outcome {
	case webhook.OutcomeSuccess:
		return nil
	case webhook.OutcomeRetry:
		return &RetryError{At: a.NextRetryAt, Err: fmt.Errorf("attempt %d: %s: %s", a.Attempt, a.ErrorClass, a.Error)}
	case webhook.OutcomeGone:
		h.disable(ctx, d, webhook.DisabledGone)
		return fmt.Errorf("attempt %d: endpoint answered 410 Gone: %w", a.Attempt, asynq.SkipRetry)
	}
	h.exhausted(ctx, d, a, streak)
	return fmt.Errorf("attempt %d: %s: %s; ladder exhausted: %w", a.Attempt, a.ErrorClass, a.Error, asynq.SkipRetry)
}

// classify judges an attempt: success, gone, exhausted, or retry after the
// ladder's next delay (or the receiver's Retry-After, if longer).
func (h *Handler) classify(d *webhook.Delivery, a *webhook.Attempt) (webhook.Outcome, time.Duration) {
	sched := h.settings.Schedule
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
	return webhook.OutcomeRetry, max(sched.Delay(inRun), a.RetryAfter)
}

// exhausted tells the tenant a delivery used up its ladder and disables
// the endpoint once its streak of exhausted deliveries reaches the limit.
// Test deliveries do neither; a tidings.* delivery disables but tells
// nobody.
func (h *Handler) exhausted(ctx context.Context, d *webhook.Delivery, a *webhook.Attempt, streak int) {
	if d.Test {
		return
	}
	if !operational(d) {
		done := *d
		done.Status, done.Attempt, done.NextRetryAt = webhook.DeliveryFailed, a.Attempt, time.Time{}
		done.LastResponseStatus, done.LastResponseBody, done.LastResponseTimeMs, done.LastError = a.ResponseStatus, a.ResponseBody, a.ResponseTimeMs, a.Error
		done.UpdatedAt = a.At
		if err := h.actions.Notify(ctx, d.TenantID, EventDeliveryExhausted, webhook.DeliveryView(&done)); err != nil {
			h.log.Error("publish "+EventDeliveryExhausted, "delivery_id", d.ID, "error", err)
		}
	}
	if limit := h.settings.DisableAfter; limit > 0 && streak >= limit {
		h.disable(ctx, d, webhook.DisabledFailing)
	}
}

// disable disables the delivery's endpoint, unless the delivery is a test.
func (h *Handler) disable(ctx context.Context, d *webhook.Delivery, reason string) {
	if d.Test {
		return
	}
	if err := h.actions.Disable(ctx, d.TenantID, d.WebhookID, reason, !operational(d)); err != nil {
		h.log.Error("disable webhook", "webhook_id", d.WebhookID, "error", err)
	}
}

// slotMember names a run of a delivery, as the member of the in-flight slot
// it takes: the delivery ID and the task's retry count, which Asynq raises
// whenever a run ends in error or its worker died. A run that passed its
// slot on and then failed to record its attempt leaves that slot to the
// next delivery under its own name; the next run of the same delivery must
// not take that slot for its own (the store renews a slot its member holds
// already), or the endpoint would have one request more than its cap.
func slotMember(deliveryID string, retried int) string {
	return deliveryID + "." + strconv.Itoa(retried)
}

// release gives back the in-flight slot of a run whose attempt is not
// recorded.
func (h *Handler) release(ctx context.Context, r *run) {
	if !r.hasSlot {
		return
	}
	if err := h.store.Release(ctx, r.d.TenantID, r.d.WebhookID, r.slot.Member); err != nil {
		h.log.Warn("release endpoint slot", "delivery_id", r.d.ID, "error", err)
		return
	}
	h.gates.released(r.d.WebhookID, h.now())
}

func (h *Handler) end(ctx context.Context, d *webhook.Delivery, status webhook.DeliveryStatus, reason string) error {
	n, err := h.store.EndDeliveries(ctx, d.TenantID, d.WebhookID, []string{d.ID}, status, reason)
	if status == webhook.DeliveryCancelled {
		h.rec.Cancelled(n)
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

package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tidingshq/tidings/webhook"
)

// A retry's delay runs to its due time, plus half a second so that Asynq's
// whole-second due time is the nearest second (the handler waits out an
// early one).
func TestRetryDelay(t *testing.T) {
	now := time.Now()
	tests := []struct {
		err  error
		want time.Duration
	}{
		{&RetryError{At: now.Add(5 * time.Second), Err: errors.New("500")}, 5500 * time.Millisecond},
		{fmt.Errorf("wrapped: %w", &RetryError{At: now.Add(time.Hour)}), time.Hour + 500*time.Millisecond},
		{&RetryError{At: now.Add(-time.Second)}, 500 * time.Millisecond},
		{&DeferError{After: 2 * time.Second, Reason: "busy"}, 2500 * time.Millisecond},
		{asynq.ErrLeaseExpired, crashRetryDelay},
		{errors.New("redis down"), crashRetryDelay},
	}
	for _, tt := range tests {
		if got := RetryDelay(3, tt.err, nil); got > tt.want || got < tt.want-100*time.Millisecond {
			t.Errorf("RetryDelay(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if IsFailure(&DeferError{After: time.Second}) || !IsFailure(&RetryError{}) || !IsFailure(errors.New("x")) {
		t.Error("IsFailure: only deferrals are not failures")
	}
}

func TestSettings(t *testing.T) {
	s := Settings{Schedule: webhook.Schedule{time.Second, 2 * time.Second}, Timeout: 30500 * time.Millisecond}
	if s.TaskTimeout() != 41*time.Second || s.ShutdownTimeout() <= s.TaskTimeout() || s.MaxRetry() <= s.Schedule.Attempts() {
		t.Errorf("TaskTimeout %v, ShutdownTimeout %v, MaxRetry %d", s.TaskTimeout(), s.ShutdownTimeout(), s.MaxRetry())
	}
	if got := string(PayloadOf(&webhook.Delivery{ID: "dlv_1", TenantID: "ten_1", WebhookID: "wh_1", EventID: "evt_1", EventType: "a.b"}).Encode()); got != "ten_1 dlv_1 evt_1 wh_1" {
		t.Errorf("payload = %q (IDs only)", got)
	}
}

// A payload reads back in its own form; anything else is refused.
func TestParsePayload(t *testing.T) {
	want := Payload{TenantID: "ten_1", DeliveryID: "dlv_1", EventID: "evt_1", WebhookID: "wh_1"}
	if got, err := ParsePayload(want.Encode()); err != nil || got != want {
		t.Errorf("ParsePayload(%s) = %+v, %v", want.Encode(), got, err)
	}
	for _, in := range []string{"", "ten_1 dlv_1 evt_1", "ten_1 dlv_1  wh_1", "ten_1 dlv_1 evt_1 wh_1 x", "{", `{"t":"ten_1","d":"dlv_1","e":"evt_1","w":"wh_1"}`} {
		if _, err := ParsePayload([]byte(in)); err == nil {
			t.Errorf("ParsePayload(%q) took it", in)
		}
	}
	// A delivery whose ID names its event leaves the event out.
	evt := webhook.NewID(webhook.PrefixEvent, time.Now())
	want = Payload{TenantID: "ten_1", DeliveryID: webhook.NewDeliveryID(evt, nil), EventID: evt, WebhookID: "wh_1"}
	if enc := string(want.Encode()); strings.Contains(enc, evt) {
		t.Errorf("payload %q carries the event ID", enc)
	}
	if got, err := ParsePayload(want.Encode()); err != nil || got != want {
		t.Errorf("ParsePayload(%s) = %+v, %v", want.Encode(), got, err)
	}
}

// fakeStore is a hand-written store for the handler. The queue's methods
// the handler never reaches are left to the embedded nil interface.
type fakeStore struct {
	queueStore
	d         *webhook.Delivery
	ev        *webhook.Event
	ep        *webhook.Webhook
	recorded  []webhook.Attempt
	outcomes  []webhook.Outcome
	ended     webhook.DeliveryStatus
	status    webhook.WebhookStatus
	streak    int
	published []string
	limit     string
	slots     []string // the slot members Begin, Acquire, Release and RecordAttempt were given
	released  int
}

func (f *fakeStore) Begin(_ context.Context, req webhook.BeginRequest) (*webhook.Prepared, error) {
	f.slots = append(f.slots, req.Slot.Member)
	t := &webhook.Prepared{Delivery: f.d, Event: f.ev, Webhook: f.ep}
	due := f.d != nil && f.d.Status == webhook.DeliveryPending && f.ev != nil && f.ep != nil && (f.ep.Status == webhook.StatusActive || f.d.Test)
	if due {
		t.Wait = f.limit
		t.HasSlot = f.limit == ""
	}
	return t, nil
}

func (f *fakeStore) RecordAttempt(_ context.Context, rec webhook.AttemptRecord) (int, error) {
	f.slots = append(f.slots, rec.Slot.Member)
	f.recorded = append(f.recorded, *rec.Attempt)
	f.outcomes = append(f.outcomes, rec.Outcome)
	if rec.Outcome == webhook.OutcomeExhausted {
		f.streak++
		return f.streak, nil
	}
	return 0, nil
}

func (f *fakeStore) EndDeliveries(_ context.Context, _, _ string, ids []string, s webhook.DeliveryStatus, _ string) (int, error) {
	if len(ids) > 0 {
		f.ended = s
	}
	return len(ids), nil
}

func (f *fakeStore) SetStatus(_ context.Context, _, _ string, s webhook.WebhookStatus, _ string) (bool, error) {
	changed := f.status != s
	f.status = s
	return changed, nil
}

func (f *fakeStore) PendingDeliveries(context.Context, string, string) ([]string, error) {
	return nil, nil
}

func (f *fakeStore) Rerun(context.Context, *webhook.Delivery, int, string) error { return nil }

func (f *fakeStore) AllWebhooks(context.Context, string) ([]*webhook.Webhook, error) {
	return nil, nil
}

func (f *fakeStore) KeptWebhooks(string) ([]*webhook.Webhook, string, bool) { return nil, "", false }

func (f *fakeStore) GetWebhook(context.Context, string, string) (*webhook.Webhook, error) {
	return &webhook.Webhook{ID: "wh_1", Status: webhook.StatusDisabled}, nil
}

func (f *fakeStore) CreateEvent(_ context.Context, ev *webhook.Event, _ []*webhook.Delivery, _ bool, _ *webhook.IdempotencyRecord, _ string) error {
	f.published = append(f.published, ev.Type)
	return nil
}

func (f *fakeStore) Acquire(_ context.Context, _, _ string, slot webhook.Slot, _ int) (string, time.Duration, error) {
	f.slots = append(f.slots, slot.Member)
	return f.limit, 0, nil
}

func (f *fakeStore) Release(_ context.Context, _, _, member string) error {
	f.slots = append(f.slots, member)
	f.released++
	return nil
}

func (f *fakeStore) DeleteEvent(context.Context, *webhook.Event, []*webhook.Delivery, *webhook.IdempotencyRecord) error {
	return nil
}

type fakeSender struct {
	answer webhook.Attempt
	sent   int
}

func (s *fakeSender) Send(_ context.Context, m webhook.Message, now time.Time) webhook.Attempt {
	s.sent++
	a := s.answer
	a.Attempt, a.At = m.Attempt, now
	return a
}

func process(t *testing.T, f *fakeStore, answer webhook.Attempt) (error, *fakeSender) {
	t.Helper()
	snd := &fakeSender{answer: answer}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	settings := Settings{Schedule: webhook.Schedule{time.Second, 2 * time.Second}, DisableAfter: 1, EndpointConcurrency: 10}
	q := &Queue{rec: noRecorder{}, store: f, settings: settings, log: log}
	h := NewHandler(HandlerOptions{Store: f, Sender: snd, Actions: q, Settings: settings, Log: log})
	payload := Payload{TenantID: "ten_1", DeliveryID: "dlv_1", EventID: "evt_1", WebhookID: "wh_1"}.Encode()
	return h.ProcessTask(context.Background(), asynq.NewTask(TypeDeliver, payload)), snd
}

func fresh() *fakeStore {
	return &fakeStore{
		d:  &webhook.Delivery{ID: "dlv_1", TenantID: "ten_1", WebhookID: "wh_1", Status: webhook.DeliveryPending, MaxAttempts: 3, FailedAtRetry: -1},
		ev: &webhook.Event{ID: "evt_1", Type: "a.b"},
		ep: &webhook.Webhook{ID: "wh_1", Status: webhook.StatusActive},
	}
}

func TestHandlerOutcomes(t *testing.T) {
	fail500 := webhook.Attempt{ErrorClass: webhook.ErrorHTTPStatus, ResponseStatus: 500, Error: "HTTP 500"}

	t.Run("success is recorded before the ack", func(t *testing.T) {
		f := fresh()
		err, snd := process(t, f, webhook.Attempt{ResponseStatus: 200})
		if err != nil || snd.sent != 1 || len(f.outcomes) != 1 || f.outcomes[0] != webhook.OutcomeSuccess || f.recorded[0].Trigger != webhook.TriggerScheduled {
			t.Errorf("err %v sent %d outcomes %v", err, snd.sent, f.outcomes)
		}
		// The slot is taken and given back under the name of this run.
		if want := slotMember("dlv_1", 0); len(f.slots) != 2 || f.slots[0] != want || f.slots[1] != want {
			t.Errorf("slot members %v, want %s taken and given back", f.slots, want)
		}
		if slotMember("dlv_1", 1) == slotMember("dlv_1", 0) {
			t.Error("two runs of a delivery share a slot name")
		}
	})
	t.Run("a succeeded delivery is never sent again", func(t *testing.T) {
		f := fresh()
		f.d.Status = webhook.DeliverySucceeded
		if err, snd := process(t, f, webhook.Attempt{}); err != nil || snd.sent != 0 {
			t.Errorf("err %v sent %d", err, snd.sent)
		}
	})
	t.Run("failure retries after the ladder's delay", func(t *testing.T) {
		f := fresh()
		f.d.Attempt = 1
		err, _ := process(t, f, fail500)
		var re *RetryError
		if !errors.As(err, &re) || len(f.recorded) != 1 || f.recorded[0].Attempt != 2 ||
			!f.recorded[0].NextRetryAt.Equal(f.recorded[0].At.Add(2*time.Second)) || !re.At.Equal(f.recorded[0].NextRetryAt) {
			t.Errorf("err %v recorded %+v", err, f.recorded)
		}
	})
	t.Run("Retry-After longer than the rung wins", func(t *testing.T) {
		f := fresh()
		a := fail500
		a.RetryAfter = time.Minute
		err, _ := process(t, f, a)
		var re *RetryError
		if !errors.As(err, &re) || re.At.Sub(f.recorded[0].At) != time.Minute {
			t.Errorf("err %v", err)
		}
	})
	t.Run("last attempt exhausts, archives and disables", func(t *testing.T) {
		f := fresh()
		f.d.Attempt = 2
		err, _ := process(t, f, fail500)
		if !errors.Is(err, asynq.SkipRetry) || f.outcomes[0] != webhook.OutcomeExhausted || f.status != webhook.StatusDisabled {
			t.Errorf("err %v outcomes %v status %s", err, f.outcomes, f.status)
		}
		if len(f.published) != 2 || f.published[0] != EventDeliveryExhausted || f.published[1] != EventWebhookDisabled {
			t.Errorf("operational events = %v", f.published)
		}
	})
	t.Run("a webhook already disabled is not disabled again", func(t *testing.T) {
		f := fresh()
		f.d.Attempt = 2
		process(t, f, fail500)
		f.d.Attempt, f.d.Status = 2, webhook.DeliveryPending
		process(t, f, fail500)
		want := []string{EventDeliveryExhausted, EventWebhookDisabled, EventDeliveryExhausted}
		if fmt.Sprint(f.published) != fmt.Sprint(want) {
			t.Errorf("operational events = %v, want %v", f.published, want)
		}
	})
	t.Run("a failing tidings.* delivery causes no operational event", func(t *testing.T) {
		f := fresh()
		f.d.Attempt, f.d.EventType = 2, EventDeliveryExhausted
		err, _ := process(t, f, fail500)
		if !errors.Is(err, asynq.SkipRetry) || f.status != webhook.StatusDisabled || len(f.published) != 0 {
			t.Errorf("err %v status %s published %v", err, f.status, f.published)
		}
	})
	t.Run("a test delivery never disables", func(t *testing.T) {
		f := fresh()
		f.d.Attempt, f.d.Test = 2, true
		f.ep.Status = webhook.StatusPaused
		err, snd := process(t, f, fail500)
		if !errors.Is(err, asynq.SkipRetry) || snd.sent != 1 || f.status != "" {
			t.Errorf("err %v sent %d status %s", err, snd.sent, f.status)
		}
	})
	t.Run("410 disables at once", func(t *testing.T) {
		f := fresh()
		err, _ := process(t, f, webhook.Attempt{ErrorClass: webhook.ErrorHTTPStatus, ResponseStatus: 410})
		if !errors.Is(err, asynq.SkipRetry) || f.outcomes[0] != webhook.OutcomeGone || f.status != webhook.StatusDisabled {
			t.Errorf("err %v outcomes %v status %s", err, f.outcomes, f.status)
		}
	})
	t.Run("paused or deleted webhook cancels without sending", func(t *testing.T) {
		f := fresh()
		f.ep.Status = webhook.StatusPaused
		if err, snd := process(t, f, webhook.Attempt{}); err != nil || snd.sent != 0 || f.ended != webhook.DeliveryCancelled {
			t.Errorf("paused: err %v sent %d ended %s", err, snd.sent, f.ended)
		}
		f = fresh()
		f.ep = nil
		if err, snd := process(t, f, webhook.Attempt{}); err != nil || snd.sent != 0 || f.ended != webhook.DeliveryCancelled {
			t.Errorf("deleted: err %v sent %d ended %s", err, snd.sent, f.ended)
		}
	})
	t.Run("a busy endpoint defers without an attempt", func(t *testing.T) {
		f := fresh()
		f.limit = webhook.WaitConcurrency
		err, snd := process(t, f, webhook.Attempt{})
		var de *DeferError
		if !errors.As(err, &de) || IsFailure(err) || snd.sent != 0 || len(f.recorded) != 0 {
			t.Errorf("err %v sent %d recorded %d", err, snd.sent, len(f.recorded))
		}
	})
	t.Run("a retry a little early waits for its due time, without its slot", func(t *testing.T) {
		f := fresh()
		due := time.Now().Add(300 * time.Millisecond)
		f.d.Attempt, f.d.NextRetryAt = 1, due
		err, snd := process(t, f, webhook.Attempt{ResponseStatus: 200})
		if err != nil || snd.sent != 1 || f.recorded[0].At.Before(due) {
			t.Errorf("err %v sent %d at %v, due %v", err, snd.sent, f.recorded[0].At, due)
		}
		// Begin's slot is given back, and one taken again when due.
		if f.released != 1 || len(f.slots) != 4 {
			t.Errorf("released %d, slot members %v", f.released, f.slots)
		}
	})
	t.Run("a retry long before its due time is deferred to it", func(t *testing.T) {
		f := fresh()
		f.d.Attempt, f.d.NextRetryAt = 1, time.Now().Add(time.Minute)
		err, snd := process(t, f, webhook.Attempt{ResponseStatus: 200})
		var de *DeferError
		if !errors.As(err, &de) || IsFailure(err) || de.After < 59*time.Second || snd.sent != 0 || f.released != 1 {
			t.Errorf("err %v sent %d released %d", err, snd.sent, f.released)
		}
	})
	t.Run("a re-run past the budget fails without sending", func(t *testing.T) {
		f := fresh()
		f.d.Attempt = 3
		if err, snd := process(t, f, webhook.Attempt{}); !errors.Is(err, asynq.SkipRetry) || snd.sent != 0 || f.ended != webhook.DeliveryFailed {
			t.Errorf("err %v sent %d ended %s", err, snd.sent, f.ended)
		}
	})
}

// At debug level Asynq's shutdown and other messages come through, but not
// the line each idle fetch logs.
func TestLoggerDropsIdlePolls(t *testing.T) {
	var buf strings.Builder
	l := Logger{L: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Debug("All queues are empty")
	l.Debug("Processor shutting down...")
	l.Warn("Could not move task")
	out := buf.String()
	if strings.Contains(out, "All queues are empty") || !strings.Contains(out, "Processor shutting down...") || !strings.Contains(out, "Could not move task") {
		t.Errorf("asynq log lines:\n%s", out)
	}
}

func TestQueueNamesSpreadOverSlotRanges(t *testing.T) {
	if got := QueueNames(1); len(got) != 1 || got[0] != "webhooks" {
		t.Fatalf("one shard: %v", got)
	}
	if Slot("123456789") != 0x31C3 { // CRC16/XMODEM check value
		t.Fatalf("Slot(123456789) = %#x, want 0x31c3", Slot("123456789"))
	}
	for _, n := range []int{2, 3, 4, 6, 16} {
		names := QueueNames(n)
		seen := map[string]bool{}
		for i, name := range names {
			lo, hi := i*16384/n, (i+1)*16384/n
			if s := Slot(name); s < lo || s >= hi || !IsDeliveryQueue(name) || seen[name] {
				t.Errorf("n=%d: queue %d %q has slot %d, want [%d,%d), a webhooks* name, distinct", n, i, name, s, lo, hi)
			}
			seen[name] = true
		}
		if !slices.Equal(names, QueueNames(n)) {
			t.Errorf("n=%d: names not deterministic", n)
		}
	}
	t.Logf("3 shards: %v", QueueNames(3))
}

func TestQueueOfIsStablePerWebhook(t *testing.T) {
	s := Settings{Queues: QueueNames(3)}
	count := map[string]int{}
	for i := range 300 {
		wh := fmt.Sprintf("wh_%026d", i)
		q := s.QueueOf(wh)
		if q != s.QueueOf(wh) {
			t.Fatal("a webhook's queue changed")
		}
		count[q]++
	}
	for _, q := range s.Queues {
		if count[q] < 60 {
			t.Errorf("queue %s got %d of 300 webhooks: %v", q, count[q], count)
		}
	}
	if (Settings{}).QueueOf("wh_x") != QueueName {
		t.Error("no queues: not webhooks")
	}
}

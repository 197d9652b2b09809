package tasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/redisstore"
	"github.com/tidingshq/tidings/redistest"
	"github.com/tidingshq/tidings/tasks"
	"github.com/tidingshq/tidings/webhook"
)

// rollbackFixture is a store on a real Redis and two queues on it: one
// whose Asynq client works and one whose every enqueue fails (its Redis is
// a closed port).
type rollbackFixture struct {
	store      *redisstore.Store
	rc         *redis.Client
	good, dead *tasks.Queue
	ep         *webhook.Webhook
}

func newRollbackFixture(t *testing.T) *rollbackFixture {
	t.Helper()
	_, rc := redistest.New(t)
	store := redisstore.New(rc, redisstore.Options{Retention: time.Hour})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	settings := tasks.Settings{Schedule: webhook.Schedule{time.Second}, Timeout: time.Second, EndpointConcurrency: 10}
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	f := &rollbackFixture{store: store, rc: rc,
		good: tasks.NewQueue(rc, asynq.NewInspectorFromRedisClient(rc), store, settings, log, nil),
		dead: tasks.NewQueue(down, asynq.NewInspectorFromRedisClient(down), store, settings, log, nil),
	}
	ctx := context.Background()
	now := time.Now()
	ten := &webhook.Tenant{ID: webhook.NewID(webhook.PrefixTenant, now), Name: "acme", CreatedAt: now}
	if err := store.CreateTenant(ctx, ten, &webhook.APIKey{ID: webhook.NewID(webhook.PrefixKey, now), TenantID: ten.ID, Value: webhook.NewAPIKey(), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	f.ep = &webhook.Webhook{ID: webhook.NewID(webhook.PrefixWebhook, now), TenantID: ten.ID, URL: "https://example.com",
		Events: []string{"*"}, Secret: webhook.NewSecret(), Status: webhook.StatusActive, CreatedAt: now, UpdatedAt: now}
	if err := store.CreateWebhook(ctx, f.ep); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *rollbackFixture) event() *webhook.Event {
	now := time.Now()
	return &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: f.ep.TenantID, Type: "batch.done", Data: json.RawMessage(`{}`), CreatedAt: now}
}

// pending is what the webhook's pending deliveries read as.
func (f *rollbackFixture) pending(t *testing.T) []string {
	t.Helper()
	ids, err := f.store.PendingDeliveries(context.Background(), f.ep.TenantID, f.ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// failed publishes an event through the working queue and fails its
// delivery for good, as an exhausted ladder does.
func (f *rollbackFixture) failed(t *testing.T) *webhook.Delivery {
	t.Helper()
	ctx := context.Background()
	ds, err := f.good.Publish(ctx, f.event())
	if err != nil || len(ds) != 1 {
		t.Fatalf("publish: %v, %v", ds, err)
	}
	d := ds[0]
	a := &webhook.Attempt{Attempt: 1, At: time.Now(), ErrorClass: webhook.ErrorHTTPStatus, ResponseStatus: 500}
	if _, err := f.store.RecordAttempt(ctx, webhook.AttemptRecord{Delivery: d, Attempt: a, Outcome: webhook.OutcomeExhausted, Slot: webhook.Slot{Member: d.ID}}); err != nil {
		t.Fatal(err)
	}
	d, err = f.store.GetDelivery(ctx, d.TenantID, d.ID)
	if err != nil || d.Status != webhook.DeliveryFailed {
		t.Fatalf("delivery = %+v, %v", d, err)
	}
	return d
}

// Every job that stores and then queues undoes what it stored when the
// enqueue fails: no delivery is left pending without a task.
func TestRollbackOnEnqueueFailure(t *testing.T) {
	ctx := context.Background()

	t.Run("publish removes the event and frees its idempotency keys", func(t *testing.T) {
		f := newRollbackFixture(t)
		ev := f.event()
		render := func(ds []*webhook.Delivery) ([]byte, error) { return []byte(`{}`), nil }
		_, _, err := f.dead.PublishOnce(ctx, tasks.Request{Event: ev, Keys: []string{"h:k"}, Fingerprint: "fp", TTL: time.Hour, Render: render})
		if !errors.Is(err, webhook.ErrUnavailable) {
			t.Fatalf("PublishOnce = %v, want unavailable", err)
		}
		if _, _, err := f.store.GetEvent(ctx, ev.TenantID, ev.ID); !errors.Is(err, webhook.ErrNotFound) {
			t.Errorf("event after a failed publish: %v", err)
		}
		if p := f.pending(t); len(p) != 0 {
			t.Errorf("pending after a failed publish: %v", p)
		}
		// The client's retry creates it once.
		resp, replayed, err := f.good.PublishOnce(ctx, tasks.Request{Event: f.event(), Keys: []string{"h:k"}, Fingerprint: "fp", TTL: time.Hour, Render: render})
		if err != nil || replayed || string(resp) != `{}` {
			t.Errorf("retry = %s, %v, %v", resp, replayed, err)
		}
	})

	t.Run("re-run puts the delivery back as it was", func(t *testing.T) {
		f := newRollbackFixture(t)
		d := f.failed(t)
		if err := f.dead.Rerun(ctx, d, webhook.TriggerManual); !errors.Is(err, webhook.ErrUnavailable) {
			t.Fatalf("Rerun = %v, want unavailable", err)
		}
		after, err := f.store.GetDelivery(ctx, d.TenantID, d.ID)
		if err != nil || after.Status != webhook.DeliveryFailed || after.MaxAttempts != d.MaxAttempts || after.NextTrigger != d.NextTrigger {
			t.Errorf("after a failed re-run: %+v, %v; before %+v", after, err, d)
		}
		if p := f.pending(t); len(p) != 0 {
			t.Errorf("pending after a failed re-run: %v", p)
		}
		// Retrying it works, and answers 409 while it is pending.
		if err := f.good.Rerun(ctx, d, webhook.TriggerManual); err != nil {
			t.Fatal(err)
		}
		if err := f.good.Rerun(ctx, d, webhook.TriggerManual); !errors.Is(err, webhook.ErrConflict) {
			t.Errorf("second re-run = %v, want a conflict", err)
		}
	})

	t.Run("recover leaves nothing pending", func(t *testing.T) {
		f := newRollbackFixture(t)
		d := f.failed(t)
		// An event published while the webhook was paused: no delivery.
		if _, err := f.store.SetStatus(ctx, f.ep.TenantID, f.ep.ID, webhook.StatusPaused, ""); err != nil {
			t.Fatal(err)
		}
		if ds, err := f.good.Publish(ctx, f.event()); err != nil || len(ds) != 0 {
			t.Fatalf("publish while paused: %v, %v", ds, err)
		}
		if _, err := f.store.SetStatus(ctx, f.ep.TenantID, f.ep.ID, webhook.StatusActive, ""); err != nil {
			t.Fatal(err)
		}
		since := time.Now().Add(-time.Minute)
		if n, err := f.dead.Recover(ctx, f.ep, since, time.Now()); !errors.Is(err, webhook.ErrUnavailable) {
			t.Fatalf("Recover = %d, %v, want unavailable", n, err)
		}
		if p := f.pending(t); len(p) != 0 {
			t.Errorf("pending after a failed recover: %v", p)
		}
		if after, _ := f.store.GetDelivery(ctx, d.TenantID, d.ID); after.Status != webhook.DeliveryFailed || after.MaxAttempts != d.MaxAttempts {
			t.Errorf("failed delivery after a failed recover: %+v", after)
		}
		// Run again with a working queue, it queues both.
		if n, err := f.good.Recover(ctx, f.ep, since, time.Now()); err != nil || n != 2 {
			t.Errorf("Recover = %d, %v, want 2", n, err)
		}
		if p := f.pending(t); len(p) != 2 {
			t.Errorf("pending after recover: %v", p)
		}
	})

	t.Run("a test delivery is removed with its event", func(t *testing.T) {
		f := newRollbackFixture(t)
		if _, _, err := f.dead.Test(ctx, f.ep); !errors.Is(err, webhook.ErrUnavailable) {
			t.Fatalf("Test = %v, want unavailable", err)
		}
		if p := f.pending(t); len(p) != 0 {
			t.Errorf("pending after a failed test: %v", p)
		}
	})
}

// batchOf is a batch request of n events, the first with client id cid
// ("" for none), under the batch key ("" for none).
func (f *rollbackFixture) batchOf(n int, cid, key string) tasks.BatchRequest {
	r := tasks.BatchRequest{Key: key, Fingerprint: "batch-fp", TTL: time.Hour,
		Render: func(items []tasks.BatchItem) ([]byte, error) { return []byte(`{"data":[]}`), nil }}
	if key != "" {
		r.Key = "h:" + key
	}
	for i := range n {
		e := tasks.BatchEvent{Event: f.event(), Fingerprint: "fp",
			Render: func(ds []*webhook.Delivery) ([]byte, error) {
				return []byte(`{"n":` + strconv.Itoa(len(ds)) + `}`), nil
			}}
		if i == 0 && cid != "" {
			e.Key, e.Event.ClientID = "c:"+cid, cid
		}
		r.Events = append(r.Events, e)
	}
	return r
}

// A batch whose enqueue fails leaves nothing: no event, no pending
// delivery, no key held; the client's retry creates it once.
func TestBatchRollbackOnEnqueueFailure(t *testing.T) {
	ctx := context.Background()
	f := newRollbackFixture(t)
	r := f.batchOf(3, "order-1", "k")
	if _, err := f.dead.PublishBatch(ctx, r); !errors.Is(err, webhook.ErrUnavailable) {
		t.Fatalf("PublishBatch = %v, want unavailable", err)
	}
	for _, e := range r.Events {
		if _, _, err := f.store.GetEvent(ctx, e.Event.TenantID, e.Event.ID); !errors.Is(err, webhook.ErrNotFound) {
			t.Errorf("event %s after a failed batch: %v", e.Event.ID, err)
		}
	}
	if p := f.pending(t); len(p) != 0 {
		t.Errorf("pending after a failed batch: %v", p)
	}
	if keys := f.rc.Keys(ctx, "tidings:*:idem:*").Val(); len(keys) != 0 {
		t.Errorf("idempotency keys left: %v", keys)
	}
	retry := f.batchOf(3, "order-1", "k")
	res, err := f.good.PublishBatch(ctx, retry)
	if err != nil || res.Replayed || res.Created != 3 {
		t.Fatalf("retry = %+v, %v", res, err)
	}
	if p := f.pending(t); len(p) != 3 {
		t.Errorf("pending after the retry: %v", p)
	}
}

// The keys of a batch: a client id held by a running request refuses the
// batch and claims nothing; a batch that stopped after storing its events
// (a crash before the enqueue) is finished by the retry, which replays it.
func TestBatchKeys(t *testing.T) {
	ctx := context.Background()
	f := newRollbackFixture(t)
	ten := f.ep.TenantID

	if rec, err := f.store.ClaimIdempotency(ctx, ten, []string{"c:busy"}, "fp", time.Minute); err != nil || rec != nil {
		t.Fatalf("claim = %v, %v", rec, err)
	}
	r := f.batchOf(2, "busy", "b1")
	var ke *tasks.EventKeyError
	if _, err := f.good.PublishBatch(ctx, r); !errors.As(err, &ke) || ke.Index != 0 || !errors.Is(err, webhook.ErrIdempotencyKeyInUse) {
		t.Fatalf("batch with a client id in use = %v", err)
	}
	if n := f.rc.Exists(ctx, "tidings:{"+ten+"}:idem:h:b1").Val(); n != 0 {
		t.Error("the refused batch kept its key")
	}

	// A crash after the transaction: events and accepted records stored,
	// no task queued.
	r = f.batchOf(2, "late", "b2")
	pubs := make([]webhook.Publication, len(r.Events))
	var ids []string
	for i, e := range r.Events {
		d := webhook.NewDelivery(webhook.NewDeliveryID(e.Event.ID, nil), e.Event, f.ep.ID, webhook.TriggerScheduled, 2, e.Event.CreatedAt)
		pubs[i] = webhook.Publication{Event: e.Event, Deliveries: []*webhook.Delivery{d}}
		ids = append(ids, e.Event.ID)
	}
	pubs[0].Idem = &webhook.IdempotencyRecord{Keys: []string{"c:late"}, Fingerprint: "fp", EventID: ids[0], Response: []byte(`{"n":1}`), TTL: time.Hour}
	batch := &webhook.IdempotencyRecord{Keys: []string{"h:b2"}, Fingerprint: "batch-fp", EventID: ids[0] + " " + ids[1], Response: []byte(`{"data":["first"]}`), TTL: time.Hour}
	if err := f.store.CreateEvents(ctx, ten, pubs, batch, ""); err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspectorFromRedisClient(f.rc)
	res, err := f.good.PublishBatch(ctx, f.batchOf(2, "late", "b2"))
	if err != nil || !res.Replayed || string(res.Response) != `{"data":["first"]}` || res.Created != 0 {
		t.Fatalf("retry of a stopped batch = %+v %s, %v", res, res.Response, err)
	}
	for _, p := range pubs {
		if _, err := inspector.GetTaskInfo(tasks.QueueName, p.Deliveries[0].ID); err != nil {
			t.Errorf("task of %s not queued by the replay: %v", p.Event.ID, err)
		}
	}
	if v := f.rc.Get(ctx, "tidings:{"+ten+"}:idem:h:b2").Val(); !strings.HasPrefix(v, webhook.IdempotencyDone+"|") {
		t.Errorf("batch key after the replay = %q", v)
	}

	// A new batch naming the same client id with the same body replays
	// that event alone; with another body it is refused.
	r = f.batchOf(2, "late", "")
	res, err = f.good.PublishBatch(ctx, r)
	if err != nil || res.Created != 1 {
		t.Fatalf("batch with an accepted client id = %+v, %v", res, err)
	}
	r = f.batchOf(1, "late", "")
	r.Events[0].Fingerprint = "other"
	if _, err := f.good.PublishBatch(ctx, r); !errors.Is(err, webhook.ErrIdempotencyKeyMismatch) {
		t.Errorf("another body under an accepted client id = %v", err)
	}
}

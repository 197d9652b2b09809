package tasks_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/tidingshq/tidings/redisstore"
	"github.com/tidingshq/tidings/redistest"
	"github.com/tidingshq/tidings/tasks"
	"github.com/tidingshq/tidings/webhook"
)

// The tasks a Queue writes are Asynq's own: the layout belongs to the
// asynq release in go.mod, the message is byte for byte Enqueue's, and the
// inspector (which Asynqmon reads through) and a worker see them as they
// see Enqueue's.
func TestAsynqLayout(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/hibiken/asynq (v\S+)`).FindSubmatch(mod)
	if m == nil || string(m[1]) != tasks.AsynqLayout {
		t.Fatalf("go.mod requires asynq %s, but tasks.Queue writes the task layout of asynq %s: "+
			"check enqueueCmd and EncodeMessage of the new release, then update scriptEnqueue, taskMessage and AsynqLayout", m[1], tasks.AsynqLayout)
	}

	ctx := context.Background()
	_, rc := redistest.New(t)
	store := redisstore.New(rc, redisstore.Options{Retention: time.Hour})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	settings := tasks.Settings{Schedule: webhook.Schedule{time.Second, 5 * time.Second}, Timeout: 7 * time.Second, EndpointConcurrency: 10}
	inspector := asynq.NewInspectorFromRedisClient(rc)
	client := asynq.NewClientFromRedisClient(rc)
	byScript := tasks.NewQueue(rc, inspector, store, settings, log, nil)

	now := time.Now()
	delivery := func() *webhook.Delivery {
		ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: "ten_1", Type: "batch.done", CreatedAt: now}
		return webhook.NewDelivery(webhook.NewDeliveryID(ev.ID, nil), ev, "wh_1", webhook.TriggerScheduled, 3, now)
	}
	taskKey := func(id string) string { return "asynq:{" + tasks.QueueName + "}:t:" + id }

	d := delivery()
	// The same task built with Asynq's own options and written by Enqueue.
	byEnqueue := asynq.NewTask(tasks.TypeDeliver, tasks.PayloadOf(d).Encode(), asynq.Queue(settings.QueueOf(d.WebhookID)),
		asynq.TaskID(d.ID), asynq.MaxRetry(settings.MaxRetry()), asynq.Timeout(settings.TaskTimeout()), asynq.Retention(0))
	if _, err := client.EnqueueContext(ctx, byEnqueue); err != nil {
		t.Fatal(err)
	}
	want := rc.HGetAll(ctx, taskKey(d.ID)).Val()
	wantInfo, err := inspector.GetTaskInfo(tasks.QueueName, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := inspector.DeleteTask(tasks.QueueName, d.ID); err != nil {
		t.Fatal(err)
	}
	if err := byScript.Enqueue(ctx, []*webhook.Delivery{d}); err != nil {
		t.Fatal(err)
	}
	got := rc.HGetAll(ctx, taskKey(d.ID)).Val()
	if got["msg"] != want["msg"] || got["state"] != want["state"] || got["pending_since"] == "" || len(got) != len(want) {
		t.Errorf("task hash by script = %q, by Enqueue %q", got, want)
	}
	gotInfo, err := inspector.GetTaskInfo(tasks.QueueName, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	ignore := func(i *asynq.TaskInfo) *asynq.TaskInfo { c := *i; c.NextProcessAt = time.Time{}; return &c }
	if diff := cmp.Diff(ignore(wantInfo), ignore(gotInfo)); diff != "" {
		t.Errorf("the inspector sees the scripted task otherwise (-Enqueue +script):\n%s", diff)
	}

	// A fan-out in one script; a task queued already counts as queued.
	ds := []*webhook.Delivery{d, delivery(), delivery(), delivery()}
	if err := byScript.Enqueue(ctx, ds); err != nil {
		t.Fatal(err)
	}
	pending, err := inspector.ListPendingTasks(tasks.QueueName)
	if err != nil || len(pending) != len(ds) {
		t.Fatalf("pending tasks = %d, %v; want %d", len(pending), err, len(ds))
	}
	if queues, _ := inspector.Queues(); len(queues) != 1 || queues[0] != tasks.QueueName {
		t.Errorf("queues = %v", queues)
	}

	// A worker runs every one of them, with its payload.
	var mu sync.Mutex
	ran := map[string]string{}
	srv := asynq.NewServerFromRedisClient(rc, asynq.Config{Concurrency: 2, Queues: map[string]int{tasks.QueueName: 1},
		LogLevel: asynq.FatalLevel, TaskCheckInterval: 50 * time.Millisecond})
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.TypeDeliver, func(ctx context.Context, task *asynq.Task) error {
		p, err := tasks.ParsePayload(task.Payload())
		mu.Lock()
		defer mu.Unlock()
		ran[p.DeliveryID] = p.WebhookID
		return err
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(ran)
		mu.Unlock()
		if n == len(ds) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker ran %d of %d scripted tasks", n, len(ds))
		}
		time.Sleep(25 * time.Millisecond)
	}
	for _, d := range ds {
		if ran[d.ID] != d.WebhookID {
			t.Errorf("task %s ran with webhook %q", d.ID, ran[d.ID])
		}
	}
}

// A script's tasks join the pending list in the order one Enqueue per task
// would leave them (workers take the oldest first), and a task queued
// already keeps its place.
func TestEnqueueKeepsOrder(t *testing.T) {
	ctx := context.Background()
	_, rc := redistest.New(t)
	store := redisstore.New(rc, redisstore.Options{Retention: time.Hour})
	settings := tasks.Settings{Schedule: webhook.Schedule{time.Second}, Timeout: 7 * time.Second, EndpointConcurrency: 10}
	q := tasks.NewQueue(rc, asynq.NewInspectorFromRedisClient(rc), store, settings, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	now := time.Now()
	ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: "ten_1", Type: "batch.done", CreatedAt: now}
	ds := make([]*webhook.Delivery, 50)
	for i := range ds {
		ds[i] = webhook.NewDelivery(webhook.NewID(webhook.PrefixDelivery, now), ev, "wh_1", webhook.TriggerScheduled, 3, now)
	}
	if err := q.Enqueue(ctx, ds[20:21]); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, ds); err != nil {
		t.Fatal(err)
	}
	// LPUSH puts each ID at the head: the list reads newest first.
	want := []string{}
	for i := len(ds) - 1; i >= 0; i-- {
		if i != 20 {
			want = append(want, ds[i].ID)
		}
	}
	want = append(want, ds[20].ID)
	got := rc.LRange(ctx, "asynq:{"+tasks.QueueName+"}:pending", 0, -1).Val()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pending list (-one Enqueue per task +script):\n%s", diff)
	}
}

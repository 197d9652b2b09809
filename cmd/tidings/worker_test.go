package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/redistest"
	"github.com/tidingshq/tidings/tasks"
)

// A worker's concurrency is shared by near-equal Asynq servers of at most
// fetchersPer slots each, and at most maxFetchers servers (one on the
// embedded Redis of `tidings dev`).
func TestSplitConcurrency(t *testing.T) {
	for _, c := range []struct {
		total, most int
		want        []int
	}{
		{1, maxFetchers, []int{1}}, {10, maxFetchers, []int{10}}, {11, maxFetchers, []int{6, 5}},
		{50, maxFetchers, []int{10, 10, 10, 10, 10}}, {53, maxFetchers, []int{9, 9, 9, 9, 9, 8}},
		{500, maxFetchers, []int{63, 63, 63, 63, 62, 62, 62, 62}}, {50, 1, []int{50}},
	} {
		if got := split(c.total, fetchersPer, c.most); !slices.Equal(got, c.want) {
			t.Errorf("split(%d, at most %d) = %v, want %v", c.total, c.most, got, c.want)
		}
	}
}

// Asynq's servers dequeue on the plain client and acknowledge on the
// auto-pipeliner (asynqClient), as checked on a real server running a task.
func TestAsynqClientRoutes(t *testing.T) {
	url, _ := redistest.New(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	var plain, hot scriptKeys
	pc, hc := redis.NewClient(opts), redis.NewClient(opts)
	defer pc.Close()
	defer hc.Close()
	pc.AddHook(&plain)
	hc.AddHook(&hot)
	done := make(chan struct{}, 1)
	srv := asynq.NewServerFromRedisClient(asynqClient{pc, hc}, asynq.Config{Concurrency: 1, Queues: map[string]int{tasks.QueueName: 1},
		TaskCheckInterval: 50 * time.Millisecond, LogLevel: asynq.FatalLevel})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { done <- struct{}{}; return nil })); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	client := asynq.NewClientFromRedisClient(hc)
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(tasks.QueueName)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not run within 10s")
	}
	active := "asynq:{" + tasks.QueueName + "}:active"
	eventually(t, 5*time.Second, "the task acknowledged", func() bool { return hot.saw(active) })
	if pending := "asynq:{" + tasks.QueueName + "}:pending"; !plain.saw(pending) || hot.saw(pending) {
		t.Errorf("dequeue: plain client saw it %v, auto-pipeliner %v; want only the plain client", plain.saw(pending), hot.saw(pending))
	}
	if plain.saw(active) {
		t.Error("the acknowledgement went on the plain client")
	}
}

// scriptKeys is a go-redis hook that notes the first key of every script run.
type scriptKeys struct {
	mu    sync.Mutex
	first map[string]bool
}

func (s *scriptKeys) saw(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first[key]
}

func (s *scriptKeys) DialHook(next redis.DialHook) redis.DialHook { return next }

func (s *scriptKeys) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (s *scriptKeys) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if a := cmd.Args(); len(a) > 3 && (cmd.Name() == "evalsha" || cmd.Name() == "eval") && fmt.Sprint(a[2]) != "0" {
			s.mu.Lock()
			if s.first == nil {
				s.first = map[string]bool{}
			}
			s.first[fmt.Sprint(a[3])] = true
			s.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

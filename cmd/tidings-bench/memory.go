package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tidingshq/tidings/redisstore"
	"github.com/tidingshq/tidings/tasks"
	"github.com/tidingshq/tidings/webhook"
)

// memory measures Redis bytes (INFO memory used_memory, before and after,
// divided) per queued task (its event, index entries and Asynq task) and per
// retained delivery with 5 attempts once its task is gone, as after a
// success. It writes through the same store and queue code as Tidings.
func (b *bench) memory() (perDelivery, perTask float64) {
	b.flush()
	ctx := context.Background()
	used := func() float64 {
		info := b.rdb.Info(ctx, "memory").Val()
		for _, l := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return n
			}
		}
		return 0
	}
	store := redisstore.New(b.rdb, redisstore.Options{Retention: 168 * time.Hour})
	settings := tasks.Settings{Schedule: webhook.Schedule{5 * time.Second, 30 * time.Second, 5 * time.Minute, time.Hour}, Timeout: 30 * time.Second, EndpointConcurrency: 10}
	inspector := asynq.NewInspectorFromRedisClient(b.rdb)
	queue := tasks.NewQueue(b.rdb, inspector, store, settings, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	now := time.Now()
	ten := &webhook.Tenant{ID: webhook.NewID(webhook.PrefixTenant, now), Name: "mem", CreatedAt: now}
	_ = store.CreateTenant(ctx, ten, &webhook.APIKey{ID: webhook.NewID(webhook.PrefixKey, now), TenantID: ten.ID, Value: webhook.NewAPIKey(), CreatedAt: now})
	ep := &webhook.Webhook{ID: webhook.NewID(webhook.PrefixWebhook, now), TenantID: ten.ID, URL: "https://example.com/hook",
		Events: []string{"bench.*"}, Secret: webhook.NewSecret(), Status: webhook.StatusActive, CreatedAt: now, UpdatedAt: now}
	_ = store.CreateWebhook(ctx, ep)
	n := min(b.n, 20000)
	data, _ := json.Marshal(map[string]any{"batch": "b_123", "pct": 50})
	base := used()
	var ds []*webhook.Delivery
	for range n {
		t := time.Now()
		ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, t), TenantID: ten.ID, Type: "bench.tick", Data: data, CreatedAt: t}
		got, err := queue.Publish(ctx, ev)
		if err != nil {
			panic(err)
		}
		ds = append(ds, got...)
	}
	perTask = (used() - base) / float64(n)
	b.memoryBreakdown("queued", n)
	for _, d := range ds {
		for i := 1; i <= 5; i++ {
			ms := 12.5
			a := &webhook.Attempt{Attempt: i, At: time.Now(), Trigger: webhook.TriggerScheduled, ResponseTimeMs: 13,
				Timing: webhook.Timing{ConnectMs: &ms, FirstByteMs: &ms}}
			outcome := webhook.OutcomeSuccess
			if i < 5 {
				a.ResponseStatus, a.ErrorClass, a.Error, a.NextRetryAt = 500, webhook.ErrorHTTPStatus, "HTTP 500", time.Now().Add(time.Minute)
				outcome = webhook.OutcomeRetry
			} else {
				a.ResponseStatus = 200
			}
			if _, err := store.RecordAttempt(ctx, webhook.AttemptRecord{Delivery: d, Attempt: a, Outcome: outcome, Slot: webhook.Slot{Member: d.ID}}); err != nil {
				panic(err)
			}
		}
	}
	if _, err := inspector.DeleteAllPendingTasks(tasks.QueueName); err != nil {
		panic(err)
	}
	perDelivery = (used() - base) / float64(n)
	b.memoryBreakdown("retained", n)
	return perDelivery, perTask
}

// idPattern finds the IDs in a key name, to group keys by kind.
var idPattern = regexp.MustCompile(`(ten|wh|evt|dlv|key)_[0-9A-Za-z]+`)

// memoryBreakdown prints, per kind of key, its count per delivery and the
// mean MEMORY USAGE of a sample: where the bytes are.
func (b *bench) memoryBreakdown(state string, n int) {
	ctx := context.Background()
	kinds := map[string][]string{}
	iter := b.rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		kind := idPattern.ReplaceAllString(k, "$1_…")
		kinds[kind] = append(kinds[kind], k)
	}
	type row struct {
		kind              string
		perDlv, each, all float64
	}
	var rows []row
	for kind, keys := range kinds {
		var sum int64
		sample := keys[:min(len(keys), 200)]
		for _, k := range sample {
			sum += b.rdb.MemoryUsage(ctx, k).Val()
		}
		each := float64(sum) / float64(len(sample))
		if r := (row{kind, float64(len(keys)) / float64(n), each, each * float64(len(keys)) / float64(n)}); r.all >= 1 {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(b.all, a.all) })
	fmt.Fprintf(os.Stderr, "  Redis per delivery, %s (MEMORY USAGE, mean of up to 200 keys of each kind):\n", state)
	for _, r := range rows {
		fmt.Fprintf(os.Stderr, "    %-40s %6.2f keys %8.0f B each %6.0f B\n", r.kind, r.perDlv, r.each, r.all)
	}
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"

	"github.com/tidingshq/tidings/handlers"
	"github.com/tidingshq/tidings/sender"
	"github.com/tidingshq/tidings/signing"
	"github.com/tidingshq/tidings/tasks"
)

// An Asynq server fetches tasks in one loop, one Redis round trip at a time,
// so that loop caps a server at about one task per round trip whatever its
// concurrency. A worker process therefore runs one server per fetchersPer
// slots of its concurrency, at most maxFetchers (each server also holds a
// pub/sub connection and its own housekeeping); together they share the
// process's concurrency and fetch in parallel.
const (
	fetchersPer = 10
	maxFetchers = 8
)

// Each server polls an empty queue every 25-75 ms (Asynq's default, 1 s,
// adds up to 1.5 s of pickup latency: a server asleep on an empty queue does
// not fetch when work comes back), and releases due retries and deferred
// deliveries every 200 ms (the default, 5 s, would phase-lock a 5 s rung to
// 10 s). docs/BENCHMARKS.md has what other values cost.
const (
	taskCheckInterval        = 50 * time.Millisecond
	delayedTaskCheckInterval = 200 * time.Millisecond
)

// startWorker starts the Asynq servers that deliver webhooks and, for the
// worker command, its health and metrics port.
func (p *process) startWorker(ctx context.Context) (*workers, error) {
	if p.cmd == "worker" {
		ln, err := listen(p.cfg.HTTPAddr)
		if err != nil {
			return nil, err
		}
		r := gin.New()
		handlers.Health(r, p.store.Ping, p.mets.Handler())
		fmt.Fprintf(p.stdout, "Worker health on http://%s\n", p.serve(ctx, ln, r))
	}
	cfg := p.cfg
	snd := sender.New(sender.Options{
		Timeout: cfg.DeliveryTimeout, AllowPrivateNetworks: cfg.AllowPrivateNetworks, UserAgent: "Tidings/" + version,
		SignatureHeader: cfg.SignatureHeader, TimestampHeader: cfg.TimestampHeader, DeliveryIDHeader: cfg.DeliveryIDHeader,
		Hex: signing.HexScheme{Format: cfg.SignatureFormat, Content: cfg.SignedContent}, PayloadTemplate: p.tmpl,
	})
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeDeliver, tasks.NewHandler(tasks.HandlerOptions{Store: p.store, Sender: snd, Actions: p.queue,
		Settings: p.settings, Recorder: p.mets, Log: p.log}))
	ws := &workers{sender: snd}
	for _, n := range split(cfg.WorkerConcurrency, fetchersPer, p.fetchers()) {
		srv := asynq.NewServerFromRedisClient(asynqClient{p.rc, p.pipelined}, p.serverConfig(n))
		if err := srv.Start(mux); err != nil {
			ws.Shutdown()
			return nil, fmt.Errorf("start worker: %w", err)
		}
		ws.servers = append(ws.servers, srv)
	}
	p.log.Info("worker started", "concurrency", cfg.WorkerConcurrency, "fetchers", len(ws.servers),
		"retry_schedule", cfg.RetrySchedule.String(), "queues", p.queues)
	return ws, nil
}

// fetchers is how many Asynq servers a worker runs at most. The embedded
// Redis of dev runs every command under one lock, so parallel fetchers gain
// nothing there, and each polls when idle: it runs one.
func (p *process) fetchers() int {
	if p.embedded != nil {
		return 1
	}
	return maxFetchers
}

// serverConfig is the configuration of one Asynq server of n slots, serving
// every delivery queue.
func (p *process) serverConfig(n int) asynq.Config {
	served := map[string]int{}
	for _, q := range p.queues {
		served[q] = 1
	}
	level := asynq.WarnLevel
	if p.cfg.LogLevel <= slog.LevelDebug {
		level = asynq.DebugLevel
	}
	return asynq.Config{
		Concurrency:              n,
		Queues:                   served,
		RetryDelayFunc:           tasks.RetryDelay,
		IsFailure:                tasks.IsFailure,
		TaskCheckInterval:        taskCheckInterval,
		DelayedTaskCheckInterval: delayedTaskCheckInterval,
		ShutdownTimeout:          p.settings.ShutdownTimeout(),
		Logger:                   tasks.Logger{L: p.log},
		LogLevel:                 level,
		BaseContext:              tasks.BaseContext,
	}
}

// split divides total into ceil(total/per) near-equal parts, at most most.
func split(total, per, most int) []int {
	k := min((total+per-1)/per, most)
	parts := make([]int, k)
	for i := range parts {
		parts[i] = total / k
		if i < total%k {
			parts[i]++
		}
	}
	return parts
}

// workers are the Asynq servers of one worker process and their sender.
type workers struct {
	servers []*asynq.Server
	sender  *sender.Sender
}

// Shutdown stops every server fetching and waits, in parallel, for their
// in-flight deliveries (up to ShutdownTimeout); the rest stay queued. Then
// the sender's idle connections close. A nil *workers does nothing.
func (ws *workers) Shutdown() {
	if ws == nil {
		return
	}
	var wg sync.WaitGroup
	for _, srv := range ws.servers {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
	ws.sender.Close()
}

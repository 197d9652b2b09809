// Command tidings is the webhook delivery service: one binary that runs the
// API, the worker, both, or everything in one process for a first try.
//
//	tidings dev | api | worker | all | version
//
// main only wires signals to run; run is the one place dependencies are
// built (newProcess), so end-to-end tests call it on :0 ports. api.go
// starts the HTTP side, worker.go the Asynq servers, redis.go the Redis
// client.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/config"
	"github.com/tidingshq/tidings/metrics"
	"github.com/tidingshq/tidings/redisstore"
	"github.com/tidingshq/tidings/sender"
	"github.com/tidingshq/tidings/tasks"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0"

const usage = "usage: tidings dev | api | worker | all | version"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tidings:", err)
		os.Exit(1)
	}
}

// run runs one command until ctx is done, then shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New(usage)
	}
	switch args[0] {
	case "version":
		fmt.Fprintln(stdout, "tidings", version)
		return nil
	case "dev", "api", "worker", "all":
	default:
		return fmt.Errorf("unknown command %q; %s", args[0], usage)
	}
	p, err := newProcess(ctx, args[0], getenv, stdout)
	if err != nil {
		return err
	}
	defer p.close()
	return p.run(ctx)
}

// process is one running command and everything it built.
type process struct {
	cmd    string // dev, api, worker or all
	cfg    config.Config
	tmpl   *template.Template // the payload template; nil: the envelope
	log    *slog.Logger
	stdout io.Writer

	embedded  *miniredis.Miniredis  // dev without TIDINGS_REDIS_URL
	rc        redis.UniversalClient // plain
	pipelined redis.UniversalClient // the auto-pipeliner on rc
	store     *redisstore.Store
	inspector *asynq.Inspector
	settings  tasks.Settings
	queues    []string // every delivery queue, this process's first
	mets      *metrics.Metrics
	queue     *tasks.Queue

	wg   sync.WaitGroup
	errc chan error // a server that stopped by itself
}

// newProcess loads the configuration and builds the Redis client, the
// store and the queue every command shares.
func newProcess(ctx context.Context, cmd string, getenv func(string) string, stdout io.Writer) (*process, error) {
	mode := config.Production
	if cmd == "dev" {
		mode = config.Dev
	}
	cfg, err := config.Load(getenv, mode)
	if err != nil {
		return nil, err
	}
	tmpl, err := sender.ParseTemplate(cfg.PayloadTemplate)
	if err != nil {
		return nil, &config.ConfigError{Var: "TIDINGS_PAYLOAD_TEMPLATE", Reason: err.Error()}
	}
	p := &process{cmd: cmd, cfg: cfg, tmpl: tmpl, log: newLogger(cfg, mode, stdout), stdout: stdout, errc: make(chan error, 3)}
	redis.SetLogger(redisLog{p.log})
	gin.SetMode(gin.ReleaseMode)
	if err := p.connect(ctx); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// connect starts dev's embedded Redis if there is no other, waits for
// Redis, and builds what talks to it.
func (p *process) connect(ctx context.Context) error {
	if p.cmd == "dev" && p.cfg.RedisURL == "" {
		p.embedded = miniredis.NewMiniRedis()
		p.embedded.ClockTTL(true) // TTLs follow the wall clock, as in a real Redis
		if err := p.embedded.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start embedded redis: %w", err)
		}
		p.cfg.RedisURL = "redis://" + p.embedded.Addr()
	}
	if p.cmd == "dev" && p.cfg.AdminToken == "" {
		p.cfg.AdminToken = randomToken()
	}
	var err error
	if p.rc, err = newRedis(p.cfg); err != nil {
		return err
	}
	if err := waitForRedis(ctx, p.rc, p.log); err != nil {
		return err
	}
	// The store and the queue (publishing) send through go-redis's
	// auto-pipeliner: commands that concurrent requests and deliveries issue
	// at the same moment share one write and one read (a lone command goes at
	// once). Asynq's servers fetch on the plain client (asynqClient).
	if p.pipelined, err = p.rc.AutoPipeline(); err != nil {
		return err
	}
	cfg := p.cfg
	p.store = redisstore.New(p.pipelined, redisstore.Options{Retention: cfg.LogRetention, Attempts: cfg.RetrySchedule.Attempts()})
	p.settings = tasks.Settings{Schedule: cfg.RetrySchedule, Timeout: cfg.DeliveryTimeout, DisableAfter: cfg.DisableAfterFailures,
		EndpointConcurrency: cfg.EndpointConcurrency, Queues: tasks.QueueNames(cfg.QueueShards)}
	p.inspector = asynq.NewInspectorFromRedisClient(p.rc)
	if p.queues, err = deliveryQueues(ctx, p.rc, p.inspector, p.settings.Queues); err != nil {
		p.log.Warn("delivery queues not listed: serving this process's own", "error", err)
		p.queues = p.settings.Queues
	}
	p.mets = metrics.New(p.queues...)
	// A fan-out's or a batch's tasks in one script, in Asynq's own layout.
	p.queue = tasks.NewQueue(p.pipelined, p.inspector, p.store, p.settings, p.log, p.mets)
	if cfg.RedisWaitReplicas > 0 {
		p.queue.WaitForReplicas(redisstore.NewReplicas(p.rc, cfg.RedisWaitReplicas, cfg.RedisWaitTimeout))
	}
	return nil
}

// run serves the command's roles until ctx is done or a server fails, then
// stops them: the API drains its requests, the workers stop fetching and
// let in-flight deliveries finish (up to ShutdownTimeout), the rest stay
// queued.
func (p *process) run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if p.cmd != "worker" {
		if err := p.startAPI(runCtx); err != nil {
			return err
		}
	}
	var ws *workers
	if p.cmd != "api" {
		var err error
		if ws, err = p.startWorker(runCtx); err != nil {
			return err
		}
	}
	p.wg.Go(func() { p.mets.WatchQueues(runCtx, p.inspector, 2*time.Second, p.log) })

	var err error
	select {
	case <-ctx.Done():
		p.log.Info("shutting down")
	case err = <-p.errc:
		p.log.Error("server failed", "error", err)
	}
	cancel()
	ws.Shutdown()
	p.wg.Wait()
	return err
}

// close releases what newProcess built.
func (p *process) close() {
	if p.inspector != nil {
		_ = p.inspector.Close() // idem
	}
	if p.rc != nil {
		_ = p.rc.Close()
	}
	if p.embedded != nil {
		p.embedded.Close()
	}
}

func newLogger(cfg config.Config, mode config.Mode, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if mode == config.Dev {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "adm_" + hex.EncodeToString(b[:])
}

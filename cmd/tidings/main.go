// Command tidings is the webhook delivery service: one binary that runs the
// API, the worker, both, or everything in one process for a first try.
//
//	tidings dev | api | worker | all | version
//
// main only wires signals to run; run is the one place dependencies are
// built, so end-to-end tests call it on :0 ports.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/asynqmon"
	"github.com/tidingshq/tidings/config"
	"github.com/tidingshq/tidings/docs"
	"github.com/tidingshq/tidings/handlers"
	"github.com/tidingshq/tidings/metrics"
	"github.com/tidingshq/tidings/portal"
	"github.com/tidingshq/tidings/redisstore"
	"github.com/tidingshq/tidings/sender"
	"github.com/tidingshq/tidings/signing"
	"github.com/tidingshq/tidings/tasks"
	"github.com/tidingshq/tidings/webhook"
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
	cmd := args[0]
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "tidings", version)
		return nil
	case "dev", "api", "worker", "all":
	default:
		return fmt.Errorf("unknown command %q; %s", cmd, usage)
	}
	mode := config.Production
	if cmd == "dev" {
		mode = config.Dev
	}
	cfg, err := config.Load(getenv, mode)
	if err != nil {
		return err
	}
	tmpl, err := sender.ParseTemplate(cfg.PayloadTemplate)
	if err != nil {
		return &config.ConfigError{Var: "TIDINGS_PAYLOAD_TEMPLATE", Reason: err.Error()}
	}
	log := newLogger(cfg, mode, stdout)
	gin.SetMode(gin.ReleaseMode)

	var embedded *miniredis.Miniredis
	if cmd == "dev" && cfg.RedisURL == "" {
		embedded = miniredis.NewMiniRedis()
		embedded.ClockTTL(true) // TTLs follow the wall clock, as in a real Redis
		if err := embedded.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start embedded redis: %w", err)
		}
		defer embedded.Close()
		cfg.RedisURL = "redis://" + embedded.Addr()
	}
	if cmd == "dev" && cfg.AdminToken == "" {
		cfg.AdminToken = randomToken()
	}

	rc, err := newRedis(cfg)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := waitForRedis(ctx, rc, log); err != nil {
		return err
	}

	// The store and the Asynq client (publishing) send through go-redis's
	// auto-pipeliner: commands that concurrent requests and deliveries issue
	// at the same moment share one write and one read (a lone command goes at
	// once). Asynq's servers fetch on the plain client, since their fetch
	// loops are serial and would only wait on other callers' batches, and
	// send the rest through the auto-pipeliner (asynqClient).
	hot, err := rc.AutoPipeline()
	if err != nil {
		return err
	}
	store := redisstore.New(hot, redisstore.Options{Retention: cfg.LogRetention, Attempts: cfg.RetrySchedule.Attempts()})
	settings := tasks.Settings{Schedule: cfg.RetrySchedule, Timeout: cfg.DeliveryTimeout, DisableAfter: cfg.DisableAfterFailures, EndpointConcurrency: cfg.EndpointConcurrency, Queues: tasks.QueueNames(cfg.QueueShards)}
	client := asynq.NewClientFromRedisClient(hot)
	inspector := asynq.NewInspectorFromRedisClient(rc)
	queues, err := deliveryQueues(ctx, rc, inspector, settings.Queues)
	if err != nil {
		log.Warn("delivery queues not listed: serving this process's own", "error", err)
		queues = settings.Queues
	}
	mets := metrics.New(queues...)
	queue := tasks.NewQueue(client, inspector, store, settings, log, mets)
	if cfg.RedisWaitReplicas > 0 {
		queue.WaitForReplicas(redisstore.NewReplicas(rc, cfg.RedisWaitReplicas, cfg.RedisWaitTimeout))
	}

	var wg sync.WaitGroup
	errc := make(chan error, 3)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	if cmd != "worker" {
		reference, err := docs.Reference()
		if err != nil {
			return err
		}
		ln, err := listen(cfg.HTTPAddr)
		if err != nil {
			return err
		}
		publicURL := cfg.PublicURL
		if publicURL == "" {
			publicURL = config.PublicURLFor(ln.Addr().String())
		}
		api := handlers.New(store, queue, handlers.Options{
			AdminToken: cfg.AdminToken, MaxPayloadBytes: cfg.MaxPayloadBytes, IdempotencyTTL: cfg.IdempotencyTTL,
			AllowHTTP: cfg.AllowHTTP, AllowPrivateNetworks: cfg.AllowPrivateNetworks,
			SignatureHeader: cfg.SignatureHeader, TimestampHeader: cfg.TimestampHeader, DeliveryIDHeader: cfg.DeliveryIDHeader,
			EventTypes: cfg.EventTypes, Monitoring: monitoring(cfg, rc),
			Metrics: mets.Handler(), Published: mets.EventsPublished.Inc, OpenAPI: docs.OpenAPI, Reference: reference,
			Portal: portal.New(portal.Options{FrameAncestors: cfg.PortalFrameAncestors}), PublicURL: publicURL,
		}, log)
		addr := serve(runCtx, &wg, errc, ln, api.Router(), log)
		if cmd == "dev" {
			if err := devBanner(ctx, stdout, store, addr, publicURL, cfg.AdminToken, embedded != nil); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(stdout, "API listening on http://%s\n", addr)
		}
	}

	var srv workers
	if cmd != "api" {
		if cmd == "worker" {
			r := gin.New()
			handlers.Health(r, store.Ping, mets.Handler())
			ln, err := listen(cfg.HTTPAddr)
			if err != nil {
				return err
			}
			addr := serve(runCtx, &wg, errc, ln, r, log)
			fmt.Fprintf(stdout, "Worker health on http://%s\n", addr)
		}
		// The embedded Redis runs every command under one lock, so parallel
		// fetchers gain nothing there, and each polls when idle (dev idle:
		// 12.5% of a core with five, 3.5% with one).
		fetchers := maxFetchers
		if embedded != nil {
			fetchers = 1
		}
		var snd *sender.Sender
		srv, snd, err = startWorker(cfg, tmpl, rc, hot, store, queue, settings, queues, mets, fetchers, log)
		if err != nil {
			return err
		}
		defer snd.Close()
	}

	wg.Add(1)
	go func() {
		defer wg.Done()
		mets.WatchQueues(runCtx, inspector, 2*time.Second, log)
	}()

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
		log.Error("server failed", "error", err)
	}
	cancel()
	if srv != nil {
		// Stop fetching; in-flight deliveries finish (up to ShutdownTimeout),
		// the rest stay queued.
		srv.Shutdown()
	}
	wg.Wait()
	_ = client.Close()    // shared client: only marks it closed
	_ = inspector.Close() // idem
	return err
}

// startWorker starts the Asynq server that delivers webhooks.
func startWorker(cfg config.Config, tmpl *template.Template, rc, hot redis.UniversalClient, store *redisstore.Store, queue *tasks.Queue, settings tasks.Settings, queues []string, rec tasks.Recorder, fetchers int, log *slog.Logger) (workers, *sender.Sender, error) {
	snd := sender.New(sender.Options{
		Timeout: cfg.DeliveryTimeout, AllowPrivateNetworks: cfg.AllowPrivateNetworks, UserAgent: "Tidings/" + version,
		SignatureHeader: cfg.SignatureHeader, TimestampHeader: cfg.TimestampHeader, DeliveryIDHeader: cfg.DeliveryIDHeader,
		Hex: signing.HexScheme{Format: cfg.SignatureFormat, Content: cfg.SignedContent}, PayloadTemplate: tmpl,
	})
	level := asynq.WarnLevel
	if cfg.LogLevel <= slog.LevelDebug {
		level = asynq.DebugLevel
	}
	served := map[string]int{}
	for _, q := range queues {
		served[q] = 1
	}
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeDeliver, tasks.NewHandler(tasks.HandlerOptions{Store: store, Sender: snd, Actions: queue, Settings: settings, Recorder: rec, Log: log}))
	var ws workers
	for _, n := range split(cfg.WorkerConcurrency, fetchersPer, fetchers) {
		// Each server polls an empty queue every 25-75ms (TaskCheckInterval
		// 50ms; default 1s, i.e. up to 1.5s of pickup latency: a server
		// asleep on an empty queue does not fetch when work comes back).
		// Measured at half the 1-webhook rate, publish -> arrival p50/p99:
		// 100ms 33/104-126ms, 50ms 22-24/56-64ms, 20ms 12-14/35ms; an idle
		// `tidings all` used 2.9%, 4.6% and 8.7% of a core.
		// Each also releases due retries and deferred deliveries every
		// 200ms (default 5s with whole-second due times, which would
		// phase-lock a 5s rung to 10s); with several servers their
		// forwarders interleave. Measured: one forwarder instead (every 200
		// or 50ms) cut an idle worker's Redis load but raised publish ->
		// arrival p99 at half rate from ~100 to 120-230ms.
		srv := asynq.NewServerFromRedisClient(asynqClient{rc, hot}, asynq.Config{
			Concurrency:              n,
			Queues:                   served,
			RetryDelayFunc:           tasks.RetryDelay,
			IsFailure:                tasks.IsFailure,
			TaskCheckInterval:        50 * time.Millisecond,
			DelayedTaskCheckInterval: 200 * time.Millisecond,
			ShutdownTimeout:          settings.ShutdownTimeout(),
			Logger:                   tasks.Logger{L: log},
			LogLevel:                 level,
			BaseContext:              tasks.BaseContext,
		})
		if err := srv.Start(mux); err != nil {
			ws.Shutdown()
			return nil, nil, fmt.Errorf("start worker: %w", err)
		}
		ws = append(ws, srv)
	}
	log.Info("worker started", "concurrency", cfg.WorkerConcurrency, "fetchers", len(ws), "retry_schedule", cfg.RetrySchedule.String(), "queues", queues)
	return ws, snd, nil
}

// An Asynq server fetches tasks in one loop, one Redis round trip at a time,
// so that loop caps a server at about one task per round trip whatever its
// concurrency (measured: ~3,500 deliveries/s here with Redis and the CPUs
// half idle). A worker process therefore runs one server per fetchersPer
// slots of its concurrency, at most maxFetchers (each server also holds a
// pub/sub connection and its own housekeeping); together they share the
// process's concurrency and fetch in parallel.
const (
	fetchersPer = 10
	maxFetchers = 8
)

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

// workers are the Asynq servers of one worker process.
type workers []*asynq.Server

// Shutdown stops every server fetching and waits, in parallel, for their
// in-flight deliveries (up to ShutdownTimeout); the rest stay queued.
func (ws workers) Shutdown() {
	var wg sync.WaitGroup
	for _, srv := range ws {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
}

func monitoring(cfg config.Config, rc redis.UniversalClient) http.Handler {
	if !cfg.Monitoring {
		return nil
	}
	return asynqmon.New(rc, asynqmon.Options{ReadOnly: cfg.MonitoringReadOnly, PrometheusURL: cfg.PrometheusURL})
}

// listen binds the HTTP address (before the router is built: the public
// URL may be the address bound).
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("TIDINGS_HTTP_ADDR: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// serve serves h on ln until ctx is done, then drains in-flight requests.
// It returns the address bound.
func serve(ctx context.Context, wg *sync.WaitGroup, errc chan<- error, ln net.Listener, h http.Handler, log *slog.Logger) string {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	return ln.Addr().String()
}

func newLogger(cfg config.Config, mode config.Mode, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if mode == config.Dev {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// devBanner creates the demo tenant and prints how to reach everything,
// with a portal link for the demo tenant (valid a day).
func devBanner(ctx context.Context, w io.Writer, store *redisstore.Store, addr, publicURL, adminToken string, inMemory bool) error {
	now := time.Now()
	t := &webhook.Tenant{ID: webhook.NewID(webhook.PrefixTenant, now), Name: "demo", CreatedAt: now}
	key := &webhook.APIKey{ID: webhook.NewID(webhook.PrefixKey, now), TenantID: t.ID, Value: webhook.NewAPIKey(), CreatedAt: now}
	if err := store.CreateTenant(ctx, t, key); err != nil {
		return fmt.Errorf("create demo tenant: %w", err)
	}
	ps := &webhook.PortalSession{ID: webhook.NewID(webhook.PrefixPortalSession, now), TenantID: t.ID, Token: webhook.NewPortalToken(t.ID),
		Capabilities: webhook.Capabilities, ExpiresAt: now.Add(24 * time.Hour)}
	if err := store.CreatePortalSession(ctx, ps); err != nil {
		return fmt.Errorf("create demo portal session: %w", err)
	}
	// One write, so that a reader of the output sees the whole banner or
	// none of it.
	var b strings.Builder
	base := config.PublicURLFor(addr)
	fmt.Fprintf(&b, "Tidings %s (dev): API and worker in one process\n", version)
	fmt.Fprintf(&b, "API: %s\n", base)
	fmt.Fprintf(&b, "Dashboard: %s/monitoring/ (user admin, password the admin token)\n", base)
	fmt.Fprintf(&b, "Admin token: %s\n", adminToken)
	fmt.Fprintf(&b, "Demo API key: %s\n", key.Value)
	fmt.Fprintf(&b, "Portal: %s/portal/#token=%s\n", publicURL, ps.Token)
	if inMemory {
		b.WriteString("Data is kept in an embedded in-memory Redis and lost on exit.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "adm_" + hex.EncodeToString(b[:])
}

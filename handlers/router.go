// Package handlers is Tidings' HTTP API on Gin: every route of the contract,
// bearer auth, request validation and the error envelope. router.go lists
// every route; errors.go maps domain errors to HTTP in one table.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/tasks"
	"github.com/tidingshq/tidings/webhook"
)

// Options configure the API.
type Options struct {
	AdminToken           string
	MaxPayloadBytes      int64
	IdempotencyTTL       time.Duration
	AllowHTTP            bool
	AllowPrivateNetworks bool
	SignatureHeader      string
	TimestampHeader      string
	DeliveryIDHeader     string
	EventTypes           []webhook.EventType // nil: no catalog
	// Monitoring is the dashboard, served under /monitoring behind basic
	// auth; nil leaves it out.
	Monitoring http.Handler
	// Metrics serves /metrics; nil leaves it out.
	Metrics http.Handler
	// OpenAPI is the document served at /openapi.yaml.
	OpenAPI []byte
	// Reference is the HTML page served at /docs (docs.Reference).
	Reference []byte
	// Portal is the customer dashboard, served under /portal/; nil leaves
	// it out.
	Portal http.Handler
	// PublicURL is the base URL of portal links (no trailing slash).
	PublicURL string
	Now       func() time.Time
}

// API holds the handlers' dependencies.
type API struct {
	creds    credentials
	tenants  tenantStore
	webhooks webhookStore
	history  logReader
	portals  portalStore
	pinger   interface{ Ping(context.Context) error }
	queue    *tasks.Queue
	opts     Options
	val      *validation
	keys     *keyCache
	log      *slog.Logger
	now      func() time.Time
}

// New returns the API.
func New(store Store, queue *tasks.Queue, opts Options, log *slog.Logger) *API {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &API{creds: store, tenants: store, webhooks: store, history: store, portals: store, pinger: store,
		queue: queue, opts: opts, log: log, now: opts.Now, keys: newKeyCache(opts.Now)}
	a.val = newValidation(&a.opts)
	return a
}

// Router returns the Gin engine with every route.
func (a *API) Router() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(a.requestLog, gin.CustomRecovery(func(c *gin.Context, rec any) {
		a.log.Error("panic", "path", c.FullPath(), "panic", rec)
		abort(c, http.StatusInternalServerError, "internal", "internal error", nil)
	}))
	r.NoRoute(func(c *gin.Context) { abort(c, http.StatusNotFound, "not_found", "no such route", nil) })
	r.NoMethod(func(c *gin.Context) {
		abort(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route", nil)
	})

	Health(r, func(ctx context.Context) error { return a.pinger.Ping(ctx) }, a.opts.Metrics)
	r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", a.opts.OpenAPI) })
	r.GET("/docs", func(c *gin.Context) {
		// The page loads nothing: no script, no request to any host.
		c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
		c.Data(http.StatusOK, "text/html; charset=utf-8", a.opts.Reference)
	})

	if a.opts.Monitoring != nil {
		mon := r.Group("/monitoring", a.basicAuth)
		mon.Any("", gin.WrapH(a.opts.Monitoring))
		mon.Any("/*any", gin.WrapH(a.opts.Monitoring))
	}

	if a.opts.Portal != nil {
		for _, p := range []string{"/portal", "/portal/*any"} {
			r.GET(p, gin.WrapH(a.opts.Portal))
			r.HEAD(p, gin.WrapH(a.opts.Portal))
		}
	}

	v1 := r.Group("/v1", a.authenticate)

	admin := v1.Group("", a.adminOnly)
	admin.POST("/tenants", a.createTenant)
	admin.GET("/tenants", a.listTenants)
	admin.POST("/tenants/:id/keys", a.createKey)
	admin.DELETE("/tenants/:id/keys/:key_id", a.deleteKey)

	t := v1.Group("", a.tenantScope, a.portalScope)
	t.POST("/webhooks", a.createWebhook)
	t.GET("/webhooks", a.listWebhooks)
	t.GET("/webhooks/:id", a.getWebhook)
	t.GET("/webhooks/:id/secret", a.getSecret)
	t.PATCH("/webhooks/:id", a.patchWebhook)
	t.PUT("/webhooks/:id", a.putWebhook)
	t.DELETE("/webhooks/:id", a.deleteWebhook)
	t.POST("/webhooks/:id/enable", a.enableWebhook)
	t.POST("/webhooks/:id/test", a.testWebhook)
	t.POST("/webhooks/:id/rotate-secret", a.rotateSecret)
	t.POST("/webhooks/:id/recover", a.recoverWebhook)
	t.GET("/webhooks/:id/deliveries", a.listDeliveries)
	t.GET("/webhooks/:id/stats", a.webhookStats)

	t.POST("/events", a.payloadLimit, a.publish)
	t.POST("/events/batch", a.payloadLimit, a.publishBatch)
	t.GET("/events", a.listEvents)
	t.GET("/events/:id", a.getEvent)
	t.GET("/event-types", a.eventTypes)

	t.GET("/deliveries/:id", a.getDelivery)
	t.POST("/deliveries/:id/retry", a.retryDelivery)

	t.POST("/portal/sessions", a.createPortalSession)
	t.DELETE("/portal/sessions", a.revokePortalSessions)
	t.DELETE("/portal/sessions/:id", a.revokePortalSession)
	t.GET("/portal/session", a.currentPortalSession)
	return r
}

// Health adds /healthz (the process is up), /readyz (Redis answers within
// a second) and /metrics (when given) to a router, without auth; the worker
// serves them too.
func Health(r gin.IRoutes, ping func(context.Context) error, metrics http.Handler) {
	if metrics != nil {
		r.GET("/metrics", gin.WrapH(metrics))
	}
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
		defer cancel()
		if err := ping(ctx); err != nil {
			abort(c, http.StatusServiceUnavailable, "unavailable", "redis is unreachable", nil)
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
}

// requestLog echoes or makes a request id (X-Request-ID) and writes one log
// line per request. Query strings and bodies are not logged: they are the
// caller's data.
func (a *API) requestLog(c *gin.Context) {
	start := time.Now()
	id := c.GetHeader("X-Request-ID")
	if id == "" || len(id) > 128 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		id = webhook.NewID("req_", start)
	}
	c.Header("X-Request-ID", id)
	c.Next()
	path := c.FullPath()
	if path == "" {
		path = "(no route)"
	}
	level := slog.LevelInfo
	if path == "/healthz" || path == "/readyz" || path == "/metrics" || strings.HasPrefix(path, "/monitoring") {
		level = slog.LevelDebug
	}
	a.log.Log(c.Request.Context(), level, "http.request", "request_id", id, "method", c.Request.Method, "route", path,
		"status", c.Writer.Status(), "duration_ms", time.Since(start).Milliseconds(), "tenant_id", c.GetString(ctxTenant))
}

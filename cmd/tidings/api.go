package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tidingshq/tidings/asynqmon"
	"github.com/tidingshq/tidings/config"
	"github.com/tidingshq/tidings/docs"
	"github.com/tidingshq/tidings/handlers"
	"github.com/tidingshq/tidings/portal"
	"github.com/tidingshq/tidings/redisstore"
	"github.com/tidingshq/tidings/webhook"
)

// startAPI serves the API, the dashboard and the portal on
// TIDINGS_HTTP_ADDR until ctx is done, and says where: the dev banner, or
// one line.
func (p *process) startAPI(ctx context.Context) error {
	cfg := p.cfg
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
	api := handlers.New(p.store, p.queue, handlers.Options{
		AdminToken: cfg.AdminToken, MaxPayloadBytes: cfg.MaxPayloadBytes, IdempotencyTTL: cfg.IdempotencyTTL,
		AllowHTTP: cfg.AllowHTTP, AllowPrivateNetworks: cfg.AllowPrivateNetworks,
		SignatureHeader: cfg.SignatureHeader, TimestampHeader: cfg.TimestampHeader, DeliveryIDHeader: cfg.DeliveryIDHeader,
		EventTypes: cfg.EventTypes, Monitoring: p.monitoring(),
		Metrics: p.mets.Handler(), OpenAPI: docs.OpenAPI, Reference: reference,
		Portal: portal.New(portal.Options{FrameAncestors: cfg.PortalFrameAncestors}), PublicURL: publicURL,
	}, p.log)
	addr := p.serve(ctx, ln, api.Router())
	if p.cmd == "dev" {
		return devBanner(ctx, p.stdout, p.store, addr, publicURL, cfg.AdminToken, p.embedded != nil)
	}
	fmt.Fprintf(p.stdout, "API listening on http://%s\n", addr)
	return nil
}

// monitoring is the Asynq dashboard, or nil when TIDINGS_MONITORING is off.
func (p *process) monitoring() http.Handler {
	if !p.cfg.Monitoring {
		return nil
	}
	return asynqmon.New(p.rc, asynqmon.Options{ReadOnly: p.cfg.MonitoringReadOnly, PrometheusURL: p.cfg.PrometheusURL})
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
func (p *process) serve(ctx context.Context, ln net.Listener, h http.Handler) string {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelWarn)}
	p.wg.Go(func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.errc <- err
		}
	})
	p.wg.Go(func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	})
	return ln.Addr().String()
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

package handlers

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/webhook"
)

// ctxPortal holds the *webhook.PortalSession of a request made with a
// portal token.
const ctxPortal = "tidings.portal"

var (
	errPortalForbidden = &apiError{status: http.StatusForbidden, code: "forbidden", message: "this portal token's capabilities do not allow this route"}
	errPortalToken     = &apiError{status: http.StatusUnauthorized, code: "unauthorized", message: "the portal link is invalid, expired or revoked"}
	errNotPortal       = &apiError{status: http.StatusForbidden, code: "forbidden", message: "this route is for portal tokens"}
)

// portalRoutes is every route a portal token may use and the capabilities
// it needs (all of them). Any other route is a 403 for a portal token.
var portalRoutes = map[string][]string{
	"GET /v1/portal/session": nil, // the token's own session

	"GET /v1/webhooks":           {webhook.CapEndpointsRead},
	"GET /v1/webhooks/:id":       {webhook.CapEndpointsRead},
	"GET /v1/webhooks/:id/stats": {webhook.CapEndpointsRead},
	"GET /v1/event-types":        {webhook.CapEndpointsRead},

	"POST /v1/webhooks":                   {webhook.CapEndpointsWrite},
	"PATCH /v1/webhooks/:id":              {webhook.CapEndpointsWrite},
	"PUT /v1/webhooks/:id":                {webhook.CapEndpointsWrite},
	"DELETE /v1/webhooks/:id":             {webhook.CapEndpointsWrite},
	"POST /v1/webhooks/:id/enable":        {webhook.CapEndpointsWrite},
	"POST /v1/webhooks/:id/test":          {webhook.CapEndpointsWrite},
	"POST /v1/webhooks/:id/rotate-secret": {webhook.CapEndpointsWrite, webhook.CapSecretsRead},

	"GET /v1/webhooks/:id/secret": {webhook.CapSecretsRead},

	"GET /v1/webhooks/:id/deliveries": {webhook.CapDeliveriesRead},
	"GET /v1/deliveries/:id":          {webhook.CapDeliveriesRead},
	"GET /v1/events":                  {webhook.CapDeliveriesRead},
	"GET /v1/events/:id":              {webhook.CapDeliveriesRead},

	"POST /v1/deliveries/:id/retry": {webhook.CapDeliveriesWrite},
	"POST /v1/webhooks/:id/recover": {webhook.CapDeliveriesWrite},
}

// portalSession returns the session of a request made with a portal token.
func portalSession(c *gin.Context) (*webhook.PortalSession, bool) {
	ps, ok := c.Get(ctxPortal)
	if !ok {
		return nil, false
	}
	return ps.(*webhook.PortalSession), true
}

// portalScope lets a portal token through only to the routes its
// capabilities open; other tokens pass.
func (a *API) portalScope(c *gin.Context) {
	ps, ok := portalSession(c)
	if !ok {
		return
	}
	need, listed := portalRoutes[c.Request.Method+" "+c.FullPath()]
	if !listed {
		fail(c, a.log, errPortalForbidden)
		return
	}
	for _, cp := range need {
		if !ps.Has(cp) {
			fail(c, a.log, errPortalForbidden)
			return
		}
	}
}

type portalSessionRequest struct {
	ExpiresIn    *int      `json:"expires_in" validate:"omitempty,min=60,max=604800"`
	Capabilities *[]string `json:"capabilities"`
}

func (a *API) createPortalSession(c *gin.Context) {
	var req portalSessionRequest
	_, err := a.bind(c, &req, true)
	ve := &webhook.ValidationError{}
	if err != nil && !errors.As(err, &ve) {
		fail(c, a.log, err)
		return
	}
	caps := webhook.Capabilities
	if req.Capabilities != nil {
		if len(*req.Capabilities) == 0 {
			ve.Add("capabilities", "must name at least one capability (omit it for all five)")
		}
		for _, cp := range *req.Capabilities {
			if !webhook.ValidCapability(cp) {
				ve.Add("capabilities", "unknown capability "+cp+"; one of endpoints:read, endpoints:write, secrets:read, deliveries:read, deliveries:write")
			}
		}
		caps = nil // in the canonical order, once each
		for _, cp := range webhook.Capabilities {
			if slices.Contains(*req.Capabilities, cp) {
				caps = append(caps, cp)
			}
		}
	}
	if err := ve.Err(); err != nil {
		fail(c, a.log, err)
		return
	}
	expiresIn := 3600
	if req.ExpiresIn != nil {
		expiresIn = *req.ExpiresIn
	}
	now := a.now()
	ps := &webhook.PortalSession{ID: webhook.NewID(webhook.PrefixPortalSession, now), TenantID: tenantOf(c),
		Token: webhook.NewPortalToken(tenantOf(c)), Capabilities: caps, ExpiresAt: now.Add(time.Duration(expiresIn) * time.Second)}
	if err := a.portals.CreatePortalSession(c.Request.Context(), ps); err != nil {
		fail(c, a.log, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": ps.ID, "token": ps.Token, "url": a.opts.PublicURL + "/portal/#token=" + ps.Token,
		"capabilities": ps.Capabilities, "expires_at": webhook.FormatTime(ps.ExpiresAt)})
}

func (a *API) revokePortalSession(c *gin.Context) {
	if err := a.portals.RevokePortalSession(c.Request.Context(), tenantOf(c), c.Param("id")); err != nil {
		fail(c, a.log, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *API) revokePortalSessions(c *gin.Context) {
	if err := a.portals.RevokePortalSessions(c.Request.Context(), tenantOf(c)); err != nil {
		fail(c, a.log, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// currentPortalSession tells the portal page what its own token may do.
func (a *API) currentPortalSession(c *gin.Context) {
	ps, ok := portalSession(c)
	if !ok {
		fail(c, a.log, errNotPortal)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": ps.ID, "tenant_id": ps.TenantID, "capabilities": ps.Capabilities,
		"expires_at": webhook.FormatTime(ps.ExpiresAt)})
}

// webhookStats is a webhook's attempts per hour by outcome over a window.
func (a *API) webhookStats(c *gin.Context) {
	ve := &webhook.ValidationError{}
	for k := range c.Request.URL.Query() {
		if k != "window" {
			ve.Add(k, "unknown query parameter")
		}
	}
	window := c.DefaultQuery("window", "24h")
	hours := map[string]int{"24h": 24, "7d": 168}[window]
	if hours == 0 {
		ve.Add("window", "must be 24h or 7d")
	}
	if err := ve.Err(); err != nil {
		fail(c, a.log, err)
		return
	}
	e, ok := a.webhookOf(c)
	if !ok {
		return
	}
	buckets, err := a.webhooks.WebhookStats(c.Request.Context(), e.TenantID, e.ID, a.now(), hours)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	type bucket struct {
		Start     string `json:"start"`
		Attempts  int    `json:"attempts"`
		Succeeded int    `json:"succeeded"`
		Failed    int    `json:"failed"`
	}
	out := make([]bucket, len(buckets))
	for i, b := range buckets {
		out[i] = bucket{webhook.FormatTime(b.Start), b.Succeeded + b.Failed, b.Succeeded, b.Failed}
	}
	c.JSON(http.StatusOK, gin.H{"window": window, "bucket_seconds": 3600, "buckets": out})
}

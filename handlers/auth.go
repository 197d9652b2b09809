package handlers

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/webhook"
)

// Context keys set by authenticate.
const (
	ctxAdmin  = "tidings.admin"
	ctxTenant = "tidings.tenant"
)

func (a *API) isAdminToken(tok string) bool {
	return a.opts.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.opts.AdminToken)) == 1
}

// authenticate resolves the bearer token to the admin or a tenant.
func (a *API) authenticate(c *gin.Context) {
	tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		fail(c, a.log, errUnauthorized)
		return
	}
	if a.isAdminToken(tok) {
		c.Set(ctxAdmin, true)
		return
	}
	if strings.HasPrefix(tok, webhook.PrefixPortalToken) {
		ps, err := a.creds.LookupPortalToken(c.Request.Context(), tok)
		if errors.Is(err, webhook.ErrNotFound) {
			fail(c, a.log, errPortalToken)
			return
		}
		if err != nil {
			fail(c, a.log, err)
			return
		}
		c.Set(ctxTenant, ps.TenantID)
		c.Set(ctxPortal, ps)
		return
	}
	if !strings.HasPrefix(tok, webhook.PrefixAPIKey) {
		fail(c, a.log, errUnauthorized)
		return
	}
	tenantID, err := a.lookupKey(c, tok)
	if errors.Is(err, webhook.ErrNotFound) {
		fail(c, a.log, errUnauthorized)
		return
	}
	if err != nil {
		fail(c, a.log, err)
		return
	}
	c.Set(ctxTenant, tenantID)
}

func (a *API) adminOnly(c *gin.Context) {
	if _, ok := portalSession(c); ok {
		fail(c, a.log, errPortalForbidden)
		return
	}
	if !c.GetBool(ctxAdmin) {
		fail(c, a.log, errForbidden)
	}
}

// tenantScope fixes the tenant of a tenant route: the key's own, or the one
// an admin names in X-Tenant-ID.
func (a *API) tenantScope(c *gin.Context) {
	if !c.GetBool(ctxAdmin) {
		return
	}
	id := c.GetHeader("X-Tenant-ID")
	if id == "" {
		fail(c, a.log, invalid("X-Tenant-ID", "is required when acting as a tenant with the admin token"))
		return
	}
	if !strings.HasPrefix(id, webhook.PrefixTenant) || len(id) > 64 {
		fail(c, a.log, webhook.ErrNotFound)
		return
	}
	if _, err := a.tenants.GetTenant(c.Request.Context(), id); err != nil {
		fail(c, a.log, err)
		return
	}
	c.Set(ctxTenant, id)
}

func tenantOf(c *gin.Context) string { return c.GetString(ctxTenant) }

// basicAuth guards the dashboard: user admin, password the admin token.
func (a *API) basicAuth(c *gin.Context) {
	user, pass, ok := c.Request.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte("admin")) != 1 || !a.isAdminToken(pass) {
		c.Header("WWW-Authenticate", `Basic realm="Tidings monitoring", charset="UTF-8"`)
		abort(c, http.StatusUnauthorized, "unauthorized", "basic auth required: user admin, password the admin token", nil)
	}
}

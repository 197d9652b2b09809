package handlers

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/webhook"
)

type tenantRequest struct {
	Name string `json:"name" validate:"required,max=128"`
}

func (a *API) createTenant(c *gin.Context) {
	var req tenantRequest
	if _, err := a.bind(c, &req, false); err != nil {
		fail(c, a.log, err)
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" {
		fail(c, a.log, invalid("name", "is required"))
		return
	}
	now := a.now()
	t := &webhook.Tenant{ID: webhook.NewID(webhook.PrefixTenant, now), Name: req.Name, CreatedAt: now}
	key := &webhook.APIKey{ID: webhook.NewID(webhook.PrefixKey, now), TenantID: t.ID, Value: webhook.NewAPIKey(), CreatedAt: now}
	if err := a.tenants.CreateTenant(c.Request.Context(), t, key); err != nil {
		fail(c, a.log, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": t.ID, "name": t.Name, "api_key": key.Value, "created_at": webhook.FormatTime(t.CreatedAt)})
}

func (a *API) listTenants(c *gin.Context) {
	cursor, limit, err := listParams(c, webhook.PrefixTenant)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	page, err := a.tenants.ListTenants(c.Request.Context(), cursor, limit)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, renderList(page, func(t *webhook.Tenant) gin.H {
		return gin.H{"id": t.ID, "name": t.Name, "created_at": webhook.FormatTime(t.CreatedAt)}
	}))
}

func (a *API) createKey(c *gin.Context) {
	id := c.Param("id")
	if _, err := a.tenants.GetTenant(c.Request.Context(), id); err != nil {
		fail(c, a.log, err)
		return
	}
	now := a.now()
	key := &webhook.APIKey{ID: webhook.NewID(webhook.PrefixKey, now), TenantID: id, Value: webhook.NewAPIKey(), CreatedAt: now}
	if err := a.tenants.AddAPIKey(c.Request.Context(), key); err != nil {
		fail(c, a.log, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": key.ID, "api_key": key.Value, "created_at": webhook.FormatTime(key.CreatedAt)})
}

func (a *API) deleteKey(c *gin.Context) {
	if err := a.tenants.DeleteAPIKey(c.Request.Context(), c.Param("id"), c.Param("key_id")); err != nil {
		fail(c, a.log, err)
		return
	}
	c.Status(http.StatusNoContent)
}

package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/webhook"
)

// webhookRequest is the body of POST, PUT and PATCH /v1/webhooks: every
// field may be absent, null or set.
type webhookRequest struct {
	URL         opt[string]            `json:"url"`
	Events      opt[[]string]          `json:"events"`
	Secret      opt[string]            `json:"secret"`
	Description opt[string]            `json:"description"`
	Headers     opt[map[string]string] `json:"headers"`
	Metadata    opt[map[string]string] `json:"metadata"`
	Active      opt[bool]              `json:"active"`
	RateLimit   opt[int]               `json:"rate_limit"`
}

// webhookSpec is a webhook's settings after a request is applied; it is
// validated whole, so PATCH checks the result, not just the change.
type webhookSpec struct {
	URL         string            `json:"url" validate:"required,max=2048,webhookurl"`
	Events      []string          `json:"events" validate:"required,min=1,max=100,dive,eventpattern"`
	Secret      string            `json:"secret" validate:"omitempty,min=24,max=128"`
	Description string            `json:"description" validate:"max=256"`
	Headers     map[string]string `json:"headers" validate:"max=20,dive,keys,headername,endkeys,headervalue"`
	Metadata    map[string]string `json:"metadata" validate:"max=50,dive,keys,min=1,max=64,endkeys,max=512"`
	RateLimit   int               `json:"rate_limit" validate:"min=0,max=100000"`
	Active      bool              `json:"active"`
}

// apply copies the fields the request sets onto spec; null resets a field
// to its default.
func (r *webhookRequest) apply(s *webhookSpec) error {
	ve := &webhook.ValidationError{}
	if r.URL.Set {
		s.URL = deref(r.URL.Value)
	}
	if r.Events.Set {
		s.Events = deref(r.Events.Value)
	}
	if r.Secret.Set && r.Secret.Value != nil {
		s.Secret = *r.Secret.Value
	}
	if r.Description.Set {
		s.Description = deref(r.Description.Value)
	}
	if r.Headers.Set {
		s.Headers = deref(r.Headers.Value)
	}
	if r.Metadata.Set {
		s.Metadata = deref(r.Metadata.Value)
	}
	if r.Active.Set {
		if r.Active.Value == nil {
			ve.Add("active", "must be a boolean")
		} else {
			s.Active = *r.Active.Value
		}
	}
	if r.RateLimit.Set {
		s.RateLimit = 0
		if r.RateLimit.Value != nil {
			if *r.RateLimit.Value < 1 {
				ve.Add("rate_limit", "must be at least 1 (deliveries per second), or null for no limit")
			}
			s.RateLimit = *r.RateLimit.Value
		}
	}
	return ve.Err()
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// readWebhookRequest binds a webhook body and validates the spec it yields
// from base; every bad field is reported at once.
func (a *API) readWebhookRequest(c *gin.Context, base webhookSpec) (webhookRequest, webhookSpec, error) {
	var req webhookRequest
	if _, err := a.bind(c, &req, false); err != nil {
		return req, base, err
	}
	spec := base
	applyErr := req.apply(&spec)
	checkErr := a.val.check(&spec)
	var ve1, ve2 *webhook.ValidationError
	if errors.As(checkErr, &ve2) && errors.As(applyErr, &ve1) {
		for k, v := range ve1.Fields {
			ve2.Fields[k] = v
		}
		return req, spec, ve2
	}
	if checkErr != nil {
		return req, spec, checkErr
	}
	return req, spec, applyErr
}

func (a *API) createWebhook(c *gin.Context) {
	_, spec, err := a.readWebhookRequest(c, webhookSpec{Active: true})
	if err != nil {
		fail(c, a.log, err)
		return
	}
	now := a.now()
	e := &webhook.Webhook{ID: webhook.NewID(webhook.PrefixWebhook, now), TenantID: tenantOf(c), CreatedAt: now, UpdatedAt: now, Status: webhook.StatusActive}
	spec.store(e)
	if e.Secret == "" {
		e.Secret = webhook.NewSecret()
	}
	if !spec.Active {
		e.Status = webhook.StatusPaused
	}
	if err := a.webhooks.CreateWebhook(c.Request.Context(), e); err != nil {
		fail(c, a.log, err)
		return
	}
	out := webhook.WebhookView(e)
	if ps, ok := portalSession(c); !ok || ps.Has(webhook.CapSecretsRead) {
		out.Secret = e.Secret
	}
	c.JSON(http.StatusCreated, out)
}

// store copies a validated spec onto an endpoint's settings.
func (s *webhookSpec) store(e *webhook.Webhook) {
	e.URL, e.Events, e.Description = s.URL, s.Events, s.Description
	e.Headers, e.Metadata, e.RateLimit = s.Headers, s.Metadata, s.RateLimit
	if s.Secret != "" {
		e.Secret = s.Secret
	}
}

func specOf(e *webhook.Webhook) webhookSpec {
	return webhookSpec{URL: e.URL, Events: e.Events, Description: e.Description, Headers: e.Headers,
		Metadata: e.Metadata, RateLimit: e.RateLimit, Active: e.Status == webhook.StatusActive}
}

func (a *API) listWebhooks(c *gin.Context) {
	cursor, limit, err := listParams(c, webhook.PrefixWebhook, "status")
	status := webhook.WebhookStatus(c.Query("status"))
	if _, ok := c.GetQuery("status"); ok {
		switch status {
		case webhook.StatusActive, webhook.StatusPaused, webhook.StatusDisabled:
		default:
			err = mergeInvalid(err, "status", "must be one of active, paused, disabled")
		}
	}
	if err != nil {
		fail(c, a.log, err)
		return
	}
	page, err := a.webhooks.ListWebhooks(c.Request.Context(), tenantOf(c), status, cursor, limit)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, renderList(page, webhook.WebhookView))
}

// mergeInvalid adds a field to a validation error (or makes one).
func mergeInvalid(err error, field, reason string) error {
	var ve *webhook.ValidationError
	if errors.As(err, &ve) {
		ve.Add(field, reason)
		return ve
	}
	return invalid(field, reason)
}

// endpoint loads the webhook named in the path, of the caller's tenant.
func (a *API) webhookOf(c *gin.Context) (*webhook.Webhook, bool) {
	e, err := a.webhooks.GetWebhook(c.Request.Context(), tenantOf(c), c.Param("id"))
	if err != nil {
		fail(c, a.log, err)
		return nil, false
	}
	return e, true
}

func (a *API) getWebhook(c *gin.Context) {
	if e, ok := a.webhookOf(c); ok {
		c.JSON(http.StatusOK, webhook.WebhookView(e))
	}
}

func (a *API) getSecret(c *gin.Context) {
	if e, ok := a.webhookOf(c); ok {
		c.JSON(http.StatusOK, gin.H{"secret": e.Secret})
	}
}

func (a *API) patchWebhook(c *gin.Context) { a.updateWebhook(c, false) }
func (a *API) putWebhook(c *gin.Context)   { a.updateWebhook(c, true) }

// updateWebhook is PATCH (the request changes what it names) and PUT (the
// request replaces everything; omitted optional fields return to their
// defaults and the secret is kept unless one is given).
func (a *API) updateWebhook(c *gin.Context, replace bool) {
	e, ok := a.webhookOf(c)
	if !ok {
		return
	}
	base := specOf(e)
	if replace {
		base = webhookSpec{Active: true}
	}
	req, spec, err := a.readWebhookRequest(c, base)
	if err != nil {
		fail(c, a.log, err)
		return
	}
	ctx := c.Request.Context()
	spec.store(e)
	e.UpdatedAt = a.now()
	if err := a.webhooks.SaveSettings(ctx, e); err != nil {
		fail(c, a.log, err)
		return
	}
	if replace || req.Active.Set {
		if err := a.applyActive(ctx, e, spec.Active); err != nil {
			fail(c, a.log, err)
			return
		}
	}
	c.JSON(http.StatusOK, webhook.WebhookView(e))
}

// applyActive pauses a webhook, or re-activates a paused or disabled one as
// enable does.
func (a *API) applyActive(ctx context.Context, e *webhook.Webhook, active bool) error {
	switch {
	case active && e.Status != webhook.StatusActive:
		e.Status, e.DisabledReason, e.FailureCount, e.ExhaustedStreak = webhook.StatusActive, "", 0, 0
	case !active && e.Status != webhook.StatusPaused:
		e.Status, e.DisabledReason = webhook.StatusPaused, ""
	default:
		return nil
	}
	_, err := a.webhooks.SetStatus(ctx, e.TenantID, e.ID, e.Status, e.DisabledReason)
	return err
}

func (a *API) deleteWebhook(c *gin.Context) {
	if err := a.queue.DeleteWebhook(c.Request.Context(), tenantOf(c), c.Param("id")); err != nil {
		fail(c, a.log, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *API) enableWebhook(c *gin.Context) {
	e, ok := a.webhookOf(c)
	if !ok {
		return
	}
	e.Status, e.DisabledReason, e.FailureCount, e.ExhaustedStreak = webhook.StatusActive, "", 0, 0
	if _, err := a.webhooks.SetStatus(c.Request.Context(), e.TenantID, e.ID, e.Status, ""); err != nil {
		fail(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, webhook.WebhookView(e))
}

type rotateRequest struct {
	Secret             *string `json:"secret" validate:"omitempty,min=24,max=128"`
	GracePeriodSeconds *int    `json:"grace_period_seconds" validate:"omitempty,min=0,max=604800"`
}

// rotateSecret replaces the signing secret; the old one keeps signing for
// the grace period (default a day; 0 retires it at once).
func (a *API) rotateSecret(c *gin.Context) {
	e, ok := a.webhookOf(c)
	if !ok {
		return
	}
	var req rotateRequest
	if _, err := a.bind(c, &req, true); err != nil {
		fail(c, a.log, err)
		return
	}
	now := a.now()
	grace := 86400
	if req.GracePeriodSeconds != nil {
		grace = *req.GracePeriodSeconds
	}
	var kept []webhook.OldSecret
	for _, o := range e.OldSecrets {
		if now.Before(o.ExpiresAt) {
			kept = append(kept, o)
		}
	}
	if grace > 0 {
		kept = append(kept, webhook.OldSecret{Secret: e.Secret, ExpiresAt: now.Add(time.Duration(grace) * time.Second)})
	}
	e.OldSecrets = kept
	e.Secret = webhook.NewSecret()
	if req.Secret != nil {
		e.Secret = *req.Secret
	}
	e.UpdatedAt = now
	if err := a.webhooks.SaveSettings(c.Request.Context(), e); err != nil {
		fail(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"secret": e.Secret})
}

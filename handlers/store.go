package handlers

import (
	"context"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

// What the handlers need of the store, by concern; cmd passes the one
// redisstore.Store that has all of it. Jobs that also queue tasks go
// through tasks.Queue.

// credentials resolve bearer tokens (auth.go).
type credentials interface {
	LookupAPIKey(ctx context.Context, value string) (tenantID, keyID string, err error)
	LookupPortalToken(ctx context.Context, token string) (*webhook.PortalSession, error)
}

// tenantStore keeps tenants and their API keys (tenants.go).
type tenantStore interface {
	CreateTenant(ctx context.Context, t *webhook.Tenant, key *webhook.APIKey) error
	GetTenant(ctx context.Context, id string) (*webhook.Tenant, error)
	ListTenants(ctx context.Context, cursor string, limit int) (webhook.Page[*webhook.Tenant], error)
	AddAPIKey(ctx context.Context, key *webhook.APIKey) error
	DeleteAPIKey(ctx context.Context, tenantID, keyID string) error
}

// webhookStore keeps webhooks (webhooks.go).
type webhookStore interface {
	CreateWebhook(ctx context.Context, e *webhook.Webhook) error
	GetWebhook(ctx context.Context, tenantID, id string) (*webhook.Webhook, error)
	ListWebhooks(ctx context.Context, tenantID string, status webhook.WebhookStatus, cursor string, limit int) (webhook.Page[*webhook.Webhook], error)
	SaveSettings(ctx context.Context, e *webhook.Webhook) error
	SetStatus(ctx context.Context, tenantID, id string, status webhook.WebhookStatus, reason string) (bool, error)
	WebhookStats(ctx context.Context, tenantID, webhookID string, until time.Time, hours int) ([]webhook.StatsBucket, error)
}

// logReader reads events and deliveries (events.go, deliveries.go).
type logReader interface {
	ListEvents(ctx context.Context, tenantID, eventType, cursor string, limit int) (webhook.Page[*webhook.Event], error)
	GetEvent(ctx context.Context, tenantID, id string) (*webhook.Event, map[string]string, error)
	EventTypes(ctx context.Context, tenantID string) ([]string, error)
	GetDelivery(ctx context.Context, tenantID, id string) (*webhook.Delivery, error)
	GetDeliveries(ctx context.Context, tenantID string, ids []string) ([]*webhook.Delivery, error)
	DeliveryAttempts(ctx context.Context, tenantID, id string) (*webhook.Delivery, []webhook.Attempt, error)
	ListDeliveries(ctx context.Context, tenantID, webhookID string, f webhook.DeliveryFilter, cursor string, limit int) (webhook.Page[*webhook.Delivery], error)
}

// portalStore keeps portal sessions (portal.go).
type portalStore interface {
	CreatePortalSession(ctx context.Context, ps *webhook.PortalSession) error
	RevokePortalSession(ctx context.Context, tenantID, id string) error
	RevokePortalSessions(ctx context.Context, tenantID string) error
}

// Store is all of the above, and Ping for /readyz.
type Store interface {
	credentials
	tenantStore
	webhookStore
	logReader
	portalStore
	Ping(ctx context.Context) error
}

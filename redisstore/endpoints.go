package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// webhookSettings is the cfg field of a webhook hash: everything the API
// writes. Counters and status are separate fields that workers update.
type webhookSettings struct {
	URL         string              `json:"url"`
	Events      []string            `json:"events"`
	Description string              `json:"description,omitempty"`
	Headers     map[string]string   `json:"headers,omitempty"`
	Metadata    map[string]string   `json:"metadata,omitempty"`
	RateLimit   int                 `json:"rate_limit,omitempty"`
	Secret      string              `json:"secret"`
	OldSecrets  []webhook.OldSecret `json:"old_secrets,omitempty"`
	CreatedAt   int64               `json:"created_at"`
	UpdatedAt   int64               `json:"updated_at"`
}

func settingsOf(e *webhook.Webhook) ([]byte, error) {
	return json.Marshal(webhookSettings{
		URL: e.URL, Events: e.Events, Description: e.Description, Headers: e.Headers,
		Metadata: e.Metadata, RateLimit: e.RateLimit, Secret: e.Secret, OldSecrets: e.OldSecrets,
		CreatedAt: e.CreatedAt.UnixMilli(), UpdatedAt: e.UpdatedAt.UnixMilli(),
	})
}

// decodeWebhook builds an endpoint from its hash; nil if the hash is empty.
func decodeWebhook(tenantID, id string, h map[string]string) (*webhook.Webhook, error) {
	if len(h) == 0 || h["cfg"] == "" {
		return nil, nil
	}
	var cfg webhookSettings
	if err := json.Unmarshal([]byte(h["cfg"]), &cfg); err != nil {
		return nil, fmt.Errorf("redisstore: webhook %s: corrupt settings: %w", id, err)
	}
	return &webhook.Webhook{
		ID: id, TenantID: tenantID, URL: cfg.URL, Events: cfg.Events, Description: cfg.Description,
		Headers: cfg.Headers, Metadata: cfg.Metadata, RateLimit: cfg.RateLimit, Secret: cfg.Secret,
		OldSecrets: cfg.OldSecrets, CreatedAt: unixMs(cfg.CreatedAt), UpdatedAt: unixMs(cfg.UpdatedAt),
		Status: webhook.WebhookStatus(h["status"]), DisabledReason: h["disabled_reason"],
		FailureCount: atoi(h["failure_count"]), ExhaustedStreak: atoi(h["exhausted_streak"]),
		LastDeliveryAt: fromMs(h["last_delivery_at"]), LastSuccessAt: fromMs(h["last_success_at"]),
	}, nil
}

// CreateWebhook stores a new webhook and records its exact event types.
func (s *Store) CreateWebhook(ctx context.Context, e *webhook.Webhook) error {
	cfg, err := settingsOf(e)
	if err != nil {
		return err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, keyWebhook(e.TenantID, e.ID), "cfg", cfg, "v", 1, "rate", e.RateLimit, "status", string(e.Status),
			"disabled_reason", e.DisabledReason, "failure_count", 0, "exhausted_streak", 0)
		p.ZAdd(ctx, keyWebhooks(e.TenantID), redis.Z{Member: e.ID})
		p.Incr(ctx, keyWebhooksVersion(e.TenantID))
		s.addTypes(ctx, p, e.TenantID, e.Events)
		return nil
	})
	return wrap("create webhook", err)
}

func (s *Store) addTypes(ctx context.Context, p redis.Pipeliner, tenantID string, patterns []string) {
	var types []any
	for _, ev := range patterns {
		if webhook.ValidEventType(ev) {
			types = append(types, ev)
		}
	}
	if len(types) > 0 {
		p.SAdd(ctx, keyTypes(tenantID), types...)
	}
}

// GetWebhook returns a webhook or webhook.ErrNotFound.
func (s *Store) GetWebhook(ctx context.Context, tenantID, id string) (*webhook.Webhook, error) {
	h, err := s.rdb.HGetAll(ctx, keyWebhook(tenantID, id)).Result()
	if err != nil {
		return nil, wrap("get webhook", err)
	}
	e, err := decodeWebhook(tenantID, id, h)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, wrap("get webhook", webhook.ErrNotFound)
	}
	return e, nil
}

// getWebhooks fetches webhooks by ID in one round trip, skipping missing ones.
func (s *Store) getWebhooks(ctx context.Context, tenantID string, ids []string) ([]*webhook.Webhook, []string, error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	p := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = p.HGetAll(ctx, keyWebhook(tenantID, id))
	}
	if _, err := p.Exec(ctx); err != nil {
		return nil, nil, wrap("get webhooks", err)
	}
	var out []*webhook.Webhook
	var kept []string
	for i, c := range cmds {
		e, err := decodeWebhook(tenantID, ids[i], c.Val())
		if err != nil {
			return nil, nil, err
		}
		if e != nil {
			out = append(out, e)
			kept = append(kept, ids[i])
		}
	}
	return out, kept, nil
}

// ListWebhooks pages through a tenant's webhooks, newest first, optionally
// only those with the given status.
func (s *Store) ListWebhooks(ctx context.Context, tenantID string, status webhook.WebhookStatus, cursor string, limit int) (webhook.Page[*webhook.Webhook], error) {
	return scanIndex(ctx, zsetIndex(s.rdb, keyWebhooks(tenantID)), cursor, limit, func(ids []string) ([]*webhook.Webhook, []string, error) {
		all, kept, err := s.getWebhooks(ctx, tenantID, ids)
		if err != nil || status == "" {
			return all, kept, err
		}
		var out []*webhook.Webhook
		var outIDs []string
		for i, e := range all {
			if e.Status == status {
				out = append(out, e)
				outIDs = append(outIDs, kept[i])
			}
		}
		return out, outIDs, nil
	})
}

// AllWebhooks reads every webhook of a tenant, the fan-out's candidates,
// in one round trip, and keeps the list with its version for KeptWebhooks.
// It fails with webhook.ErrKeyRevoked when the API key that ctx carries to
// confirm is gone. The webhooks returned are shared: read-only.
func (s *Store) AllWebhooks(ctx context.Context, tenantID string) ([]*webhook.Webhook, error) {
	keys := []string{keyWebhooks(tenantID), keyWebhooksVersion(tenantID), keyTenantKeys(tenantID)}
	res, err := s.runArray(ctx, "list webhooks", scriptAllWebhooks, keys, -1, keyWebhook(tenantID, ""), keyToConfirm(ctx, tenantID))
	if err != nil {
		return nil, err
	}
	if len(res) == 1 && res[0] == int64(-1) {
		return nil, fmt.Errorf("redisstore: list webhooks: %w", webhook.ErrKeyRevoked)
	}
	if len(res)%2 != 1 {
		return nil, unexpectedReply("list webhooks", res)
	}
	version := str(res[0])
	var all []*webhook.Webhook
	size := 0
	for i := 1; i+1 < len(res); i += 2 {
		h, ok := res[i+1].([]any)
		if !ok {
			return nil, unexpectedReply("list webhooks", res)
		}
		m := pairs(h)
		e, err := decodeWebhook(tenantID, str(res[i]), m)
		if err != nil {
			return nil, err
		}
		if e != nil {
			all = append(all, e)
			size += len(m["cfg"])
		}
	}
	if version != "" {
		s.webhookLists.put(tenantID, webhookList{version: version, at: s.now(), list: all}, size)
	}
	return all, nil
}

// KeptWebhooks returns, without a round trip, the list of a tenant's
// webhooks that AllWebhooks read less than webhookListTTL ago, and its
// version. A write matched against it passes the version (CreateEvent's
// listVersion) and fails if the webhooks changed since, so a tenant with
// many webhooks costs no read and no decode of each per event. The list is
// read again after webhookListTTL whatever the version says, since a
// version can go back (Redis restarted without its data, a failover that
// lost the last writes) and then match a stale list.
func (s *Store) KeptWebhooks(tenantID string) ([]*webhook.Webhook, string, bool) {
	kept, ok := s.webhookLists.get(tenantID)
	if !ok || s.now().Sub(kept.at) >= webhookListTTL {
		return nil, "", false
	}
	return kept.list, kept.version, true
}

// webhookListTTL bounds how long KeptWebhooks answers a list without
// its being read again.
const webhookListTTL = 5 * time.Second

// webhookList is a tenant's webhooks as kept by AllWebhooks.
type webhookList struct {
	version string
	at      time.Time
	list    []*webhook.Webhook
}

// scriptAllWebhooks reads every webhook of a tenant.
//
// Input:
// KEYS[1] -> tidings:{<ten>}:whs       the tenant's webhook index
// KEYS[2] -> tidings:{<ten>}:whv       the tenant's webhooks version
// KEYS[3] -> tidings:{<ten>}:keys      the tenant's API keys
// --
// ARGV[1] -> tidings:{<ten>}:wh:       the webhook key without its ID (the
//
//	webhooks are too many to pass; they share the tenant's slot)
//
// ARGV[2] -> the ID of an API key to confirm ("" for none)
//
// Output:
// {-1} when the key to confirm is gone (revoked); else {version, id, the
// webhook's fields, id, fields, …} in index order; version is "" while the
// tenant has none.
var scriptAllWebhooks = redis.NewScript(`
if ARGV[2] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[2]) == 0 then return {-1} end
local out = {redis.call('GET', KEYS[2]) or ''}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. id)
end
return out`)

// SaveSettings writes a webhook's settings (not its status or counters);
// webhook.ErrNotFound if it was deleted meanwhile.
func (s *Store) SaveSettings(ctx context.Context, e *webhook.Webhook) error {
	cfg, err := settingsOf(e)
	if err != nil {
		return err
	}
	n, err := s.runInt(ctx, "save webhook", scriptSetIfExists, []string{keyWebhook(e.TenantID, e.ID), keyWebhooksVersion(e.TenantID)}, cfg, e.RateLimit)
	if err != nil {
		return err
	}
	if n == 0 {
		return wrap("save webhook", webhook.ErrNotFound)
	}
	p := s.rdb.Pipeline()
	s.addTypes(ctx, p, e.TenantID, e.Events)
	_, err = p.Exec(ctx)
	return wrap("save webhook", err)
}

// scriptSetIfExists writes the settings of a webhook that exists and bumps
// their version and the tenant's webhooks version.
//
// Input:
// KEYS[1] -> tidings:{<ten>}:wh:<wh>   the webhook
// KEYS[2] -> tidings:{<ten>}:whv       the tenant's webhooks version
// --
// ARGV[1] -> settings JSON
// ARGV[2] -> rate limit (0 for none)
//
// Output:
// 1, or 0 if the webhook does not exist.
var scriptSetIfExists = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'cfg', ARGV[1], 'rate', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('INCR', KEYS[2])
return 1`)

// SetStatus changes a webhook's status; activating it also resets its
// failure counters. It reports whether the status changed (a webhook
// already disabled is not disabled again). webhook.ErrNotFound if it does
// not exist.
func (s *Store) SetStatus(ctx context.Context, tenantID, id string, status webhook.WebhookStatus, reason string) (bool, error) {
	args := []any{string(status), reason}
	n, err := s.runInt(ctx, "set webhook status", scriptSetStatus, []string{keyWebhook(tenantID, id), keyWebhooksVersion(tenantID)}, args...)
	if err != nil {
		return false, err
	}
	if n == 0 {
		return false, wrap("set webhook status", webhook.ErrNotFound)
	}
	return n == 1, nil
}

// scriptSetStatus sets a webhook's status; active resets failure_count and
// exhausted_streak.
//
// Input:
// KEYS[1] -> tidings:{<ten>}:wh:<wh>   the webhook
// KEYS[2] -> tidings:{<ten>}:whv       the tenant's webhooks version (bumped:
//
//	publishing matches active webhooks only)
//
// --
// ARGV[1] -> status
// ARGV[2] -> disabled_reason ("" for none)
//
// Output:
// 1 if changed, 2 if the status was that already, 0 if the webhook does not
// exist.
var scriptSetStatus = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], 'status')
if not old then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'disabled_reason', ARGV[2])
if old ~= ARGV[1] then redis.call('INCR', KEYS[2]) end
if old == ARGV[1] and ARGV[1] ~= 'active' then return 2 end
if ARGV[1] == 'active' then
  redis.call('HSET', KEYS[1], 'failure_count', 0, 'exhausted_streak', 0)
end
return 1`)

// DeleteWebhook removes a webhook and returns the IDs of its pending
// deliveries, which the caller cancels.
func (s *Store) DeleteWebhook(ctx context.Context, tenantID, id string) ([]string, error) {
	pending, err := s.rdb.SMembers(ctx, keyWebhookPending(tenantID, id)).Result()
	if err != nil {
		return nil, wrap("delete webhook", err)
	}
	var n *redis.IntCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		n = p.Del(ctx, keyWebhook(tenantID, id))
		p.ZRem(ctx, keyWebhooks(tenantID), id)
		p.Incr(ctx, keyWebhooksVersion(tenantID))
		// Its delivery index, slots and bucket go too; the deliveries
		// themselves expire with the log retention.
		p.Del(ctx, keyWebhookDeliveries(tenantID, id), keyWebhookInflight(tenantID, id), keyWebhookBucket(tenantID, id))
		return nil
	})
	if err != nil {
		return nil, wrap("delete webhook", err)
	}
	if n.Val() == 0 {
		return nil, wrap("delete webhook", webhook.ErrNotFound)
	}
	return pending, nil
}

// PendingDeliveries returns the IDs of a webhook's pending deliveries.
func (s *Store) PendingDeliveries(ctx context.Context, tenantID, id string) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, keyWebhookPending(tenantID, id)).Result()
	return ids, wrap("pending deliveries", err)
}

// EventTypes returns the event types a tenant has published or subscribed to.
func (s *Store) EventTypes(ctx context.Context, tenantID string) ([]string, error) {
	types, err := s.rdb.SMembers(ctx, keyTypes(tenantID)).Result()
	if err != nil {
		return nil, wrap("event types", err)
	}
	sort.Strings(types)
	return types, nil
}

package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// HashKey is how an API key value is stored: SHA-256 in hex. API keys carry
// 256 random bits, so a fast hash is enough.
func HashKey(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// CreateTenant stores a tenant and its first API key.
func (s *Store) CreateTenant(ctx context.Context, t *webhook.Tenant, key *webhook.APIKey) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, keyTenant(t.ID), "name", t.Name, "created_at", ms(t.CreatedAt))
		p.HSet(ctx, keyTenantKeys(t.ID), key.ID, HashKey(key.Value)+" "+ms(key.CreatedAt))
		return nil
	})
	if err != nil {
		return wrap("create tenant", err)
	}
	if err := s.rdb.Set(ctx, keyAPIKey(HashKey(key.Value)), t.ID+" "+key.ID, 0).Err(); err != nil {
		return wrap("create tenant", err)
	}
	// Indexed last: a tenant is listed only once it is whole.
	return wrap("create tenant", s.rdb.ZAdd(ctx, keyTenants, redis.Z{Member: t.ID}).Err())
}

// GetTenant returns a tenant or webhook.ErrNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (*webhook.Tenant, error) {
	h, err := s.rdb.HGetAll(ctx, keyTenant(id)).Result()
	if err != nil {
		return nil, wrap("get tenant", err)
	}
	if len(h) == 0 {
		return nil, wrap("get tenant", webhook.ErrNotFound)
	}
	return &webhook.Tenant{ID: id, Name: h["name"], CreatedAt: fromMs(h["created_at"])}, nil
}

// ListTenants pages through tenants, newest first.
func (s *Store) ListTenants(ctx context.Context, cursor string, limit int) (webhook.Page[*webhook.Tenant], error) {
	return scanIndex(ctx, zsetIndex(s.rdb, keyTenants), cursor, limit, func(ids []string) ([]*webhook.Tenant, []string, error) {
		p := s.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(ids))
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, keyTenant(id))
		}
		if _, err := p.Exec(ctx); err != nil && len(ids) > 0 {
			return nil, nil, wrap("list tenants", err)
		}
		var out []*webhook.Tenant
		var kept []string
		for i, c := range cmds {
			h := c.Val()
			if len(h) == 0 {
				continue
			}
			out = append(out, &webhook.Tenant{ID: ids[i], Name: h["name"], CreatedAt: fromMs(h["created_at"])})
			kept = append(kept, ids[i])
		}
		return out, kept, nil
	})
}

// AddAPIKey stores another key for a tenant; the old ones stay valid.
func (s *Store) AddAPIKey(ctx context.Context, key *webhook.APIKey) error {
	if err := s.rdb.HSet(ctx, keyTenantKeys(key.TenantID), key.ID, HashKey(key.Value)+" "+ms(key.CreatedAt)).Err(); err != nil {
		return wrap("add api key", err)
	}
	return wrap("add api key", s.rdb.Set(ctx, keyAPIKey(HashKey(key.Value)), key.TenantID+" "+key.ID, 0).Err())
}

// DeleteAPIKey revokes a key at once; webhook.ErrNotFound if the tenant has
// no such key.
func (s *Store) DeleteAPIKey(ctx context.Context, tenantID, keyID string) error {
	v, err := s.rdb.HGet(ctx, keyTenantKeys(tenantID), keyID).Result()
	if err != nil {
		return wrap("delete api key", err)
	}
	hash, _, _ := strings.Cut(v, " ")
	if err := s.rdb.Del(ctx, keyAPIKey(hash)).Err(); err != nil {
		return wrap("delete api key", err)
	}
	return wrap("delete api key", s.rdb.HDel(ctx, keyTenantKeys(tenantID), keyID).Err())
}

// ConfirmKey checks, when ctx carries an API key to confirm for the tenant
// (webhook.WithKeyToConfirm), that the tenant still has it:
// webhook.ErrKeyRevoked if not. Without one it does nothing.
func (s *Store) ConfirmKey(ctx context.Context, tenantID string) error {
	k, ok := webhook.KeyToConfirmFrom(ctx, tenantID)
	if !ok {
		return nil
	}
	has, err := s.rdb.HExists(ctx, keyTenantKeys(tenantID), k.KeyID).Result()
	if err != nil {
		return wrap("confirm api key", err)
	}
	if !has {
		return fmt.Errorf("redisstore: confirm api key: %w", webhook.ErrKeyRevoked)
	}
	return nil
}

// keyToConfirm is the ID of the API key ctx carries to confirm for the
// tenant (webhook.WithKeyToConfirm), "" for none: what the publishing
// scripts check first.
func keyToConfirm(ctx context.Context, tenantID string) string {
	if k, ok := webhook.KeyToConfirmFrom(ctx, tenantID); ok {
		return k.KeyID
	}
	return ""
}

// LookupAPIKey returns the tenant and key IDs of an API key value, or
// webhook.ErrNotFound.
func (s *Store) LookupAPIKey(ctx context.Context, value string) (tenantID, keyID string, err error) {
	v, err := s.rdb.Get(ctx, keyAPIKey(HashKey(value))).Result()
	if err != nil {
		return "", "", wrap("lookup api key", err)
	}
	tenantID, keyID, _ = strings.Cut(v, " ")
	return tenantID, keyID, nil
}

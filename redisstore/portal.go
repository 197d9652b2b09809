package redisstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// CreatePortalSession stores a portal session: its token's hash, and its ID
// in the tenant's index (which drops sessions already expired). Both expire
// with the session.
func (s *Store) CreatePortalSession(ctx context.Context, ps *webhook.PortalSession) error {
	ten, hash := ps.TenantID, HashKey(ps.Token)
	value := ps.ID + " " + ms(ps.ExpiresAt) + " " + strings.Join(ps.Capabilities, ",")
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, keyPortalSessions(ten), "-inf", ms(s.now()))
		p.Set(ctx, keyPortalToken(ten, hash), value, 0)
		p.PExpireAt(ctx, keyPortalToken(ten, hash), ps.ExpiresAt)
		p.Set(ctx, keyPortalSession(ten, ps.ID), hash, 0)
		p.PExpireAt(ctx, keyPortalSession(ten, ps.ID), ps.ExpiresAt)
		p.ZAdd(ctx, keyPortalSessions(ten), redis.Z{Score: float64(ps.ExpiresAt.UnixMilli()), Member: ps.ID})
		return nil
	})
	return wrap("create portal session", err)
}

// LookupPortalToken returns the session of a portal token, or
// webhook.ErrNotFound when it is unknown, expired or revoked.
func (s *Store) LookupPortalToken(ctx context.Context, token string) (*webhook.PortalSession, error) {
	ten, ok := webhook.PortalTokenTenant(token)
	if !ok {
		return nil, wrap("lookup portal token", webhook.ErrNotFound)
	}
	v, err := s.rdb.Get(ctx, keyPortalToken(ten, HashKey(token))).Result()
	if err != nil {
		return nil, wrap("lookup portal token", err)
	}
	f := strings.SplitN(v, " ", 3)
	if len(f) != 3 {
		return nil, wrap("lookup portal token", webhook.ErrNotFound)
	}
	ps := &webhook.PortalSession{ID: f[0], TenantID: ten, ExpiresAt: fromMs(f[1])}
	if f[2] != "" {
		ps.Capabilities = strings.Split(f[2], ",")
	}
	if !s.now().Before(ps.ExpiresAt) { // Redis expires it too; this is the clock's word
		return nil, wrap("lookup portal token", webhook.ErrNotFound)
	}
	return ps, nil
}

// RevokePortalSession ends one session at once; webhook.ErrNotFound if the
// tenant has no such live session.
func (s *Store) RevokePortalSession(ctx context.Context, tenantID, id string) error {
	hash, err := s.rdb.Get(ctx, keyPortalSession(tenantID, id)).Result()
	if err != nil {
		return wrap("revoke portal session", err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, keyPortalToken(tenantID, hash), keyPortalSession(tenantID, id))
		p.ZRem(ctx, keyPortalSessions(tenantID), id)
		return nil
	})
	return wrap("revoke portal session", err)
}

// RevokePortalSessions ends every session of a tenant at once.
func (s *Store) RevokePortalSessions(ctx context.Context, tenantID string) error {
	ids, err := s.rdb.ZRange(ctx, keyPortalSessions(tenantID), 0, -1).Result()
	if err != nil {
		return wrap("revoke portal sessions", err)
	}
	const chunk = 500
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		batch := ids[:n]
		ids = ids[n:]
		keys := make([]string, len(batch))
		for i, id := range batch {
			keys[i] = keyPortalSession(tenantID, id)
		}
		hashes, err := s.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return wrap("revoke portal sessions", err)
		}
		for _, h := range hashes {
			if h, ok := h.(string); ok {
				keys = append(keys, keyPortalToken(tenantID, h))
			}
		}
		members := make([]any, len(batch))
		for i, id := range batch {
			members[i] = id
		}
		_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, keys...)
			p.ZRem(ctx, keyPortalSessions(tenantID), members...)
			return nil
		})
		if err != nil {
			return wrap("revoke portal sessions", err)
		}
	}
	return nil
}

// statsField is the field of an attempt's hour and outcome in its day's
// stats hash, and when that hash expires: a log retention after the day ends.
func statsField(at time.Time, succeeded bool, retention time.Duration) (day int64, field string, expireAtMs int64) {
	sec := at.Unix()
	day = sec / 86400
	hour := sec - sec%3600
	field = strconv.FormatInt(hour, 10) + ":f"
	if succeeded {
		field = strconv.FormatInt(hour, 10) + ":s"
	}
	return day, field, (day+1)*86400*1000 + retention.Milliseconds()
}

// WebhookStats returns a webhook's attempts per hour by outcome for the
// hours hours ending with the one that holds until, oldest first, zeros
// included.
func (s *Store) WebhookStats(ctx context.Context, tenantID, webhookID string, until time.Time, hours int) ([]webhook.StatsBucket, error) {
	last := until.Unix() - until.Unix()%3600
	first := last - int64(hours-1)*3600
	p := s.rdb.Pipeline()
	var cmds []*redis.MapStringStringCmd
	for day := first / 86400; day <= last/86400; day++ {
		cmds = append(cmds, p.HGetAll(ctx, keyWebhookStats(tenantID, webhookID, day)))
	}
	if _, err := p.Exec(ctx); err != nil {
		return nil, wrap("webhook stats", err)
	}
	counts := map[string]int{}
	for _, c := range cmds {
		for k, v := range c.Val() {
			counts[k] = atoi(v)
		}
	}
	out := make([]webhook.StatsBucket, hours)
	for i := range out {
		h := first + int64(i)*3600
		key := strconv.FormatInt(h, 10)
		out[i] = webhook.StatsBucket{Start: time.Unix(h, 0).UTC(), Succeeded: counts[key+":s"], Failed: counts[key+":f"]}
	}
	return out, nil
}

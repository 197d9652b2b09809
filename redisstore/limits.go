package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// Acquire takes one of a webhook's maxInFlight in-flight slots for a
// delivery, across every worker process, and, when rate > 0, a token of its
// bucket (rate per second, burst = rate). A slot is a lease that expires
// after lease, so a worker that dies frees it. It returns "" when the
// delivery may go, else the limit hit (webhook.WaitConcurrency or
// webhook.WaitRateLimit) and, for the rate, how long until a
// token is due. Taking a slot already held by the same delivery renews it.
func (s *Store) Acquire(ctx context.Context, tenantID, webhookID, deliveryID string, maxInFlight, rate int, lease time.Duration) (string, time.Duration, error) {
	keys := []string{keyWebhookInflight(tenantID, webhookID), keyWebhookBucket(tenantID, webhookID)}
	res, err := scriptAcquire.Run(ctx, s.rdb, keys, 0, lease.Milliseconds(), maxInFlight, rate, deliveryID).Int64Slice()
	if err != nil {
		return "", 0, wrap("acquire", err)
	}
	switch res[0] {
	case 1:
		return "", 0, nil
	case 2:
		return webhook.WaitRateLimit, time.Duration(res[1]) * time.Millisecond, nil
	}
	return webhook.WaitConcurrency, 0, nil
}

// Release gives back a delivery's in-flight slot.
func (s *Store) Release(ctx context.Context, tenantID, webhookID, deliveryID string) error {
	return wrap("release", s.rdb.ZRem(ctx, keyWebhookInflight(tenantID, webhookID), deliveryID).Err())
}

// scriptAcquire
// KEYS: 1 webhook in-flight ZSET (member delivery ID, score lease end ms),
// 2 webhook token bucket HASH (tokens, ts).
// ARGV: 1 unused (the time is Redis's own, so workers' clocks need not agree), 2 lease ms, 3 max in flight, 4 rate per second (0: none), 5 delivery ID.
// Returns {1,0} taken, {0,0} no free slot, {2,wait ms} no token.
var scriptAcquire = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[5]) then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[5])
  return {1, 0}
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return {0, 0} end
local rate = tonumber(ARGV[4])
if rate > 0 then
  local b = redis.call('HMGET', KEYS[2], 'tokens', 'ts')
  local tokens = tonumber(b[1]) or rate
  local ts = tonumber(b[2]) or now
  tokens = math.min(rate, tokens + (now - ts) * rate / 1000)
  if tokens < 1 then
    redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'ts', now)
    return {2, math.ceil((1 - tokens) * 1000 / rate)}
  end
  redis.call('HSET', KEYS[2], 'tokens', tostring(tokens - 1), 'ts', now)
  redis.call('PEXPIRE', KEYS[2], 60000)
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[5])
redis.call('PEXPIRE', KEYS[1], lease)
return {1, 0}`)

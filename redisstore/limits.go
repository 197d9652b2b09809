package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// Acquire takes one of a webhook's in-flight slots, across every worker
// process, and, when rate > 0, a token of its bucket (rate per second,
// burst = rate). A slot is a lease, so a worker that dies frees it. It
// returns "" when the delivery may go, else the limit hit
// (webhook.WaitConcurrency or webhook.WaitRateLimit) and, for the rate, how
// long until a token is due. Taking a slot its member holds already renews
// it. The hot path takes the slot in Begin instead.
func (s *Store) Acquire(ctx context.Context, tenantID, webhookID string, slot webhook.Slot, rate int) (string, time.Duration, error) {
	keys := []string{keyWebhookInflight(tenantID, webhookID), keyWebhookBucket(tenantID, webhookID)}
	res, err := s.runArray(ctx, "acquire", scriptAcquire, keys, 2, slot.Lease.Milliseconds(), slot.MaxInFlight, rate, slot.Member)
	if err != nil {
		return "", 0, err
	}
	state, ok1 := res[0].(int64)
	waitMs, ok2 := res[1].(int64)
	if !ok1 || !ok2 {
		return "", 0, unexpectedReply("acquire", res)
	}
	wait, delay := acquireResult(state, waitMs)
	return wait, delay, nil
}

// acquireResult reads luaAcquire's state and wait.
func acquireResult(state, waitMs int64) (string, time.Duration) {
	switch state {
	case 2:
		return webhook.WaitConcurrency, 0
	case 3:
		return webhook.WaitRateLimit, time.Duration(waitMs) * time.Millisecond
	}
	return "", 0
}

// Release gives back the in-flight slot of member.
func (s *Store) Release(ctx context.Context, tenantID, webhookID, member string) error {
	return wrap("release", s.rdb.ZRem(ctx, keyWebhookInflight(tenantID, webhookID), member).Err())
}

// luaAcquire is the slot-and-token logic shared by scriptAcquire and
// scriptBegin. acquire(inflight ZSET key, bucket HASH key, member, lease ms,
// max in flight, rate per second) returns state, wait ms: 1 taken, 2 no free
// slot, 3 no rate token. The time is Redis's own, so workers' clocks need not
// agree. The ZSET scores are lease ends. Expired leases (a worker died) are
// dropped when the cap is reached, and a delivery that already holds a slot
// renews it; the common case, room and no rate limit, is three calls.
const luaAcquire = `
local function acquire(inflight, bucket, member, lease, max, rate)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local held = false
  if rate > 0 or redis.call('ZCARD', inflight) >= max then
    redis.call('ZREMRANGEBYSCORE', inflight, '-inf', now)
    held = redis.call('ZSCORE', inflight, member)
    if not held and redis.call('ZCARD', inflight) >= max then return 2, 0 end
  end
  if rate > 0 and not held then
    local b = redis.call('HMGET', bucket, 'tokens', 'ts')
    local tokens = tonumber(b[1]) or rate
    local ts = tonumber(b[2]) or now
    tokens = math.min(rate, tokens + (now - ts) * rate / 1000)
    if tokens < 1 then
      redis.call('HSET', bucket, 'tokens', tostring(tokens), 'ts', now)
      return 3, math.ceil((1 - tokens) * 1000 / rate)
    end
    redis.call('HSET', bucket, 'tokens', tostring(tokens - 1), 'ts', now)
    redis.call('PEXPIRE', bucket, 60000)
  end
  redis.call('ZADD', inflight, now + lease, member)
  return 1, 0
end
`

// scriptAcquire takes a webhook's in-flight slot and rate token.
//
// Input:
// KEYS[1] -> tidings:{<ten>}:wh:<wh>:inflight   the webhook's slots (member: a
//
//	delivery run; score: lease end, ms)
//
// KEYS[2] -> tidings:{<ten>}:wh:<wh>:bucket     the webhook's rate tokens
// --
// ARGV[1] -> lease, ms
// ARGV[2] -> the webhook's cap of slots
// ARGV[3] -> rate per second (0: none)
// ARGV[4] -> the slot's member
//
// Output:
// {state, wait ms} as luaAcquire returns them.
var scriptAcquire = redis.NewScript(luaAcquire + `
local state, wait = acquire(KEYS[1], KEYS[2], ARGV[4], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return {state, wait}`)

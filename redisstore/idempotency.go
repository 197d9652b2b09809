package redisstore

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// IdempotencyRecord is what an idempotency key remembers.
type IdempotencyRecord struct {
	Fingerprint string // hash of the request body
	Done        bool   // false while the first request is running
	Response    []byte // the first response, once done
}

// ClaimIdempotency claims every key (all of one tenant) for a request with
// the given fingerprint, atomically. If any key is already held it claims
// nothing and returns that key's record; else it returns nil and the caller
// owns the keys until CompleteIdempotency or ReleaseIdempotency.
func (s *Store) ClaimIdempotency(ctx context.Context, tenantID string, keys []string, fingerprint string, ttl time.Duration) (*IdempotencyRecord, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = keyIdempotency(tenantID, k)
	}
	v, err := scriptClaim.Run(ctx, s.rdb, full, "running|"+fingerprint, ttl.Milliseconds()).Text()
	if err != nil {
		return nil, wrap("claim idempotency key", err)
	}
	if v == "" {
		return nil, nil
	}
	state, rest, _ := strings.Cut(v, "|")
	fp, resp, _ := strings.Cut(rest, "|")
	return &IdempotencyRecord{Fingerprint: fp, Done: state == "done", Response: []byte(resp)}, nil
}

// scriptClaim
// KEYS: the idempotency keys. ARGV: 1 value to set, 2 TTL ms.
// Returns "" when claimed, else the value of the first key already held.
var scriptClaim = redis.NewScript(`
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then return v end
end
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2]) end
return ''`)

// CompleteIdempotency stores the response of a claimed request, keeping the
// keys' TTL.
func (s *Store) CompleteIdempotency(ctx context.Context, tenantID string, keys []string, fingerprint string, response []byte) error {
	p := s.rdb.Pipeline()
	for _, k := range keys {
		p.SetArgs(ctx, keyIdempotency(tenantID, k), "done|"+fingerprint+"|"+string(response), redis.SetArgs{KeepTTL: true})
	}
	_, err := p.Exec(ctx)
	return wrap("complete idempotency key", err)
}

// ReleaseIdempotency forgets claimed keys after a request failed, so that
// the client can try again.
func (s *Store) ReleaseIdempotency(ctx context.Context, tenantID string, keys []string) error {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = keyIdempotency(tenantID, k)
	}
	return wrap("release idempotency key", s.rdb.Del(ctx, full...).Err())
}

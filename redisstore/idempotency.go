package redisstore

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// An idempotency key (keyIdempotency) holds "<state>|<fingerprint>|<event
// ID>|<response>", the last two empty while running:
//
//	running   a request holds the key; a lease that ends with the request's
//	          deadline, so a crash never locks the key for longer
//	accepted  the event is stored (written together with it by CreateEvent),
//	          its tasks may not all be queued yet; kept for the TTL
//	done      the event and every task are in Redis; kept for the TTL

// ClaimIdempotency claims every key (all of one tenant) for a request with
// the given fingerprint, for lease, atomically. If any key is held already
// it claims nothing and returns that key's record; else it returns nil and
// the caller owns the keys until CreateEvent accepts them or
// ReleaseIdempotency gives them back.
func (s *Store) ClaimIdempotency(ctx context.Context, tenantID string, keys []string, fingerprint string, lease time.Duration) (*webhook.IdempotencyRecord, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = keyIdempotency(tenantID, k)
	}
	res, err := s.runArray(ctx, "claim idempotency key", scriptClaim, full, 1, webhook.IdempotencyRunning+"|"+fingerprint+"||", lease.Milliseconds())
	if err != nil {
		return nil, err
	}
	v, ok := res[0].(string)
	if !ok {
		return nil, unexpectedReply("claim idempotency key", res)
	}
	return parseRecord(keys, v), nil
}

// parseRecord reads the value of idempotency keys; nil for "" (free).
func parseRecord(keys []string, v string) *webhook.IdempotencyRecord {
	if v == "" {
		return nil
	}
	state, rest, _ := strings.Cut(v, "|")
	fp, rest, _ := strings.Cut(rest, "|")
	evt, resp, _ := strings.Cut(rest, "|")
	return &webhook.IdempotencyRecord{Keys: keys, State: state, Fingerprint: fp, EventID: evt, Response: []byte(resp)}
}

// scriptClaim claims idempotency keys that are all free.
//
// Input:
// KEYS[1…] -> tidings:{<ten>}:idem:<key>   the request's keys
// --
// ARGV[1] -> the running record to set
// ARGV[2] -> lease, ms
//
// Output:
// {""} when claimed, else {the record of the first key already held}.
var scriptClaim = redis.NewScript(`
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then return {v} end
end
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2]) end
return {''}`)

// acceptIdempotency adds to the writes of a new event (CreateEvent's) the
// accepted record of the keys with the full TTL: from then on a retry
// finds the event (rec.EventID; a batch's events, space-separated) instead
// of creating another.
func acceptIdempotency(w *writes, tenantID string, rec *webhook.IdempotencyRecord) {
	v := webhook.IdempotencyAccepted + "|" + rec.Fingerprint + "|" + rec.EventID + "|" + string(rec.Response)
	for _, k := range rec.Keys {
		w.set(keyIdempotency(tenantID, k), v, rec.TTL)
	}
}

// CompleteIdempotency marks accepted keys done: every task of their events
// is queued. The TTL set when they were accepted stays.
func (s *Store) CompleteIdempotency(ctx context.Context, tenantID string, recs ...*webhook.IdempotencyRecord) error {
	p := s.rdb.Pipeline()
	for _, rec := range recs {
		v := webhook.IdempotencyDone + "|" + rec.Fingerprint + "|" + rec.EventID + "|" + string(rec.Response)
		for _, k := range rec.Keys {
			p.SetArgs(ctx, keyIdempotency(tenantID, k), v, redis.SetArgs{KeepTTL: true, Mode: "XX"})
		}
	}
	_, err := p.Exec(ctx)
	if err == redis.Nil { // XX on a key gone meanwhile
		err = nil
	}
	return wrap("complete idempotency key", err)
}

// ReleaseIdempotency gives back keys a request claimed and did not get
// accepted, so that the client can try again. Keys that are no longer
// running with this fingerprint are left alone: an accepted record is the
// event's. fingerprints holds one for all keys, or one per key (a batch).
func (s *Store) ReleaseIdempotency(ctx context.Context, tenantID string, keys []string, fingerprints ...string) error {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = keyIdempotency(tenantID, k)
	}
	running := make([]any, len(fingerprints))
	for i, fp := range fingerprints {
		running[i] = webhook.IdempotencyRunning + "|" + fp + "||"
	}
	_, err := s.runInt(ctx, "release idempotency key", scriptRelease, full, running...)
	return err
}

// scriptRelease deletes the idempotency keys that still hold a running
// record.
//
// Input:
// KEYS[1…] -> tidings:{<ten>}:idem:<key>   the request's keys
// --
// ARGV[1…] -> the running record of each key, or ARGV[1] alone for all
//
// Output:
// The number of keys deleted.
var scriptRelease = redis.NewScript(`
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == (ARGV[i] or ARGV[1]) then n = n + redis.call('DEL', KEYS[i]) end
end
return n`)

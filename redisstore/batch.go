package redisstore

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// CreateEvents writes the new events of a batch, all of one tenant, each
// with its deliveries and the accepted record of its client id, and the
// accepted record of the batch's own key (batch, may be nil), together:
// all of them or none. listVersion is the version of the tenant's webhooks
// the deliveries were matched against when that list was kept in process
// (the write fails with webhook.ErrWebhooksChanged if it is no longer
// current), "" when it was read for this request.
func (s *Store) CreateEvents(ctx context.Context, tenantID string, pubs []webhook.Publication, batch *webhook.IdempotencyRecord, listVersion string) error {
	bodies := make([][]byte, len(pubs))
	for i, pub := range pubs {
		body, err := encodeEvent(pub.Event)
		if err != nil {
			return err
		}
		bodies[i] = body
	}
	n := 1
	for _, pub := range pubs {
		n += eventWrites(pub.Deliveries, pub.Idem)
	}
	w := newWrites(n)
	for i, pub := range pubs {
		s.writeEvent(w, pub.Event, bodies[i], pub.Deliveries, false, pub.Idem)
	}
	if batch != nil {
		acceptIdempotency(w, tenantID, batch)
	}
	return s.create(ctx, "create events", tenantID, listVersion, w)
}

// DeleteEvents removes the events of a batch whose deliveries could not be
// queued, with their client ids' keys and the batch's own (batch, may be
// nil), as DeleteEvent does for one.
func (s *Store) DeleteEvents(ctx context.Context, tenantID string, pubs []webhook.Publication, batch *webhook.IdempotencyRecord) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, pub := range pubs {
			deleteEvent(ctx, p, pub.Event, pub.Deliveries, pub.Idem)
		}
		if batch != nil {
			for _, k := range batch.Keys {
				p.Del(ctx, keyIdempotency(tenantID, k))
			}
		}
		return nil
	})
	return wrap("delete events", err)
}

// ClaimIdempotencyBatch claims the idempotency keys of a batch in one
// round trip, each key with its own fingerprint: first the batch's own key
// ("h:<Idempotency-Key>", when it has one), then its events' client ids
// ("c:<id>"). It returns the record of each key held already (nil for a
// free one) and whether the free keys were claimed:
//   - the batch's own key held: nothing is claimed; the rest are nil;
//   - a client id running, or accepted with another fingerprint: nothing
//     is claimed;
//   - else every free key is claimed (for lease); the held ones are events
//     accepted before, which the batch answers as replayed.
func (s *Store) ClaimIdempotencyBatch(ctx context.Context, tenantID string, keys, fingerprints []string, lease time.Duration) ([]*webhook.IdempotencyRecord, bool, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = keyIdempotency(tenantID, k)
	}
	whole := 0
	if len(keys) > 0 && strings.HasPrefix(keys[0], "h:") {
		whole = 1
	}
	args := make([]any, 0, 2+len(fingerprints))
	args = append(args, lease.Milliseconds(), whole)
	for _, fp := range fingerprints {
		args = append(args, fp)
	}
	res, err := s.runArray(ctx, "claim idempotency keys", scriptClaimBatch, full, -1, args...)
	if err != nil {
		return nil, false, err
	}
	if len(res) < 1 || len(res) > len(keys)+1 {
		return nil, false, unexpectedReply("claim idempotency keys", res)
	}
	claimed, ok := res[0].(int64)
	if !ok {
		return nil, false, unexpectedReply("claim idempotency keys", res)
	}
	recs := make([]*webhook.IdempotencyRecord, len(keys))
	for i, v := range res[1:] {
		str, ok := v.(string)
		if !ok {
			return nil, false, unexpectedReply("claim idempotency keys", res)
		}
		recs[i] = parseRecord(keys[i:i+1], str)
	}
	return recs, claimed == 1, nil
}

// scriptClaimBatch claims the idempotency keys of a batch.
//
// Input:
// KEYS[1…] -> tidings:{<ten>}:idem:<key>   the batch's keys
// --
// ARGV[1] -> lease, ms
// ARGV[2] -> how many leading keys answer for the whole request (0 or 1):
//
//	when one is held, nothing is claimed
//
// ARGV[3…] -> the fingerprint of each key
//
// Output:
// {claimed (1 or 0), the record of each key ("" for a free one)}, cut
// short after a held key that answers for the whole request.
var scriptClaimBatch = redis.NewScript(`
local out = {0}
local ok = true
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  out[i + 1] = v or ''
  if v then
    if i <= tonumber(ARGV[2]) then return out end
    local state, fp = string.match(v, '^(%a+)|([^|]*)|')
    if (state ~= 'accepted' and state ~= 'done') or fp ~= ARGV[i + 2] then ok = false end
  end
end
if not ok then return out end
for i = 1, #KEYS do
  if out[i + 1] == '' then redis.call('SET', KEYS[i], 'running|' .. ARGV[i + 2] .. '||', 'PX', ARGV[1]) end
end
out[1] = 1
return out`)

package redisstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// The event and delivery lists, which take an entry per event and per
// delivery, are streams: one entry per ID (field "i"), kept in a listpack
// at ~40 bytes, where a sorted set member costs ~135 (skiplist node,
// dictionary entry, member string). An entry's ID is the creation time (Unix
// ms) of what it lists or, when the stream's last entry is later (another
// process's clock, or requests finishing out of order), that entry's time:
// entries keep the order they were added in, and an entry is never earlier
// than its item's creation and, with the processes' clocks within a minute
// of each other, not more than indexSlack later. Newest first is XREVRANGE,
// a list's cursor is the entry of its last item, and the retention trims
// by entry ID (MINID). The smaller lists (tenants, webhooks) stay sorted
// sets of IDs (zsetIndex).

// indexSlack bounds how much later than its item's creation an entry may
// be: a window of creation times is read with this much more at its end.
const indexSlack = time.Minute

// addToIndex queues adding id, created at t, to the stream index key, and
// trimming the index to the retention.
func (s *Store) addToIndex(ctx context.Context, p redis.Pipeliner, key, id string, t time.Time) {
	cut := strconv.FormatInt(s.now().Add(-s.retention).UnixMilli(), 10) + "-0"
	p.Eval(ctx, luaIndexAdd, []string{key}, id, t.UnixMilli(), cut)
}

// luaIndexAdd: KEYS[1] a stream index; ARGV[1] the ID to add, ARGV[2] its
// creation time (ms), ARGV[3] the first entry ID to keep (retention). Sent
// whole (EVAL): it runs inside MULTI, where a missing script cannot fall
// back. The entry ID is computed here, not as "<ms>-*", which needs Redis 7.
const luaIndexAdd = `
local ms, seq = tonumber(ARGV[2]), 0
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if top then
  local tms, tseq = string.match(top[1], '^(%d+)-(%d+)$')
  if tonumber(tms) >= ms then ms, seq = tonumber(tms), tonumber(tseq) + 1 end
end
return redis.call('XADD', KEYS[1], 'MINID', ARGV[3], string.format('%.0f-%.0f', ms, seq), 'i', ARGV[1])`

// index reads an index newest first: after position after ("" for the
// start), up to n IDs and the position of each (what a cursor holds).
type index func(ctx context.Context, after string, n int) (ids, positions []string, err error)

// zsetIndex is a sorted set of IDs, score 0: an ID is its own position.
func zsetIndex(rdb redis.UniversalClient, key string) index {
	return func(ctx context.Context, after string, n int) ([]string, []string, error) {
		max := "+"
		if after != "" {
			max = "(" + after
		}
		ids, err := rdb.ZRevRangeByLex(ctx, key, &redis.ZRangeBy{Max: max, Min: "-", Count: int64(n)}).Result()
		return ids, ids, wrap("list", err)
	}
}

// streamIndex is a stream index of IDs with the given prefix: a position is
// the prefix and an entry ID (so a cursor names its list, as DecodeCursor
// checks).
func streamIndex(rdb redis.UniversalClient, key, prefix string) index {
	return func(ctx context.Context, after string, n int) ([]string, []string, error) {
		max := "+"
		if after != "" {
			entry, ok := entryOf(after, prefix)
			if !ok {
				return nil, nil, badCursor()
			}
			max = "(" + entry
		}
		msgs, err := rdb.XRevRangeN(ctx, key, max, "-", int64(n)).Result()
		if err != nil {
			return nil, nil, wrap("list", err)
		}
		ids, positions := make([]string, len(msgs)), make([]string, len(msgs))
		for i, m := range msgs {
			ids[i], positions[i] = str(m.Values["i"]), prefix+m.ID
		}
		return ids, positions, nil
	}
}

// entryOf reads a stream position: prefix, then an entry ID "<ms>-<seq>".
func entryOf(position, prefix string) (string, bool) {
	entry, ok := strings.CutPrefix(position, prefix)
	ms, seq, dash := strings.Cut(entry, "-")
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(seq, 10, 64)
	return entry, ok && dash && err1 == nil && err2 == nil
}

// badCursor is the error of a cursor that is not a position of its list.
func badCursor() error {
	ve := &webhook.ValidationError{}
	ve.Add("cursor", "is not a cursor returned by this list")
	return ve
}

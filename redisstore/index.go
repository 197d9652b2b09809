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
// delivery, are streams: one entry per ID (field "i"), kept compact in a
// listpack, where a sorted set member needs a skiplist node, a dictionary
// entry and a string of its own. Entries are added with XADD * (a plain
// command, no script): they keep the order they were added in, and an
// entry's ID is Redis's clock when it was added, which is within indexSlack
// of its item's creation as long as the processes' clocks are within a
// minute of Redis's. Newest first is XREVRANGE, a list's cursor is the entry
// of its last item, and the retention trims by entry ID (MINID). The smaller
// lists (tenants, webhooks) stay sorted sets of IDs (zsetIndex).

// indexSlack bounds how far an entry's time may be from its item's
// creation: a window of creation times is read with this much more on
// either side, and filtered by ID.
const indexSlack = time.Minute

// indexCut is the first entry an index keeps now: those older than the
// retention are trimmed as entries are added (writes.addToIndex).
func (s *Store) indexCut() string {
	return strconv.FormatInt(s.now().Add(-s.retention).UnixMilli(), 10) + "-0"
}

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
// the prefix and an entry ID (so a cursor names its list, as webhook.DecodeCursor
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

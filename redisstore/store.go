// Package redisstore keeps everything Tidings owns in Redis: tenants and API
// keys, endpoints, events, deliveries and their attempts, idempotency keys.
// keys.go documents the whole key schema.
//
// Every method returns webhook.ErrNotFound for a missing resource and wraps
// webhook.ErrUnavailable around any Redis failure.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// Store is the Redis store. It is safe for concurrent use.
type Store struct {
	rdb       redis.UniversalClient
	retention time.Duration
	attempts  int
	now       func() time.Time

	// What Begin read before, so a delivery's turn does not carry them
	// again: events (immutable) and webhooks with their settings version.
	events   *cache[*webhook.Event]
	webhooks *cache[versioned]
	// What AllWebhooks read before, by tenant (publishing).
	webhookLists *cache[webhookList]
}

// Options configure a Store.
type Options struct {
	// Retention is how long events, deliveries and attempts are kept.
	Retention time.Duration
	// Attempts is the max_attempts of a delivery not attempted yet: one
	// run of the ladder (webhook.Schedule.Attempts). Zero means the default
	// ladder's.
	Attempts int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// New returns a Store on a shared client; the Store never closes it.
func New(rdb redis.UniversalClient, opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retention <= 0 {
		opts.Retention = 168 * time.Hour
	}
	if opts.Attempts <= 0 {
		opts.Attempts = webhook.DefaultSchedule.Attempts()
	}
	return &Store{rdb: rdb, retention: opts.Retention, attempts: opts.Attempts, now: opts.Now,
		events: newCache[*webhook.Event](16 << 20), webhooks: newCache[versioned](4 << 20),
		webhookLists: newCache[webhookList](8 << 20)}
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.rdb.Ping(ctx).Err())
}

// wrap turns a Redis error into a domain error: redis.Nil is not found,
// anything else is unavailable.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("redisstore: %s: %w", op, webhook.ErrNotFound)
	case errors.Is(err, webhook.ErrNotFound), errors.Is(err, webhook.ErrConflict):
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	return fmt.Errorf("redisstore: %s: %w: %w", op, webhook.ErrUnavailable, err)
}

// runInt runs a script whose reply is an integer. A reply of another shape
// is an error, never a zero value taken for an answer.
func (s *Store) runInt(ctx context.Context, op string, script *redis.Script, keys []string, args ...any) (int64, error) {
	res, err := script.Run(ctx, s.rdb, keys, args...).Result()
	if err != nil {
		return 0, wrap(op, err)
	}
	n, ok := res.(int64)
	if !ok {
		return 0, unexpectedReply(op, res)
	}
	return n, nil
}

// runArray runs a script whose reply is an array of n elements (any number
// for n < 0), and checks that it is.
func (s *Store) runArray(ctx context.Context, op string, script *redis.Script, keys []string, n int, args ...any) ([]any, error) {
	res, err := script.Run(ctx, s.rdb, keys, args...).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	a, ok := res.([]any)
	if !ok || (n >= 0 && len(a) != n) {
		return nil, unexpectedReply(op, res)
	}
	return a, nil
}

// unexpectedReply is the error of a script reply of the wrong shape: a bug
// or a stranger's script under the same name, not an unreachable Redis.
func unexpectedReply(op string, res any) error {
	return fmt.Errorf("redisstore: %s: unexpected script reply %#v", op, res)
}

// scanIndex walks an index newest first from after cursor, asking keep
// which IDs of each batch to return, until limit are kept or the index ends.
// keep returns the kept items and their IDs. At most maxScan IDs are
// examined per call, so a rare filter answers a short page with a cursor
// rather than walking a huge index.
func scanIndex[T any](ctx context.Context, idx index, cursor string, limit int,
	keep func(ids []string) ([]T, []string, error)) (webhook.Page[T], error) {
	const maxScan = 5000
	var page webhook.Page[T]
	var keptPositions []string
	after := cursor
	scanned := 0
	for {
		batch := limit + 1 - len(page.Items)
		if batch < 20 {
			batch = 20
		}
		ids, positions, err := idx(ctx, after, batch)
		if err != nil {
			return page, err
		}
		items, kept, err := keep(ids)
		if err != nil {
			return page, err
		}
		position := make(map[string]string, len(ids))
		for i, id := range ids {
			position[id] = positions[i]
		}
		for _, id := range kept {
			keptPositions = append(keptPositions, position[id])
		}
		page.Items = append(page.Items, items...)
		scanned += len(ids)
		if len(page.Items) > limit {
			page.Items = page.Items[:limit]
			page.NextCursor = webhook.EncodeCursor(keptPositions[limit-1])
			return page, nil
		}
		if len(ids) < batch {
			return page, nil
		}
		after = positions[len(positions)-1]
		if scanned >= maxScan {
			page.NextCursor = webhook.EncodeCursor(after)
			return page, nil
		}
	}
}

func ms(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func fromMs(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	return unixMs(n)
}

// unixMs is the time of Unix milliseconds, zero for 0.
func unixMs(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

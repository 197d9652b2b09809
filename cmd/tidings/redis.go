package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/config"
	"github.com/tidingshq/tidings/tasks"
)

// The timeouts of every Redis client Tidings builds. They make the API
// answer 503 within a second when Redis is down, hung or failing over: a
// refused connection fails at once, a hung one after the read timeout, and
// no command is retried (the caller's retry, or Asynq's, is the retry).
const (
	redisDialTimeout  = 300 * time.Millisecond
	redisReadTimeout  = 700 * time.Millisecond
	redisWriteTimeout = 700 * time.Millisecond
	redisDialBackoff  = 20 * time.Millisecond // between go-redis's five dials (100 ms by default)
	redisPoolTimeout  = time.Second
)

// newRedis builds the process's one Redis client from TIDINGS_REDIS_URL:
// a plain client for redis:// and rediss://, a failover client that asks
// the sentinels for the primary and follows its failovers for
// redis-sentinel://, a cluster client that routes each command to its
// slot's master (and follows MOVED after a failover) for redis-cluster://.
// The same client is shared by Asynq's servers and inspector, the
// dashboard and the auto-pipeliners that the store and the Asynq client
// send through.
func newRedis(cfg config.Config) (redis.UniversalClient, error) {
	t, err := config.ParseRedisURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("TIDINGS_REDIS_URL: %v", err)
	}
	poolSize := cfg.WorkerConcurrency + 50
	var tlsConfig *tls.Config
	if t.TLS {
		// The server name is each node's host (tls.Dial fills it in).
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch t.Mode {
	case config.RedisSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: t.MasterName, SentinelAddrs: t.Addrs,
			SentinelUsername: t.SentinelUsername, SentinelPassword: t.SentinelPassword,
			Username: t.Username, Password: t.Password, DB: t.DB, TLSConfig: tlsConfig,
			DialTimeout: redisDialTimeout, ReadTimeout: redisReadTimeout, WriteTimeout: redisWriteTimeout,
			MaxRetries: -1, DialerRetryTimeout: redisDialBackoff, PoolSize: poolSize, PoolTimeout: redisPoolTimeout,
		}), nil
	case config.RedisCluster:
		// MaxRedirects bounds both following MOVED/ASK (a slot moved, or
		// a replica took over) and trying a failed node again after a
		// short backoff: three stay well inside a second. A dead master
		// answers no MOVED, so the client learns that its replica took
		// over only by reading the slot map again: every second (one
		// CLUSTER SLOTS, in the background) rather than go-redis's 60s,
		// which kept the slots of a dead master unreachable for up to a
		// minute after the failover.
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: t.Addrs, Username: t.Username, Password: t.Password, TLSConfig: tlsConfig,
			DialTimeout: redisDialTimeout, ReadTimeout: redisReadTimeout, WriteTimeout: redisWriteTimeout,
			MaxRetries: -1, MaxRedirects: 3, DialerRetryTimeout: redisDialBackoff,
			PoolSize: poolSize, PoolTimeout: redisPoolTimeout, ClusterStateReloadInterval: time.Second,
		}), nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		// go-redis's message may quote the URL, password included.
		return nil, errors.New("TIDINGS_REDIS_URL: " + redactURL(err.Error(), cfg.RedisURL))
	}
	opts.DialTimeout = redisDialTimeout
	opts.ReadTimeout = redisReadTimeout
	opts.WriteTimeout = redisWriteTimeout
	opts.MaxRetries = -1 // none
	opts.DialerRetryTimeout = redisDialBackoff
	opts.PoolSize = poolSize
	opts.PoolTimeout = redisPoolTimeout
	return redis.NewClient(opts), nil
}

// redisLog routes go-redis's own messages (a dial that failed while Redis
// was down, a sentinel's switch to a new primary) into the process's log
// at warn, where go-redis would print them on stderr, unstructured, amid
// the JSON lines. go-redis keeps one logger per process (redis.SetLogger):
// a binary that builds several processes (the tests) logs them through the
// last one's.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn("redis client", "message", fmt.Sprintf(format, v...))
}

// redactURL removes the URL from a message about it.
func redactURL(msg, url string) string {
	return strings.ReplaceAll(msg, url, "the URL")
}

// waitForRedis blocks until Redis answers, logging while it does not, so a
// process started before Redis waits instead of crash-looping. On a
// cluster it waits for every master.
func waitForRedis(ctx context.Context, rc redis.UniversalClient, log *slog.Logger) error {
	delay := 200 * time.Millisecond
	for {
		err := ping(ctx, rc)
		if err == nil {
			return nil
		}
		log.Warn("waiting for redis", "error", err.Error(), "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis unreachable: %w", err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

func ping(ctx context.Context, rc redis.UniversalClient) error {
	if cc, ok := rc.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
	}
	return rc.Ping(ctx).Err()
}

// asynqClient is the Redis client of Asynq's servers: their dequeue script
// (the one whose first key is the queue's pending list) goes on the plain
// client, since each fetch loop waits for its own reply and would only wait
// on other callers' batches; every other script, the per-task
// acknowledgement above all, goes on the auto-pipeliner, where it shares
// writes and reads with the store's commands (docs/BENCHMARKS.md has what
// that saves). Should a later Asynq order its keys otherwise, every script
// takes one client or the other: slower, never wrong
// (TestAsynqClientRoutes notices).
type asynqClient struct {
	redis.UniversalClient // plain
	pipelined             redis.UniversalClient
}

func (c asynqClient) route(keys []string) redis.UniversalClient {
	if len(keys) > 0 && strings.HasSuffix(keys[0], ":pending") {
		return c.UniversalClient
	}
	return c.pipelined
}

func (c asynqClient) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return c.route(keys).Eval(ctx, script, keys, args...)
}

func (c asynqClient) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return c.route(keys).EvalSha(ctx, sha, keys, args...)
}

// asynqQueues is the set in which Asynq lists its queues (its dashboard
// and inspector read it); Asynq adds a queue when it first enqueues to it.
const asynqQueues = "asynq:queues"

// deliveryQueues adds the process's delivery queues to Asynq's list, so
// the dashboard and tidings_queue_tasks show every one from the start, and
// returns them with every other delivery queue found in Redis: workers
// serve those too, so a task queued under another TIDINGS_QUEUE_SHARDS is
// never stranded.
func deliveryQueues(ctx context.Context, rc redis.UniversalClient, inspector *asynq.Inspector, own []string) ([]string, error) {
	members := make([]any, len(own))
	for i, q := range own {
		members[i] = q
	}
	if err := rc.SAdd(ctx, asynqQueues, members...).Err(); err != nil {
		return nil, fmt.Errorf("register delivery queues: %w", err)
	}
	all, err := inspector.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	queues := append([]string(nil), own...)
	for _, q := range all {
		if tasks.IsDeliveryQueue(q) && !slices.Contains(queues, q) {
			queues = append(queues, q)
		}
	}
	return queues, nil
}

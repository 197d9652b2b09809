package redisstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// Replicas makes writes survive a failover before they are acknowledged
// (TIDINGS_REDIS_WAIT_REPLICAS): it waits until enough replicas hold them.
//
// Redis's WAIT waits for the replication offset of the last write made on
// the connection it runs on, and the writes of a publish go over many
// pooled connections (the store's, Asynq's). But a primary sends its
// replicas one ordered stream: a write made after all of them, once
// acknowledged, proves every earlier one acknowledged too. So Wait makes
// one tiny write (the slot's wait key) and runs WAIT after it on the same
// connection, once per master the request wrote to.
type Replicas struct {
	rc      redis.UniversalClient // the plain client: a connection of its own
	n       int
	timeout time.Duration
}

// NewReplicas waits for n replicas, at most timeout each time.
func NewReplicas(rc redis.UniversalClient, n int, timeout time.Duration) *Replicas {
	return &Replicas{rc: rc, n: n, timeout: timeout}
}

// Wait returns nil once n replicas of each master holding one of the hash
// tags (a tenant ID, a queue name) acknowledged every write that master had
// applied when Wait was called; else webhook.ErrUnavailable.
func (r *Replicas) Wait(ctx context.Context, tags ...string) error {
	cc, ok := r.rc.(*redis.ClusterClient)
	if !ok {
		c, ok := r.rc.(*redis.Client)
		if !ok || len(tags) == 0 {
			return fmt.Errorf("redisstore: wait for replicas: %w: no Redis client to wait on", webhook.ErrUnavailable)
		}
		return r.waitOn(ctx, c, keyWait(tags[0]))
	}
	// One WAIT per master: tags that share a master share its stream.
	byMaster := map[string]*redis.Client{}
	keys := map[string]string{}
	for _, tag := range tags {
		k := keyWait(tag)
		c, err := cc.MasterForKey(ctx, k)
		if err != nil {
			return wrap("wait for replicas", err)
		}
		addr := c.Options().Addr
		byMaster[addr], keys[addr] = c, k
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(byMaster))
	for addr, c := range byMaster {
		wg.Go(func() { errs <- r.waitOn(ctx, c, keys[addr]) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// waitOn makes the tiny write and waits on one connection of a master.
func (r *Replicas) waitOn(ctx context.Context, c *redis.Client, key string) error {
	conn := c.Conn()
	defer conn.Close()
	if err := conn.Set(ctx, key, "1", time.Minute).Err(); err != nil {
		return wrap("wait for replicas", err)
	}
	got, err := conn.Wait(ctx, r.n, r.timeout).Result()
	if err != nil {
		return wrap("wait for replicas", err)
	}
	if int(got) < r.n {
		return fmt.Errorf("redisstore: %d of %d replicas acknowledged within %s: %w", got, r.n, r.timeout, webhook.ErrUnavailable)
	}
	return nil
}

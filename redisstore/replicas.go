package redisstore

import (
	"context"
	"fmt"
	"strings"
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
//
// That proves nothing if a failover came between the request's writes and
// its WAIT: the WAIT would run on the new primary, which may lack them. So
// the request takes a Mark before its first write (the primary's
// replication ID, new at each promotion; on a cluster, the cluster's
// current epoch, raised by each failover) and Wait compares it with the
// server it waits on.
type Replicas struct {
	rc      redis.UniversalClient // the plain client: a connection of its own
	n       int
	timeout time.Duration
}

// NewReplicas waits for n replicas, at most timeout each time.
func NewReplicas(rc redis.UniversalClient, n int, timeout time.Duration) *Replicas {
	return &Replicas{rc: rc, n: n, timeout: timeout}
}

// Mark names the primaries in charge now, for a later Wait.
func (r *Replicas) Mark(ctx context.Context) (string, error) {
	if cc, ok := r.rc.(*redis.ClusterClient); ok {
		info, err := cc.ClusterInfo(ctx).Result()
		return infoField(info, "cluster_current_epoch"), wrap("mark primaries", err)
	}
	info, err := r.rc.Info(ctx, "replication").Result()
	return infoField(info, "master_replid"), wrap("mark primaries", err)
}

// Wait returns nil once n replicas of each master holding one of the hash
// tags (a tenant ID, a queue name) acknowledged every write that master had
// applied when Wait was called, and no failover happened since mark; else
// webhook.ErrUnavailable.
func (r *Replicas) Wait(ctx context.Context, mark string, tags ...string) error {
	cc, ok := r.rc.(*redis.ClusterClient)
	if !ok {
		c, ok := r.rc.(*redis.Client)
		if !ok || len(tags) == 0 {
			return fmt.Errorf("redisstore: wait for replicas: %w: no Redis client to wait on", webhook.ErrUnavailable)
		}
		return r.waitOn(ctx, c, keyWait(tags[0]), mark, false)
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
		wg.Go(func() { errs <- r.waitOn(ctx, c, keys[addr], mark, true) })
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

// waitOn makes the tiny write and waits on one connection of a master,
// after checking that it is still the primary the mark named.
func (r *Replicas) waitOn(ctx context.Context, c *redis.Client, key, mark string, cluster bool) error {
	conn := c.Conn()
	defer conn.Close()
	var info *redis.StringCmd
	_, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key, "1", time.Minute)
		if cluster {
			info = p.ClusterInfo(ctx)
		} else {
			info = p.Info(ctx, "replication")
		}
		return nil
	})
	if err != nil {
		return wrap("wait for replicas", err)
	}
	field := "master_replid"
	if cluster {
		field = "cluster_current_epoch"
	}
	if now := infoField(info.Val(), field); now != mark {
		return fmt.Errorf("redisstore: the primary changed during the request (%s %s, then %s): %w", field, mark, now, webhook.ErrUnavailable)
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

// infoField reads one "name:value" line of an INFO or CLUSTER INFO reply.
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

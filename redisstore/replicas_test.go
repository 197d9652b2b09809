package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/redistest"
	"github.com/tidingshq/tidings/webhook"
)

// TestReplicasWaitCoversOtherConnections proves what Replicas relies on:
// a tiny write then WAIT on one connection returns only once the replica
// holds the writes other connections made before.
func TestReplicasWaitCoversOtherConnections(t *testing.T) {
	d := redistest.StartSentinel(t, 1, 0)
	ctx := context.Background()
	primary := redis.NewClient(&redis.Options{Addr: d.Primary.Addr(), PoolSize: 20})
	defer primary.Close()
	replica := d.Replicas[0]

	// The replica stops reading its replication stream for 1.5s.
	slept := make(chan error, 1)
	go func() { _, err := replica.Do("DEBUG", "SLEEP", "1.5"); slept <- err }()
	time.Sleep(200 * time.Millisecond)

	// 200 writes over the pool's many connections.
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if err := primary.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	// Replicas.Wait does not return before the replica acknowledged.
	mark, err := NewReplicas(primary, 1, time.Second).Mark(ctx)
	if err != nil || mark == "" {
		t.Fatalf("Mark = %q, %v", mark, err)
	}
	err = NewReplicas(primary, 1, 300*time.Millisecond).Wait(ctx, mark, "ten_a")
	if !errors.Is(err, webhook.ErrUnavailable) {
		t.Fatalf("Wait while the replica sleeps = %v, want unavailable", err)
	}
	start := time.Now()
	if err := NewReplicas(primary, 1, 5*time.Second).Wait(ctx, mark, "ten_a"); err != nil {
		t.Fatal(err)
	}
	t.Logf("acknowledged after %s, once the replica woke", time.Since(start).Round(time.Millisecond))
	// Read at once, no polling: the replica holds every write.
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	defer rc.Close()
	if n, err := rc.DBSize(ctx).Result(); err != nil || n < 200 {
		t.Fatalf("replica holds %d keys (%v) right after the acknowledgement, want 200 and the wait key", n, err)
	}
	if err := <-slept; err != nil {
		t.Fatal(err)
	}
	// More replicas than exist: unavailable within the timeout.
	start = time.Now()
	if err := NewReplicas(primary, 2, 200*time.Millisecond).Wait(ctx, mark, "ten_a"); !errors.Is(err, webhook.ErrUnavailable) || time.Since(start) > time.Second {
		t.Fatalf("Wait for 2 of 1 replicas = %v after %s", err, time.Since(start))
	}
}

// A failover between a request's writes and its WAIT is caught: the new
// primary, which may lack the writes, has another replication ID than the
// mark taken before them.
func TestReplicasWaitRefusesAFailoverSinceTheMark(t *testing.T) {
	d := redistest.StartSentinel(t, 1, 0)
	ctx := context.Background()
	old := redis.NewClient(&redis.Options{Addr: d.Primary.Addr()})
	defer old.Close()
	mark, err := NewReplicas(old, 1, time.Second).Mark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := NewReplicas(old, 1, 2*time.Second).Wait(ctx, mark, "ten_a"); err != nil {
		t.Fatalf("Wait on the same primary: %v", err)
	}
	// The replica is promoted and the old primary follows it.
	replica := d.Replicas[0]
	if _, err := replica.Do("REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Primary.Do("REPLICAOF", "127.0.0.1", fmt.Sprint(replica.Port())); err != nil {
		t.Fatal(err)
	}
	promoted := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	defer promoted.Close()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(d.Primary.Info("replication"), "master_link_status:up") {
		if time.Now().After(deadline) {
			t.Fatal("the old primary did not follow the new one")
		}
		time.Sleep(50 * time.Millisecond)
	}
	err = NewReplicas(promoted, 1, 2*time.Second).Wait(ctx, mark, "ten_a")
	if !errors.Is(err, webhook.ErrUnavailable) || !strings.Contains(err.Error(), "primary changed") {
		t.Fatalf("Wait on a new primary with the old mark = %v, want unavailable", err)
	}
	fresh, _ := NewReplicas(promoted, 1, time.Second).Mark(ctx)
	if err := NewReplicas(promoted, 1, 2*time.Second).Wait(ctx, fresh, "ten_a"); err != nil {
		t.Fatalf("Wait with a mark of the new primary: %v", err)
	}
}

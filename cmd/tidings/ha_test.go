package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/redistest"
	"github.com/tidingshq/tidings/tasks"
)

// High availability: Tidings on Sentinel and on Redis Cluster, with the
// primary killed under load. Each test starts its own redis-server
// processes (see redistest) and logs what it measured.

// loadReceiver records, per event number, the event IDs and delivery IDs
// (webhook-id) it got.
type loadReceiver struct {
	*receiver
	mu       sync.Mutex
	events   map[int]map[string]bool // n → event IDs
	requests map[string]int          // webhook-id → requests
	holding  int                     // slow requests in flight
}

// slowHold is how long the receiver holds an event with "slow": true, so
// that its delivery is active in Asynq when the primary dies.
const slowHold = 3 * time.Second

func newLoadReceiver(t *testing.T) *loadReceiver {
	lr := &loadReceiver{events: map[int]map[string]bool{}, requests: map[string]int{}}
	lr.receiver = newReceiver(t, nil)
	lr.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID   string `json:"id"`
			Data struct {
				N    int  `json:"n"`
				Slow bool `json:"slow"`
			} `json:"data"`
		}
		raw, _ := io.ReadAll(r.Body)
		if json.Unmarshal(raw, &body) != nil {
			w.WriteHeader(400)
			return
		}
		if body.Data.Slow {
			lr.mu.Lock()
			lr.holding++
			lr.mu.Unlock()
			time.Sleep(slowHold)
			lr.mu.Lock()
			lr.holding--
			lr.mu.Unlock()
		}
		lr.mu.Lock()
		if lr.events[body.Data.N] == nil {
			lr.events[body.Data.N] = map[string]bool{}
		}
		lr.events[body.Data.N][body.ID] = true
		lr.requests[r.Header.Get("webhook-id")]++
		lr.mu.Unlock()
	})
	return lr
}

// got reports whether event id (number n) arrived.
func (lr *loadReceiver) got(n int, id string) bool {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.events[n][id]
}

// duplicates counts event numbers that arrived as more than one event,
// and deliveries that arrived more than once.
func (lr *loadReceiver) duplicates() (events, deliveries int) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	for _, ids := range lr.events {
		if len(ids) > 1 {
			events++
		}
	}
	for _, n := range lr.requests {
		if n > 1 {
			deliveries++
		}
	}
	return events, deliveries
}

// loadResult is what a publishing run saw.
type loadResult struct {
	accepted     map[int]string // n → the event ID of its 202
	unavailable  int            // 503s
	inUse        int            // 409 idempotency_key_in_use
	slowest503   time.Duration
	firstAfter   time.Duration // from the kill to the first 202 of a request sent after it
	neverDone    int           // numbers still not accepted when publishing stopped
	publishedFor time.Duration
}

// publisher publishes event n = 0, 1, 2… with Idempotency-Key "load-<n>",
// each until it gets a 202 (retrying the same key on 503 or 409), from
// several goroutines, until stop is closed.
type publisher struct {
	base, key string
	next      atomic.Int64
	killedAt  atomic.Int64 // unix ns; 0 before the kill
	mu        sync.Mutex
	res       loadResult
}

func (p *publisher) run(workers int, stop <-chan struct{}) *loadResult {
	p.mu.Lock()
	p.res.accepted = map[int]string{}
	p.mu.Unlock()
	start := time.Now()
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := int(p.next.Add(1) - 1)
				if !p.publishOne(client, n, stop) {
					p.mu.Lock()
					p.res.neverDone++
					p.mu.Unlock()
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.publishedFor = time.Since(start)
	return &p.res
}

// publishOne publishes event n until a 202, or false when stopped first.
func (p *publisher) publishOne(client *http.Client, n int, stop <-chan struct{}) bool {
	body, _ := json.Marshal(map[string]any{"type": "load.tick", "data": map[string]any{"n": n}})
	for {
		sent := time.Now()
		req, _ := http.NewRequest("POST", p.base+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+p.key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("load-%d", n))
		resp, err := client.Do(req)
		took := time.Since(sent)
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			p.mu.Lock()
			switch resp.StatusCode {
			case 202:
				var r struct{ ID string }
				_ = json.Unmarshal(raw, &r)
				p.res.accepted[n] = r.ID
				if k := p.killedAt.Load(); k != 0 && sent.UnixNano() > k && p.res.firstAfter == 0 {
					p.res.firstAfter = time.Since(time.Unix(0, k))
				}
				p.mu.Unlock()
				return true
			case 503:
				p.res.unavailable++
				p.res.slowest503 = max(p.res.slowest503, took)
			case 409:
				p.res.inUse++
			}
			p.mu.Unlock()
		}
		select {
		case <-stop:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *publisher) acceptedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.res.accepted)
}

// waitDelivered waits until every accepted event arrived or the deadline
// passes, and returns the numbers still missing.
func waitDelivered(lr *loadReceiver, accepted map[int]string, timeout time.Duration) (missing []int) {
	deadline := time.Now().Add(timeout)
	for {
		missing = missing[:0]
		for n, id := range accepted {
			if !lr.got(n, id) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			sort.Ints(missing)
			return missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// queueStates sums Asynq's task counts over the delivery queues.
func queueStates(t *testing.T, rc redis.UniversalClient) (active, waiting int) {
	in := asynq.NewInspectorFromRedisClient(rc)
	queues, err := in.Queues()
	if err != nil {
		return -1, -1
	}
	for _, q := range queues {
		if !tasks.IsDeliveryQueue(q) {
			continue
		}
		info, err := in.GetQueueInfo(q)
		if err != nil {
			return -1, -1
		}
		active += info.Active
		waiting += info.Pending + info.Scheduled + info.Retry
	}
	return active, waiting
}

// TestSentinelFailoverUnderLoad kills the primary of a Sentinel deployment
// (two replicas, three sentinels) while events are published and
// delivered. With TIDINGS_REDIS_WAIT_REPLICAS=1 no accepted event is lost;
// without it, the loss is logged. Both log the time from the kill to the
// first 202 again, the 503s and the duplicates.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	for _, wait := range []string{"1", "0"} {
		t.Run("wait_replicas="+wait, func(t *testing.T) { sentinelFailover(t, wait) })
	}
}

func sentinelFailover(t *testing.T, waitReplicas string) {
	d := redistest.StartSentinel(t, 2, 3)
	in := startCmd(t, "all", testEnv(d.URL(), map[string]string{
		"TIDINGS_REDIS_WAIT_REPLICAS": waitReplicas, "TIDINGS_REDIS_WAIT_TIMEOUT": "1s",
		"TIDINGS_WORKER_CONCURRENCY": "20", "TIDINGS_LOG_LEVEL": "error",
	}))
	_, key := in.tenant("acme")
	lr := newLoadReceiver(t)
	in.webhook(key, lr.URL, "load.*")

	p := &publisher{base: in.base, key: key}
	stop := make(chan struct{})
	done := make(chan *loadResult)
	go func() { done <- p.run(4, stop) }()
	eventually(t, 30*time.Second, "50 events accepted before the kill", func() bool { return p.acceptedCount() >= 50 })

	// Deliveries in flight (active in Asynq) when the primary dies.
	slow := map[int]string{}
	for i := range 5 {
		n := -1 - i
		r := in.must(202, "POST", "/v1/events", key, map[string]any{"type": "load.tick", "data": map[string]any{"n": n, "slow": true}})
		slow[n] = r.str("id")
	}
	eventually(t, 30*time.Second, "the slow deliveries to be in flight", func() bool {
		lr.mu.Lock()
		defer lr.mu.Unlock()
		return lr.holding == len(slow)
	})

	old, err := d.PrimaryAddr()
	if err != nil {
		t.Fatal(err)
	}
	p.killedAt.Store(time.Now().UnixNano())
	d.Node(old).Kill()
	killed := time.Now()
	var promoted time.Duration
	eventually(t, 60*time.Second, "the sentinels to promote a replica", func() bool {
		addr, err := d.PrimaryAddr()
		promoted = time.Since(killed)
		return err == nil && addr != old
	})
	eventually(t, 60*time.Second, "a 202 after the failover", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.res.firstAfter != 0
	})
	time.Sleep(2 * time.Second) // publish on the new primary for a while
	close(stop)
	res := <-done

	for n, id := range slow {
		res.accepted[n] = id
	}
	missing := waitDelivered(lr, res.accepted, 120*time.Second)
	dupEvents, dupDeliveries := lr.duplicates()
	t.Logf("wait_replicas=%s: %d events accepted in %s; primary killed with %d deliveries in flight, replica promoted after %s; first 202 again %s after the kill; "+
		"%d 503s (slowest %s), %d 409 in_use, %d numbers never accepted; lost %d accepted events %v; "+
		"duplicates: %d events published twice, %d deliveries sent twice",
		waitReplicas, len(res.accepted), res.publishedFor.Round(time.Millisecond), len(slow), promoted.Round(time.Millisecond),
		res.firstAfter.Round(time.Millisecond), res.unavailable, res.slowest503.Round(time.Millisecond), res.inUse, res.neverDone,
		len(missing), head(missing, 10), dupEvents, dupDeliveries)
	if waitReplicas != "0" && len(missing) > 0 {
		t.Errorf("%d events answered 202 were never delivered: %v", len(missing), head(missing, 20))
	}
	if res.unavailable > 0 && res.slowest503 > 2*time.Second {
		t.Errorf("a 503 took %s; want it within about a second", res.slowest503)
	}

	// Nothing stays active or queued on the new primary: tasks that were
	// active on the old one were finished or recovered.
	rc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: redistest.SentinelMaster, SentinelAddrs: sentinelAddrs(d)})
	defer rc.Close()
	start := time.Now()
	eventually(t, 150*time.Second, "no delivery task left active or queued", func() bool {
		active, waiting := queueStates(t, rc)
		return active == 0 && waiting == 0
	})
	t.Logf("queues drained %s after the deliveries were checked", time.Since(start).Round(time.Millisecond))
	select {
	case err := <-in.done:
		t.Fatalf("tidings exited during the failover: %v", err)
	default:
	}
}

func sentinelAddrs(d *redistest.Sentinel) []string {
	var out []string
	for _, s := range d.Sentinels {
		out = append(out, s.Addr())
	}
	return out
}

func head(ns []int, k int) []int {
	if len(ns) > k {
		return ns[:k]
	}
	return ns
}

// TestClusterEndToEnd runs the main flows against a Redis Cluster of three
// masters with a replica each and a spare replica, TIDINGS_QUEUE_SHARDS=3 and
// TIDINGS_REDIS_WAIT_REPLICAS=1: CRUD, fan-out, the retry ladder,
// idempotency, cancel, manual retry, recover, operational events, the
// dashboard and metrics. It logs how keys, queues and commands spread over
// the masters (asserting all three carry some), then kills a master under
// load: its replica takes over and no accepted event is lost.
func TestClusterEndToEnd(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1, 1)
	in := startCmd(t, "all", testEnv(c.URL(), map[string]string{
		"TIDINGS_QUEUE_SHARDS": "3", "TIDINGS_REDIS_WAIT_REPLICAS": "1", "TIDINGS_REDIS_WAIT_TIMEOUT": "1s",
		"TIDINGS_WORKER_CONCURRENCY": "20", "TIDINGS_LOG_LEVEL": "error",
	}))
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{c.Nodes[0].Addr()}})
	defer cc.Close()
	ctx := context.Background()
	queues := tasks.QueueNames(3)

	// CRUD, on several tenants so that their keys spread over the slots.
	type tenant struct{ id, key string }
	var tenants []tenant
	for i := range 6 {
		id, key := in.tenant(fmt.Sprintf("tenant-%d", i))
		tenants = append(tenants, tenant{id, key})
	}
	ten, key := tenants[0].id, tenants[0].key
	k2 := in.must(201, "POST", "/v1/tenants/"+ten+"/keys", adminToken, nil)
	in.must(200, "GET", "/v1/webhooks", k2.str("api_key"), nil)
	in.must(204, "DELETE", "/v1/tenants/"+ten+"/keys/"+k2.str("id"), adminToken, nil)
	in.must(401, "GET", "/v1/webhooks", k2.str("api_key"), nil)
	if n := len(in.must(200, "GET", "/v1/tenants?limit=100", adminToken, nil).list()); n != 6 {
		t.Errorf("tenants listed: %d, want 6", n)
	}

	// Fan-out: three webhooks of one tenant, and every tenant's own.
	ok := newReceiver(t, nil)
	var fan []string
	for range 3 {
		id, _ := in.webhook(key, ok.URL, "fan.*")
		fan = append(fan, id)
	}
	in.must(200, "PATCH", "/v1/webhooks/"+fan[0], key, map[string]any{"description": "patched"})
	in.must(200, "PUT", "/v1/webhooks/"+fan[1], key, map[string]any{"url": ok.URL, "events": []string{"fan.*"}})
	in.must(200, "GET", "/v1/webhooks/"+fan[2]+"/secret", key, nil)
	in.must(200, "POST", "/v1/webhooks/"+fan[2]+"/rotate-secret", key, map[string]any{"grace_period_seconds": 0})
	ev := publish(in, key, "fan.out", map[string]any{"n": 1})
	if n := len(ev.get("deliveries").([]any)); n != 3 {
		t.Fatalf("fan-out: %d deliveries, want 3", n)
	}
	for _, d := range ev.get("deliveries").([]any) {
		in.waitDelivery(key, d.(map[string]any)["id"].(string), "succeeded", 20*time.Second)
	}
	for _, tn := range tenants[1:] {
		in.webhook(tn.key, ok.URL, "spread.*")
		for i := range 5 {
			publish(in, tn.key, "spread.tick", map[string]any{"i": i})
		}
	}
	eventually(t, 30*time.Second, "every tenant's events delivered", func() bool { return ok.count() == 3+5*5 })
	if got := in.must(200, "GET", "/v1/events/"+ev.str("id"), key, nil); len(got.get("deliveries").([]any)) != 3 {
		t.Errorf("event = %s", got.Raw)
	}

	// Idempotency: a replay answers the first response; another body is a conflict.
	first := in.must(202, "POST", "/v1/events", key, map[string]any{"type": "fan.once", "data": map[string]any{}}, "Idempotency-Key", "k1")
	again := in.must(202, "POST", "/v1/events", key, map[string]any{"type": "fan.once", "data": map[string]any{}}, "Idempotency-Key", "k1")
	if again.Header.Get("Idempotent-Replayed") != "true" || again.str("id") != first.str("id") {
		t.Errorf("replay = %s %v", again.Raw, again.Header)
	}
	in.must(409, "POST", "/v1/events", key, map[string]any{"type": "fan.once", "data": map[string]any{"x": 1}}, "Idempotency-Key", "k1")

	// The retry ladder: two failures, then success on the third attempt.
	flaky := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(500)
		}
	})
	in.webhook(key, flaky.URL, "ladder.*")
	ev = publish(in, key, "ladder.step", map[string]any{})
	d := in.waitDelivery(key, ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string), "succeeded", 30*time.Second)
	if d.get("attempt") != float64(3) {
		t.Errorf("ladder delivery = %s", d.Raw)
	}

	// Cancel: deleting a webhook drops its queued task from its shard queue.
	failing := newReceiver(t, status(500))
	failID, _ := in.webhook(key, failing.URL, "cancel.*")
	ev = publish(in, key, "cancel.me", map[string]any{})
	cancelID := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	eventually(t, 20*time.Second, "the first attempt", func() bool { return failing.count() == 1 })
	in.must(204, "DELETE", "/v1/webhooks/"+failID, key, nil)
	if d := in.must(200, "GET", "/v1/deliveries/"+cancelID, key, nil); d.str("status") != "cancelled" {
		t.Errorf("delivery after delete = %s", d.Raw)
	}
	inspector := asynq.NewInspectorFromRedisClient(cc)
	for _, q := range queues {
		if _, err := inspector.GetTaskInfo(q, cancelID); err == nil {
			t.Errorf("cancelled delivery's task still in queue %s", q)
		}
	}

	// Operational events, and a manual retry of a failed delivery.
	watch := newReceiver(t, nil)
	in.webhook(key, watch.URL, "tidings.*")
	gone := newReceiver(t, status(http.StatusGone))
	goneID, _ := in.webhook(key, gone.URL, "gone.*")
	ev = publish(in, key, "gone.away", map[string]any{})
	goneDlv := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	in.waitDelivery(key, goneDlv, "failed", 20*time.Second)
	eventually(t, 20*time.Second, "tidings.webhook.disabled delivered", func() bool {
		for _, r := range watch.requests() {
			if r.Header.Get("X-Event-Type") == "tidings.webhook.disabled" && bytes.Contains(r.Body, []byte(goneID)) {
				return true
			}
		}
		return false
	})
	in.must(200, "POST", "/v1/webhooks/"+goneID+"/enable", key, nil)
	in.must(202, "POST", "/v1/deliveries/"+goneDlv+"/retry", key, nil)
	eventually(t, 20*time.Second, "the manual retry", func() bool { return gone.count() == 2 })

	// Recover: what a paused webhook missed is queued once.
	missed := newReceiver(t, nil)
	missedID, _ := in.webhook(key, missed.URL, "recover.*")
	in.must(200, "PATCH", "/v1/webhooks/"+missedID, key, map[string]any{"active": false})
	since := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	publish(in, key, "recover.me", map[string]any{})
	in.must(200, "PATCH", "/v1/webhooks/"+missedID, key, map[string]any{"active": true})
	if r := in.must(202, "POST", "/v1/webhooks/"+missedID+"/recover", key, map[string]any{"since": since}); r.get("requeued") != float64(1) {
		t.Errorf("recover = %s", r.Raw)
	}
	eventually(t, 20*time.Second, "the recovered delivery", func() bool { return missed.count() == 1 })

	// The dashboard and the metrics list every shard queue.
	req, _ := http.NewRequest("GET", in.base+"/monitoring/api/queues", nil)
	req.SetBasicAuth("admin", adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	eventually(t, 15*time.Second, "tidings_queue_tasks for every queue", func() bool {
		m := in.must(200, "GET", "/metrics", "", nil)
		for _, q := range queues {
			if !bytes.Contains(m.Raw, []byte(`tidings_queue_tasks{queue="`+q+`",state="pending"}`)) {
				return false
			}
		}
		return true
	})
	for _, q := range queues {
		if !bytes.Contains(raw, []byte(`"queue":"`+q+`"`)) {
			t.Errorf("dashboard queues lack %s: %.300s", q, raw)
		}
	}

	// Spread: keys, queues and commands per master.
	perMaster := map[string][]string{}
	for _, q := range queues {
		slot, err := cc.ClusterKeySlot(ctx, "asynq:{"+q+"}:pending").Result()
		if err != nil || int(slot) != tasks.Slot(q) {
			t.Errorf("queue %s: CLUSTER KEYSLOT %d (%v), tasks.Slot %d", q, slot, err, tasks.Slot(q))
		}
		m, err := cc.MasterForKey(ctx, "asynq:{"+q+"}:pending")
		if err != nil {
			t.Fatal(err)
		}
		perMaster[m.Options().Addr] = append(perMaster[m.Options().Addr], q)
	}
	for _, m := range c.Masters() {
		keys, _ := m.Do("DBSIZE")
		calls := commandCalls(m.Info("commandstats"))
		t.Logf("master %s: %v keys, %d commands, delivery queues %v", m.Addr(), keys, calls, perMaster[m.Addr()])
		if n, _ := keys.(int64); n == 0 || len(perMaster[m.Addr()]) == 0 {
			t.Errorf("master %s carries %v keys and queues %v: want some of each", m.Addr(), keys, perMaster[m.Addr()])
		}
	}

	// A master dies under load; its replica takes over, and the spare
	// replica moves to it, so that WAIT has a replica to count again.
	lr := newLoadReceiver(t)
	in.webhook(key, lr.URL, "load.*")
	for _, tn := range tenants[1:3] {
		in.webhook(tn.key, lr.URL, "load.*")
	}
	p := &publisher{base: in.base, key: key}
	stop := make(chan struct{})
	done := make(chan *loadResult)
	go func() { done <- p.run(4, stop) }()
	eventually(t, 30*time.Second, "50 events accepted before the kill", func() bool { return p.acceptedCount() >= 50 })
	victim, _ := cc.MasterForKey(ctx, "tidings:{"+ten+"}:whs")
	var dead *redistest.Server
	for _, m := range c.Masters() {
		if m.Addr() == victim.Options().Addr {
			dead = m
		}
	}
	heirs := c.ReplicasOf(dead)
	if len(heirs) == 0 {
		t.Fatalf("master %s has no replica", dead.Addr())
	}
	var heir *redistest.Server
	p.killedAt.Store(time.Now().UnixNano())
	dead.Kill()
	killed := time.Now()
	eventually(t, 60*time.Second, "a replica to take over", func() bool {
		for _, h := range heirs {
			role, _ := h.Do("ROLE")
			if r, _ := role.([]any); len(r) > 0 && r[0] == "master" {
				heir = h
				return true
			}
		}
		return false
	})
	promoted := time.Since(killed)
	c.WaitHealthy(60 * time.Second)
	eventually(t, 60*time.Second, "a 202 after the failover", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.res.firstAfter != 0
	})
	time.Sleep(2 * time.Second)
	close(stop)
	res := <-done
	missing := waitDelivered(lr, res.accepted, 120*time.Second)
	dupEvents, dupDeliveries := lr.duplicates()
	t.Logf("cluster failover: %d events accepted in %s; master %s killed, replica %s took over after %s; first 202 again %s after the kill; "+
		"%d 503s (slowest %s), %d 409 in_use, %d numbers never accepted; lost %d accepted events %v; duplicates: %d events published twice, %d deliveries sent twice",
		len(res.accepted), res.publishedFor.Round(time.Millisecond), dead.Addr(), heir.Addr(), promoted.Round(time.Millisecond),
		res.firstAfter.Round(time.Millisecond), res.unavailable, res.slowest503.Round(time.Millisecond), res.inUse, res.neverDone,
		len(missing), head(missing, 10), dupEvents, dupDeliveries)
	if len(missing) > 0 {
		t.Errorf("%d events answered 202 were never delivered: %v", len(missing), head(missing, 20))
		for _, n := range head(missing, 5) {
			ev := in.call("GET", "/v1/events/"+res.accepted[n], key, nil)
			t.Logf("event %d: %d %s", n, ev.Status, ev.Raw)
			if ds, _ := ev.get("deliveries").([]any); len(ds) > 0 {
				id := ds[0].(map[string]any)["id"].(string)
				for _, q := range queues {
					if info, err := inspector.GetTaskInfo(q, id); err == nil {
						t.Logf("  task %s in %s: %s retried %d: %s", id, q, info.State, info.Retried, info.LastErr)
					}
				}
			}
		}
	}
	eventually(t, 150*time.Second, "no delivery task left active or queued", func() bool {
		active, waiting := queueStates(t, cc)
		return active == 0 && waiting == 0
	})
}

// commandCalls sums the calls of INFO commandstats.
func commandCalls(info string) int64 {
	var total int64
	for _, line := range strings.Split(info, "\n") {
		_, rest, ok := strings.Cut(line, "calls=")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		total += n
	}
	return total
}

// Changing TIDINGS_QUEUE_SHARDS strands no queued task: a worker started
// with three shards still serves the one queue of before, and deleting a
// webhook finds its task there.
func TestQueueShardsChange(t *testing.T) {
	url, rc := redistest.New(t)
	in := startCmd(t, "all", testEnv(url, map[string]string{"TIDINGS_RETRY_SCHEDULE": "3s,1m"}))
	_, key := in.tenant("acme")
	var fail atomic.Bool
	fail.Store(true)
	flaky := newReceiver(t, func(_ int, w http.ResponseWriter) {
		if fail.Load() {
			w.WriteHeader(500)
		}
	})
	flakyID, _ := in.webhook(key, flaky.URL, "a.*")
	stuck := newReceiver(t, status(500))
	stuckID, _ := in.webhook(key, stuck.URL, "b.*")
	ev := publish(in, key, "a.b", map[string]any{})
	retried := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	ev = publish(in, key, "b.c", map[string]any{})
	cancelled := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	eventually(t, 20*time.Second, "both first attempts", func() bool { return flaky.count() == 1 && stuck.count() == 1 })
	in.stop()

	fail.Store(false)
	in = startCmd(t, "all", testEnv(url, map[string]string{"TIDINGS_RETRY_SCHEDULE": "3s,1m", "TIDINGS_QUEUE_SHARDS": "3"}))
	in.waitDelivery(key, retried, "succeeded", 30*time.Second)
	in.must(204, "DELETE", "/v1/webhooks/"+stuckID, key, nil)
	// Its retry came due with the other's (3 s), so it may be running at
	// the delete (a task due within a second waits active in the worker):
	// a running task finishes, finds its delivery cancelled and leaves.
	inspector := asynq.NewInspectorFromRedisClient(rc)
	eventually(t, 10*time.Second, "the deleted webhook's task to leave "+tasks.QueueName, func() bool {
		_, err := inspector.GetTaskInfo(tasks.QueueName, cancelled)
		return err != nil
	})
	if got := stuck.count(); got > 2 {
		t.Errorf("the deleted webhook got %d attempts, want at most 2", got)
	}
	in.must(200, "GET", "/v1/webhooks/"+flakyID, key, nil)
}

// Deliveries active on the old primary, whose worker died with it, are
// recovered on the new one by Asynq's lease recovery (asynq #1051/#1144
// report tasks stuck active after a Redis failure): a worker started
// after the failover sends them again, with the same webhook-id, once
// their lease has expired (30 s) and its recoverer runs (every minute).
func TestSentinelLeaseRecovery(t *testing.T) {
	d := redistest.StartSentinel(t, 2, 3)
	env := faultEnv(d.URL(), map[string]string{"TIDINGS_REDIS_WAIT_REPLICAS": "1", "TIDINGS_WORKER_CONCURRENCY": "5", "TIDINGS_LOG_LEVEL": "error"})
	api := startCmd(t, "api", env)
	_, key := api.tenant("acme")
	release := make(chan struct{})
	var mu sync.Mutex
	seen := map[string]int{}
	holding := 0
	rc := newReceiver(t, nil)
	rc.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("webhook-id")]++
		first := seen[r.Header.Get("webhook-id")] == 1
		if first {
			holding++
		}
		mu.Unlock()
		if first { // the first worker's requests hang until the test ends
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	defer close(release)
	api.webhook(key, rc.URL, "hang.*")
	w1 := spawn(t, "worker", env).listening()
	var ids []string
	for i := range 3 {
		ev := publish(api, key, "hang.on", map[string]any{"i": i})
		ids = append(ids, ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string))
	}
	eventually(t, 30*time.Second, "three deliveries in flight", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return holding == 3
	})

	// The worker and the primary die together: the tasks stay active, with
	// leases nobody extends, on the replica that takes over.
	old, err := d.PrimaryAddr()
	if err != nil {
		t.Fatal(err)
	}
	_ = w1.cmd.Process.Kill()
	d.Node(old).Kill()
	killed := time.Now()
	eventually(t, 60*time.Second, "the sentinels to promote a replica", func() bool {
		addr, err := d.PrimaryAddr()
		return err == nil && addr != old
	})
	fo := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: redistest.SentinelMaster, SentinelAddrs: sentinelAddrs(d)})
	defer fo.Close()
	var active int
	eventually(t, 30*time.Second, "the new primary to answer", func() bool {
		active, _ = queueStates(t, fo)
		return active >= 0
	})
	if active != 3 {
		t.Errorf("%d tasks active on the new primary right after the failover, want the 3 of the dead worker", active)
	}

	startCmd(t, "worker", env)
	eventually(t, 150*time.Second, "the three deliveries sent again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if seen[id] < 2 {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		api.waitDelivery(key, id, "succeeded", 30*time.Second)
	}
	eventually(t, 30*time.Second, "no task left active", func() bool {
		active, waiting := queueStates(t, fo)
		return active == 0 && waiting == 0
	})
	t.Logf("3 deliveries active on the old primary with their worker dead: recovered on the new primary and delivered %s after the kill", time.Since(killed).Round(time.Second))
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidingshq/tidings/redistest"
)

// A slow endpoint never holds more than TIDINGS_ENDPOINT_CONCURRENCY
// requests, waits without using attempts, and does not hold up a fast
// endpoint's deliveries.
func TestSlowEndpointDoesNotDelayFastOne(t *testing.T) {
	in := start(t, map[string]string{"TIDINGS_ENDPOINT_CONCURRENCY": "2", "TIDINGS_WORKER_CONCURRENCY": "6", "TIDINGS_DELIVERY_TIMEOUT": "10s"})
	_, key := in.tenant("acme")
	var inFlight peak
	slow := newReceiver(t, func(_ int, w http.ResponseWriter) {
		defer inFlight.enter()()
		time.Sleep(3 * time.Second)
	})
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	fast := newReceiver(t, func(_ int, w http.ResponseWriter) {})
	fastSrv := fast.Config.Handler
	fast.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived[r.Header.Get("X-Event-ID")] = time.Now()
		mu.Unlock()
		fastSrv.ServeHTTP(w, r)
	})
	in.webhook(key, slow.URL, "slow.*")
	in.webhook(key, fast.URL, "fast.*")

	published := map[string]time.Time{}
	var slowDeliveries []string
	for i := range 10 {
		r := publish(in, key, "slow.job", map[string]any{"i": i})
		slowDeliveries = append(slowDeliveries, r.get("deliveries").([]any)[0].(map[string]any)["id"].(string))
	}
	for i := range 20 {
		r := publish(in, key, "fast.job", map[string]any{"i": i})
		published[r.str("id")] = time.Now()
	}
	eventually(t, 15*time.Second, "every fast delivery", func() bool { return fast.count() == 20 })
	if slow.count() == 10 {
		t.Error("the slow endpoint finished first: the test proves nothing")
	}
	var lat []time.Duration
	mu.Lock()
	for id, at := range arrived {
		lat = append(lat, at.Sub(published[id]))
	}
	mu.Unlock()
	slices.Sort(lat)
	t.Logf("fast endpoint latency with a slow endpoint mixed in: p50 %v, p99 %v, max %v (n=%d)", lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], len(lat))
	// Had the slow endpoint's waiting deliveries held worker slots (6, of
	// which its cap lets 2 send), a fast delivery would have waited for a
	// slow request to end: 3 s.
	if worst := lat[len(lat)-1]; worst >= 2500*time.Millisecond {
		t.Errorf("a fast delivery took %v from publish to arrival: it waited behind the slow endpoint", worst)
	}

	for _, id := range slowDeliveries {
		d := in.waitDelivery(key, id, "succeeded", 60*time.Second)
		if d.get("attempt") != float64(1) {
			t.Errorf("slow delivery %s used %v attempts; waiting must not use attempts", id, d.get("attempt"))
		}
	}
	if m := inFlight.max.Load(); m > 2 {
		t.Errorf("slow endpoint had %d requests in flight, cap 2", m)
	}
}

// A busy fast endpoint, whose slots are handed from one delivery to the next
// inside each worker as each request ends, still never has more than its cap
// in flight, with one worker process or two, and gets every delivery exactly
// once on its first attempt; when all are done, no lease on its slots is
// left behind.
func TestBusyEndpointKeepsItsCap(t *testing.T) {
	for _, workers := range []int{0, 1} {
		t.Run(fmt.Sprintf("all and %d workers", workers), func(t *testing.T) { testBusyEndpoint(t, workers) })
	}
}

func testBusyEndpoint(t *testing.T, workers int) {
	url, rdb := redistest.New(t)
	env := testEnv(url, map[string]string{"TIDINGS_ENDPOINT_CONCURRENCY": "3", "TIDINGS_WORKER_CONCURRENCY": "20"})
	in := startCmd(t, "all", env)
	for range workers {
		startCmd(t, "worker", env)
	}
	ten, key := in.tenant("acme")
	var inFlight peak
	var mu sync.Mutex
	seen := map[string]int{}
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) {})
	handler := rc.Config.Handler
	rc.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer inFlight.enter()()
		mu.Lock()
		seen[r.Header.Get("webhook-id")]++
		mu.Unlock()
		if a := r.Header.Get("X-Delivery-Attempt"); a != "1" {
			t.Errorf("delivery %s arrived as attempt %s; waiting for a slot must not use attempts", r.Header.Get("webhook-id"), a)
		}
		time.Sleep(10 * time.Millisecond)
		handler.ServeHTTP(w, r)
	})
	wh, _ := in.webhook(key, rc.URL, "busy.*")
	const events = 150
	for i := range events {
		publish(in, key, "busy.tick", map[string]any{"i": i})
	}
	eventually(t, 60*time.Second, "every delivery", func() bool { return rc.count() >= events })
	time.Sleep(500 * time.Millisecond) // a duplicate would show up now
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != events || rc.count() != events {
		t.Errorf("%d requests for %d distinct deliveries, want %d of each", rc.count(), len(seen), events)
	}
	if m := inFlight.max.Load(); m > 3 {
		t.Errorf("%d requests in flight at once, cap 3", m)
	}
	if m := inFlight.max.Load(); m < 3 {
		t.Errorf("never more than %d in flight: the cap was not reached, the test proves nothing", m)
	}
	leases := "tidings:{" + ten + "}:wh:" + wh + ":inflight"
	eventually(t, 10*time.Second, "no lease left", func() bool { return rdb.ZCard(context.Background(), leases).Val() == 0 })
}

// peak counts requests in flight and keeps the most there ever were.
type peak struct{ cur, max atomic.Int32 }

// enter counts a request in; the function it returns counts it out.
func (p *peak) enter() func() {
	n := p.cur.Add(1)
	for m := p.max.Load(); n > m && !p.max.CompareAndSwap(m, n); m = p.max.Load() {
	}
	return func() { p.cur.Add(-1) }
}

// A webhook's rate_limit spaces its deliveries without using attempts.
func TestRateLimit(t *testing.T) {
	in := start(t, nil)
	_, key := in.tenant("acme")
	rc := newReceiver(t, nil)
	r := in.must(201, "POST", "/v1/webhooks", key, map[string]any{"url": rc.URL, "events": []string{"*"}, "rate_limit": 2})
	if r.get("rate_limit") != float64(2) {
		t.Fatalf("rate_limit = %v", r.get("rate_limit"))
	}
	var ids []string
	for i := range 6 {
		ids = append(ids, publish(in, key, "batch.done", map[string]any{"i": i}).get("deliveries").([]any)[0].(map[string]any)["id"].(string))
	}
	eventually(t, 20*time.Second, "6 deliveries", func() bool { return rc.count() == 6 })
	reqs := rc.requests()
	// Burst 2, then 2 per second: the sixth cannot come before ~2s.
	if span := reqs[5].At.Sub(reqs[0].At); span < 1500*time.Millisecond {
		t.Errorf("6 deliveries at 2/s took %v", span)
	}
	for _, id := range ids {
		if d := in.waitDelivery(key, id, "succeeded", 5*time.Second); d.get("attempt") != float64(1) {
			t.Errorf("rate-limited delivery used %v attempts", d.get("attempt"))
		}
	}
}

// Tidings tells a tenant about its own webhooks: an exhausted delivery and
// the webhook it disables arrive as tidings.* events at the webhooks that
// name them, and "*" does not match them.
func TestOperationalEvents(t *testing.T) {
	in := start(t, map[string]string{"TIDINGS_RETRY_SCHEDULE": "1s"})
	_, key := in.tenant("acme")
	ops := newReceiver(t, nil)
	failing := newReceiver(t, status(500))
	opsID, _ := in.webhook(key, ops.URL, "tidings.*")
	failID, _ := in.webhook(key, failing.URL, "*")
	ev := publish(in, key, "batch.done", map[string]any{})
	if n := len(ev.get("deliveries").([]any)); n != 1 {
		t.Fatalf("tidings.* webhook matched batch.done: %d deliveries", n)
	}
	eventually(t, 15*time.Second, "two operational events", func() bool { return ops.count() == 2 })
	types := map[string]map[string]any{}
	for _, r := range ops.requests() {
		var body struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		types[body.Type] = body.Data
	}
	if d := types["tidings.delivery.exhausted"]; d == nil || d["webhook_id"] != failID || d["status"] != "failed" || d["event_id"] != ev.str("id") {
		t.Errorf("tidings.delivery.exhausted data = %v", d)
	}
	if d := types["tidings.webhook.disabled"]; d == nil || d["id"] != failID || d["disabled_reason"] != "failing" || d["secret"] != nil {
		t.Errorf("tidings.webhook.disabled data = %v", d)
	}
	for _, r := range failing.requests() {
		if r.Header.Get("X-Event-Type") != "batch.done" {
			t.Errorf("the * webhook got %s", r.Header.Get("X-Event-Type"))
		}
	}
	_ = opsID
}

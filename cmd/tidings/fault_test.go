package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tidingshq/tidings/redistest"
)

// Fault tests run the real binary as separate processes against a private
// redis-server, and kill them.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/tidings once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tidings-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tidings")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is one tidings process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *syncBuffer
	base string
	done chan error
}

var procAddrRe = regexp.MustCompile(`(?m)^(?:API listening on|Worker health on) (http://\S+)$`)

func spawn(t *testing.T, command string, env map[string]string) *proc {
	t.Helper()
	p := &proc{t: t, out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(binary(t), command)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("tidings %s output:\n%s", command, p.out.String())
		}
		p.done <- nil
	})
	return p
}

// listening waits for the process to print its address.
func (p *proc) listening() *proc {
	p.t.Helper()
	eventually(p.t, 20*time.Second, "the process to listen", func() bool {
		if m := procAddrRe.FindStringSubmatch(p.out.String()); m != nil {
			p.base = m[1]
			return true
		}
		return false
	})
	return p
}

func (p *proc) api() *instance { return &instance{t: p.t, base: p.base, out: p.out} }

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			p.t.Fatal(err)
		}
		return 0
	case <-time.After(timeout):
		p.t.Fatalf("process did not exit within %v", timeout)
		return -1
	}
}

// countingReceiver records every webhook-id it gets and how many requests
// are in flight, sleeping hold per request.
type countingReceiver struct {
	*receiver
	mu       sync.Mutex
	ids      map[string]int
	inFlight int
}

func newCountingReceiver(t *testing.T, hold time.Duration) *countingReceiver {
	cr := &countingReceiver{ids: map[string]int{}}
	cr.receiver = newReceiver(t, nil)
	cr.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cr.mu.Lock()
		cr.inFlight++
		cr.mu.Unlock()
		time.Sleep(hold)
		cr.mu.Lock()
		cr.inFlight--
		cr.ids[r.Header.Get("webhook-id")]++
		cr.mu.Unlock()
	})
	return cr
}

func (cr *countingReceiver) state() (distinct, total, inFlight int) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	for _, n := range cr.ids {
		total += n
	}
	return len(cr.ids), total, cr.inFlight
}

func faultEnv(redisURL string, extra map[string]string) map[string]string {
	env := testEnv(redisURL, map[string]string{"TIDINGS_LOG_LEVEL": "info", "TIDINGS_DELIVERY_TIMEOUT": "10s"})
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// checkLog checks that every delivery succeeded once, with attempts
// numbered 1..n without gaps or repeats.
func checkLog(t *testing.T, in *instance, key string, dlvIDs []string) {
	t.Helper()
	for _, id := range dlvIDs {
		d := in.must(200, "GET", "/v1/deliveries/"+id, key, nil)
		attempts, _ := d.get("attempts").([]any)
		successes := 0
		for i, a := range attempts {
			m := a.(map[string]any)
			if m["attempt"] != float64(i+1) {
				t.Errorf("delivery %s: attempt %d is numbered %v", id, i+1, m["attempt"])
			}
			if m["error_class"] == nil {
				successes++
			}
		}
		if d.str("status") != "succeeded" || successes != 1 || d.get("attempt") != float64(len(attempts)) {
			t.Errorf("delivery %s: status %s, %d successes in %d attempts (attempt=%v)", id, d.str("status"), successes, len(attempts), d.get("attempt"))
		}
	}
}

func publishN(t *testing.T, in *instance, key string, n int) []string {
	var ids []string
	for i := range n {
		r := in.must(202, "POST", "/v1/events", key, map[string]any{"type": "batch.done", "data": map[string]any{"i": i}})
		for _, d := range r.get("deliveries").([]any) {
			ids = append(ids, d.(map[string]any)["id"].(string))
		}
	}
	return ids
}

// SIGKILL a worker mid-load: every accepted delivery is still delivered, the
// in-flight ones again with the same webhook-id once Asynq's lease expires,
// and the log neither skips nor double-counts an attempt.
func TestFaultWorkerKilled(t *testing.T) {
	srv := redistest.Start(t, true)
	env := faultEnv(srv.URL(), map[string]string{"TIDINGS_WORKER_CONCURRENCY": "10", "TIDINGS_ENDPOINT_CONCURRENCY": "10"})
	in := spawn(t, "api", env).listening().api()
	_, key := in.tenant("acme")
	rc := newCountingReceiver(t, time.Second)
	in.webhook(key, rc.URL, "*")
	dlvIDs := publishN(t, in, key, 40)

	w1 := spawn(t, "worker", env).listening()
	eventually(t, 20*time.Second, "deliveries in flight", func() bool { _, _, f := rc.state(); return f >= 5 })
	if err := w1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w1.wait(10 * time.Second)
	// Still held by the receiver (a second each): what the dead worker had in
	// flight, whose outcome it never recorded.
	_, deliveredBefore, inFlight := rc.state()
	spawn(t, "worker", env).listening()
	start := time.Now()
	// The killed worker's active tasks come back when Asynq's recoverer finds
	// their leases expired: 60-120s.
	whID := firstWebhook(in, key)
	eventually(t, 200*time.Second, "no pending delivery left", func() bool {
		return len(in.must(200, "GET", "/v1/webhooks/"+whID+"/deliveries?status=pending", key, nil).list()) == 0
	})
	distinct, total, _ := rc.state()
	t.Logf("worker SIGKILL: expected %d, delivered %d distinct, %d requests (%d duplicates; %d were in flight at the kill, %d delivered before); recovered in %v",
		len(dlvIDs), distinct, total, total-distinct, inFlight, deliveredBefore, time.Since(start).Round(time.Second))
	if total-distinct > inFlight+2 {
		t.Errorf("%d duplicates, more than the %d requests in flight at the kill", total-distinct, inFlight)
	}
	checkLog(t, in, key, dlvIDs)
}

func firstWebhook(in *instance, key string) string {
	return in.must(200, "GET", "/v1/webhooks", key, nil).list()[0]["id"].(string)
}

// SIGTERM a worker with requests in flight: they complete and are recorded,
// queued ones stay queued, the process exits 0; a new worker sends the rest
// with no duplicate.
func TestFaultWorkerSIGTERM(t *testing.T) {
	srv := redistest.Start(t, true)
	env := faultEnv(srv.URL(), map[string]string{"TIDINGS_WORKER_CONCURRENCY": "5", "TIDINGS_ENDPOINT_CONCURRENCY": "5"})
	in := spawn(t, "api", env).listening().api()
	_, key := in.tenant("acme")
	rc := newCountingReceiver(t, 2*time.Second)
	whID, _ := in.webhook(key, rc.URL, "*")
	dlvIDs := publishN(t, in, key, 15)
	w1 := spawn(t, "worker", env).listening()
	eventually(t, 20*time.Second, "5 in flight", func() bool { _, _, f := rc.state(); return f == 5 })
	if err := w1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := w1.wait(40 * time.Second); code != 0 {
		t.Errorf("worker exit code %d after SIGTERM", code)
	}
	distinct, total, _ := rc.state()
	succeeded := len(in.must(200, "GET", "/v1/webhooks/"+whID+"/deliveries?status=succeeded&limit=100", key, nil).list())
	pending := len(in.must(200, "GET", "/v1/webhooks/"+whID+"/deliveries?status=pending&limit=100", key, nil).list())
	if succeeded != distinct || succeeded < 5 || succeeded+pending != 15 {
		t.Errorf("after SIGTERM: receiver got %d, log says %d succeeded and %d pending", distinct, succeeded, pending)
	}
	spawn(t, "worker", env).listening()
	eventually(t, 60*time.Second, "all 15", func() bool { d, _, _ := rc.state(); return d == 15 })
	distinct, total, _ = rc.state()
	if total != distinct {
		t.Errorf("%d duplicates after a graceful stop", total-distinct)
	}
	eventually(t, 10*time.Second, "log", func() bool {
		return len(in.must(200, "GET", "/v1/webhooks/"+whID+"/deliveries?status=succeeded&limit=100", key, nil).list()) == 15
	})
	checkLog(t, in, key, dlvIDs)
}

// Redis killed with kill -9 and restarted (AOF, fsync always): the API
// answers 503 within a second while it is down, workers reconnect by
// themselves, and every event that got a 202 is delivered.
func TestFaultRedisKilled(t *testing.T) {
	srv := redistest.Start(t, true)
	env := faultEnv(srv.URL(), nil)
	p := spawn(t, "all", env).listening()
	in := p.api()
	_, key := in.tenant("acme")
	rc := newCountingReceiver(t, 0)
	in.webhook(key, rc.URL, "*")
	dlvIDs := publishN(t, in, key, 20)
	srv.Kill()
	for _, path := range []string{"/v1/webhooks", "/readyz"} {
		start := time.Now()
		r := in.call("GET", path, key, nil)
		if r.Status != 503 || r.str("error", "code") != "unavailable" {
			t.Errorf("%s with Redis down = %d %s", path, r.Status, r.Raw)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s took %v with Redis down", path, d)
		}
	}
	if r := in.call("POST", "/v1/events", key, `{"type":"batch.done","data":{}}`); r.Status != 503 {
		t.Errorf("publish with Redis down = %d %s", r.Status, r.Raw)
	}
	srv.Restart()
	// Most are delivered within seconds. A task whose dequeue Redis carried
	// out but whose reply the kill cut off ("Dequeue error: ... EOF") sits
	// active with no worker until Asynq's lease recovery takes it: lease
	// 30 s, expired 30 s more, recoverer every minute, then a crash retry's
	// 1 s. 150 s covers that (about 122 s at worst).
	restarted := time.Now()
	eventually(t, 150*time.Second, "all 20 after the restart", func() bool { d, _, _ := rc.state(); return d == 20 })
	t.Logf("all 20 delivered %v after the restart", time.Since(restarted).Round(time.Second))
	more := publishN(t, in, key, 5)
	eventually(t, 30*time.Second, "5 more", func() bool { d, _, _ := rc.state(); return d == 25 })
	distinct, total, _ := rc.state()
	t.Logf("redis kill -9: expected %d, delivered %d distinct, %d requests", len(dlvIDs)+len(more), distinct, total)
}

// Redis unreachable at start: the process waits with a clear log line and
// starts serving once Redis is up, instead of crash-looping.
func TestFaultRedisLateAtStart(t *testing.T) {
	srv := redistest.Start(t, false)
	srv.Kill()
	p := spawn(t, "all", faultEnv(srv.URL(), nil))
	eventually(t, 10*time.Second, "a waiting log line", func() bool { return strings.Contains(p.out.String(), "waiting for redis") })
	select {
	case err := <-p.done:
		t.Fatalf("process exited while Redis was down: %v", err)
	default:
	}
	srv.Restart()
	in := p.listening().api()
	in.must(200, "GET", "/readyz", "", nil)
	// go-redis's dial failures went to stderr as plain lines ("redis:
	// 2026/12/05 … failed to dial …"); they are in the process's JSON log.
	for _, line := range strings.Split(p.out.String(), "\n") {
		if strings.HasPrefix(line, "redis: ") {
			t.Errorf("go-redis wrote outside the log: %s", line)
		}
	}
}

// retryingPublishers are clients that publish one event per key with that
// Idempotency-Key, retrying with the same key on 503, on 409
// idempotency_key_in_use and on a broken connection, as clients should,
// against whichever API base is current.
type retryingPublishers struct {
	t        *testing.T
	key      string
	base     atomic.Value // string
	mu       sync.Mutex
	accepted map[string]map[string]bool // idempotency key -> event IDs answered with 202
	retries  map[int]int                // status (0: no answer) -> retries after it
}

func (rp *retryingPublishers) run(keys []string, workers int, deadline time.Time) {
	client := &http.Client{Timeout: 5 * time.Second}
	next := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for k := range next {
				rp.publish(client, k, deadline)
			}
		})
	}
	for _, k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()
}

func (rp *retryingPublishers) publish(client *http.Client, k string, deadline time.Time) {
	body := `{"type":"batch.done","data":{"k":"` + k + `"}}`
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("POST", rp.base.Load().(string)+"/v1/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+rp.key)
		req.Header.Set("Idempotency-Key", k)
		status := 0
		if resp, err := client.Do(req); err == nil {
			var out struct {
				ID string `json:"id"`
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
			if status == http.StatusAccepted && json.Unmarshal(raw, &out) == nil && out.ID != "" {
				rp.mu.Lock()
				if rp.accepted[k] == nil {
					rp.accepted[k] = map[string]bool{}
				}
				rp.accepted[k][out.ID] = true
				rp.mu.Unlock()
				return
			}
			if status != 503 && !(status == 409 && strings.Contains(string(raw), "idempotency_key_in_use")) {
				rp.t.Errorf("key %s: %d %s", k, status, raw)
				return
			}
		}
		rp.mu.Lock()
		rp.retries[status]++
		rp.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
}

func (rp *retryingPublishers) acceptedCount() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return len(rp.accepted)
}

// Redis killed (kill -9, AOF) and the API process killed (kill -9), each in
// the middle of publishers' requests with Idempotency-Keys: no key stays
// locked beyond its lease, every key is accepted, and each key's event is
// stored, answered and delivered once.
func TestFaultIdempotencyAfterCrashes(t *testing.T) {
	srv := redistest.Start(t, true)
	env := faultEnv(srv.URL(), map[string]string{"TIDINGS_LOG_LEVEL": "warn"})
	p := spawn(t, "all", env).listening()
	in := p.api()
	_, key := in.tenant("acme")
	var mu sync.Mutex
	delivered := map[string]map[string]int{} // idempotency key -> event ID -> requests
	rc := newReceiver(t, nil)
	rc.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Data struct {
				K string `json:"k"`
			} `json:"data"`
		}
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		mu.Lock()
		if delivered[body.Data.K] == nil {
			delivered[body.Data.K] = map[string]int{}
		}
		delivered[body.Data.K][r.Header.Get("X-Event-ID")]++
		mu.Unlock()
	})
	in.webhook(key, rc.URL, "*")

	const n = 600
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("order-%04d", i)
	}
	rp := &retryingPublishers{t: t, key: key, accepted: map[string]map[string]bool{}, retries: map[int]int{}}
	rp.base.Store(in.base)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rp.run(keys, 32, time.Now().Add(90*time.Second))
	}()

	eventually(t, 30*time.Second, "a third accepted", func() bool { return rp.acceptedCount() >= n/3 })
	srv.Kill()
	time.Sleep(500 * time.Millisecond) // requests meet a dead Redis
	srv.Restart()
	eventually(t, 60*time.Second, "two thirds accepted", func() bool { return rp.acceptedCount() >= 2*n/3 })
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(10 * time.Second)
	killedAt := time.Now()
	p2 := spawn(t, "all", env).listening()
	rp.base.Store(p2.base)
	<-done
	in = p2.api()

	// Every key accepted, each with one event however often it was answered.
	stored := map[string]string{} // event ID -> key
	for page := "/v1/events?limit=100"; page != ""; {
		r := in.must(200, "GET", page, key, nil)
		for _, ev := range r.list() {
			stored[ev["id"].(string)] = ""
		}
		page = ""
		if c := r.str("next_cursor"); c != "" {
			page = "/v1/events?limit=100&cursor=" + c
		}
	}
	rp.mu.Lock()
	twice := 0
	for _, k := range keys {
		if len(rp.accepted[k]) != 1 {
			twice++
			t.Errorf("key %s was answered with %d events: %v", k, len(rp.accepted[k]), rp.accepted[k])
		}
	}
	retries := fmt.Sprint(rp.retries)
	rp.mu.Unlock()
	if len(stored) != n {
		t.Errorf("%d events stored for %d keys", len(stored), n)
	}
	// What has been delivered by now came once per key (the rest follows
	// when Asynq recovers the tasks the crashes left active).
	mu.Lock()
	dup := 0
	for k, evs := range delivered {
		if len(evs) > 1 {
			dup++
			t.Errorf("key %s delivered as %d events", k, len(evs))
		}
	}
	got := len(delivered)
	mu.Unlock()
	t.Logf("idempotency across a Redis kill and an API kill: %d keys, %d accepted, %d events stored, %d keys delivered so far, %d keys with two events, %d delivered twice; retries by status %s; all done %v after the API kill",
		n, rp.acceptedCount(), len(stored), got, twice, dup, retries, time.Since(killedAt).Round(time.Second))
}

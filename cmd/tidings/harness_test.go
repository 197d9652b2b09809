package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidingshq/tidings/redistest"
)

const adminToken = "test-admin-token-0123456789abcdef"

// syncBuffer is an io.Writer safe for the process's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// instance is one running `tidings` (the real run) for a test.
type instance struct {
	t      *testing.T
	base   string
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// testEnv is the configuration every end-to-end test starts from.
func testEnv(redisURL string, extra map[string]string) map[string]string {
	env := map[string]string{
		"TIDINGS_REDIS_URL":              redisURL,
		"TIDINGS_HTTP_ADDR":              "127.0.0.1:0",
		"TIDINGS_ADMIN_TOKEN":            adminToken,
		"TIDINGS_ALLOW_HTTP":             "true",
		"TIDINGS_ALLOW_PRIVATE_NETWORKS": "true",
		"TIDINGS_RETRY_SCHEDULE":         "1s,2s",
		"TIDINGS_DELIVERY_TIMEOUT":       "5s",
		"TIDINGS_LOG_LEVEL":              "warn",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

var listenRe = regexp.MustCompile(`(?m)^(?:API listening on |API: |Worker health on )(http://\S+)$`)

// startCmd runs a command of the binary in-process until the test ends and
// waits for its HTTP address (a worker's is its health port).
func startCmd(t *testing.T, cmd string, env map[string]string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{t: t, out: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- run(ctx, []string{cmd}, func(k string) string { return env[k] }, in.out) }()
	eventually(t, 15*time.Second, "the API to listen", func() bool {
		select {
		case err := <-in.done:
			t.Fatalf("tidings %s exited: %v\n%s", cmd, err, in.out.String())
		default:
		}
		if m := listenRe.FindStringSubmatch(in.out.String()); m != nil {
			in.base = m[1]
			return true
		}
		return false
	})
	t.Cleanup(in.stop)
	return in
}

// start runs `tidings all` on a fresh Redis database.
func start(t *testing.T, extra map[string]string) *instance {
	url, _ := redistest.New(t)
	return startCmd(t, "all", testEnv(url, extra))
}

// isWorker reports whether the instance is a worker (no API routes).
func (in *instance) isWorker() bool { return strings.Contains(in.out.String(), "Worker health on") }

func (in *instance) stop() { in.once.Do(in.shutdown) }

func (in *instance) shutdown() {
	in.cancel()
	select {
	case err := <-in.done:
		if err != nil {
			in.t.Errorf("tidings exited with %v", err)
		}
	case <-time.After(60 * time.Second):
		in.t.Errorf("tidings did not stop within 60s")
	}
	if in.t.Failed() {
		in.t.Logf("tidings output:\n%s", in.out.String())
	}
}

// response is a decoded API answer.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

func (r response) str(path ...string) string {
	v := r.get(path...)
	s, _ := v.(string)
	return s
}

func (r response) get(path ...string) any {
	var v any = r.Body
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func (r response) list() []map[string]any {
	data, _ := r.Body["data"].([]any)
	out := make([]map[string]any, 0, len(data))
	for _, d := range data {
		m, _ := d.(map[string]any)
		out = append(out, m)
	}
	return out
}

// call sends a request; body may be nil, a string (sent as is) or a value
// (sent as JSON). headers are pairs.
func (in *instance) call(method, path, token string, body any, headers ...string) response {
	in.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			in.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, in.base+path, rd)
	if err != nil {
		in.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if !strings.HasPrefix(path, "/monitoring") && resp.StatusCode != http.StatusMethodNotAllowed && !(resp.StatusCode == 404 && in.isWorker()) {
		checkResponse(in.t, req, resp.StatusCode, resp.Header, raw)
	}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			in.t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return r
}

// must calls and fails the test unless the status is want.
func (in *instance) must(want int, method, path, token string, body any, headers ...string) response {
	in.t.Helper()
	r := in.call(method, path, token, body, headers...)
	if r.Status != want {
		in.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	return r
}

// tenant creates a tenant and returns its id and API key.
func (in *instance) tenant(name string) (string, string) {
	in.t.Helper()
	r := in.must(201, "POST", "/v1/tenants", adminToken, map[string]any{"name": name})
	return r.str("id"), r.str("api_key")
}

// webhook creates a webhook and returns its id and secret.
func (in *instance) webhook(key, url string, events ...string) (string, string) {
	in.t.Helper()
	r := in.must(201, "POST", "/v1/webhooks", key, map[string]any{"url": url, "events": events})
	return r.str("id"), r.str("secret")
}

// received is one request a test receiver got.
type received struct {
	At     time.Time
	Header http.Header
	Body   []byte
}

// receiver is an httptest server that records requests and answers with
// respond(n) for the n-th request (1-based).
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter)) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{At: time.Now(), Header: r.Header.Clone(), Body: body})
		n := len(rc.reqs)
		rc.mu.Unlock()
		if respond == nil {
			w.WriteHeader(200)
			return
		}
		respond(n, w)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

func (rc *receiver) count() int { return len(rc.requests()) }

func status(code int) func(int, http.ResponseWriter) {
	return func(_ int, w http.ResponseWriter) { w.WriteHeader(code) }
}

func publish(in *instance, key, typ string, data map[string]any) response {
	in.t.Helper()
	return in.must(202, "POST", "/v1/events", key, map[string]any{"type": typ, "data": data})
}

// deliveryStatus polls a delivery until it has the wanted status.
func (in *instance) waitDelivery(key, id, want string, timeout time.Duration) response {
	in.t.Helper()
	var r response
	eventually(in.t, timeout, fmt.Sprintf("delivery %s to be %s", id, want), func() bool {
		r = in.must(200, "GET", "/v1/deliveries/"+id, key, nil)
		return r.str("status") == want
	})
	return r
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tidingshq/tidings/redistest"
)

// Secrets never leak: not into logs, Asynq's keys (task payloads, worker
// heartbeats) or any list or get response other than the secret routes.
func TestSecretsNeverLeak(t *testing.T) {
	url, rdb := redistest.New(t)
	in := startCmd(t, "all", testEnv(url, map[string]string{"TIDINGS_LOG_LEVEL": "debug", "TIDINGS_RETRY_SCHEDULE": "1s"}))
	tenID, key := in.tenant("acme")
	k2 := in.must(201, "POST", "/v1/tenants/"+tenID+"/keys", adminToken, nil).str("api_key")
	ok := newReceiver(t, nil)
	bad := newReceiver(t, status(500))
	okID, okSecret := in.webhook(key, ok.URL, "*")
	badID, badSecret := in.webhook(key, bad.URL, "*")
	rotated := in.must(200, "POST", "/v1/webhooks/"+okID+"/rotate-secret", key, map[string]any{}).str("secret")
	// Deliveries in flight, retrying and archived, while we look.
	ids := publishN(t, in, key, 5)
	eventually(t, 15*time.Second, "deliveries settled", func() bool {
		return len(in.must(200, "GET", "/v1/webhooks/"+badID+"/deliveries?status=pending", key, nil).list()) == 0
	})
	secrets := []string{okSecret, badSecret, rotated, key, k2, adminToken}

	var seen strings.Builder
	for _, p := range []string{"/v1/webhooks", "/v1/webhooks/" + okID, "/v1/webhooks/" + badID, "/v1/events", "/v1/event-types",
		"/v1/webhooks/" + okID + "/deliveries", "/v1/webhooks/" + badID + "/deliveries", "/v1/deliveries/" + ids[0]} {
		seen.Write(in.must(200, "GET", p, key, nil).Raw)
	}
	seen.Write(in.must(200, "GET", "/v1/tenants", adminToken, nil).Raw)
	for _, e := range in.must(200, "GET", "/v1/events", key, nil).list() {
		seen.Write(in.must(200, "GET", "/v1/events/"+e["id"].(string), key, nil).Raw)
	}
	seen.WriteString(in.out.String())
	ctx := context.Background()
	asynqKeys := rdb.Keys(ctx, "asynq:*").Val()
	if len(asynqKeys) == 0 {
		t.Fatal("no Asynq keys to inspect")
	}
	for _, k := range asynqKeys {
		seen.WriteString(dump(ctx, rdb, k))
	}
	for _, s := range secrets {
		if strings.Contains(seen.String(), s) {
			t.Errorf("secret %.10s… leaked", s)
		}
	}
	// The secret routes do show the secret.
	if in.must(200, "GET", "/v1/webhooks/"+okID+"/secret", key, nil).str("secret") != rotated {
		t.Error("GET secret does not return the current secret")
	}
}

func dump(ctx context.Context, rdb *redis.Client, k string) string {
	switch rdb.Type(ctx, k).Val() {
	case "string":
		return rdb.Get(ctx, k).Val()
	case "hash":
		return fmt.Sprint(rdb.HGetAll(ctx, k).Val())
	case "list":
		return fmt.Sprint(rdb.LRange(ctx, k, 0, -1).Val())
	case "zset":
		return fmt.Sprint(rdb.ZRange(ctx, k, 0, -1).Val())
	case "set":
		return fmt.Sprint(rdb.SMembers(ctx, k).Val())
	}
	return ""
}

// 500 random malformed requests across every route: never a 5xx, never a
// hang, always the envelope.
func TestRandomMalformedRequests(t *testing.T) {
	url, _ := redistest.New(t)
	in := startCmd(t, "api", testEnv(url, nil))
	tenID, key := in.tenant("acme")
	whID, _ := in.webhook(key, "http://127.0.0.1:1/x", "*")
	routes := []struct{ method, path string }{
		{"POST", "/v1/tenants"}, {"GET", "/v1/tenants"}, {"POST", "/v1/tenants/" + tenID + "/keys"},
		{"DELETE", "/v1/tenants/" + tenID + "/keys/key_x"}, {"POST", "/v1/webhooks"}, {"GET", "/v1/webhooks"},
		{"GET", "/v1/webhooks/" + whID}, {"GET", "/v1/webhooks/" + whID + "/secret"}, {"PATCH", "/v1/webhooks/" + whID},
		{"PUT", "/v1/webhooks/" + whID}, {"POST", "/v1/webhooks/" + whID + "/enable"},
		{"POST", "/v1/webhooks/" + whID + "/rotate-secret"}, {"POST", "/v1/webhooks/" + whID + "/recover"},
		{"GET", "/v1/webhooks/" + whID + "/deliveries"}, {"POST", "/v1/events"}, {"GET", "/v1/events"},
		{"GET", "/v1/events/evt_x"}, {"GET", "/v1/event-types"}, {"GET", "/v1/deliveries/dlv_x"},
		{"POST", "/v1/deliveries/dlv_x/retry"},
	}
	pieces := []string{`{`, `}`, `[`, `]`, `"url"`, `"events"`, `"type"`, `"data"`, `:`, `,`, `null`, `true`, `1e999`, `-0`,
		`"\u0000"`, `"\ud800"`, `"batch.*"`, `"https://x.example"`, `{"a":`, `"since"`, `"secret"`, `"headers"`, `{"Host":"x"}`,
		`"rate_limit"`, `-1`, `"\\"`, "\xff", `"active"`, `"grace_period_seconds"`, `99999999999999999999`, strings.Repeat(`[`, 50)}
	queries := []string{"", "?limit=-1", "?limit=abc", "?cursor=%00", "?status=x", "?type=%zz", "?limit=100&cursor=ZXZ0Xw", "?event_type=A"}
	rng := rand.New(rand.NewPCG(1, 2))
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 500 {
		r := routes[rng.IntN(len(routes))]
		var body strings.Builder
		for range rng.IntN(12) {
			body.WriteString(pieces[rng.IntN(len(pieces))])
		}
		req, _ := http.NewRequest(r.method, in.base+r.path+queries[rng.IntN(len(queries))], strings.NewReader(body.String()))
		req.Header.Set("Authorization", "Bearer "+[]string{key, adminToken}[rng.IntN(2)])
		if rng.IntN(2) == 0 {
			req.Header.Set("X-Tenant-ID", tenID)
		}
		if rng.IntN(4) == 0 {
			req.Header.Set("Idempotency-Key", strings.Repeat("k", rng.IntN(300)))
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d %s %s: %v", i, r.method, r.path, err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("request %d %s %s: reading the answer: %v", i, r.method, r.path, err)
		}
		if resp.StatusCode >= 500 {
			t.Errorf("request %d %s %s %q: %d", i, r.method, r.path, body.String(), resp.StatusCode)
		}
		if resp.StatusCode >= 400 {
			if msg := envelopeProblem(resp.Header, raw); msg != "" {
				t.Errorf("request %d %s %s %q: %d %s: %s", i, r.method, r.path, body.String(), resp.StatusCode, raw, msg)
			}
		}
	}
}

// envelopeProblem says what is wrong with an error answer, "" if it is the
// contract's envelope: {"error":{"code","message","details"?}} as JSON.
func envelopeProblem(h http.Header, raw []byte) string {
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return "Content-Type " + ct
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil || len(env) != 1 || env["error"] == nil {
		return "not an object with one member, error"
	}
	var e struct {
		Code    *string         `json:"code"`
		Message *string         `json:"message"`
		Details json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(env["error"], &e); err != nil || e.Code == nil || *e.Code == "" || e.Message == nil || *e.Message == "" {
		return "error lacks a code or a message"
	}
	if len(e.Details) > 0 && e.Details[0] != '{' && string(e.Details) != "null" {
		return "details is not an object"
	}
	return ""
}

// Shutdown leaks nothing: after the API and the worker stop, no goroutine
// of theirs is left.
func TestShutdownLeaksNothing(t *testing.T) {
	url, _ := redistest.New(t)
	http.DefaultClient.CloseIdleConnections()
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rc := newReceiver(t, nil)
	in := startCmd(t, "all", testEnv(url, nil))
	_, key := in.tenant("acme")
	in.webhook(key, rc.URL, "*")
	publishN(t, in, key, 3)
	eventually(t, 10*time.Second, "3 deliveries", func() bool { return rc.count() == 3 })
	in.stop()
	http.DefaultClient.CloseIdleConnections()
	rc.Close()
}

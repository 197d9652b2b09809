package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidingshq/tidings/redistest"
)

// A table of bad requests across routes: each gets its status and the
// contract's error envelope, and none changes anything.
func TestBadRequestsChangeNothing(t *testing.T) {
	// The API alone: no worker, so the pending delivery stays as it is and
	// nothing is sent to the (unreachable) example.com URL.
	url, _ := redistest.New(t)
	in := startCmd(t, "api", testEnv(url, map[string]string{"TIDINGS_ALLOW_HTTP": "false", "TIDINGS_ALLOW_PRIVATE_NETWORKS": "false", "TIDINGS_MAX_PAYLOAD_BYTES": "1024"}))
	tenantID, key := in.tenant("acme")
	whID, _ := in.webhook(key, "https://example.com/hook", "batch.*")
	ev := publish(in, key, "batch.done", map[string]any{"n": 1})
	dlvID := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	_, otherKey := in.tenant("other")

	snapshot := func() string {
		var b strings.Builder
		for _, p := range []string{"/v1/webhooks", "/v1/webhooks/" + whID, "/v1/webhooks/" + whID + "/secret", "/v1/events", "/v1/events/" + ev.str("id")} {
			b.Write(in.must(200, "GET", p, key, nil).Raw)
		}
		b.Write(in.must(200, "GET", "/v1/tenants", adminToken, nil).Raw)
		return b.String()
	}
	before := snapshot()
	big := `{"type":"batch.done","data":{"x":"` + strings.Repeat("a", 2000) + `"}}`
	tests := []struct {
		name, method, path, token, body string
		headers                         []string
		status                          int
		code                            string
		fields                          []string
	}{
		{"no token", "GET", "/v1/webhooks", "", "", nil, 401, "unauthorized", nil},
		{"wrong token", "GET", "/v1/webhooks", "tk_nope", "", nil, 401, "unauthorized", nil},
		{"not bearer", "GET", "/v1/webhooks", "", "", []string{"Authorization", "Basic YWRtaW46eA=="}, 401, "unauthorized", nil},
		{"tenant key on admin route", "POST", "/v1/tenants", key, `{"name":"x"}`, nil, 403, "forbidden", nil},
		{"tenant key lists tenants", "GET", "/v1/tenants", key, "", nil, 403, "forbidden", nil},
		{"admin without X-Tenant-ID", "GET", "/v1/webhooks", adminToken, "", nil, 422, "validation_failed", []string{"X-Tenant-ID"}},
		{"admin with unknown tenant", "GET", "/v1/webhooks", adminToken, "", []string{"X-Tenant-ID", "ten_nope"}, 404, "not_found", nil},
		{"tenant without name", "POST", "/v1/tenants", adminToken, `{}`, nil, 422, "validation_failed", []string{"name"}},
		{"tenant malformed", "POST", "/v1/tenants", adminToken, `{"name":`, nil, 400, "invalid_json", nil},
		{"keys of unknown tenant", "POST", "/v1/tenants/ten_nope/keys", adminToken, "", nil, 404, "not_found", nil},
		{"delete unknown key", "DELETE", "/v1/tenants/" + tenantID + "/keys/key_nope", adminToken, "", nil, 404, "not_found", nil},
		{"webhook malformed JSON", "POST", "/v1/webhooks", key, `{"url":"https://a.example",`, nil, 400, "invalid_json", nil},
		{"webhook not an object", "POST", "/v1/webhooks", key, `["https://a.example"]`, nil, 400, "invalid_json", nil},
		{"webhook empty body", "POST", "/v1/webhooks", key, ``, nil, 400, "invalid_json", nil},
		{"webhook every bad field", "POST", "/v1/webhooks", key,
			`{"url":"ftp://x","events":["Batch","ok.one",""],"secret":"short","description":"` + strings.Repeat("d", 300) + `","headers":{"Content-Type":"x","webhook-id":"y"},"rate_limit":0}`,
			nil, 422, "validation_failed", []string{"url", "events[0]", "events[2]", "secret", "description", "headers[Content-Type]", "headers[webhook-id]", "rate_limit"}},
		{"webhook missing url and events", "POST", "/v1/webhooks", key, `{}`, nil, 422, "validation_failed", []string{"url", "events"}},
		{"webhook http not allowed", "POST", "/v1/webhooks", key, `{"url":"http://example.com","events":["*"]}`, nil, 422, "validation_failed", []string{"url"}},
		{"webhook private address", "POST", "/v1/webhooks", key, `{"url":"https://169.254.169.254/x","events":["*"]}`, nil, 422, "validation_failed", []string{"url"}},
		{"webhook loopback address", "POST", "/v1/webhooks", key, `{"url":"https://127.0.0.1:8080/x","events":["*"]}`, nil, 422, "validation_failed", []string{"url"}},
		{"webhook wrong type", "POST", "/v1/webhooks", key, `{"url":"https://example.com","events":"batch.*"}`, nil, 422, "validation_failed", []string{"events"}},
		{"webhook unknown field", "POST", "/v1/webhooks", key, `{"url":"https://example.com","events":["*"],"colour":"red"}`, nil, 422, "validation_failed", []string{"colour"}},
		{"webhook too many events", "POST", "/v1/webhooks", key, `{"url":"https://example.com","events":[` + strings.Repeat(`"a.b",`, 100) + `"a.b"]}`, nil, 422, "validation_failed", []string{"events"}},
		{"patch bad url", "PATCH", "/v1/webhooks/" + whID, key, `{"url":"not a url"}`, nil, 422, "validation_failed", []string{"url"}},
		{"patch empty events", "PATCH", "/v1/webhooks/" + whID, key, `{"events":[]}`, nil, 422, "validation_failed", []string{"events"}},
		{"put without events", "PUT", "/v1/webhooks/" + whID, key, `{"url":"https://example.com/new"}`, nil, 422, "validation_failed", []string{"events"}},
		{"unknown webhook", "GET", "/v1/webhooks/wh_nope", key, "", nil, 404, "not_found", nil},
		{"other tenant's webhook", "GET", "/v1/webhooks/" + whID, otherKey, "", nil, 404, "not_found", nil},
		{"other tenant deletes", "DELETE", "/v1/webhooks/" + whID, otherKey, "", nil, 404, "not_found", nil},
		{"list bad limit", "GET", "/v1/webhooks?limit=0", key, "", nil, 422, "validation_failed", []string{"limit"}},
		{"list bad status", "GET", "/v1/webhooks?status=sleeping", key, "", nil, 422, "validation_failed", []string{"status"}},
		{"list bad cursor", "GET", "/v1/events?cursor=zzz", key, "", nil, 422, "validation_failed", []string{"cursor"}},
		{"list unknown param", "GET", "/v1/events?colour=red", key, "", nil, 422, "validation_failed", []string{"colour"}},
		{"rotate bad grace", "POST", "/v1/webhooks/" + whID + "/rotate-secret", key, `{"grace_period_seconds":604801}`, nil, 422, "validation_failed", []string{"grace_period_seconds"}},
		{"recover without since", "POST", "/v1/webhooks/" + whID + "/recover", key, `{}`, nil, 422, "validation_failed", []string{"since"}},
		{"event bad type and data", "POST", "/v1/events", key, `{"type":"Batch","data":[1]}`, nil, 422, "validation_failed", []string{"type", "data"}},
		{"event without data", "POST", "/v1/events", key, `{"type":"batch.done"}`, nil, 422, "validation_failed", []string{"data"}},
		{"event reserved type", "POST", "/v1/events", key, `{"type":"tidings.webhook.disabled","data":{}}`, nil, 422, "validation_failed", []string{"type"}},
		{"event bad client id", "POST", "/v1/events", key, `{"type":"batch.done","data":{},"id":"has space"}`, nil, 422, "validation_failed", []string{"id"}},
		{"event too large", "POST", "/v1/events", key, big, nil, 413, "payload_too_large", nil},
		{"event malformed", "POST", "/v1/events", key, `{"type":"batch.done","data":{}`, nil, 400, "invalid_json", nil},
		{"event deep nesting", "POST", "/v1/events", key, `{"type":"a.b","data":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}`, nil, 400, "invalid_json", nil},
		{"unknown event", "GET", "/v1/events/evt_nope", key, "", nil, 404, "not_found", nil},
		{"other tenant's event", "GET", "/v1/events/" + ev.str("id"), otherKey, "", nil, 404, "not_found", nil},
		{"unknown delivery", "GET", "/v1/deliveries/dlv_nope", key, "", nil, 404, "not_found", nil},
		{"other tenant's delivery", "GET", "/v1/deliveries/" + dlvID, otherKey, "", nil, 404, "not_found", nil},
		{"retry a pending delivery", "POST", "/v1/deliveries/" + dlvID + "/retry", key, "", nil, 409, "conflict", nil},
		{"deliveries bad status", "GET", "/v1/webhooks/" + whID + "/deliveries?status=lost", key, "", nil, 422, "validation_failed", []string{"status"}},
		{"no such route", "GET", "/v1/nothing", key, "", nil, 404, "not_found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			r := in.call(tt.method, tt.path, tt.token, body, tt.headers...)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Raw)
			}
			if r.str("error", "code") != tt.code || r.str("error", "message") == "" {
				t.Errorf("envelope = %s, want code %s", r.Raw, tt.code)
			}
			details, ok := r.get("error", "details").(map[string]any)
			if !ok {
				t.Fatalf("no details object: %s", r.Raw)
			}
			for _, f := range tt.fields {
				if _, ok := details[f]; !ok {
					t.Errorf("details lack %q: %s", f, r.Raw)
				}
			}
			if len(tt.fields) > 0 && len(details) != len(tt.fields) {
				t.Errorf("details = %v, want exactly %v", details, tt.fields)
			}
		})
	}
	if after := snapshot(); after != before {
		t.Errorf("rejected requests changed data:\nbefore %s\nafter  %s", before, after)
	}
}

// Twenty concurrent publishes with one Idempotency-Key make one event and one
// delivery per webhook; every 202 is the same answer, the rest are 409
// idempotency_key_in_use; a later replay is marked, another body is a
// mismatch.
func TestIdempotencyUnderConcurrency(t *testing.T) {
	in := start(t, nil)
	_, key := in.tenant("acme")
	rc := newReceiver(t, nil)
	in.webhook(key, rc.URL, "batch.*")
	in.webhook(key, rc.URL, "*")
	body := `{"type":"batch.done","data":{"n":1}}`
	var wg sync.WaitGroup
	results := make([]response, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = in.call("POST", "/v1/events", key, body, "Idempotency-Key", "same-key")
		}()
	}
	wg.Wait()
	var ids []string
	for _, r := range results {
		switch {
		case r.Status == 202:
			ids = append(ids, r.str("id"))
			if n := len(r.get("deliveries").([]any)); n != 2 {
				t.Errorf("deliveries = %d, want 2", n)
			}
		case r.Status == 409 && r.str("error", "code") == "idempotency_key_in_use":
		default:
			t.Errorf("unexpected answer %d %s", r.Status, r.Raw)
		}
	}
	if len(ids) == 0 {
		t.Fatal("no publish succeeded")
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Errorf("two events created: %s and %s", ids[0], id)
		}
	}
	events := in.must(200, "GET", "/v1/events", key, nil).list()
	if len(events) != 1 {
		t.Errorf("%d events stored, want 1", len(events))
	}
	replay := in.must(202, "POST", "/v1/events", key, body, "Idempotency-Key", "same-key")
	if replay.Header.Get("Idempotent-Replayed") != "true" || replay.str("id") != ids[0] {
		t.Errorf("replay = %v %s", replay.Header, replay.Raw)
	}
	mm := in.call("POST", "/v1/events", key, `{"type":"batch.done","data":{"n":2}}`, "Idempotency-Key", "same-key")
	if mm.Status != 409 || mm.str("error", "code") != "idempotency_key_mismatch" {
		t.Errorf("mismatch = %d %s", mm.Status, mm.Raw)
	}
	// A client id is an idempotency key too, echoed as client_id.
	c1 := in.must(202, "POST", "/v1/events", key, `{"type":"batch.done","data":{},"id":"order-42"}`)
	c2 := in.must(202, "POST", "/v1/events", key, `{"type":"batch.done","data":{},"id":"order-42"}`)
	if c1.str("client_id") != "order-42" || c2.str("id") != c1.str("id") || c2.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("client id: %s / %s", c1.Raw, c2.Raw)
	}
	eventually(t, 10*time.Second, "4 deliveries", func() bool { return rc.count() == 4 })
}

// Every tenant route answers 404 for another tenant's resources, and a
// deleted key stops working at once.
func TestTenantIsolation(t *testing.T) {
	in := start(t, nil)
	tenA, keyA := in.tenant("a")
	_, keyB := in.tenant("b")
	rc := newReceiver(t, nil)
	whID, _ := in.webhook(keyA, rc.URL, "*")
	ev := publish(in, keyA, "batch.done", map[string]any{})
	dlvID := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	in.waitDelivery(keyA, dlvID, "succeeded", 10*time.Second)

	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/webhooks/" + whID, ""},
		{"GET", "/v1/webhooks/" + whID + "/secret", ""},
		{"PATCH", "/v1/webhooks/" + whID, `{"description":"x"}`},
		{"PUT", "/v1/webhooks/" + whID, `{"url":"https://example.com","events":["*"]}`},
		{"POST", "/v1/webhooks/" + whID + "/enable", ""},
		{"POST", "/v1/webhooks/" + whID + "/test", ""},
		{"POST", "/v1/webhooks/" + whID + "/rotate-secret", "{}"},
		{"POST", "/v1/webhooks/" + whID + "/recover", `{"since":"2020-01-01T00:00:00Z"}`},
		{"GET", "/v1/webhooks/" + whID + "/deliveries", ""},
		{"DELETE", "/v1/webhooks/" + whID, ""},
		{"GET", "/v1/events/" + ev.str("id"), ""},
		{"GET", "/v1/deliveries/" + dlvID, ""},
		{"POST", "/v1/deliveries/" + dlvID + "/retry", ""},
	} {
		var body any
		if r.body != "" {
			body = r.body
		}
		got := in.call(r.method, r.path, keyB, body)
		if got.Status != 404 || got.str("error", "code") != "not_found" {
			t.Errorf("tenant B %s %s = %d %s, want 404", r.method, r.path, got.Status, got.Raw)
		}
	}
	for _, p := range []string{"/v1/webhooks", "/v1/events", "/v1/event-types"} {
		if got := in.must(200, "GET", p, keyB, nil); strings.Contains(string(got.Raw), whID) || strings.Contains(string(got.Raw), ev.str("id")) || strings.Contains(string(got.Raw), "batch.done") {
			t.Errorf("tenant B sees tenant A's data in %s: %s", p, got.Raw)
		}
	}
	// The admin acts as tenant A with X-Tenant-ID.
	in.must(200, "GET", "/v1/webhooks/"+whID, adminToken, nil, "X-Tenant-ID", tenA)
	// A second key works; deleting it stops it at once; the first stays valid.
	k2 := in.must(201, "POST", "/v1/tenants/"+tenA+"/keys", adminToken, nil)
	in.must(200, "GET", "/v1/webhooks/"+whID, k2.str("api_key"), nil)
	in.must(204, "DELETE", "/v1/tenants/"+tenA+"/keys/"+k2.str("id"), adminToken, nil)
	in.must(401, "GET", "/v1/webhooks/"+whID, k2.str("api_key"), nil)
	in.must(200, "GET", "/v1/webhooks/"+whID, keyA, nil)
}

// A delivery waiting for its first attempt reads as queued everywhere (it
// has no record of its own yet), and cancelling it before its turn writes
// one. The API alone runs: no attempt is made.
func TestQueuedDeliveryReads(t *testing.T) {
	url, _ := redistest.New(t)
	in := startCmd(t, "api", testEnv(url, nil))
	_, key := in.tenant("acme")
	whA, _ := in.webhook(key, "http://127.0.0.1:9/a", "batch.*")
	whB, _ := in.webhook(key, "http://127.0.0.1:9/b", "batch.*")
	ev := publish(in, key, "batch.done", map[string]any{"n": 1})
	ids := map[string]string{} // webhook → delivery
	for _, d := range ev.get("deliveries").([]any) {
		m := d.(map[string]any)
		ids[m["webhook_id"].(string)] = m["id"].(string)
	}
	if len(ids) != 2 || ids[whA] == ids[whB] || !strings.HasPrefix(ids[whA], "dlv_") {
		t.Fatalf("deliveries = %v", ids)
	}
	d := in.must(200, "GET", "/v1/deliveries/"+ids[whA], key, nil)
	want := map[string]any{"id": ids[whA], "webhook_id": whA, "event_id": ev.str("id"), "event_type": "batch.done", "status": "pending",
		"attempt": 0.0, "max_attempts": 3.0, "next_retry_at": nil, // testEnv's ladder: 1s,2s "last_response_status": nil, "last_error": nil,
		"created_at": ev.str("created_at"), "updated_at": ev.str("created_at")}
	for k, v := range want {
		if got, ok := d.Body[k]; !ok || got != v {
			t.Errorf("queued delivery %s = %v, want %v", k, got, v)
		}
	}
	if attempts, ok := d.get("attempts").([]any); !ok || len(attempts) != 0 {
		t.Errorf("queued delivery attempts = %v", d.get("attempts"))
	}
	for _, e := range in.must(200, "GET", "/v1/events/"+ev.str("id"), key, nil).get("deliveries").([]any) {
		if m := e.(map[string]any); m["status"] != "pending" || m["attempt"] != 0.0 {
			t.Errorf("event's delivery = %v", m)
		}
	}
	if l := in.must(200, "GET", "/v1/webhooks/"+whB+"/deliveries?status=pending", key, nil).list(); len(l) != 1 || l[0]["id"] != ids[whB] {
		t.Errorf("pending list = %v", l)
	}
	in.must(409, "POST", "/v1/deliveries/"+ids[whA]+"/retry", key, nil)

	in.must(204, "DELETE", "/v1/webhooks/"+whB, key, nil)
	c := in.must(200, "GET", "/v1/deliveries/"+ids[whB], key, nil)
	if c.str("status") != "cancelled" || c.get("attempt") != 0.0 || c.str("event_type") != "batch.done" || c.str("updated_at") < c.str("created_at") {
		t.Errorf("delivery of the deleted webhook = %s", c.Raw)
	}
	if d := in.must(200, "GET", "/v1/deliveries/"+ids[whA], key, nil); d.str("status") != "pending" {
		t.Errorf("the other webhook's delivery = %s", d.Raw)
	}
}

// Lists page newest first with an opaque cursor, with no item twice.
func TestListPaging(t *testing.T) {
	in := start(t, nil)
	_, key := in.tenant("acme")
	var want []string
	for i := range 45 {
		want = append(want, publish(in, key, "batch.done", map[string]any{"i": i}).str("id"))
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		path := "/v1/events?limit=20&type=batch.done"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := in.must(200, "GET", path, key, nil)
		for _, e := range r.list() {
			got = append(got, e["id"].(string))
			if _, hasData := e["data"]; hasData {
				t.Error("event lists carry no data")
			}
		}
		next, _ := r.get("next_cursor").(string)
		if next == "" {
			break
		}
		cursor = next
		if pages > 5 {
			t.Fatal("too many pages")
		}
	}
	if len(got) != 45 {
		t.Fatalf("paged %d events, want 45", len(got))
	}
	for i := range got {
		if got[i] != want[44-i] {
			t.Fatalf("item %d = %s, want %s (newest first)", i, got[i], want[44-i])
		}
	}
	empty := in.must(200, "GET", "/v1/events?type=nothing.here", key, nil)
	if string(empty.Raw) != `{"data":[],"next_cursor":null}` {
		t.Errorf("empty list = %s", empty.Raw)
	}
}

// `tidings dev` needs no Redis: it embeds one, prints the tokens, and
// delivers an event.
func TestDevWithoutRedis(t *testing.T) {
	in := startCmd(t, "dev", map[string]string{"TIDINGS_HTTP_ADDR": "127.0.0.1:0"})
	out := in.out.String()
	admin := regexp.MustCompile(`(?m)^Admin token: (\S+)$`).FindStringSubmatch(out)
	demo := regexp.MustCompile(`(?m)^Demo API key: (\S+)$`).FindStringSubmatch(out)
	if admin == nil || demo == nil || !strings.Contains(out, "lost on exit") {
		t.Fatalf("dev banner lacks tokens:\n%s", out)
	}
	rc := newReceiver(t, nil)
	wh, _ := in.webhook(demo[1], rc.URL, "*")
	r := publish(in, demo[1], "computation.complete", map[string]any{"ok": true})
	eventually(t, 10*time.Second, "delivery in dev", func() bool { return rc.count() == 1 })
	// The embedded Redis runs the same scripts: the attempt is recorded.
	id := r.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	d := in.waitDelivery(demo[1], id, "succeeded", 10*time.Second)
	if attempts, _ := d.get("attempts").([]any); len(attempts) != 1 {
		t.Errorf("attempts in dev = %v", d.get("attempts"))
	}
	for i := range 20 { // the worker's cached event and webhook, and slot hand-overs
		publish(in, demo[1], "computation.complete", map[string]any{"i": i})
	}
	eventually(t, 20*time.Second, "more deliveries in dev", func() bool { return rc.count() == 21 })
	// Its indexes (streams) page, and recover reads them.
	seen := map[string]bool{}
	for path := "/v1/webhooks/" + wh + "/deliveries?limit=8"; path != ""; {
		page := in.must(200, "GET", path, demo[1], nil)
		for _, d := range page.list() {
			seen[d["id"].(string)] = true
		}
		path = ""
		if next, _ := page.get("next_cursor").(string); next != "" {
			path = "/v1/webhooks/" + wh + "/deliveries?limit=8&cursor=" + next
		}
	}
	if len(seen) != 21 {
		t.Errorf("listed %d deliveries in dev, want 21", len(seen))
	}
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if r := in.must(202, "POST", "/v1/webhooks/"+wh+"/recover", demo[1], map[string]any{"since": since}); r.get("requeued") != 0.0 {
		t.Errorf("recover in dev requeued %v, want 0", r.get("requeued"))
	}
	in.must(200, "GET", "/v1/tenants", admin[1], nil)
	// The dashboard is mounted behind basic auth.
	req, _ := http.NewRequest("GET", in.base+"/monitoring/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("dashboard without auth = %d", resp.StatusCode)
	}
	req.SetBasicAuth("admin", admin[1])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<html") {
		t.Errorf("dashboard = %d %.200s", resp.StatusCode, page)
	}
}

// A bad setting stops the process at start with one line naming it.
func TestBadConfigStops(t *testing.T) {
	for name, value := range map[string]string{"TIDINGS_RETRY_SCHEDULE": "5s,soon", "TIDINGS_PAYLOAD_TEMPLATE": `{"id": {{.EventID}}}`} {
		for _, cmd := range []string{"all", "api"} {
			err := run(context.Background(), []string{cmd}, func(k string) string {
				return map[string]string{"TIDINGS_REDIS_URL": "redis://127.0.0.1:1", "TIDINGS_ADMIN_TOKEN": adminToken, name: value}[k]
			}, io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), name) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s with %s=%s: err = %v", cmd, name, value, err)
			}
		}
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out); err != nil || !strings.HasPrefix(out.String(), "tidings ") {
		t.Errorf("version: %v %q", err, out.String())
	}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	if sc.Scan(); sc.Text() != fmt.Sprintf("tidings %s", version) {
		t.Errorf("version line = %q", sc.Text())
	}
}

// /metrics has the contract's names, without auth, on the API and on a
// worker.
func TestMetrics(t *testing.T) {
	url, _ := redistest.New(t)
	env := testEnv(url, nil)
	in := startCmd(t, "api", env)
	// The queue gauge is there from the first scrape, before Asynq has
	// created the queue.
	first := in.must(200, "GET", "/metrics", "", nil)
	for _, st := range []string{"pending", "active", "scheduled", "retry", "archived", "completed"} {
		if want := `tidings_queue_tasks{queue="webhooks",state="` + st + `"} 0`; !strings.Contains(string(first.Raw), want) {
			t.Errorf("first scrape lacks %q", want)
		}
	}
	_, key := in.tenant("acme")
	rc := newReceiver(t, nil)
	in.webhook(key, rc.URL, "*")
	publish(in, key, "batch.done", map[string]any{})
	worker := startCmd(t, "worker", env)
	eventually(t, 10*time.Second, "delivery", func() bool { return rc.count() == 1 })

	api := in.must(200, "GET", "/metrics", "", nil)
	for _, want := range []string{"tidings_events_published_total 1", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(api.Raw), want) {
			t.Errorf("API /metrics lacks %q", want)
		}
	}
	var w response
	eventually(t, 15*time.Second, "worker metrics", func() bool {
		w = worker.must(200, "GET", "/metrics", "", nil)
		return strings.Contains(string(w.Raw), `tidings_deliveries_total{outcome="succeeded"} 1`) &&
			strings.Contains(string(w.Raw), `tidings_queue_tasks{queue="webhooks",state="pending"}`)
	})
	for _, want := range []string{"tidings_attempt_duration_seconds_bucket", `tidings_endpoint_waits_total{reason="concurrency"}`, `tidings_deliveries_total{outcome="failed"} 0`} {
		if !strings.Contains(string(w.Raw), want) {
			t.Errorf("worker /metrics lacks %q", want)
		}
	}
	worker.must(200, "GET", "/healthz", "", nil)
	worker.must(200, "GET", "/readyz", "", nil)
	worker.must(404, "GET", "/v1/webhooks", key, nil)

	// An event answered 503 because no replica acknowledged it (this Redis
	// has none) is stored and delivered all the same, so it is counted;
	// its retry, a replay, answered 503 again, is not; nor is the
	// operational event a worker publishes.
	waiting := startCmd(t, "api", testEnv(url, map[string]string{"TIDINGS_REDIS_WAIT_REPLICAS": "1", "TIDINGS_REDIS_WAIT_TIMEOUT": "100ms"}))
	plain := map[string]any{"type": "batch.done", "data": map[string]any{}}
	withID := map[string]any{"type": "batch.done", "data": map[string]any{}, "id": "order-1"}
	waiting.must(503, "POST", "/v1/events", key, plain)
	waiting.must(503, "POST", "/v1/events", key, withID)
	waiting.must(503, "POST", "/v1/events", key, withID)
	waiting.must(503, "POST", "/v1/events/batch", key, map[string]any{"events": []any{withID, plain}})
	eventually(t, 10*time.Second, "the delivery of the events answered 503", func() bool { return rc.count() == 4 })
	if m := waiting.must(200, "GET", "/metrics", "", nil); !strings.Contains(string(m.Raw), "tidings_events_published_total 3") {
		t.Errorf("after three events stored and answered 503 (and two replays): %s", grepLines(string(m.Raw), "tidings_events_published_total"))
	}
}

// grepLines is the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

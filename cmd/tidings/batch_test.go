package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidingshq/tidings/redistest"
)

// batchOf is a batch body of the given events.
func batchOf(events ...string) string {
	return `{"events":[` + strings.Join(events, ",") + `]}`
}

// eventCount is how many events the tenant has.
func eventCount(in *instance, key string) int {
	in.t.Helper()
	return len(in.must(200, "GET", "/v1/events?limit=100", key, nil).list())
}

// A batch is validated all or nothing, answers each event as a single
// publish would, replays client ids one by one and the Idempotency-Key as
// a whole, fans every event out and delivers every delivery.
func TestBatchPublish(t *testing.T) {
	in := start(t, map[string]string{"TIDINGS_MAX_PAYLOAD_BYTES": "8192"})
	_, key := in.tenant("acme")
	rc := newReceiver(t, nil)
	whBatch, _ := in.webhook(key, rc.URL, "batch.*")
	whAll, _ := in.webhook(key, rc.URL, "*")

	t.Run("validation is all or nothing", func(t *testing.T) {
		cases := []struct {
			name string
			body string
			want []string // the details' fields
		}{
			{"bad events", batchOf(`{"type":"batch.ok","data":{}}`, `{"type":"Bad","data":[1]}`, `{"type":"batch.x","data":{},"extra":1}`, `7`),
				[]string{"events[1].type", "events[1].data", "events[2].extra", "events[3]"}},
			{"missing fields", batchOf(`{"type":"batch.ok","data":{}}`, `{"id":"bad id!"}`),
				[]string{"events[1].type", "events[1].data", "events[1].id"}},
			{"repeated client id", batchOf(`{"type":"batch.ok","data":{},"id":"x1"}`, `{"type":"batch.ok","data":{"n":2},"id":"x1"}`),
				[]string{"events[1].id"}},
			{"no events", `{"events":[]}`, []string{"events"}},
			{"events missing", `{}`, []string{"events"}},
			{"too many", batchOf(strings.Split(strings.Repeat(`{"type":"a.b","data":{}}|`, 101), "|")[:101]...), []string{"events"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := in.must(422, "POST", "/v1/events/batch", key, tc.body)
				details, _ := r.get("error", "details").(map[string]any)
				for _, f := range tc.want {
					if _, ok := details[f]; !ok {
						t.Errorf("details %v do not name %s", details, f)
					}
				}
				if len(details) != len(tc.want) {
					t.Errorf("details %v, want exactly %v", details, tc.want)
				}
			})
		}
		if n := eventCount(in, key); n != 0 {
			t.Fatalf("%d events stored by refused batches", n)
		}
		if r := in.call("POST", "/v1/events/batch", key, `{"events":[`); r.Status != 400 || r.str("error", "code") != "invalid_json" {
			t.Errorf("malformed batch = %d %s", r.Status, r.Raw)
		}
	})

	t.Run("the payload limit applies to the whole body", func(t *testing.T) {
		one := `{"type":"batch.big","data":{"pad":"` + strings.Repeat("x", 500) + `"}}`
		var evs []string
		for range 20 {
			evs = append(evs, one)
		}
		r := in.call("POST", "/v1/events/batch", key, batchOf(evs...))
		if r.Status != 413 || r.str("error", "code") != "payload_too_large" {
			t.Errorf("20 × 500 B under an 8 KiB limit = %d %s", r.Status, r.Raw)
		}
		if n := eventCount(in, key); n != 0 {
			t.Fatalf("%d events stored by a refused batch", n)
		}
	})

	// What every later subtest delivers: event id → the webhooks it goes to.
	want := map[string][]string{}
	accepted := func(r response) []map[string]any {
		t.Helper()
		items := r.list()
		for _, it := range items {
			if it["replayed"] == true {
				continue
			}
			id, _ := it["id"].(string)
			ds, _ := it["deliveries"].([]any)
			for _, d := range ds {
				wh, _ := d.(map[string]any)["webhook_id"].(string)
				want[id] = append(want[id], wh)
			}
		}
		return items
	}

	t.Run("every event answered in order and fanned out", func(t *testing.T) {
		r := in.must(202, "POST", "/v1/events/batch", key, batchOf(
			`{"type":"batch.a","data":{"n":1}}`,
			`{"type":"other.b","data":{"n":2},"id":"order-1"}`,
			`{"type":"batch.c","data":{"n":3}}`))
		items := accepted(r)
		if len(items) != 3 || r.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("batch answer = %s", r.Raw)
		}
		for i, wantWebhooks := range [][]string{{whBatch, whAll}, {whAll}, {whBatch, whAll}} {
			it := items[i]
			if id, _ := it["id"].(string); !strings.HasPrefix(id, "evt_") || it["replayed"] != nil {
				t.Errorf("item %d = %v", i, it)
			}
			got := fmt.Sprint(want[it["id"].(string)])
			if got != fmt.Sprint(wantWebhooks) && got != fmt.Sprint([]string{wantWebhooks[len(wantWebhooks)-1], wantWebhooks[0]}) {
				t.Errorf("item %d goes to %s, want %v", i, got, wantWebhooks)
			}
		}
		if items[1]["client_id"] != "order-1" || items[0]["type"] != "batch.a" {
			t.Errorf("items = %s", r.Raw)
		}
		// Each is the event a single publish would have stored.
		ev := in.must(200, "GET", "/v1/events/"+items[2]["id"].(string), key, nil)
		if ev.str("type") != "batch.c" || fmt.Sprint(ev.get("data")) != "map[n:3]" {
			t.Errorf("stored event = %s", ev.Raw)
		}
	})

	t.Run("client ids replay one by one", func(t *testing.T) {
		first := in.must(202, "POST", "/v1/events", key, `{"type":"batch.single","data":{"k":"v"},"id":"single-1"}`)
		accepted(response{Body: map[string]any{"data": []any{first.Body}}})
		before := eventCount(in, key)
		r := in.must(202, "POST", "/v1/events/batch", key, batchOf(
			`{"type":"other.b","data":{"n":2},"id":"order-1"}`,
			`{"type":"batch.d","data":{"n":4},"id":"order-2"}`,
			`{"type":"batch.single","data":{"k":"v"},"id":"single-1"}`))
		items := accepted(r)
		if items[0]["replayed"] != true || items[1]["replayed"] != nil || items[2]["replayed"] != true {
			t.Fatalf("replayed flags: %s", r.Raw)
		}
		if items[2]["id"] != first.str("id") || items[0]["client_id"] != "order-1" {
			t.Errorf("replayed items = %s (single publish %s)", r.Raw, first.Raw)
		}
		if n := eventCount(in, key); n != before+1 {
			t.Errorf("events %d → %d, want one more", before, n)
		}
		// A single publish replays an id a batch accepted.
		again := in.must(202, "POST", "/v1/events", key, `{"type":"batch.d","data":{"n":4},"id":"order-2"}`)
		if again.Header.Get("Idempotent-Replayed") != "true" || again.str("id") != items[1]["id"] {
			t.Errorf("single replay of a batch's id = %s", again.Raw)
		}
		// The same id with another body refuses the whole batch.
		mm := in.call("POST", "/v1/events/batch", key, batchOf(`{"type":"batch.e","data":{}}`, `{"type":"batch.d","data":{"n":5},"id":"order-2"}`))
		if mm.Status != 409 || mm.str("error", "code") != "idempotency_key_mismatch" || mm.get("error", "details", "events[1].id") == nil {
			t.Errorf("mismatched client id = %d %s", mm.Status, mm.Raw)
		}
		if n := eventCount(in, key); n != before+1 {
			t.Errorf("a refused batch stored events: %d", n)
		}
	})

	t.Run("the Idempotency-Key covers the batch", func(t *testing.T) {
		body := batchOf(`{"type":"batch.k","data":{"n":1}}`, `{"type":"batch.k","data":{"n":2},"id":"keyed-1"}`)
		before := eventCount(in, key)
		var wg sync.WaitGroup
		results := make([]response, 10)
		for i := range results {
			wg.Go(func() { results[i] = in.call("POST", "/v1/events/batch", key, body, "Idempotency-Key", "batch-key") })
		}
		wg.Wait()
		var answer string
		for _, r := range results {
			switch {
			case r.Status == 202 && r.Header.Get("Idempotent-Replayed") == "":
				if answer != "" {
					t.Errorf("two batches accepted: %s and %s", answer, r.Raw)
				}
				answer = string(r.Raw)
				accepted(r)
			case r.Status == 202, r.Status == 409 && r.str("error", "code") == "idempotency_key_in_use":
			default:
				t.Errorf("unexpected answer %d %s", r.Status, r.Raw)
			}
		}
		if answer == "" {
			t.Fatal("no batch accepted")
		}
		replay := in.must(202, "POST", "/v1/events/batch", key, body, "Idempotency-Key", "batch-key")
		if replay.Header.Get("Idempotent-Replayed") != "true" || string(replay.Raw) != answer {
			t.Errorf("replay = %s, first %s", replay.Raw, answer)
		}
		mm := in.call("POST", "/v1/events/batch", key, batchOf(`{"type":"batch.k","data":{"n":3}}`), "Idempotency-Key", "batch-key")
		if mm.Status != 409 || mm.str("error", "code") != "idempotency_key_mismatch" {
			t.Errorf("mismatch = %d %s", mm.Status, mm.Raw)
		}
		if n := eventCount(in, key); n != before+2 {
			t.Errorf("events %d → %d, want two more", before, n)
		}
	})

	t.Run("every delivery arrives", func(t *testing.T) {
		total := 0
		for _, whs := range want {
			total += len(whs)
		}
		if total != 13 { // 5 + 2 + 2 + 4 from the subtests above
			t.Fatalf("%d deliveries accepted by the subtests, want 13", total)
		}
		eventually(t, 30*time.Second, fmt.Sprintf("%d deliveries", total), func() bool { return rc.count() >= total })
		got := map[string]int{}
		for _, r := range rc.requests() {
			got[r.Header.Get("X-Event-ID")+" "+r.Header.Get("X-Webhook-ID")]++
		}
		for id, whs := range want {
			for _, wh := range whs {
				if got[id+" "+wh] != 1 {
					t.Errorf("event %s reached webhook %s %d times", id, wh, got[id+" "+wh])
				}
			}
		}
		if rc.count() != total {
			t.Errorf("%d requests, want %d", rc.count(), total)
		}
	})
}

// An API key that publishes is kept by each API process, and a revoked one
// stops publishing at once, in the process that revoked it and in another.
func TestRevokedKeyStopsPublishingAtOnce(t *testing.T) {
	url, _ := redistest.New(t)
	a := startCmd(t, "api", testEnv(url, nil))
	b := startCmd(t, "api", testEnv(url, nil))
	ten, key := a.tenant("acme")
	second := a.must(201, "POST", "/v1/tenants/"+ten+"/keys", adminToken, nil)
	key2 := second.str("api_key")
	event := `{"type":"batch.done","data":{}}`
	for _, in := range []*instance{a, b} { // each process keeps the key
		for range 3 {
			in.must(202, "POST", "/v1/events", key2, event)
			in.must(202, "POST", "/v1/events/batch", key2, batchOf(event))
		}
	}
	in := b
	keyed := in.must(202, "POST", "/v1/events", key2, event, "Idempotency-Key", "before-revoke")
	a.must(204, "DELETE", "/v1/tenants/"+ten+"/keys/"+second.str("id"), adminToken, nil)
	for _, in := range []*instance{b, a} {
		for _, r := range []response{
			in.call("POST", "/v1/events", key2, event),
			in.call("POST", "/v1/events/batch", key2, batchOf(event)),
			in.call("POST", "/v1/events", key2, event, "Idempotency-Key", "before-revoke"),
			in.call("POST", "/v1/events", key2, event),
		} {
			if r.Status != 401 || r.str("error", "code") != "unauthorized" {
				t.Errorf("publish with a revoked key = %d %s", r.Status, r.Raw)
			}
		}
	}
	if keyed.str("id") == "" {
		t.Fatal("no event before the revocation")
	}
	// The tenant's other key still publishes, in both.
	a.must(202, "POST", "/v1/events", key, event)
	b.must(202, "POST", "/v1/events/batch", key, batchOf(event))
}

package main

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tidingshq/tidings/redistest"
	"github.com/tidingshq/tidings/signing"
)

// verify checks a received request with the Standard Webhooks library (a
// third party's verifier) and with our own hex-scheme check.
func verify(t *testing.T, secret string, r received) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.Body, r.Header); err != nil {
		t.Errorf("Standard Webhooks library rejects the request: %v", err)
	}
	if err := signing.DefaultHex.Verify(secret, r.Header.Get("X-Delivery-ID"), r.Header.Get("X-Webhook-Timestamp"),
		r.Header.Get("X-Webhook-Signature"), r.Body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("hex signature rejected: %v", err)
	}
}

// A receiver that fails twice then succeeds sees three attempts at the
// ladder's gaps (1s, 2s), each within a second of due, all signed, with the
// same webhook-id and byte-identical bodies; the delivery log shows them.
func TestRetryLadder(t *testing.T) {
	in := start(t, nil)
	_, key := in.tenant("acme")
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(500)
			_, _ = w.Write([]byte("not yet"))
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	whID, secret := in.webhook(key, rc.URL+"/hook", "batch.*")
	ev := publish(in, key, "batch.progress", map[string]any{"pct": 50, "note": "<b>&amp; ünïcode</b>", "big": 12345678901234567})
	dlvs, _ := ev.get("deliveries").([]any)
	if len(dlvs) != 1 {
		t.Fatalf("deliveries = %v", ev.get("deliveries"))
	}
	dlvID := dlvs[0].(map[string]any)["id"].(string)

	d := in.waitDelivery(key, dlvID, "succeeded", 20*time.Second)
	reqs := rc.requests()
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		verify(t, secret, r)
		if got := r.Header.Get("webhook-id"); got != dlvID {
			t.Errorf("attempt %d webhook-id = %q, want %q", i+1, got, dlvID)
		}
		if got := r.Header.Get("X-Delivery-Attempt"); got != strconv.Itoa(i+1) {
			t.Errorf("attempt %d X-Delivery-Attempt = %q", i+1, got)
		}
		if !bytes.Equal(r.Body, reqs[0].Body) {
			t.Errorf("attempt %d body differs:\n%s\n%s", i+1, r.Body, reqs[0].Body)
		}
		for h, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "Tidings/" + version,
			"X-Webhook-ID": whID, "X-Event-ID": ev.str("id"), "X-Event-Type": "batch.progress", "X-Delivery-ID": dlvID} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("attempt %d %s = %q, want %q", i+1, h, got, want)
			}
		}
	}
	if !bytes.Contains(reqs[0].Body, []byte(`"note":"<b>&amp; ünïcode</b>"`)) || !bytes.Contains(reqs[0].Body, []byte(`"big":12345678901234568`)) {
		t.Errorf("body is HTML-escaped, or not as JSON.stringify writes it: %s", reqs[0].Body)
	}
	attempts, _ := d.get("attempts").([]any)
	if len(attempts) != 3 {
		t.Fatalf("log has %d attempts, want 3: %s", len(attempts), d.Raw)
	}
	for i, delay := range []time.Duration{time.Second, 2 * time.Second} {
		a := attempts[i].(map[string]any)
		due, err := time.Parse(time.RFC3339Nano, a["next_retry_at"].(string))
		if err != nil {
			t.Fatalf("attempt %d next_retry_at: %v", i+1, err)
		}
		at, _ := time.Parse(time.RFC3339Nano, a["at"].(string))
		if gap := due.Sub(at); gap != delay {
			t.Errorf("attempt %d: next_retry_at is %v after it, want %v", i+1, gap, delay)
		}
		if late := reqs[i+1].At.Sub(due); late < 0 || late > time.Second {
			t.Errorf("attempt %d came %v after its due time, want 0-1s", i+2, late)
		}
		if a["error_class"] != "http_status" || a["response_status"] != float64(500) || a["response_body"] != "not yet" || a["trigger"] != "scheduled" {
			t.Errorf("attempt %d logged as %v", i+1, a)
		}
	}
	last := attempts[2].(map[string]any)
	if last["error_class"] != nil || last["response_status"] != float64(200) || last["next_retry_at"] != nil {
		t.Errorf("last attempt logged as %v", last)
	}
	if d.get("attempt") != float64(3) || d.get("max_attempts") != float64(3) || d.get("last_response_status") != float64(200) {
		t.Errorf("delivery = %s", d.Raw)
	}
	wh := in.must(200, "GET", "/v1/webhooks/"+whID, key, nil)
	if wh.get("failure_count") != float64(0) || wh.get("last_success_at") == nil {
		t.Errorf("webhook after success = %s", wh.Raw)
	}
}

// No retry goes out before its next_retry_at, nor more than a second after
// it, however the due time falls within Asynq's whole seconds; a receiver's
// Retry-After is held to the same.
func TestRetriesNeverEarly(t *testing.T) {
	in := start(t, map[string]string{"TIDINGS_RETRY_SCHEDULE": "1s,1s,1s,1s,1s,1s"})
	_, key := in.tenant("acme")
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 3 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(500)
	})
	in.webhook(key, rc.URL, "batch.*")
	ev := publish(in, key, "batch.progress", map[string]any{})
	dlvID := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	d := in.waitDelivery(key, dlvID, "failed", 30*time.Second)
	reqs := rc.requests()
	attempts, _ := d.get("attempts").([]any)
	if len(reqs) != 7 || len(attempts) != 7 {
		t.Fatalf("receiver got %d requests, log has %d attempts; want 7 of each", len(reqs), len(attempts))
	}
	for i := range 6 {
		a := attempts[i].(map[string]any)
		at, _ := time.Parse(time.RFC3339Nano, a["at"].(string))
		due, err := time.Parse(time.RFC3339Nano, a["next_retry_at"].(string))
		if err != nil {
			t.Fatalf("attempt %d next_retry_at: %v", i+1, err)
		}
		delay := time.Second
		if i == 2 {
			delay = 2 * time.Second // Retry-After
		}
		if gap := due.Sub(at); gap != delay {
			t.Errorf("attempt %d: next_retry_at is %v after it, want %v", i+1, gap, delay)
		}
		next, _ := time.Parse(time.RFC3339Nano, attempts[i+1].(map[string]any)["at"].(string))
		if late := next.Sub(due); late < 0 || late > time.Second {
			t.Errorf("attempt %d was made %v after its due time, want 0-1s", i+2, late)
		}
		if gap := reqs[i+1].At.Sub(reqs[i].At); gap < delay {
			t.Errorf("the receiver got attempt %d %v after attempt %d, want at least %v", i+2, gap, i+1, delay)
		}
	}
}

// 410 Gone disables the endpoint at once and fails the delivery.
func TestGoneDisables(t *testing.T) {
	in := start(t, nil)
	_, key := in.tenant("acme")
	rc := newReceiver(t, status(http.StatusGone))
	whID, _ := in.webhook(key, rc.URL, "*")
	ev := publish(in, key, "computation.complete", map[string]any{"id": 1})
	dlvID := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	in.waitDelivery(key, dlvID, "failed", 15*time.Second)
	wh := in.must(200, "GET", "/v1/webhooks/"+whID, key, nil)
	if wh.str("status") != "disabled" || wh.str("disabled_reason") != "gone" {
		t.Errorf("webhook after 410 = %s", wh.Raw)
	}
	if rc.count() != 1 {
		t.Errorf("receiver got %d requests after 410, want 1", rc.count())
	}
	// Nothing more is sent to a disabled webhook.
	ev2 := publish(in, key, "computation.complete", map[string]any{"id": 2})
	if n := len(ev2.get("deliveries").([]any)); n != 0 {
		t.Errorf("event after disable got %d deliveries", n)
	}
}

// A delivery that exhausts the ladder is failed and disables the endpoint
// (TIDINGS_DISABLE_AFTER_FAILED_DELIVERIES=1); enable restores it.
func TestExhaustedLadderDisablesAndEnableRestores(t *testing.T) {
	in := start(t, map[string]string{"TIDINGS_RETRY_SCHEDULE": "1s"})
	_, key := in.tenant("acme")
	rc := newReceiver(t, status(500))
	whID, _ := in.webhook(key, rc.URL, "batch.*")
	ev := publish(in, key, "batch.done", map[string]any{})
	dlvID := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	d := in.waitDelivery(key, dlvID, "failed", 15*time.Second)
	if d.get("attempt") != float64(2) || d.get("next_retry_at") != nil {
		t.Errorf("exhausted delivery = %s", d.Raw)
	}
	var wh response
	eventually(t, 5*time.Second, "webhook disabled", func() bool {
		wh = in.must(200, "GET", "/v1/webhooks/"+whID, key, nil)
		return wh.str("status") == "disabled"
	})
	if wh.str("disabled_reason") != "failing" || wh.get("failure_count") != float64(2) {
		t.Errorf("disabled webhook = %s", wh.Raw)
	}
	list := in.must(200, "GET", "/v1/webhooks?status=disabled", key, nil).list()
	if len(list) != 1 || list[0]["id"] != whID {
		t.Errorf("status=disabled list = %v", list)
	}
	en := in.must(200, "POST", "/v1/webhooks/"+whID+"/enable", key, nil)
	if en.str("status") != "active" || en.get("failure_count") != float64(0) || en.get("disabled_reason") != nil {
		t.Errorf("enabled webhook = %s", en.Raw)
	}

	// Manual retry: a fresh ladder, attempt numbers continue, trigger manual.
	rt := in.must(202, "POST", "/v1/deliveries/"+dlvID+"/retry", key, nil)
	if rt.str("status") != "pending" || rt.get("max_attempts") != float64(4) {
		t.Errorf("retried delivery = %s", rt.Raw)
	}
	in.must(409, "POST", "/v1/deliveries/"+dlvID+"/retry", key, nil)
	d = in.waitDelivery(key, dlvID, "failed", 15*time.Second)
	attempts := d.get("attempts").([]any)
	if len(attempts) != 4 {
		t.Fatalf("after retry %d attempts, want 4", len(attempts))
	}
	if a := attempts[2].(map[string]any); a["attempt"] != float64(3) || a["trigger"] != "manual" {
		t.Errorf("first retried attempt = %v", a)
	}
	if a := attempts[3].(map[string]any); a["trigger"] != "scheduled" {
		t.Errorf("second retried attempt = %v", a)
	}
}

// Deleting a webhook cancels its queued deliveries; nothing more is sent.
func TestDeleteCancelsQueued(t *testing.T) {
	in := start(t, map[string]string{"TIDINGS_RETRY_SCHEDULE": "1m"})
	_, key := in.tenant("acme")
	rc := newReceiver(t, status(500))
	whID, _ := in.webhook(key, rc.URL, "batch.*")
	ev := publish(in, key, "batch.done", map[string]any{})
	dlvID := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	eventually(t, 10*time.Second, "first attempt", func() bool {
		return in.must(200, "GET", "/v1/deliveries/"+dlvID, key, nil).get("attempt") == float64(1)
	})
	in.must(204, "DELETE", "/v1/webhooks/"+whID, key, nil)
	d := in.must(200, "GET", "/v1/deliveries/"+dlvID, key, nil)
	if d.str("status") != "cancelled" {
		t.Errorf("delivery after delete = %s", d.Raw)
	}
	in.must(404, "GET", "/v1/webhooks/"+whID, key, nil)
}

// A paused webhook's queued delivery ends cancelled at its turn; the test
// endpoint still sends to it, and recover catches up what it missed.
func TestPauseTestAndRecover(t *testing.T) {
	in := start(t, nil)
	_, key := in.tenant("acme")
	rc := newReceiver(t, nil)
	whID, secret := in.webhook(key, rc.URL, "batch.*")
	in.must(200, "PATCH", "/v1/webhooks/"+whID, key, map[string]any{"active": false})
	before := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	ev := publish(in, key, "batch.done", map[string]any{"n": 1})
	if n := len(ev.get("deliveries").([]any)); n != 0 {
		t.Fatalf("paused webhook got %d deliveries", n)
	}
	tr := in.must(202, "POST", "/v1/webhooks/"+whID+"/test", key, nil)
	in.waitDelivery(key, tr.str("delivery_id"), "succeeded", 10*time.Second)
	reqs := rc.requests()
	if len(reqs) != 1 || reqs[0].Header.Get("X-Event-Type") != "webhook.test" || !bytes.Contains(reqs[0].Body, []byte(`"message":"This is a test webhook"`)) {
		t.Fatalf("test delivery = %v", reqs)
	}
	verify(t, secret, reqs[0])

	in.must(200, "PATCH", "/v1/webhooks/"+whID, key, map[string]any{"active": true})
	r := in.must(202, "POST", "/v1/webhooks/"+whID+"/recover", key, map[string]any{"since": before})
	if r.get("requeued") != float64(1) {
		t.Fatalf("recover = %s", r.Raw)
	}
	again := in.must(202, "POST", "/v1/webhooks/"+whID+"/recover", key, map[string]any{"since": before})
	if again.get("requeued") != float64(0) {
		t.Errorf("second recover queued %v", again.get("requeued"))
	}
	eventually(t, 10*time.Second, "recovered delivery", func() bool { return rc.count() == 2 })
	got := rc.requests()[1]
	if got.Header.Get("X-Event-ID") != ev.str("id") {
		t.Errorf("recovered event = %s", got.Header.Get("X-Event-ID"))
	}
	list := in.must(200, "GET", "/v1/webhooks/"+whID+"/deliveries?event_type=batch.done", key, nil).list()
	if len(list) != 1 {
		t.Fatalf("deliveries = %v", list)
	}
	d := in.waitDelivery(key, list[0]["id"].(string), "succeeded", 10*time.Second)
	if a := d.get("attempts").([]any)[0].(map[string]any); a["trigger"] != "recover" {
		t.Errorf("recovered attempt trigger = %v", a["trigger"])
	}
}

// During a rotation's grace period every request carries signatures by both
// secrets (either verifies); with no grace the old one stops at once.
func TestSecretRotation(t *testing.T) {
	in := start(t, nil)
	_, key := in.tenant("acme")
	rc := newReceiver(t, nil)
	whID, oldSecret := in.webhook(key, rc.URL, "*")
	newSecret := in.must(200, "POST", "/v1/webhooks/"+whID+"/rotate-secret", key, map[string]any{"grace_period_seconds": 3600}).str("secret")
	if newSecret == oldSecret || !strings.HasPrefix(newSecret, "whsec_") {
		t.Fatalf("rotated secret = %q", newSecret)
	}
	publish(in, key, "batch.done", map[string]any{})
	eventually(t, 10*time.Second, "delivery", func() bool { return rc.count() == 1 })
	r := rc.requests()[0]
	verify(t, oldSecret, r)
	verify(t, newSecret, r)
	if n := len(strings.Fields(r.Header.Get("webhook-signature"))); n != 2 {
		t.Errorf("webhook-signature has %d entries during the grace period", n)
	}

	given := "my-own-secret-of-at-least-24-chars"
	in.must(200, "POST", "/v1/webhooks/"+whID+"/rotate-secret", key, map[string]any{"secret": given, "grace_period_seconds": 0})
	publish(in, key, "batch.done", map[string]any{})
	eventually(t, 10*time.Second, "second delivery", func() bool { return rc.count() == 2 })
	r = rc.requests()[1]
	if n := len(strings.Fields(r.Header.Get("webhook-signature"))); n != 2 {
		// The grace-period secret (oldSecret) is still live; newSecret retired at once.
		t.Errorf("webhook-signature has %d entries, want 2 (given + first old)", n)
	}
	if err := signing.DefaultHex.Verify(newSecret, "", r.Header.Get("X-Webhook-Timestamp"), r.Header.Get("X-Webhook-Signature"), r.Body, time.Now(), time.Minute); err == nil {
		t.Error("a secret retired with grace 0 still signs")
	}
	if err := signing.DefaultHex.Verify(given, "", r.Header.Get("X-Webhook-Timestamp"), r.Header.Get("X-Webhook-Signature"), r.Body, time.Now(), time.Minute); err != nil {
		t.Errorf("the given secret does not sign: %v", err)
	}
	if got := in.must(200, "GET", "/v1/webhooks/"+whID+"/secret", key, nil).str("secret"); got != given {
		t.Errorf("secret = %q", got)
	}
}

// Running a failed delivery's archived task from the dashboard (Asynq's
// RunTask) behaves as a manual retry: a fresh ladder, trigger manual.
func TestDashboardRunIsManualRetry(t *testing.T) {
	url, rdb := redistest.New(t)
	in := startCmd(t, "all", testEnv(url, map[string]string{"TIDINGS_RETRY_SCHEDULE": "1s", "TIDINGS_DISABLE_AFTER_FAILED_DELIVERIES": "0"}))
	_, key := in.tenant("acme")
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(500)
		}
	})
	in.webhook(key, rc.URL, "*")
	ev := publish(in, key, "batch.done", map[string]any{})
	dlvID := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	in.waitDelivery(key, dlvID, "failed", 15*time.Second)
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	eventually(t, 5*time.Second, "the task archived", func() bool {
		info, err := inspector.GetTaskInfo("webhooks", dlvID)
		return err == nil && info.State == asynq.TaskStateArchived
	})
	if err := inspector.RunTask("webhooks", dlvID); err != nil {
		t.Fatal(err)
	}
	d := in.waitDelivery(key, dlvID, "succeeded", 15*time.Second)
	attempts := d.get("attempts").([]any)
	if len(attempts) != 3 || attempts[2].(map[string]any)["trigger"] != "manual" || d.get("max_attempts") != float64(4) {
		t.Errorf("after a dashboard run: %s", d.Raw)
	}
}

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tidingshq/tidings/redistest"
)

// portalSession mints a portal session for a tenant and returns its id and
// token.
func (in *instance) portalSession(key string, caps ...string) (string, string) {
	in.t.Helper()
	body := map[string]any{}
	if len(caps) > 0 {
		body["capabilities"] = caps
	}
	r := in.must(201, "POST", "/v1/portal/sessions", key, body)
	return r.str("id"), r.str("token")
}

// Each route of the contract's table answers a portal token that holds its
// capabilities (whatever its own answer) and refuses one that does not with
// 403; publishing, tenants, keys and sessions refuse every portal token.
func TestPortalCapabilityMatrix(t *testing.T) {
	url, _ := redistest.New(t)
	in := startCmd(t, "api", testEnv(url, nil))
	tenantID, key := in.tenant("acme")
	whID, _ := in.webhook(key, "http://127.0.0.1:1/hook", "batch.*")
	ev := publish(in, key, "batch.done", map[string]any{"n": 1})
	dlvID := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
	missing := "wh_00000000000000000000000000"

	type route struct {
		method, path string
		body         any
		need         []string
		want         int // the answer when allowed
	}
	routes := []route{
		{"GET", "/v1/webhooks", nil, []string{"endpoints:read"}, 200},
		{"GET", "/v1/webhooks/" + whID, nil, []string{"endpoints:read"}, 200},
		{"GET", "/v1/webhooks/" + whID + "/stats", nil, []string{"endpoints:read"}, 200},
		{"GET", "/v1/event-types", nil, []string{"endpoints:read"}, 200},
		{"POST", "/v1/webhooks", map[string]any{}, []string{"endpoints:write"}, 422},
		{"PATCH", "/v1/webhooks/" + missing, map[string]any{"description": "x"}, []string{"endpoints:write"}, 404},
		{"PUT", "/v1/webhooks/" + missing, map[string]any{"url": "http://127.0.0.1:1/x", "events": []string{"*"}}, []string{"endpoints:write"}, 404},
		{"DELETE", "/v1/webhooks/" + missing, nil, []string{"endpoints:write"}, 404},
		{"POST", "/v1/webhooks/" + missing + "/enable", nil, []string{"endpoints:write"}, 404},
		{"POST", "/v1/webhooks/" + missing + "/test", nil, []string{"endpoints:write"}, 404},
		{"POST", "/v1/webhooks/" + missing + "/rotate-secret", map[string]any{}, []string{"endpoints:write", "secrets:read"}, 404},
		{"GET", "/v1/webhooks/" + whID + "/secret", nil, []string{"secrets:read"}, 200},
		{"GET", "/v1/webhooks/" + whID + "/deliveries", nil, []string{"deliveries:read"}, 200},
		{"GET", "/v1/deliveries/" + dlvID, nil, []string{"deliveries:read"}, 200},
		{"GET", "/v1/events", nil, []string{"deliveries:read"}, 200},
		{"GET", "/v1/events/" + ev.str("id"), nil, []string{"deliveries:read"}, 200},
		{"POST", "/v1/deliveries/" + dlvID + "/retry", nil, []string{"deliveries:write"}, 409},
		{"POST", "/v1/webhooks/" + missing + "/recover", map[string]any{"since": "2026-01-01T00:00:00Z"}, []string{"deliveries:write"}, 404},
		{"GET", "/v1/portal/session", nil, nil, 200},
	}
	never := []route{
		{"POST", "/v1/events", map[string]any{"type": "batch.done", "data": map[string]any{}}, nil, 0},
		{"GET", "/v1/tenants", nil, nil, 0},
		{"POST", "/v1/tenants", map[string]any{"name": "x"}, nil, 0},
		{"POST", "/v1/tenants/" + tenantID + "/keys", nil, nil, 0},
		{"DELETE", "/v1/tenants/" + tenantID + "/keys/key_nope", nil, nil, 0},
		{"POST", "/v1/portal/sessions", map[string]any{}, nil, 0},
		{"DELETE", "/v1/portal/sessions", nil, nil, 0},
		{"DELETE", "/v1/portal/sessions/pst_nope", nil, nil, 0},
	}
	all := []string{"endpoints:read", "endpoints:write", "secrets:read", "deliveries:read", "deliveries:write"}
	holdings := [][]string{all}
	for _, c := range all {
		holdings = append(holdings, []string{c})
	}
	holdings = append(holdings, []string{"endpoints:write", "secrets:read"})
	for _, caps := range holdings {
		_, tok := in.portalSession(key, caps...)
		has := map[string]bool{}
		for _, c := range caps {
			has[c] = true
		}
		for _, rt := range routes {
			allowed := true
			for _, n := range rt.need {
				allowed = allowed && has[n]
			}
			r := in.call(rt.method, rt.path, tok, rt.body)
			want := 403
			if allowed {
				want = rt.want
			}
			if r.Status != want {
				t.Errorf("%v: %s %s = %d, want %d: %s", caps, rt.method, rt.path, r.Status, want, r.Raw)
			}
			if want == 403 && r.str("error", "code") != "forbidden" {
				t.Errorf("%v: %s %s: code %q", caps, rt.method, rt.path, r.str("error", "code"))
			}
		}
		for _, rt := range never {
			if r := in.call(rt.method, rt.path, tok, rt.body); r.Status != 403 || r.str("error", "code") != "forbidden" {
				t.Errorf("%v: %s %s = %d, want 403: %s", caps, rt.method, rt.path, r.Status, r.Raw)
			}
		}
	}
	// The tenant key itself is not a portal token: no whoami.
	in.must(403, "GET", "/v1/portal/session", key, nil)
	if n := len(in.must(200, "GET", "/v1/events", key, nil).list()); n != 1 {
		t.Errorf("%d events after the matrix, want 1: a portal token published", n)
	}
}

// A session answers with its token, URL, capabilities and expiry; bad
// requests are 422s naming the field; a create answered to a token without
// secrets:read carries no secret.
func TestPortalSessionCreate(t *testing.T) {
	url, _ := redistest.New(t)
	in := startCmd(t, "api", testEnv(url, map[string]string{"TIDINGS_PUBLIC_URL": "https://hooks.example.com/"}))
	tenantID, key := in.tenant("acme")
	r := in.must(201, "POST", "/v1/portal/sessions", key, nil)
	tok := r.str("token")
	if !strings.HasPrefix(r.str("id"), "pst_") || !strings.HasPrefix(tok, "pt_") || r.str("url") != "https://hooks.example.com/portal/#token="+tok {
		t.Errorf("session = %s", r.Raw)
	}
	if caps := r.get("capabilities").([]any); len(caps) != 5 {
		t.Errorf("default capabilities = %v", caps)
	}
	exp, err := time.Parse(time.RFC3339, r.str("expires_at"))
	if err != nil || exp.Sub(time.Now()) < 59*time.Minute || exp.Sub(time.Now()) > time.Hour {
		t.Errorf("expires_at = %s (%v), want in an hour", r.str("expires_at"), err)
	}
	who := in.must(200, "GET", "/v1/portal/session", tok, nil)
	if who.str("id") != r.str("id") || who.str("tenant_id") != tenantID || who.str("expires_at") != r.str("expires_at") {
		t.Errorf("whoami = %s", who.Raw)
	}
	r = in.must(201, "POST", "/v1/portal/sessions", adminToken, map[string]any{"expires_in": 60, "capabilities": []string{"deliveries:read", "endpoints:read", "endpoints:read"}},
		"X-Tenant-ID", tenantID)
	if got := r.get("capabilities").([]any); len(got) != 2 || got[0] != "endpoints:read" || got[1] != "deliveries:read" {
		t.Errorf("capabilities = %v, want endpoints:read, deliveries:read", got)
	}
	for _, tt := range []struct {
		body  any
		field string
	}{
		{map[string]any{"expires_in": 59}, "expires_in"},
		{map[string]any{"expires_in": 604801}, "expires_in"},
		{map[string]any{"expires_in": "1h"}, "expires_in"},
		{map[string]any{"capabilities": []string{"endpoints:read", "admin"}}, "capabilities"},
		{map[string]any{"capabilities": []string{}}, "capabilities"},
		{map[string]any{"ttl": 60}, "ttl"},
	} {
		r := in.must(422, "POST", "/v1/portal/sessions", key, tt.body)
		if _, ok := r.get("error", "details").(map[string]any)[tt.field]; !ok {
			t.Errorf("%v: details %s do not name %s", tt.body, r.Raw, tt.field)
		}
	}
	in.must(400, "POST", "/v1/portal/sessions", key, `{"expires_in":`)

	_, writer := in.portalSession(key, "endpoints:write")
	body := map[string]any{"url": "http://127.0.0.1:1/a", "events": []string{"*"}}
	if r := in.must(201, "POST", "/v1/webhooks", writer, body); r.get("secret") != nil {
		t.Errorf("create for a token without secrets:read carries the secret: %s", r.Raw)
	}
	_, both := in.portalSession(key, "endpoints:write", "secrets:read")
	if r := in.must(201, "POST", "/v1/webhooks", both, body); !strings.HasPrefix(r.str("secret"), "whsec_") {
		t.Errorf("create for a token with secrets:read: %s", r.Raw)
	}
}

// A token stops working when its record expires and when its session, or
// every session of the tenant, is revoked; another tenant's resources are
// 404s to it; its sessions are not another tenant's to revoke.
func TestPortalExpiryRevocationIsolation(t *testing.T) {
	url, rc := redistest.New(t)
	in := startCmd(t, "api", testEnv(url, nil))
	tenantID, key := in.tenant("acme")
	_, otherKey := in.tenant("other")
	otherWh, _ := in.webhook(otherKey, "http://127.0.0.1:1/o", "batch.*")
	ev := publish(in, otherKey, "batch.done", map[string]any{"n": 1})
	otherDlv := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)

	id1, tok1 := in.portalSession(key)
	_, tok2 := in.portalSession(key)
	_, tok3 := in.portalSession(key)
	for _, p := range []string{"/v1/webhooks/" + otherWh, "/v1/webhooks/" + otherWh + "/stats", "/v1/webhooks/" + otherWh + "/secret",
		"/v1/webhooks/" + otherWh + "/deliveries", "/v1/deliveries/" + otherDlv, "/v1/events/" + ev.str("id")} {
		if r := in.call("GET", p, tok1, nil); r.Status != 404 {
			t.Errorf("GET %s with another tenant's token = %d, want 404", p, r.Status)
		}
	}
	in.must(404, "POST", "/v1/deliveries/"+otherDlv+"/retry", tok1, nil)
	in.must(404, "DELETE", "/v1/webhooks/"+otherWh, tok1, nil)
	in.must(404, "DELETE", "/v1/portal/sessions/"+id1, otherKey, nil)
	if n := len(in.must(200, "GET", "/v1/webhooks", tok1, nil).list()); n != 0 {
		t.Errorf("a portal token lists %d webhooks of another tenant", n)
	}

	// Expiry, by shortening the stored record's TTL.
	hash := sha256.Sum256([]byte(tok3))
	k := "tidings:{" + tenantID + "}:ptok:" + hex.EncodeToString(hash[:])
	if !rc.PExpire(context.Background(), k, time.Millisecond).Val() {
		t.Fatalf("no token record at %s", k)
	}
	eventually(t, 5*time.Second, "the token record to expire", func() bool { return rc.Exists(context.Background(), k).Val() == 0 })
	if r := in.call("GET", "/v1/webhooks", tok3, nil); r.Status != 401 || r.str("error", "code") != "unauthorized" {
		t.Errorf("expired token = %d %s", r.Status, r.Raw)
	}

	in.must(204, "DELETE", "/v1/portal/sessions/"+id1, key, nil)
	in.must(401, "GET", "/v1/webhooks", tok1, nil)
	in.must(404, "DELETE", "/v1/portal/sessions/"+id1, key, nil)
	in.must(200, "GET", "/v1/webhooks", tok2, nil)
	in.must(204, "DELETE", "/v1/portal/sessions", adminToken, nil, "X-Tenant-ID", tenantID)
	in.must(401, "GET", "/v1/webhooks", tok2, nil)
	in.must(401, "GET", "/v1/portal/session", tok2, nil)
	in.must(401, "GET", "/v1/webhooks", "pt_garbage", nil)
	in.must(204, "DELETE", "/v1/portal/sessions", key, nil)
}

// The stats of a webhook: 24 or 168 hourly buckets on the hour, oldest
// first, zeros included, whose outcomes add up to the delivery log's
// attempts.
func TestWebhookStatsMatchTheLog(t *testing.T) {
	in := start(t, map[string]string{"TIDINGS_RETRY_SCHEDULE": "1s,1s"})
	_, key := in.tenant("acme")
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n%2 == 1 {
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(204)
	})
	whID, _ := in.webhook(key, rc.URL, "batch.*")
	var ids []string
	for i := 0; i < 3; i++ {
		ev := publish(in, key, "batch.done", map[string]any{"i": i})
		ids = append(ids, ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string))
	}
	succeeded, failed := 0, 0
	for _, id := range ids {
		eventually(t, 20*time.Second, "delivery "+id+" to end", func() bool {
			return in.must(200, "GET", "/v1/deliveries/"+id, key, nil).str("status") != "pending"
		})
		for _, a := range in.must(200, "GET", "/v1/deliveries/"+id, key, nil).get("attempts").([]any) {
			if a.(map[string]any)["error_class"] == nil {
				succeeded++
			} else {
				failed++
			}
		}
	}
	if succeeded == 0 || failed == 0 {
		t.Fatalf("want both outcomes in the log: %d succeeded, %d failed", succeeded, failed)
	}
	for window, n := range map[string]int{"": 24, "?window=24h": 24, "?window=7d": 168} {
		r := in.must(200, "GET", "/v1/webhooks/"+whID+"/stats"+window, key, nil)
		buckets := r.get("buckets").([]any)
		if len(buckets) != n || r.get("bucket_seconds") != float64(3600) {
			t.Fatalf("%s: %d buckets, bucket_seconds %v", window, len(buckets), r.get("bucket_seconds"))
		}
		var prev time.Time
		s, f := 0, 0
		for i, b := range buckets {
			m := b.(map[string]any)
			start, err := time.Parse(time.RFC3339, m["start"].(string))
			if err != nil || !start.Equal(start.Truncate(time.Hour)) || (i > 0 && start.Sub(prev) != time.Hour) {
				t.Fatalf("%s: bucket %d starts %v after %v", window, i, m["start"], prev)
			}
			prev = start
			s += int(m["succeeded"].(float64))
			f += int(m["failed"].(float64))
			if m["attempts"].(float64) != m["succeeded"].(float64)+m["failed"].(float64) {
				t.Errorf("%s: bucket %d: attempts %v", window, i, m)
			}
		}
		if now := time.Now(); now.Sub(prev) < 0 || now.Sub(prev) >= time.Hour+time.Minute {
			t.Errorf("%s: the last bucket starts %v, not this hour", window, prev)
		}
		if s != succeeded || f != failed {
			t.Errorf("%s: stats %d succeeded %d failed, log %d and %d", window, s, f, succeeded, failed)
		}
	}
	in.must(422, "GET", "/v1/webhooks/"+whID+"/stats?window=1h", key, nil)
	in.must(422, "GET", "/v1/webhooks/"+whID+"/stats?hours=3", key, nil)
	in.must(404, "GET", "/v1/webhooks/wh_nope/stats", key, nil)
}

// /portal/ is served from the binary with the contract's CSP and referrer
// policy, its frame-ancestors from TIDINGS_PORTAL_FRAME_ANCESTORS.
func TestPortalHeaders(t *testing.T) {
	url, _ := redistest.New(t)
	for ancestors, want := range map[string]string{"": "'none'", "https://app.example.com 'self'": "https://app.example.com 'self'"} {
		in := startCmd(t, "api", testEnv(url, map[string]string{"TIDINGS_PORTAL_FRAME_ANCESTORS": ancestors}))
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for p, status := range map[string]int{"/portal/": 200, "/portal/app.js": 200, "/portal/style.css": 200, "/portal/nope.js": 404,
			"/portal": 301, "/portal/nothing/": 404} {
			resp, err := noRedirect.Get(in.base + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != status {
				t.Errorf("GET %s = %d, want %d", p, resp.StatusCode, status)
			}
			if ct := resp.Header.Get("Content-Type"); p == "/portal/app.js" && !strings.HasPrefix(ct, "text/javascript") {
				t.Errorf("GET %s: Content-Type %q", p, ct)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != "default-src 'self'; script-src 'self'; frame-ancestors "+want {
				t.Errorf("GET %s: CSP %q", p, got)
			}
			if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("GET %s: Referrer-Policy %q", p, got)
			}
		}
		in.stop()
	}
}

// `tidings dev` prints a working portal link for its demo tenant, and the
// embedded Redis counts the stats.
func TestDevPortalLink(t *testing.T) {
	in := startCmd(t, "dev", map[string]string{"TIDINGS_HTTP_ADDR": "127.0.0.1:0"})
	m := regexp.MustCompile(`(?m)^Portal: (\S+)$`).FindStringSubmatch(in.out.String())
	if m == nil || !strings.HasPrefix(m[1], in.base+"/portal/#token=pt_") {
		t.Fatalf("dev banner lacks the portal link:\n%s", in.out.String())
	}
	tok := strings.TrimPrefix(m[1], in.base+"/portal/#token=")
	if r := in.must(200, "GET", "/v1/portal/session", tok, nil); len(r.get("capabilities").([]any)) != 5 {
		t.Errorf("the demo link's session: %s", r.Raw)
	}
	rc := newReceiver(t, nil)
	whID, _ := in.webhook(tok, rc.URL, "*")
	in.must(202, "POST", "/v1/webhooks/"+whID+"/test", tok, nil)
	eventually(t, 10*time.Second, "the stats to count the test", func() bool {
		buckets := in.must(200, "GET", "/v1/webhooks/"+whID+"/stats", tok, nil).get("buckets").([]any)
		return buckets[23].(map[string]any)["succeeded"] == 1.0
	})
}

// A portal token never appears in the log, even at debug level with every
// request line.
func TestPortalTokenNotLogged(t *testing.T) {
	url, _ := redistest.New(t)
	in := startCmd(t, "all", testEnv(url, map[string]string{"TIDINGS_LOG_LEVEL": "debug"}))
	_, key := in.tenant("acme")
	_, tok := in.portalSession(key)
	in.must(200, "GET", "/v1/webhooks", tok, nil)
	in.must(403, "POST", "/v1/events", tok, map[string]any{"type": "a.b", "data": map[string]any{}})
	if resp, err := http.Get(in.base + "/portal/"); err == nil {
		resp.Body.Close()
	}
	in.must(401, "GET", "/v1/webhooks", tok+"x", nil)
	secret := tok[strings.LastIndex(tok, ".")+1:]
	if out := in.out.String(); !strings.Contains(out, "http.request") || strings.Contains(out, secret) {
		t.Errorf("the log holds the token (or no request lines):\n%s", out)
	}
}

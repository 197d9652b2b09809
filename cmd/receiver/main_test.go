package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidingshq/tidings/signing"
)

func signed(secret, id, body string) *http.Request {
	now := time.Now().Unix()
	r := httptest.NewRequest("POST", "/hook", strings.NewReader(body))
	r.Header.Set("webhook-id", id)
	r.Header.Set("webhook-timestamp", strconv.FormatInt(now, 10))
	r.Header.Set("webhook-signature", signing.Standard([]string{secret}, id, now, []byte(body)))
	r.Header.Set("X-Webhook-Timestamp", strconv.FormatInt(now, 10))
	r.Header.Set("X-Webhook-Signature", signing.DefaultHex.Sign([]string{secret}, id, now, []byte(body)))
	return r
}

// The example receiver verifies both schemes, fails on request, and
// de-duplicates on webhook-id.
func TestReceiver(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	rc := &Receiver{Secret: secret, FailFirst: 1, FailStatus: 503, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	serve := func(r *http.Request) (int, string) {
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, _ := serve(signed(secret, "dlv_1", `{"a":1}`)); code != 503 {
		t.Errorf("first request = %d, want the configured failure", code)
	}
	if code, body := serve(signed(secret, "dlv_1", `{"a":1}`)); code != 200 || body != "ok\n" {
		t.Errorf("retry = %d %q", code, body)
	}
	if code, body := serve(signed(secret, "dlv_1", `{"a":1}`)); code != 200 || body != "duplicate\n" {
		t.Errorf("duplicate = %d %q", code, body)
	}
	if code, _ := serve(signed("whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==", "dlv_2", `{"a":1}`)); code != 401 {
		t.Errorf("wrong secret = %d", code)
	}
	tampered := signed(secret, "dlv_3", `{"a":1}`)
	tampered.Body = io.NopCloser(strings.NewReader(`{"a":2}`))
	if code, _ := serve(tampered); code != 401 {
		t.Errorf("tampered body = %d", code)
	}
}

package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/webhook"
)

// Every domain error maps to its status and code, wrapped or not; internal
// detail never reaches the client.
func TestErrorEnvelope(t *testing.T) {
	gin.SetMode(gin.TestMode)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("redisstore: get: %w", webhook.ErrNotFound), 404, "not_found"},
		{webhook.ErrConflict, 409, "conflict"},
		{webhook.ErrIdempotencyKeyMismatch, 409, "idempotency_key_mismatch"},
		{webhook.ErrIdempotencyKeyInUse, 409, "idempotency_key_in_use"},
		{fmt.Errorf("redisstore: x: %w: %w", webhook.ErrUnavailable, errors.New("dial tcp: refused")), 503, "unavailable"},
		{invalid("url", "must use https"), 422, "validation_failed"},
		{errInvalidJSON("bad"), 400, "invalid_json"},
		{errUnauthorized, 401, "unauthorized"},
		{errForbidden, 403, "forbidden"},
		{errTooLarge, 413, "payload_too_large"},
		{errors.New("secret internal detail"), 500, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest("GET", "/", nil)
			fail(c, log, tt.err)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d", w.Code, tt.status)
			}
			var body struct {
				Error struct {
					Code    string            `json:"code"`
					Message string            `json:"message"`
					Details map[string]string `json:"details"`
				} `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Error.Code != tt.code || body.Error.Message == "" || body.Error.Details == nil {
				t.Errorf("envelope = %s", w.Body)
			}
			if tt.code == "validation_failed" && body.Error.Details["url"] != "must use https" {
				t.Errorf("details = %v", body.Error.Details)
			}
			if tt.status >= 500 && (strings.Contains(w.Body.String(), "secret internal detail") || strings.Contains(w.Body.String(), "refused")) {
				t.Errorf("internal detail leaked: %s", w.Body)
			}
		})
	}
}

// A wrong JSON type inside an optional field names the field.
func TestDecodeNamesFields(t *testing.T) {
	var req webhookRequest
	err := decode([]byte(`{"url":"https://x.example","events":["*"],"rate_limit":"fast"}`), &req, false)
	var ve *webhook.ValidationError
	if !errors.As(err, &ve) || ve.Fields["rate_limit"] == "" {
		t.Errorf("err = %v", err)
	}
	if err := decode([]byte(`{"url":1}`), &req, false); !errors.As(err, &ve) || ve.Fields["url"] != "must be a string" {
		t.Errorf("err = %v", err)
	}
}

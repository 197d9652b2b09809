package handlers

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/webhook"
)

// apiError is an error with its own HTTP status and code.
type apiError struct {
	status  int
	code    string
	message string
	details map[string]string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errInvalidJSON(msg string) error {
	return &apiError{status: http.StatusBadRequest, code: "invalid_json", message: msg}
}

var (
	errUnauthorized = &apiError{status: http.StatusUnauthorized, code: "unauthorized", message: "missing or invalid bearer token"}
	errForbidden    = &apiError{status: http.StatusForbidden, code: "forbidden", message: "this route needs the admin token"}
	errTooLarge     = &apiError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large", message: "request body is larger than the limit"}
)

// invalid is a one-field validation error.
func invalid(field, reason string) error {
	return &webhook.ValidationError{Fields: map[string]string{field: reason}}
}

// conflictOn is the 409 of a domain conflict (one of codes) caused by one
// field of the request, named in its details.
func conflictOn(err error, field string) error {
	for _, m := range codes {
		if errors.Is(err, m.err) {
			return &apiError{status: m.status, code: m.code, message: m.message, details: map[string]string{field: m.message}}
		}
	}
	return err
}

// codes maps domain errors to HTTP, in one table.
var codes = []struct {
	err     error
	status  int
	code    string
	message string
}{
	{webhook.ErrKeyRevoked, http.StatusUnauthorized, "unauthorized", "missing or invalid bearer token"},
	{webhook.ErrNotFound, http.StatusNotFound, "not_found", "resource not found"},
	{webhook.ErrIdempotencyKeyMismatch, http.StatusConflict, "idempotency_key_mismatch", "this idempotency key was used with a different request body"},
	{webhook.ErrIdempotencyKeyInUse, http.StatusConflict, "idempotency_key_in_use", "a request with this idempotency key is still being processed"},
	{webhook.ErrConflict, http.StatusConflict, "conflict", "the resource is not in a state that allows this"},
	{webhook.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "storage is unavailable, try again shortly"},
}

// fail writes the error envelope for err and stops the chain. Internal
// detail goes to the log, never to the client.
func fail(c *gin.Context, log *slog.Logger, err error) {
	var ae *apiError
	var ve *webhook.ValidationError
	switch {
	case errors.As(err, &ae):
		abort(c, ae.status, ae.code, ae.message, ae.details)
		return
	case errors.As(err, &ve):
		abort(c, http.StatusUnprocessableEntity, "validation_failed", "the request has invalid fields", ve.Fields)
		return
	}
	for _, m := range codes {
		if errors.Is(err, m.err) {
			if m.status >= 500 {
				log.Warn("request failed", "path", c.FullPath(), "error", err)
			}
			abort(c, m.status, m.code, m.message, nil)
			return
		}
	}
	log.Error("internal error", "path", c.FullPath(), "error", err)
	abort(c, http.StatusInternalServerError, "internal", "internal error", nil)
}

func abort(c *gin.Context, status int, code, message string, details map[string]string) {
	if details == nil {
		details = map[string]string{}
	}
	c.AbortWithStatusJSON(status, gin.H{"error": gin.H{"code": code, "message": message, "details": details}})
}

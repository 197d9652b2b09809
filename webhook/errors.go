package webhook

import (
	"errors"
	"sort"
	"strings"
)

// Domain errors. Every layer wraps them with %w; handlers map them to HTTP in
// one table.
var (
	ErrNotFound               = errors.New("not found")
	ErrConflict               = errors.New("conflict")
	ErrUnavailable            = errors.New("storage unavailable")
	ErrIdempotencyKeyMismatch = errors.New("idempotency key reused with a different request")
	ErrIdempotencyKeyInUse    = errors.New("a request with this idempotency key is still being processed")
	ErrKeyRevoked             = errors.New("the API key was revoked")
	// ErrWebhooksChanged: a tenant's webhooks changed after the list that
	// a write was matched against was read; nothing was written.
	ErrWebhooksChanged = errors.New("the webhooks changed")
)

// ValidationError lists every bad field of a request at once: field → reason.
type ValidationError struct {
	Fields map[string]string
}

// Error implements error.
func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.Fields[k]
	}
	return "validation failed: " + strings.Join(parts, "; ")
}

// Add records a reason for field, keeping the first one given.
func (e *ValidationError) Add(field, reason string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if _, ok := e.Fields[field]; !ok {
		e.Fields[field] = reason
	}
}

// Err returns e when it holds a field, else nil.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

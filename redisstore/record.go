package redisstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

// A delivery is one string key (keyDelivery), everything it has in one
// value, because a key of its own costs Redis more than most of what it
// holds:
//
//	<status> <test 0|1> <header>
//	<attempt>
//	<attempt>…
//
// The first line's two words are what scripts decide on; the header is a JSON
// array by position (deliveryHeader); each later line is an attempt, oldest
// first (storedAttempt). JSON escapes newlines, so lines split cleanly.
// Scripts keep the attempts as they are and rewrite the first line.

// deliveryHeader is the JSON array of a delivery's first line. Its
// positions (1-based, as scripts index it) are fixed: scripts edit 5, 6, 7,
// 8, 9 and 12.
type deliveryHeader struct {
	WebhookID     string // 1
	EventID       string // 2
	EventType     string // 3
	Attempt       int    // 4
	MaxAttempts   int    // 5
	NextRetryAt   int64  // 6 ms, 0 for none
	NextTrigger   string // 7
	FailedAtRetry int    // 8 -1 for none
	UpdatedAt     int64  // 9 ms
	LastStatus    int    // 10
	LastTimeMs    int64  // 11
	LastError     string // 12
	LastBody      string // 13
	CreatedAt     int64  // 14 ms
}

func (h *deliveryHeader) fields() []any {
	return []any{&h.WebhookID, &h.EventID, &h.EventType, &h.Attempt, &h.MaxAttempts, &h.NextRetryAt, &h.NextTrigger,
		&h.FailedAtRetry, &h.UpdatedAt, &h.LastStatus, &h.LastTimeMs, &h.LastError, &h.LastBody, &h.CreatedAt}
}

// headerOf is the header of a delivery as it stands in d. FailedAtRetry is
// kept only for a failed delivery.
func headerOf(d *webhook.Delivery) string {
	ended := -1
	if d.Status == webhook.DeliveryFailed {
		ended = d.FailedAtRetry
	}
	h := deliveryHeader{d.WebhookID, d.EventID, d.EventType, d.Attempt, d.MaxAttempts, msOf(d.NextRetryAt), d.NextTrigger,
		ended, msOf(d.UpdatedAt), d.LastResponseStatus, d.LastResponseTimeMs, d.LastError, d.LastResponseBody, msOf(d.CreatedAt)}
	return string(appendArray(make([]byte, 0, 160+len(d.LastError)+len(d.LastResponseBody)), h.fields()...))
}

// appendArray appends a JSON array of fields by position, as parse and
// unmarshalPositional read them: *string, *int, *int64, and *float64 (null
// for nil) written as encoding/json writes them, strings without HTML
// escaping (as compactJSON). Every attempt writes two arrays, so they are
// written by hand rather than by the encoder (docs/BENCHMARKS.md).
func appendArray(b []byte, fields ...any) []byte {
	b = append(b, '[')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		switch v := f.(type) {
		case *string:
			b = appendString(b, *v)
		case *int:
			b = strconv.AppendInt(b, int64(*v), 10)
		case *int64:
			b = strconv.AppendInt(b, *v, 10)
		case **float64:
			b = appendNumber(b, *v)
		default:
			panic(fmt.Sprintf("redisstore: appendArray of %T", f))
		}
	}
	return append(b, ']')
}

// appendString appends s as a JSON string; anything not plain goes through
// the encoder, which knows JSON's escapes and invalid UTF-8.
func appendString(b []byte, s string) []byte {
	if !webhook.PlainJSON(s) {
		enc, _ := compactJSON(s) // a string: cannot fail
		return append(b, enc...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendNumber appends f as encoding/json writes it, or null for nil.
func appendNumber(b []byte, f *float64) []byte {
	switch {
	case f == nil:
		return append(b, "null"...)
	case *f == 0 || (math.Abs(*f) >= 1e-6 && math.Abs(*f) < 1e21):
		return strconv.AppendFloat(b, *f, 'f', -1, 64)
	}
	enc, err := json.Marshal(*f)
	if err != nil { // NaN or an infinity: not JSON
		return append(b, "null"...)
	}
	return append(b, enc...)
}

// msOf is t in Unix milliseconds, 0 for the zero time.
func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// compactJSON encodes v without HTML escaping (bodies and errors are kept
// byte for byte, and "<" costs six bytes escaped) and without the newline.
func compactJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return bytes.TrimRight(buf.Bytes(), "\n"), err
}

// deliveryLine is a new delivery's value: its first line, no attempts.
func deliveryLine(d *webhook.Delivery) string {
	test := "0"
	if d.Test {
		test = "1"
	}
	return string(d.Status) + " " + test + " " + headerOf(d)
}

// parseDelivery reads a delivery's value (or its first line alone) and
// returns the delivery and its attempt lines ("" for none).
func parseDelivery(tenantID, id, value string) (*webhook.Delivery, string, error) {
	line, attempts, _ := strings.Cut(value, "\n")
	status, rest, _ := strings.Cut(line, " ")
	test, header, _ := strings.Cut(rest, " ")
	var h deliveryHeader
	if err := h.parse(header); err != nil {
		return nil, "", fmt.Errorf("redisstore: corrupt delivery %s: %w", id, err)
	}
	return &webhook.Delivery{
		ID: id, TenantID: tenantID, WebhookID: h.WebhookID, EventID: h.EventID, EventType: h.EventType,
		Status: webhook.DeliveryStatus(status), Attempt: h.Attempt, MaxAttempts: h.MaxAttempts,
		NextRetryAt: unixMs(h.NextRetryAt), NextTrigger: h.NextTrigger, Test: test == "1", FailedAtRetry: h.FailedAtRetry,
		LastResponseStatus: h.LastStatus, LastResponseBody: h.LastBody, LastResponseTimeMs: h.LastTimeMs, LastError: h.LastError,
		CreatedAt: unixMs(h.CreatedAt), UpdatedAt: unixMs(h.UpdatedAt),
	}, attempts, nil
}

// parse reads a header. It is on every attempt's path, so it splits the
// array itself and leaves encoding/json only strings with escapes.
func (h *deliveryHeader) parse(s string) error {
	fields := h.fields()
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return errors.New("not an array")
	}
	s = s[1 : len(s)-1]
	for i := 0; s != "" && i < len(fields); i++ {
		end := len(s)
		if s[0] == '"' {
			end = stringEnd(s)
		} else if c := strings.IndexByte(s, ','); c >= 0 {
			end = c
		}
		elem := s[:end]
		s = strings.TrimPrefix(s[end:], ",")
		var err error
		switch f := fields[i].(type) {
		case *string:
			if strings.IndexByte(elem, '\\') < 0 && len(elem) >= 2 && elem[0] == '"' && elem[len(elem)-1] == '"' {
				*f = elem[1 : len(elem)-1]
			} else {
				err = json.Unmarshal([]byte(elem), f)
			}
		case *int:
			*f, err = strconv.Atoi(elem)
		case *int64:
			*f, err = strconv.ParseInt(elem, 10, 64)
		}
		if err != nil {
			return fmt.Errorf("element %d: %w", i+1, err)
		}
	}
	return nil
}

// stringEnd is the length of the JSON string s starts with (quotes
// included), or len(s) if it does not end.
func stringEnd(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(s)
}

// unmarshalPositional decodes a JSON array into fields by position; missing
// trailing elements leave their fields as they are.
func unmarshalPositional(b []byte, fields ...any) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for i, r := range raw[:min(len(raw), len(fields))] {
		if err := json.Unmarshal(r, fields[i]); err != nil {
			return err
		}
	}
	return nil
}

// luaDelivery gives scripts parse(value): a delivery's status, test flag,
// header JSON, attempt lines (each after a newline, "" for none) and first
// line whole.
const luaDelivery = `
local function parse(v)
  local nl = string.find(v, '\n', 1, true)
  local line, rest = v, ''
  if nl then line, rest = string.sub(v, 1, nl - 1), string.sub(v, nl) end
  local st, test, h = string.match(line, '^(%a+) (%d) (.*)$')
  return st, test, h, rest, line
end
`

package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/webhook"
)

// maxBody bounds request bodies of routes other than those that publish
// (TIDINGS_MAX_PAYLOAD_BYTES, set by payloadLimit).
const maxBody = 1 << 20

// bodyLimitKey is the gin context key of a route's body limit.
const bodyLimitKey = "tidings.body_limit"

// payloadLimit gives a publishing route the configured payload limit.
func (a *API) payloadLimit(c *gin.Context) { c.Set(bodyLimitKey, a.opts.MaxPayloadBytes) }

// bind reads a JSON request body (up to the route's limit), decodes it into
// dst and checks dst's validate tags. Every bad field comes back at once as
// a *webhook.ValidationError, to which the caller may add its own checks
// (errors.As) before failing. It returns the body as read.
func (a *API) bind(c *gin.Context, dst any, allowEmpty bool) ([]byte, error) {
	limit := c.GetInt64(bodyLimitKey)
	if limit == 0 {
		limit = maxBody
	}
	body, err := readBody(c, limit)
	if err != nil {
		return nil, err
	}
	if err := decode(body, dst, allowEmpty); err != nil {
		return body, err
	}
	return body, a.val.check(dst)
}

// readBody reads the request body up to limit bytes; errTooLarge past it,
// checked on Content-Length first so a large body is never read whole.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	if c.Request.ContentLength > limit {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, errInvalidJSON("could not read the request body")
	}
	return b, nil
}

// decode parses a JSON object into dst: invalid_json for malformed JSON,
// validation_failed naming the field for a wrong type or an unknown field.
// An empty body is an empty object when allowEmpty.
func decode(body []byte, dst any, allowEmpty bool) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		if allowEmpty {
			return nil
		}
		return errInvalidJSON("the request body is empty; a JSON object is expected")
	}
	if trimmed[0] != '{' {
		return errInvalidJSON("the request body must be a JSON object")
	}
	if depth(trimmed) > 32 {
		return errInvalidJSON("the request body is nested too deeply")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if dec.More() {
			return errInvalidJSON("unexpected data after the JSON object")
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errInvalidJSON("malformed JSON: " + err.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return invalid(field, fmt.Sprintf("must be %s", jsonKind(typ.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(name, "unknown field")
	}
	var ve *webhook.ValidationError
	if errors.As(err, &ve) {
		return ve
	}
	return errInvalidJSON("malformed JSON: " + err.Error())
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return "of another type"
}

// depth is the deepest nesting of objects and arrays in a JSON text.
func depth(b []byte) int {
	d, maxD := 0, 0
	inStr, esc := false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			d++
			maxD = max(maxD, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return maxD
}

// opt is a field that may be absent, null or set: PATCH needs the three.
type opt[T any] struct {
	Set   bool
	Value *T
}

func (o *opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Value = nil
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	o.Value = &v
	return nil
}

// Package signing computes and verifies Tidings' two signature schemes. It is
// importable by receivers and depends on the standard library only.
//
// The Standard Webhooks scheme signs "{webhook-id}.{webhook-timestamp}.{body}"
// with HMAC-SHA256 and sends "v1,<base64>" in the webhook-signature header,
// space-separated when several secrets are live. Its key is the base64-decoded
// part of a "whsec_" secret, else the secret's bytes.
//
// The hex scheme signs a configurable content (default "{timestamp}.{body}")
// keyed with the secret string's own bytes, and renders a configurable format
// (default "sha256={hex}"); several live secrets are joined by ",".
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Errors returned by the verifiers.
var (
	ErrNoSignature   = errors.New("signing: no signature")
	ErrMismatch      = errors.New("signing: no signature matches")
	ErrBadTimestamp  = errors.New("signing: timestamp is missing or malformed")
	ErrOutsideWindow = errors.New("signing: timestamp outside the tolerance")
)

// StandardKey returns the HMAC key of the Standard Webhooks scheme for secret.
func StandardKey(secret string) []byte {
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if key, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return key
		}
	}
	return []byte(secret)
}

// Standard returns the webhook-signature header value for the given secrets.
func Standard(secrets []string, msgID string, timestamp int64, body []byte) string {
	parts := make([]string, len(secrets))
	for i, s := range secrets {
		parts[i] = "v1," + base64.StdEncoding.EncodeToString(standardMAC(StandardKey(s), msgID, timestamp, body))
	}
	return strings.Join(parts, " ")
}

func standardMAC(key []byte, msgID string, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// HexScheme is the configurable "hex" signature: what is signed and how the
// header value looks.
type HexScheme struct {
	// Format of one signature: {hex} or {base64} of the HMAC, {timestamp}.
	Format string
	// Content signed: {body}, {timestamp}, {id} (delivery id) and literal text.
	Content string
}

// DefaultHex is the contract's default: sha256=<hex> of "{timestamp}.{body}".
var DefaultHex = HexScheme{Format: "sha256={hex}", Content: "{timestamp}.{body}"}

// Sign returns the header value for the given secrets, joined by ",".
func (h HexScheme) Sign(secrets []string, deliveryID string, timestamp int64, body []byte) string {
	content := h.content(deliveryID, timestamp, body)
	ts := strconv.FormatInt(timestamp, 10)
	parts := make([]string, len(secrets))
	for i, s := range secrets {
		parts[i] = h.render(hexMAC(s, content), ts)
	}
	return strings.Join(parts, ",")
}

func (h HexScheme) render(mac []byte, ts string) string {
	out := make([]byte, 0, len(h.Format)+base64.StdEncoding.EncodedLen(len(mac))+len(ts))
	return string(expand(out, h.Format, func(out []byte, name string) ([]byte, bool) {
		switch name {
		case "{hex}":
			return hex.AppendEncode(out, mac), true
		case "{base64}":
			return base64.StdEncoding.AppendEncode(out, mac), true
		case "{timestamp}":
			return append(out, ts...), true
		}
		return out, false
	}))
}

// expand appends tmpl to out with each {placeholder} that value knows
// replaced; other text, braces included, is copied as is.
func expand(out []byte, tmpl string, value func(out []byte, name string) ([]byte, bool)) []byte {
	for tmpl != "" {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			return append(out, tmpl...)
		}
		out = append(out, tmpl[:i]...)
		tmpl = tmpl[i:]
		if j := strings.IndexByte(tmpl, '}'); j > 0 {
			if o, ok := value(out, tmpl[:j+1]); ok {
				out, tmpl = o, tmpl[j+1:]
				continue
			}
		}
		out, tmpl = append(out, '{'), tmpl[1:]
	}
	return out
}

func (h HexScheme) content(deliveryID string, timestamp int64, body []byte) []byte {
	ts := strconv.FormatInt(timestamp, 10)
	out := make([]byte, 0, len(h.Content)+len(body)+len(ts)+len(deliveryID))
	return expand(out, h.Content, func(out []byte, name string) ([]byte, bool) {
		switch name {
		case "{body}":
			return append(out, body...), true
		case "{timestamp}":
			return append(out, ts...), true
		case "{id}":
			return append(out, deliveryID...), true
		}
		return out, false
	})
}

func hexMAC(secret string, content []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(content)
	return m.Sum(nil)
}

// VerifyStandard checks a webhook-signature header against secret. tolerance
// bounds how far the timestamp may be from now; 0 skips that check.
func VerifyStandard(secret, msgID, timestampHeader, signatureHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := checkTimestamp(timestampHeader, now, tolerance)
	if err != nil {
		return err
	}
	if signatureHeader == "" {
		return ErrNoSignature
	}
	want := standardMAC(StandardKey(secret), msgID, ts, body)
	for _, sig := range strings.Fields(signatureHeader) {
		version, value, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrMismatch
}

// Verify checks a hex-scheme signature header against secret.
func (h HexScheme) Verify(secret, deliveryID, timestampHeader, signatureHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := checkTimestamp(timestampHeader, now, tolerance)
	if err != nil {
		return err
	}
	if signatureHeader == "" {
		return ErrNoSignature
	}
	want := h.render(hexMAC(secret, h.content(deliveryID, ts, body)), strconv.FormatInt(ts, 10))
	for _, sig := range strings.Split(signatureHeader, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(sig)), []byte(want)) {
			return nil
		}
	}
	return ErrMismatch
}

func checkTimestamp(header string, now time.Time, tolerance time.Duration) (int64, error) {
	ts, err := strconv.ParseInt(strings.TrimSpace(header), 10, 64)
	if err != nil {
		return 0, ErrBadTimestamp
	}
	if tolerance > 0 {
		d := now.Sub(time.Unix(ts, 0))
		if d > tolerance || d < -tolerance {
			return 0, ErrOutsideWindow
		}
	}
	return ts, nil
}

// Header names of the Standard Webhooks scheme and of the default hex scheme.
const (
	HeaderID           = "webhook-id"
	HeaderTimestamp    = "webhook-timestamp"
	HeaderSignature    = "webhook-signature"
	HeaderHexSignature = "X-Webhook-Signature"
	HeaderHexTimestamp = "X-Webhook-Timestamp"
	HeaderDeliveryID   = "X-Delivery-ID"
)

// DefaultTolerance is how far a signed timestamp may be from now.
const DefaultTolerance = 5 * time.Minute

// Verify checks a request Tidings sent, for receivers: the Standard Webhooks
// signature (webhook-id, webhook-timestamp, webhook-signature) and, when the
// request carries it, the hex-scheme signature under its default name. Both
// that are present must verify, and at least one must be. tolerance bounds
// the timestamp's distance from now (0: DefaultTolerance). It returns nil,
// ErrNoSignature, ErrMismatch, ErrBadTimestamp or ErrOutsideWindow.
func Verify(secret string, h http.Header, body []byte, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	now := time.Now()
	std, hexSig := h.Get(HeaderSignature), h.Get(HeaderHexSignature)
	if std == "" && hexSig == "" {
		return ErrNoSignature
	}
	if std != "" {
		if err := VerifyStandard(secret, h.Get(HeaderID), h.Get(HeaderTimestamp), std, body, now, tolerance); err != nil {
			return err
		}
	}
	if hexSig != "" {
		return DefaultHex.Verify(secret, h.Get(HeaderDeliveryID), h.Get(HeaderHexTimestamp), hexSig, body, now, tolerance)
	}
	return nil
}

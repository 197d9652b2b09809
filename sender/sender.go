// Package sender makes one outbound attempt of a delivery: it renders the
// body, signs it with both schemes, POSTs it with the delivery timeout over a
// dialer that refuses private addresses at connect time, never follows a
// redirect, times each phase with httptrace and classifies the outcome into a
// webhook.Attempt.
package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/tidingshq/tidings/signing"
	"github.com/tidingshq/tidings/webhook"
)

// Options configure a Sender. Zero header names take the contract defaults.
type Options struct {
	Timeout              time.Duration
	AllowPrivateNetworks bool
	UserAgent            string
	SignatureHeader      string
	TimestampHeader      string
	DeliveryIDHeader     string
	Hex                  signing.HexScheme
	// PayloadTemplate renders the body; nil sends the default envelope.
	PayloadTemplate *template.Template
}

// Sender sends attempts. It is safe for concurrent use and reuses
// connections across attempts.
type Sender struct {
	opts      Options
	transport *http.Transport
	// names are the headers every attempt carries, canonical where
	// Header.Set would make them so, in setHeaders' order.
	names [12]string
}

// New returns a Sender.
func New(opts Options) *Sender {
	if opts.SignatureHeader == "" {
		opts.SignatureHeader = "X-Webhook-Signature"
	}
	if opts.TimestampHeader == "" {
		opts.TimestampHeader = "X-Webhook-Timestamp"
	}
	if opts.DeliveryIDHeader == "" {
		opts.DeliveryIDHeader = "X-Delivery-ID"
	}
	if opts.Hex.Format == "" {
		opts.Hex = signing.DefaultHex
	}
	dialer := &net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivateNetworks {
		dialer.Control = refusePrivate
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would hide the destination from the address check
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1000,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   opts.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	canon := textproto.CanonicalMIMEHeaderKey
	return &Sender{opts: opts, transport: transport, names: [...]string{"Content-Type", "User-Agent",
		"webhook-id", "webhook-timestamp", "webhook-signature", // the Standard Webhooks names, sent lower-case
		canon(opts.SignatureHeader), canon(opts.TimestampHeader), "X-Webhook-Id", "X-Event-Id", "X-Event-Type",
		canon(opts.DeliveryIDHeader), "X-Delivery-Attempt"}}
}

// Close releases idle connections.
func (s *Sender) Close() { s.transport.CloseIdleConnections() }

// MaxRetryAfter caps a receiver's Retry-After.
const MaxRetryAfter = 24 * time.Hour

// Payload renders the body of a message: the default envelope, or the
// configured template.
func (s *Sender) Payload(m webhook.Message) ([]byte, error) {
	if s.opts.PayloadTemplate == nil {
		return Envelope(m.Event)
	}
	var buf bytes.Buffer
	if err := s.opts.PayloadTemplate.Execute(&buf, templateData(m)); err != nil {
		return nil, fmt.Errorf("sender: render payload: %w", err)
	}
	// Whatever the template's spacing, send what JSON.stringify would.
	body, err := webhook.CanonicalJSON(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("sender: payload template rendered invalid JSON: %w", err)
	}
	return body, nil
}

// Envelope is the default body: compact JSON without HTML escaping, so a
// receiver that re-serializes the parsed body gets the same bytes. It is
// written by hand on the hot path: an event's data is stored compact
// (canonical JSON from the API, json.Marshal for Tidings' own events), and
// IDs and event types need no escaping; anything else takes the encoder.
func Envelope(ev *webhook.Event) ([]byte, error) {
	if !webhook.PlainJSON(ev.ID) || !webhook.PlainJSON(ev.Type) || len(ev.Data) == 0 {
		return encodeEnvelope(ev)
	}
	b := make([]byte, 0, len(`{"id":"","type":"","timestamp":"2006-01-02T15:04:05.000Z","data":}`)+len(ev.ID)+len(ev.Type)+len(ev.Data))
	b = append(b, `{"id":"`...)
	b = append(b, ev.ID...)
	b = append(b, `","type":"`...)
	b = append(b, ev.Type...)
	b = append(b, `","timestamp":"`...)
	b = ev.CreatedAt.UTC().AppendFormat(b, webhook.TimeLayout)
	b = append(b, `","data":`...)
	b = append(b, ev.Data...)
	return append(b, '}'), nil
}

func encodeEnvelope(ev *webhook.Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{ev.ID, ev.Type, webhook.FormatTime(ev.CreatedAt), ev.Data})
	if err != nil {
		return nil, fmt.Errorf("sender: encode envelope: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Send makes one attempt. It never returns an error: every failure is
// classified into the attempt (ErrorClass empty means success).
func (s *Sender) Send(ctx context.Context, m webhook.Message, now time.Time) webhook.Attempt {
	res := webhook.Attempt{Attempt: m.Attempt, At: now}
	body, err := s.Payload(m)
	if err != nil {
		res.ErrorClass, res.Error = webhook.ErrorOther, err.Error()
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Webhook.URL, bytes.NewReader(body))
	if err != nil {
		res.ErrorClass, res.Error = webhook.ErrorOther, err.Error()
		return res
	}
	s.setHeaders(req.Header, m, body, now)

	if u := req.URL.User; u != nil && req.Header.Get("Authorization") == "" {
		password, _ := u.Password() // credentials in the URL, as http.Client sends them
		req.SetBasicAuth(u.Username(), password)
	}

	tr := &tracer{start: time.Now()}
	req = req.WithContext(httptrace.WithClientTrace(ctx, tr.trace()))
	// The transport alone: a redirect is never followed, so http.Client
	// would only copy the headers for one and wrap errors in the URL.
	resp, err := s.transport.RoundTrip(req)
	if err != nil {
		res.ResponseTimeMs = time.Since(tr.start).Milliseconds()
		res.Timing = tr.timing()
		// The transport's errors name the address, never the URL (whose
		// query may carry credentials): no http.Client "Post <url>:" prefix.
		res.ErrorClass, res.Error = classify(ctx, err), err.Error()
		return res
	}
	var excerpt []byte
	if resp.ContentLength != 0 { // most receivers answer with none (and io.ReadAll allocates first)
		excerpt, _ = io.ReadAll(io.LimitReader(resp.Body, webhook.MaxResponseBody))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	}
	resp.Body.Close()
	res.ResponseTimeMs = time.Since(tr.start).Milliseconds()
	res.Timing = tr.timing()
	res.ResponseStatus = resp.StatusCode
	res.ResponseBody = strings.ToValidUTF8(string(excerpt), "\uFFFD")
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		res.ErrorClass = webhook.ErrorRedirect
		res.Error = fmt.Sprintf("redirect %d to %q not followed", resp.StatusCode, resp.Header.Get("Location"))
	default:
		res.ErrorClass = webhook.ErrorHTTPStatus
		res.Error = fmt.Sprintf("HTTP %d", resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			res.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
	}
	return res
}

func (s *Sender) setHeaders(h http.Header, m webhook.Message, body []byte, now time.Time) {
	ts := now.Unix()
	secrets := m.Webhook.LiveSecrets(now)
	for k, v := range m.Webhook.Headers {
		h.Set(k, v)
	}
	stamp := strconv.FormatInt(ts, 10)
	values := [...]string{"application/json", s.opts.UserAgent,
		m.Delivery.ID, stamp, signing.Standard(secrets, m.Delivery.ID, ts, body),
		s.opts.Hex.Sign(secrets, m.Delivery.ID, ts, body), stamp, m.Webhook.ID, m.Event.ID, m.Event.Type,
		m.Delivery.ID, strconv.Itoa(m.Attempt)}
	all := values[:] // one allocation for every value
	for i, name := range s.names {
		h[name] = all[i : i+1 : i+1]
	}
}

// ParseRetryAfter reads a Retry-After value in seconds or as an HTTP date,
// capped at MaxRetryAfter; 0 when absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}

// errBlocked is returned by the dialer for a refused destination.
type errBlocked struct{ ip net.IP }

func (e *errBlocked) Error() string {
	return fmt.Sprintf("destination address %s is not allowed (private, loopback, link-local or reserved)", e.ip)
}

func classify(ctx context.Context, err error) string {
	var blocked *errBlocked
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var alertErr tls.AlertError
	var unknownAuth x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var netErr net.Error
	switch {
	case errors.As(err, &blocked):
		return webhook.ErrorBlockedAddress
	case errors.As(err, &dnsErr):
		return webhook.ErrorDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return webhook.ErrorConnectionRefused
	case errors.As(err, &certErr), errors.As(err, &recordErr), errors.As(err, &alertErr),
		errors.As(err, &unknownAuth), errors.As(err, &hostnameErr), strings.Contains(err.Error(), "tls: "), strings.Contains(err.Error(), "HTTP response to HTTPS client"):
		return webhook.ErrorTLS
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil, errors.As(err, &netErr) && netErr.Timeout():
		return webhook.ErrorTimeout
	}
	return webhook.ErrorOther
}

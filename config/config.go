// Package config reads Tidings' configuration from the environment: defaults
// first, then the TIDINGS_* variables, then Validate. It imports only the
// standard library and the domain's own parsers (webhook.ParseSchedule,
// webhook.ValidEventType); cmd turns a Config into each package's options.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

// Config is every setting of the product (contract §2).
type Config struct {
	RedisURL             string
	HTTPAddr             string
	AdminToken           string
	RetrySchedule        webhook.Schedule
	DeliveryTimeout      time.Duration
	WorkerConcurrency    int
	EndpointConcurrency  int
	DisableAfterFailures int
	LogRetention         time.Duration
	IdempotencyTTL       time.Duration
	MaxPayloadBytes      int64
	AllowHTTP            bool
	AllowPrivateNetworks bool
	SignatureHeader      string
	TimestampHeader      string
	DeliveryIDHeader     string
	SignatureFormat      string
	SignedContent        string
	PayloadTemplate      string // empty: the default envelope; sender.ParseTemplate checks it
	Monitoring           bool
	MonitoringReadOnly   bool
	PrometheusURL        string
	EventTypes           []webhook.EventType // nil: no catalog
	LogLevel             slog.Level
	QueueShards          int
	RedisWaitReplicas    int
	RedisWaitTimeout     time.Duration
	// PublicURL is the base URL people reach Tidings at (portal links);
	// empty means http:// and the address the API listens on (PublicURLFor).
	PublicURL string
	// PortalFrameAncestors are the origins allowed to embed the portal in
	// an iframe; empty means none.
	PortalFrameAncestors []string
}

// Default returns the configuration with every default of the contract.
func Default() Config {
	return Config{
		HTTPAddr:             ":8080",
		RetrySchedule:        webhook.DefaultSchedule,
		DeliveryTimeout:      30 * time.Second,
		WorkerConcurrency:    50,
		EndpointConcurrency:  10,
		DisableAfterFailures: 1,
		LogRetention:         168 * time.Hour,
		IdempotencyTTL:       24 * time.Hour,
		MaxPayloadBytes:      262144,
		SignatureHeader:      "X-Webhook-Signature",
		TimestampHeader:      "X-Webhook-Timestamp",
		DeliveryIDHeader:     "X-Delivery-ID",
		SignatureFormat:      "sha256={hex}",
		SignedContent:        "{timestamp}.{body}",
		Monitoring:           true,
		LogLevel:             slog.LevelInfo,
		QueueShards:          1,
		RedisWaitTimeout:     time.Second,
	}
}

// Mode selects the defaults that differ between dev and the other commands.
type Mode int

// Modes.
const (
	Production Mode = iota
	Dev
)

// Load builds a Config from defaults and getenv. The error names the first
// bad variable and what is wrong with it, in one line.
func Load(getenv func(string) string, mode Mode) (Config, error) {
	c := Default()
	if mode == Dev {
		c.AllowHTTP = true
		c.AllowPrivateNetworks = true
	}
	p := parser{getenv: getenv}
	p.str("TIDINGS_REDIS_URL", &c.RedisURL)
	p.str("TIDINGS_HTTP_ADDR", &c.HTTPAddr)
	p.str("TIDINGS_ADMIN_TOKEN", &c.AdminToken)
	p.schedule("TIDINGS_RETRY_SCHEDULE", &c.RetrySchedule)
	p.duration("TIDINGS_DELIVERY_TIMEOUT", &c.DeliveryTimeout)
	p.integer("TIDINGS_WORKER_CONCURRENCY", &c.WorkerConcurrency, 1)
	p.integer("TIDINGS_ENDPOINT_CONCURRENCY", &c.EndpointConcurrency, 1)
	p.integer("TIDINGS_DISABLE_AFTER_FAILED_DELIVERIES", &c.DisableAfterFailures, 0)
	p.duration("TIDINGS_LOG_RETENTION", &c.LogRetention)
	p.duration("TIDINGS_IDEMPOTENCY_TTL", &c.IdempotencyTTL)
	var maxPayload = int(c.MaxPayloadBytes)
	p.integer("TIDINGS_MAX_PAYLOAD_BYTES", &maxPayload, 1)
	c.MaxPayloadBytes = int64(maxPayload)
	p.boolean("TIDINGS_ALLOW_HTTP", &c.AllowHTTP)
	p.boolean("TIDINGS_ALLOW_PRIVATE_NETWORKS", &c.AllowPrivateNetworks)
	p.str("TIDINGS_SIGNATURE_HEADER", &c.SignatureHeader)
	p.str("TIDINGS_TIMESTAMP_HEADER", &c.TimestampHeader)
	p.str("TIDINGS_DELIVERY_ID_HEADER", &c.DeliveryIDHeader)
	p.str("TIDINGS_SIGNATURE_FORMAT", &c.SignatureFormat)
	p.str("TIDINGS_SIGNED_CONTENT", &c.SignedContent)
	p.str("TIDINGS_PAYLOAD_TEMPLATE", &c.PayloadTemplate)
	p.boolean("TIDINGS_MONITORING", &c.Monitoring)
	p.boolean("TIDINGS_MONITORING_READONLY", &c.MonitoringReadOnly)
	p.str("TIDINGS_PROMETHEUS_URL", &c.PrometheusURL)
	p.eventTypes("TIDINGS_EVENT_TYPES", &c.EventTypes)
	p.level("TIDINGS_LOG_LEVEL", &c.LogLevel)
	p.integer("TIDINGS_QUEUE_SHARDS", &c.QueueShards, 1)
	p.integer("TIDINGS_REDIS_WAIT_REPLICAS", &c.RedisWaitReplicas, 0)
	p.duration("TIDINGS_REDIS_WAIT_TIMEOUT", &c.RedisWaitTimeout)
	p.str("TIDINGS_PUBLIC_URL", &c.PublicURL)
	if v, ok := p.get("TIDINGS_PORTAL_FRAME_ANCESTORS"); ok {
		c.PortalFrameAncestors = strings.Fields(v)
	}
	if p.err != nil {
		return Config{}, p.err
	}
	return c, c.Validate(mode)
}

// Validate checks the relations between settings. The error names the
// variable that is wrong.
func (c *Config) Validate(mode Mode) error {
	if c.RedisURL == "" && mode != Dev {
		return bad("TIDINGS_REDIS_URL", "is required")
	}
	if c.RedisURL != "" {
		if _, err := ParseRedisURL(c.RedisURL); err != nil {
			return bad("TIDINGS_REDIS_URL", err.Error())
		}
	}
	if c.RedisURL == "" && c.RedisWaitReplicas > 0 {
		return bad("TIDINGS_REDIS_WAIT_REPLICAS", "needs TIDINGS_REDIS_URL: the embedded Redis of dev has no replicas")
	}
	if c.QueueShards > MaxQueueShards {
		return bad("TIDINGS_QUEUE_SHARDS", fmt.Sprintf("must be at most %d", MaxQueueShards))
	}
	if c.AdminToken == "" && mode != Dev {
		return bad("TIDINGS_ADMIN_TOKEN", "is required (at least 32 characters)")
	}
	if c.AdminToken != "" && len(c.AdminToken) < 32 {
		return bad("TIDINGS_ADMIN_TOKEN", "must be at least 32 characters")
	}
	if strings.TrimSpace(c.HTTPAddr) == "" {
		return bad("TIDINGS_HTTP_ADDR", "must not be empty")
	}
	for name, h := range map[string]string{
		"TIDINGS_SIGNATURE_HEADER":   c.SignatureHeader,
		"TIDINGS_TIMESTAMP_HEADER":   c.TimestampHeader,
		"TIDINGS_DELIVERY_ID_HEADER": c.DeliveryIDHeader,
	} {
		if !webhook.ValidHeaderName(h) {
			return bad(name, "must be a valid HTTP header name")
		}
		if strings.HasPrefix(strings.ToLower(h), "webhook-") {
			return bad(name, "must not be a webhook-* Standard Webhooks header")
		}
	}
	if !strings.Contains(c.SignatureFormat, "{hex}") && !strings.Contains(c.SignatureFormat, "{base64}") {
		return bad("TIDINGS_SIGNATURE_FORMAT", "must contain {hex} or {base64}")
	}
	if !strings.Contains(c.SignedContent, "{body}") {
		return bad("TIDINGS_SIGNED_CONTENT", "must contain {body}")
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return bad("TIDINGS_PUBLIC_URL", "must be an http(s) URL without user, query or fragment, such as https://hooks.example.com")
		}
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	}
	for _, o := range c.PortalFrameAncestors {
		if reason := frameAncestorProblem(o); reason != "" {
			return bad("TIDINGS_PORTAL_FRAME_ANCESTORS", fmt.Sprintf("%q %s", o, reason))
		}
	}
	if c.PrometheusURL != "" {
		u, err := url.Parse(c.PrometheusURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("TIDINGS_PROMETHEUS_URL", "must be an http(s) URL")
		}
	}
	return nil
}

// frameAncestorProblem checks one source of the portal's frame-ancestors:
// 'self', a scheme (https:), or an origin (scheme://host[:port], the host
// possibly *.domain). It returns what is wrong, or "".
func frameAncestorProblem(s string) string {
	const want = "must be 'self', a scheme such as https:, or an origin such as https://app.example.com"
	if s == "'self'" {
		return ""
	}
	if strings.ContainsAny(s, ";,'\"") {
		return want
	}
	if scheme, ok := strings.CutSuffix(s, ":"); ok && scheme != "" && !strings.Contains(scheme, "/") {
		return ""
	}
	u, err := url.Parse(strings.Replace(s, "://*.", "://wildcard.", 1))
	if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return want
	}
	return ""
}

// PublicURLFor is the public URL when TIDINGS_PUBLIC_URL is not set:
// http:// and the address the API listens on, 127.0.0.1 for an unspecified
// host.
func PublicURLFor(addr string) string {
	if h, p, err := net.SplitHostPort(addr); err == nil && (h == "::" || h == "0.0.0.0" || h == "") {
		addr = net.JoinHostPort("127.0.0.1", p)
	}
	return "http://" + addr
}

// ConfigError is a bad setting: the variable and what is wrong.
type ConfigError struct {
	Var    string
	Reason string
}

func (e *ConfigError) Error() string { return e.Var + ": " + e.Reason }

func bad(name, reason string) error { return &ConfigError{Var: name, Reason: reason} }

// parser reads variables and keeps the first error.
type parser struct {
	getenv func(string) string
	err    error
}

func (p *parser) get(name string) (string, bool) {
	if p.err != nil {
		return "", false
	}
	v, ok := p.getenvOK(name)
	return strings.TrimSpace(v), ok
}

func (p *parser) getenvOK(name string) (string, bool) {
	v := p.getenv(name)
	return v, v != ""
}

func (p *parser) fail(name, reason string) {
	if p.err == nil {
		p.err = bad(name, reason)
	}
}

func (p *parser) str(name string, dst *string) {
	if v, ok := p.getenvOK(name); ok && p.err == nil {
		*dst = v
	}
}

func (p *parser) duration(name string, dst *time.Duration) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, fmt.Sprintf("%q is not a Go duration (e.g. 30s, 168h)", v))
		return
	}
	if d <= 0 {
		p.fail(name, "must be positive")
		return
	}
	*dst = d
}

func (p *parser) integer(name string, dst *int, min int) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail(name, fmt.Sprintf("%q is not an integer", v))
		return
	}
	if n < min {
		p.fail(name, fmt.Sprintf("must be at least %d", min))
		return
	}
	*dst = n
}

func (p *parser) boolean(name string, dst *bool) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, fmt.Sprintf("%q is not a boolean (true or false)", v))
		return
	}
	*dst = b
}

func (p *parser) schedule(name string, dst *webhook.Schedule) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	s, err := webhook.ParseSchedule(v)
	if err != nil {
		p.fail(name, err.Error())
		return
	}
	*dst = s
}

func (p *parser) level(name string, dst *slog.Level) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	if err := dst.UnmarshalText([]byte(v)); err != nil {
		p.fail(name, fmt.Sprintf("%q is not a log level (debug, info, warn, error)", v))
	}
}

func (p *parser) eventTypes(name string, dst *[]webhook.EventType) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	var lines []string
	if path, isFile := strings.CutPrefix(v, "@"); isFile {
		b, err := os.ReadFile(path)
		if err != nil {
			p.fail(name, fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err)))
			return
		}
		lines = strings.Split(string(b), "\n")
	} else {
		lines = strings.Split(v, ",")
	}
	out := []webhook.EventType{}
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		typ, desc, _ := strings.Cut(l, " ")
		if !webhook.ValidEventType(typ) {
			p.fail(name, fmt.Sprintf("%q is not an event type", typ))
			return
		}
		out = append(out, webhook.EventType{Type: typ, Description: strings.TrimSpace(desc)})
	}
	*dst = out
}

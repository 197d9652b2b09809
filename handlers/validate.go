package handlers

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/tidingshq/tidings/webhook"
)

// validation holds the validator with Tidings' own tags, which depend on the
// configuration (allowed URL schemes and destinations, the event catalog,
// the configured signature headers).
type validation struct {
	v       *validator.Validate
	opts    *Options
	catalog map[string]bool
}

var (
	clientIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func newValidation(opts *Options) *validation {
	val := &validation{v: validator.New(validator.WithRequiredStructEnabled()), opts: opts}
	if opts.EventTypes != nil {
		val.catalog = map[string]bool{}
		for _, t := range opts.EventTypes {
			val.catalog[t.Type] = true
		}
	}
	val.v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	must := func(tag string, fn func(string) string) {
		if err := val.v.RegisterValidation(tag, func(fl validator.FieldLevel) bool { return fn(fl.Field().String()) == "" }); err != nil {
			panic(err) // programming error: a bad tag name
		}
	}
	must("webhookurl", val.urlProblem)
	must("eventpattern", val.patternProblem)
	must("eventtype", val.typeProblem)
	must("headername", val.headerProblem)
	must("headervalue", headerValueProblem)
	must("clientid", func(s string) string {
		if clientIDRe.MatchString(s) {
			return ""
		}
		return "must be 1-64 characters of A-Z, a-z, 0-9, _ or -"
	})
	return val
}

// check validates a struct and turns every failure into a field → reason.
func (val *validation) check(s any) error {
	err := val.v.Struct(s)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return fmt.Errorf("handlers: validate: %w", err)
	}
	ve := &webhook.ValidationError{}
	for _, fe := range verrs {
		ns := fe.Namespace()
		if _, rest, ok := strings.Cut(ns, "."); ok {
			ns = rest
		}
		ve.Add(ns, val.reason(fe))
	}
	return ve
}

func (val *validation) reason(fe validator.FieldError) string {
	s, _ := fe.Value().(string)
	unit := "characters"
	switch fe.Kind() {
	case reflect.Slice, reflect.Array:
		unit = "items"
	case reflect.Map:
		unit = "entries"
	case reflect.Int, reflect.Int64, reflect.Float64:
		unit = ""
	}
	switch fe.Tag() {
	case "required":
		return "is required"
	case "min":
		if unit == "" {
			return "must be at least " + fe.Param()
		}
		return fmt.Sprintf("must have at least %s %s", fe.Param(), unit)
	case "max":
		if unit == "" {
			return "must be at most " + fe.Param()
		}
		return fmt.Sprintf("must have at most %s %s", fe.Param(), unit)
	case "webhookurl":
		return val.urlProblem(s)
	case "eventpattern":
		return val.patternProblem(s)
	case "eventtype":
		return val.typeProblem(s)
	case "headername":
		return val.headerProblem(s)
	case "headervalue":
		return headerValueProblem(s)
	case "clientid":
		return "must be 1-64 characters of A-Z, a-z, 0-9, _ or -"
	case "oneof":
		return "must be one of " + strings.ReplaceAll(fe.Param(), " ", ", ")
	}
	return "is invalid (" + fe.Tag() + ")"
}

// urlProblem says what is wrong with an endpoint URL, or "".
func (val *validation) urlProblem(s string) string {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "must be an absolute URL"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !val.opts.AllowHTTP {
			return "must use https (http is not allowed)"
		}
	default:
		return "must use https"
	}
	if u.User != nil {
		return "must not contain credentials"
	}
	if !val.opts.AllowPrivateNetworks {
		host := u.Hostname()
		if ip, err := netip.ParseAddr(host); err == nil && webhook.BlockedIP(ip) {
			return "must not point to a private, loopback or link-local address"
		}
		if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
			return "must not point to a private, loopback or link-local address"
		}
		if ip := net.ParseIP(host); ip == nil && strings.Trim(host, "0123456789.") == "" {
			return "must be an absolute URL" // numeric host that is not an IP
		}
	}
	return ""
}

func (val *validation) patternProblem(s string) string {
	if !webhook.ValidPattern(s) {
		return "must be an event type such as batch.progress, a prefix wildcard such as batch.*, or *"
	}
	if val.catalog != nil && webhook.ValidEventType(s) && !strings.HasPrefix(s, webhook.OperationalPrefix) && !val.catalog[s] {
		return "is not in the event catalog"
	}
	return ""
}

func (val *validation) typeProblem(s string) string {
	if !webhook.ValidEventType(s) {
		return "must match ^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)+$"
	}
	if strings.HasPrefix(s, webhook.OperationalPrefix) {
		return "tidings.* types are reserved for Tidings' own events"
	}
	if val.catalog != nil && !val.catalog[s] {
		return "is not in the event catalog"
	}
	return ""
}

func (val *validation) headerProblem(s string) string {
	if !webhook.ValidHeaderName(s) {
		return "must be a valid HTTP header name"
	}
	l := strings.ToLower(s)
	reserved := []string{"content-type", "content-length", "host", "transfer-encoding", "user-agent",
		"x-webhook-id", "x-event-id", "x-event-type", "x-delivery-attempt",
		strings.ToLower(val.opts.SignatureHeader), strings.ToLower(val.opts.TimestampHeader), strings.ToLower(val.opts.DeliveryIDHeader)}
	for _, r := range reserved {
		if l == r {
			return "is set by Tidings and cannot be overridden"
		}
	}
	if strings.HasPrefix(l, "webhook-") {
		return "webhook-* headers are set by Tidings and cannot be overridden"
	}
	return ""
}

func headerValueProblem(s string) string {
	if len(s) > 1024 {
		return "must have at most 1024 characters"
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return "must not contain line breaks"
	}
	return ""
}

package webhook

import (
	"regexp"
	"strings"
)

var (
	eventTypeRe  = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$`)
	prefixRe     = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.\*$`)
	headerNameRe = regexp.MustCompile(`^[!#$%&'*+.^_|~0-9A-Za-z-]{1,256}$`)
)

// EventType is one entry of the event catalog (TIDINGS_EVENT_TYPES).
type EventType struct {
	Type        string
	Description string
}

// ValidHeaderName reports whether s is an HTTP header name (an RFC 9110
// token of at most 256 characters): the rule for the configured signature,
// timestamp and delivery-id headers and for a webhook's custom headers.
func ValidHeaderName(s string) bool { return headerNameRe.MatchString(s) }

// OperationalPrefix starts the types Tidings itself publishes about a
// tenant's webhooks. The catch-all "*" does not match them.
const OperationalPrefix = "tidings."

// MaxEventTypeLength bounds an event type or a filter pattern.
const MaxEventTypeLength = 128

// ValidEventType reports whether s is a concrete event type such as
// "batch.progress".
func ValidEventType(s string) bool {
	return len(s) <= MaxEventTypeLength && eventTypeRe.MatchString(s)
}

// ValidPattern reports whether s is a subscription filter: an event type, a
// prefix wildcard such as "batch.*", or "*".
func ValidPattern(s string) bool {
	if s == "*" {
		return true
	}
	return len(s) <= MaxEventTypeLength && (eventTypeRe.MatchString(s) || prefixRe.MatchString(s))
}

// MatchPattern reports whether one filter pattern matches eventType.
func MatchPattern(pattern, eventType string) bool {
	switch {
	case pattern == "*":
		return !strings.HasPrefix(eventType, OperationalPrefix)
	case strings.HasSuffix(pattern, ".*"):
		return strings.HasPrefix(eventType, pattern[:len(pattern)-1])
	default:
		return pattern == eventType
	}
}

// Matches reports whether any of the patterns matches eventType.
func Matches(patterns []string, eventType string) bool {
	for _, p := range patterns {
		if MatchPattern(p, eventType) {
			return true
		}
	}
	return false
}

package webhook

import (
	"encoding/base64"
	"strings"
)

// Page is one page of a list.
type Page[T any] struct {
	Items      []T
	NextCursor string // empty on the last page
}

// EncodeCursor makes an opaque cursor from the position of the last item of
// a page (an ID, or an entry of a stream index: the store decides).
func EncodeCursor(position string) string {
	if position == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(position))
}

// DecodeCursor reads a cursor made by EncodeCursor; "" is the first page.
func DecodeCursor(c, prefix string) (string, bool) {
	if c == "" {
		return "", true
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), prefix) || len(b) > 64 {
		return "", false
	}
	return string(b), true
}

// DeliveryFilter narrows a webhook's delivery list.
type DeliveryFilter struct {
	Status    DeliveryStatus
	EventType string
}

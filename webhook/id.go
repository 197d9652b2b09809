package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync/atomic"
	"time"
)

// ID prefixes. Every identifier is a prefix followed by 26 characters of
// Crockford base32: 11 for the creation time in microseconds, 15 random (75
// bits). IDs of one kind therefore sort by creation time, which the store's
// indexes rely on (newest first is reverse lexicographic order, and a time
// bound is an ID bound). Within a process they are strictly increasing.
const (
	PrefixTenant   = "ten_"
	PrefixWebhook  = "wh_"
	PrefixEvent    = "evt_"
	PrefixDelivery = "dlv_"
	PrefixKey      = "key_"
	PrefixAPIKey   = "tk_"
	PrefixSecret   = "whsec_"
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewID returns a new time-sortable identifier with the given prefix.
func NewID(prefix string, now time.Time) string {
	var b [26]byte
	encodeMicros(b[:11], monotonicMicros(now.UnixMicro()))
	var r [15]byte
	_, _ = rand.Read(r[:])
	for i, x := range r {
		b[11+i] = crockford[x&31]
	}
	return prefix + string(b[:])
}

// NewDeliveryID returns the ID of a new delivery of the event eventID: the
// event's 26 characters and 4 random ones, so a delivery's event is known
// from its ID alone (DeliveryEvent), and the store keeps no record of a
// delivery until something happens to it. The caller keeps the IDs of one
// event's deliveries distinct (taken).
func NewDeliveryID(eventID string, taken func(id string) bool) string {
	for {
		var r [deliverySuffix]byte
		_, _ = rand.Read(r[:])
		for i, x := range r {
			r[i] = crockford[x&31]
		}
		id := PrefixDelivery + strings.TrimPrefix(eventID, PrefixEvent) + string(r[:])
		if taken == nil || !taken(id) {
			return id
		}
	}
}

// deliverySuffix is the length of a delivery ID's own part (20 bits).
const deliverySuffix = 4

// NamesEvent reports whether a delivery ID was made by NewDeliveryID for
// the event eventID.
func NamesEvent(deliveryID, eventID string) bool {
	id, ok := DeliveryEvent(deliveryID)
	return ok && id == eventID
}

// DeliveryEvent returns the ID of a delivery's event, for IDs made by
// NewDeliveryID; ok is false for others (IDs made before, by NewID).
func DeliveryEvent(deliveryID string) (eventID string, ok bool) {
	body, ok := strings.CutPrefix(deliveryID, PrefixDelivery)
	if !ok || len(body) != 26+deliverySuffix {
		return "", false
	}
	return PrefixEvent + body[:26], true
}

// lastMicros makes IDs of one process strictly increasing even when two are
// made in the same microsecond (or the clock steps back).
var lastMicros atomic.Int64

func monotonicMicros(us int64) int64 {
	for {
		last := lastMicros.Load()
		next := max(us, last+1)
		if lastMicros.CompareAndSwap(last, next) {
			return next
		}
	}
}

// IDBound returns the smallest identifier with the given prefix created at
// or after t: every ID of that prefix created before t sorts below it.
func IDBound(prefix string, t time.Time) string {
	var b [11]byte
	encodeMicros(b[:], t.UnixMicro())
	return prefix + string(b[:])
}

func encodeMicros(dst []byte, us int64) {
	u := uint64(us)
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = crockford[u&31]
		u >>= 5
	}
}

// NewSecret returns a generated signing secret: "whsec_" and the base64 of 32
// random bytes.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return PrefixSecret + base64.StdEncoding.EncodeToString(b[:])
}

// NewAPIKey returns a tenant API key value: "tk_" and 32 random bytes in
// URL-safe base64.
func NewAPIKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return PrefixAPIKey + base64.RawURLEncoding.EncodeToString(b[:])
}

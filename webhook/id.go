package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"time"
)

// ID prefixes. Every identifier is a prefix followed by 26 characters of
// Crockford base32: 10 for the creation time in milliseconds, 16 random. IDs
// of one kind therefore sort by creation time, which the store's indexes rely
// on (newest first is reverse lexicographic order, and a time bound is an ID
// bound).
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
	encodeTime(b[:10], now)
	var r [10]byte
	_, _ = rand.Read(r[:])
	// 80 random bits as 16 base32 digits.
	var acc uint64
	bits := 0
	j := 10
	for _, x := range r {
		acc = acc<<8 | uint64(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			b[j] = crockford[(acc>>uint(bits))&31]
			j++
		}
	}
	return prefix + string(b[:])
}

// IDBound returns the smallest identifier with the given prefix created at
// or after t: every ID of that prefix created before t sorts below it.
func IDBound(prefix string, t time.Time) string {
	var b [10]byte
	encodeTime(b[:], t)
	return prefix + string(b[:])
}

func encodeTime(dst []byte, t time.Time) {
	ms := uint64(t.UnixMilli())
	for i := 9; i >= 0; i-- {
		dst[i] = crockford[ms&31]
		ms >>= 5
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

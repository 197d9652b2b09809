package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"
)

// Portal ID and token prefixes.
const (
	PrefixPortalSession = "pst_"
	PrefixPortalToken   = "pt_"
)

// Capabilities of a portal token: each opens a fixed set of /v1 routes.
const (
	CapEndpointsRead   = "endpoints:read"
	CapEndpointsWrite  = "endpoints:write"
	CapSecretsRead     = "secrets:read"
	CapDeliveriesRead  = "deliveries:read"
	CapDeliveriesWrite = "deliveries:write"
)

// Capabilities lists every capability, in the order they are shown.
var Capabilities = []string{CapEndpointsRead, CapEndpointsWrite, CapSecretsRead, CapDeliveriesRead, CapDeliveriesWrite}

// ValidCapability reports whether s is a capability.
func ValidCapability(s string) bool {
	for _, c := range Capabilities {
		if c == s {
			return true
		}
	}
	return false
}

// PortalSession is a customer's way into the portal: a token scoped to one
// tenant and to capabilities, until it expires or is revoked. Only a hash
// of the token is stored.
type PortalSession struct {
	ID           string
	TenantID     string
	Token        string // set only on creation
	Capabilities []string
	ExpiresAt    time.Time
}

// Has reports whether the session holds a capability.
func (s *PortalSession) Has(capability string) bool {
	for _, c := range s.Capabilities {
		if c == capability {
			return true
		}
	}
	return false
}

// NewPortalToken returns a portal token of a tenant: "pt_", the tenant's ID,
// "." and 32 random bytes in URL-safe base64. The tenant in the token lets
// the token's record live under the tenant's hash tag (one cluster slot with
// the rest of the tenant), found with one read.
func NewPortalToken(tenantID string) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return PrefixPortalToken + tenantID + "." + base64.RawURLEncoding.EncodeToString(b[:])
}

// PortalTokenTenant returns the tenant a portal token names; ok is false
// for anything NewPortalToken could not have made.
func PortalTokenTenant(token string) (tenantID string, ok bool) {
	rest, ok := strings.CutPrefix(token, PrefixPortalToken)
	if !ok {
		return "", false
	}
	ten, secret, ok := strings.Cut(rest, ".")
	if !ok || len(secret) != 43 || !strings.HasPrefix(ten, PrefixTenant) || len(ten) != len(PrefixTenant)+26 {
		return "", false
	}
	for _, r := range ten[len(PrefixTenant):] {
		if !strings.ContainsRune(crockford, r) {
			return "", false
		}
	}
	return ten, true
}

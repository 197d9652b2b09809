package webhook

import "context"

// keyToConfirmCtx is the context key of an API key taken from a process's
// cache: the request's first read of its tenant's keys confirms it.
type keyToConfirmCtx struct{}

// KeyToConfirm names an API key that a request was authenticated with from
// an in-process cache, not from Redis.
type KeyToConfirm struct {
	TenantID, KeyID string
}

// WithKeyToConfirm returns ctx carrying a key to confirm: the store checks
// that the tenant still has it in the same round trip as the request's own
// first read, and fails with ErrKeyRevoked if not, so that a revoked key
// stops working at once in every process.
func WithKeyToConfirm(ctx context.Context, k KeyToConfirm) context.Context {
	return context.WithValue(ctx, keyToConfirmCtx{}, k)
}

// KeyToConfirmFrom returns the key ctx carries for tenantID, if any.
func KeyToConfirmFrom(ctx context.Context, tenantID string) (KeyToConfirm, bool) {
	k, ok := ctx.Value(keyToConfirmCtx{}).(KeyToConfirm)
	return k, ok && k.TenantID == tenantID
}

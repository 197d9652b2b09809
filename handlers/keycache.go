package handlers

import (
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tidingshq/tidings/webhook"
)

// keyCache keeps the API keys that publish recently, so that publishing
// does not spend a round trip on its key: SHA-256 of the key → its tenant
// and ID. A key taken from it is not trusted alone: the request carries it to
// confirm (webhook.WithKeyToConfirm), and the publish's first read of its
// tenant checks it in the same round trip, so a revoked key stops working
// at once in every process. Only the publishing routes, which make that
// read, use it.
type keyCache struct {
	mu  sync.Mutex
	m   map[string]cachedKey
	now func() time.Time
}

type cachedKey struct {
	tenantID, keyID string
	until           time.Time
}

const (
	keyCacheTTL  = time.Minute
	keyCacheSize = 10000 // entries; the map starts again when full
)

func newKeyCache(now func() time.Time) *keyCache {
	return &keyCache{m: map[string]cachedKey{}, now: now}
}

func (k *keyCache) get(hash string) (cachedKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.m[hash]
	if ok && k.now().After(e.until) {
		delete(k.m, hash)
		return e, false
	}
	return e, ok
}

func (k *keyCache) put(hash, tenantID, keyID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.m) >= keyCacheSize {
		k.m = map[string]cachedKey{}
	}
	k.m[hash] = cachedKey{tenantID: tenantID, keyID: keyID, until: k.now().Add(keyCacheTTL)}
}

func (k *keyCache) drop(hash string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, hash)
}

// publishRoutes are the routes whose first read confirms a cached key.
var publishRoutes = map[string]bool{"/v1/events": true, "/v1/events/batch": true}

// lookupKey resolves an API key to its tenant: from the cache on a
// publishing route, the request then carrying the key to confirm; from
// Redis otherwise (and to fill the cache).
func (a *API) lookupKey(c *gin.Context, tok string) (string, error) {
	publishing := c.Request.Method == "POST" && publishRoutes[c.FullPath()]
	sum := sha256.Sum256([]byte(tok)) // the cache keeps no token
	hash := string(sum[:])
	if publishing {
		if e, ok := a.keys.get(hash); ok {
			ctx := webhook.WithKeyToConfirm(c.Request.Context(), webhook.KeyToConfirm{TenantID: e.tenantID, KeyID: e.keyID})
			c.Request = c.Request.WithContext(ctx)
			c.Set(ctxKeyHash, hash)
			return e.tenantID, nil
		}
	}
	tenantID, keyID, err := a.creds.LookupAPIKey(c.Request.Context(), tok)
	if err == nil && publishing {
		a.keys.put(hash, tenantID, keyID)
	}
	return tenantID, err
}

// ctxKeyHash is the gin context key of a cached key's hash, so that a
// request that finds its key revoked drops it from the cache.
const ctxKeyHash = "tidings.key_hash"

// forgetRevoked drops the request's cached key when err says it was
// revoked.
func (a *API) forgetRevoked(c *gin.Context, err error) {
	if errors.Is(err, webhook.ErrKeyRevoked) {
		a.keys.drop(c.GetString(ctxKeyHash))
	}
}

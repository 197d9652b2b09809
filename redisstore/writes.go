package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// writes are the writes of one transaction, each a command whose first
// argument is its one key, kept as scriptCreate takes them: the keys in
// order, and for each write its number of words, its command and its
// arguments after the key. A publish adds a few per event and per
// delivery; building them this way costs a fraction of go-redis's
// commands.
type writes struct {
	keys []string
	args []any
}

// newWrites returns writes with room for about n.
func newWrites(n int) *writes {
	return &writes{keys: make([]string, 0, n), args: make([]any, 0, 8*n)}
}

// add adds the write "cmd key args…".
func (w *writes) add(cmd, key string, args ...any) {
	w.keys = append(w.keys, key)
	w.args = append(append(w.args, len(args)+1, cmd), args...)
}

// set adds a SET of key with a TTL (none for 0).
func (w *writes) set(key string, value any, ttl time.Duration) {
	if ttl > 0 {
		w.add("set", key, value, "px", ttl.Milliseconds())
		return
	}
	w.add("set", key, value)
}

// addToIndex adds id to the stream index key, trimming the index to
// entries from cut on (Store.indexCut).
func (w *writes) addToIndex(key, cut, id string) {
	w.add("xadd", key, "minid", cut, "*", "i", id)
}

// queue adds the writes to a transaction (MULTI) being built.
func (w *writes) queue(ctx context.Context, p redis.Pipeliner) {
	a := 0
	for _, key := range w.keys {
		n := w.args[a].(int)
		p.Do(ctx, append([]any{w.args[a+1], key}, w.args[a+2:a+1+n]...)...)
		a += n + 1
	}
}

// maxScriptWrites is the most writes create makes as a script. A script
// saves a transaction's round trip on a connection of its own, but Redis
// spends about 0.7 µs more on each write called from Lua than on the same
// command in a MULTI: a publish to one webhook (5 writes) cost 20 % less
// CPU as a script, a publish to ten webhooks (23 writes) and batches ran
// slower.
const maxScriptWrites = 10

// create makes the writes w together, only while the API key that ctx
// carries to confirm exists (webhook.ErrKeyRevoked) and, when listVersion
// is not "", while the tenant's webhooks are still that version: the
// deliveries were matched against the list kept in process
// (webhook.ErrWebhooksChanged); else it writes nothing. A few writes go as
// one script (scriptCreate) through the auto-pipeliner with every other
// command, where MULTI/EXEC takes a connection and a round trip of its own
// (a quarter of a publish's CPU went to that). More go in a MULTI after
// the same script has checked (with no writes): a webhook changed between
// the two is missed by this one write, as it was when the list was read
// before every write.
func (s *Store) create(ctx context.Context, op, tenantID, listVersion string, w *writes) error {
	keys := []string{keyWebhooksVersion(tenantID), keyTenantKeys(tenantID)}
	args := []any{listVersion, keyToConfirm(ctx, tenantID)}
	small := len(w.keys) <= maxScriptWrites
	if small {
		keys, args = append(keys, w.keys...), append(args, w.args...)
	}
	n, err := s.runInt(ctx, op, scriptCreate, keys, args...)
	switch {
	case err != nil:
		return err
	case n == -1:
		return fmt.Errorf("redisstore: %s: %w", op, webhook.ErrKeyRevoked)
	case n == 0:
		return fmt.Errorf("redisstore: %s: %w", op, webhook.ErrWebhooksChanged)
	case n != 1:
		return unexpectedReply(op, n)
	case small:
		return nil
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		w.queue(ctx, p)
		return nil
	})
	return wrap(op, err)
}

// scriptCreate makes writes together, if the webhooks their deliveries
// were matched against are current and the API key that asks is not
// revoked.
//
// Input:
// KEYS[1]  -> tidings:{<ten>}:whv    the tenant's webhooks version
// KEYS[2]  -> tidings:{<ten>}:keys   the tenant's API keys
// KEYS[3…] -> the key of each write, in order
// --
// ARGV[1] -> the version of the webhooks the deliveries were matched
//
//	against ("" for no check)
//
// ARGV[2] -> the ID of an API key to confirm ("" for none)
// ARGV[3…] -> the writes, each as its number of words n, then its command
//
//	and its n-1 arguments after the key (none: the script only checks)
//
// Output:
// 1 when written; -1 when the key is gone, 0 when the version is not
// current: then nothing is written.
var scriptCreate = redis.NewScript(`
if ARGV[2] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then return -1 end
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local a = 3
for k = 3, #KEYS do
  local n = tonumber(ARGV[a])
  redis.call(ARGV[a + 1], KEYS[k], unpack(ARGV, a + 2, a + n))
  a = a + n + 1
end
return 1`)

package redisstore

import "strconv"

// The Redis key schema. Every key Tidings owns is built here, and this
// comment is its reference.
//
// Keys of one tenant share the hash tag {ten_…}, so every multi-key
// transaction and Lua script below touches one cluster slot; the same code
// runs on Redis Cluster. The small indexes are sorted sets with score 0 whose
// members are IDs: IDs sort by creation time (webhook.NewID), so "newest
// first" is ZREVRANGEBYLEX and a cursor is the last ID returned. The indexes
// of events and deliveries are streams of IDs, an entry per ID, trimmed to
// the retention as they are written (index.go). Times inside hashes are Unix
// milliseconds.
//
// Global (written by the API):
//
//	tidings:tenants                   ZSET  index of tenant IDs; no TTL
//	tidings:apikey:<sha256 of key>    STRING "<ten_id> <key_id>": bearer lookup; no TTL;
//	                                  deleted with the key
//
// Per tenant:
//
//	tidings:{ten}:tenant              HASH  name, created_at; no TTL
//	tidings:{ten}:keys                HASH  key_id → "<sha256> <created_at>"; no TTL
//	tidings:{ten}:whs                 ZSET  index of webhook IDs; no TTL
//	tidings:{ten}:whv                 STRING version of the tenant's webhooks, INCR on every
//	                                  create, settings change, status change and delete; a
//	                                  process keeps its decoded list while it holds; no TTL
//	tidings:{ten}:wh:<wh>             HASH  cfg (JSON settings, secrets included; API),
//	                                  v (cfg's version, bumped on each write), rate (the
//	                                  rate_limit, also in cfg, for scripts),
//	                                  status, disabled_reason, failure_count,
//	                                  exhausted_streak, last_delivery_at,
//	                                  last_success_at (counters: worker); no TTL
//	tidings:{ten}:wh:<wh>:pending     SET   IDs of the webhook's pending deliveries, so
//	                                  disabling or deleting it can cancel them; no TTL
//	tidings:{ten}:wh:<wh>:inflight    ZSET  the webhook's slots in use, one member per request in
//	                                  flight, "<delivery ID>.<retry count>" of the delivery run
//	                                  that took the slot (a slot passed on in a worker keeps
//	                                  it), scored by lease end
//	                                  (ms): the per-endpoint concurrency cap across workers; no
//	                                  TTL: it empties itself as attempts end, and the lease of a
//	                                  dead worker's attempt is dropped when the cap is next
//	                                  reached (or with the webhook)
//	tidings:{ten}:wh:<wh>:bucket      HASH  tokens, ts: the webhook's rate_limit token bucket;
//	                                  TTL 60s
//	tidings:{ten}:wh:<wh>:deliveries  STREAM index of the webhook's deliveries (index.go);
//	                                  trimmed to the log retention on each write
//	tidings:{ten}:events              STREAM index of events (test events excluded);
//	                                  trimmed to retention
//	tidings:{ten}:evt:<evt>           STRING JSON event with data (no newline), then a line
//	                                  "\n<webhook ID> <delivery ID>" per delivery: at most one
//	                                  delivery per (event, webhook); TTL = log retention
//	tidings:{ten}:d:<dlv>             STRING the delivery and its attempts, a line each (see
//	                                  record.go); rewritten whole on each attempt (exact size,
//	                                  where APPEND would over-allocate); TTL = log retention,
//	                                  renewed on each attempt. A delivery stored with its event
//	                                  (its ID names the event: webhook.NewDeliveryID) has none
//	                                  until its first attempt or cancellation: reads make it
//	                                  up from the event key's record (unrecorded)
//	tidings:{ten}:idem:<key>          STRING idempotency record "running|<fp>" then
//	                                  "done|<fp>|<response>"; TTL = idempotency TTL.
//	                                  <key> is "h:<Idempotency-Key>" or "c:<client id>"
//	tidings:{ten}:types               SET   event types published or subscribed to; no TTL
//	tidings:{ten}:wh:<wh>:stats:<day> HASH  the webhook's attempts per hour of one UTC day
//	                                  (<day> = Unix seconds / 86400): "<hour's Unix
//	                                  seconds>:s" succeeded, ":f" failed; written by the
//	                                  attempt's script; expires a log retention after the
//	                                  day ends (left to expire when the webhook is deleted)
//	tidings:{ten}:ptok:<sha256>       STRING a portal token's session, "<pst_id> <expires
//	                                  ms> <capabilities, comma-separated>", keyed by the
//	                                  SHA-256 of the token; expires with the session. The
//	                                  token names its tenant (webhook.NewPortalToken), so
//	                                  its lookup is one read in the tenant's slot
//	tidings:{ten}:pst:<pst>           STRING the SHA-256 of a session's token, to revoke it
//	                                  by ID; expires with the session
//	tidings:{ten}:psts                ZSET  the tenant's portal session IDs scored by expiry
//	                                  (ms), to revoke them all; expired members are dropped
//	                                  when a session is created; no TTL
//
// Per hash tag (a tenant ID or a delivery queue's name, so the key shares
// the slot, hence the master, of what a publish wrote there):
//
//	tidings:{<tag>}:wait              STRING "1": the tiny write that Replicas.Wait makes
//	                                  before WAIT on the same connection; TTL 60s
//
// Asynq's own keys live under asynq:{<queue>}:… and are Asynq's business.
//
// Changing this layout: from the first release on, a change ships as a
// numbered, tested migration command that rewrites the keys it changes,
// never as branches on the read path for the layout before.

const (
	keyTenants      = "tidings:tenants"
	keyAPIKeyPrefix = "tidings:apikey:"
)

// tag is the hash tag that opens every key of a tenant. The key functions
// below write it out with their own suffix in one concatenation (one
// allocation, where tag() + suffix made two: a delivery builds sixteen keys).
func tag(tenantID string) string { return tagOpen + tenantID + "}" }

const tagOpen = "tidings:{"

func keyTenant(ten string) string                { return tagOpen + ten + "}:tenant" }
func keyTenantKeys(ten string) string            { return tagOpen + ten + "}:keys" }
func keyWebhooks(ten string) string              { return tagOpen + ten + "}:whs" }
func keyWebhooksVersion(ten string) string       { return tagOpen + ten + "}:whv" }
func keyWebhook(ten, wh string) string           { return tagOpen + ten + "}:wh:" + wh }
func keyWebhookPending(ten, wh string) string    { return tagOpen + ten + "}:wh:" + wh + ":pending" }
func keyWebhookDeliveries(ten, wh string) string { return tagOpen + ten + "}:wh:" + wh + ":deliveries" }
func keyWebhookInflight(ten, wh string) string   { return tagOpen + ten + "}:wh:" + wh + ":inflight" }
func keyWebhookBucket(ten, wh string) string     { return tagOpen + ten + "}:wh:" + wh + ":bucket" }
func keyEvents(ten string) string                { return tagOpen + ten + "}:events" }
func keyEvent(ten, evt string) string            { return tagOpen + ten + "}:evt:" + evt }
func keyDelivery(ten, dlv string) string         { return tagOpen + ten + "}:d:" + dlv }
func keyIdempotency(ten, key string) string      { return tagOpen + ten + "}:idem:" + key }
func keyTypes(ten string) string                 { return tagOpen + ten + "}:types" }
func keyAPIKey(hash string) string               { return keyAPIKeyPrefix + hash }
func keyWait(tag string) string                  { return tagOpen + tag + "}:wait" }

// Portal sessions and webhook stats (keys of the portal).
func keyPortalToken(ten, hash string) string { return tagOpen + ten + "}:ptok:" + hash }
func keyPortalSession(ten, id string) string { return tagOpen + ten + "}:pst:" + id }
func keyPortalSessions(ten string) string    { return tagOpen + ten + "}:psts" }
func keyWebhookStats(ten, wh string, day int64) string {
	return tagOpen + ten + "}:wh:" + wh + ":stats:" + strconv.FormatInt(day, 10)
}

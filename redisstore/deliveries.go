package redisstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// Begin reads what one attempt needs and, when the delivery is due (pending,
// its event kept, its webhook active or the delivery a test), takes the
// webhook's in-flight slot and rate token as Acquire does: one script, one
// round trip on the hot path. An event read before is not read again, nor
// a webhook whose settings have not changed since (only its status is).
// slot is the slot's member in the webhook's in-flight set (see Acquire).
func (s *Store) Begin(ctx context.Context, tenantID, deliveryID, eventID, webhookID, slot string, maxInFlight int, lease time.Duration) (*webhook.Turn, error) {
	keys := append(deliveryKeys(tenantID, deliveryID), keyEvent(tenantID, eventID), keyWebhook(tenantID, webhookID),
		keyWebhookInflight(tenantID, webhookID), keyWebhookBucket(tenantID, webhookID))
	evKey, epKey := tenantID+"/"+eventID, tenantID+"/"+webhookID
	ev, haveEvent := s.events.get(evKey)
	ep, haveEndpoint := s.endpoints.get(epKey)
	unrecorded := webhook.NamesEvent(deliveryID, eventID)
	res, err := scriptBegin.Run(ctx, s.rdb, keys, lease.Milliseconds(), maxInFlight, slot, ep.version, haveEvent, unrecorded).Slice()
	if err != nil || len(res) != 6 {
		return nil, wrap("begin attempt", err)
	}
	b := &webhook.Turn{}
	switch v := res[1].(type) {
	case string:
		if b.Event, err = decodeEvent(tenantID, eventID, splitEvent(v, nil)); err != nil {
			return nil, err
		}
		s.events.put(evKey, b.Event, len(v))
	case int64:
		if v == 1 {
			b.Event = ev
		}
	}
	if line, ok := res[0].(string); ok {
		if b.Delivery, _, err = parseDelivery(tenantID, deliveryID, line); err != nil {
			return nil, err
		}
	} else if unrecorded && b.Event != nil {
		b.Delivery = s.queued(b.Event, deliveryID, webhookID)
	}
	if h, ok := res[2].([]any); ok { // the whole hash: new or changed settings, or none
		m := pairs(h)
		if b.Endpoint, err = decodeEndpoint(tenantID, webhookID, m); err != nil {
			return nil, err
		}
		if b.Endpoint != nil && m["v"] != "" {
			s.endpoints.put(epKey, versioned{m["v"], b.Endpoint}, len(m["cfg"]))
		}
	} else if haveEndpoint {
		e := *ep.endpoint // shared: copied to set the current status
		e.Status = webhook.EndpointStatus(str(res[3]))
		b.Endpoint = &e
	}
	state, _ := res[4].(int64)
	waitMs, _ := res[5].(int64)
	b.Holding = state == 1
	b.Wait, b.Delay = acquireResult(state, waitMs)
	return b, nil
}

// versioned is a webhook as cached with its settings version (the hash's v).
type versioned struct {
	version  string
	endpoint *webhook.Endpoint
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// pairs turns an HGETALL reply inside a script's reply into a map.
func pairs(v any) map[string]string {
	list, _ := v.([]any)
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		m[str(list[i])] = str(list[i+1])
	}
	return m
}

// scriptBegin
// KEYS: 1-4 the delivery (deliveryKeys), 5 event string, 6 webhook hash,
// 7 webhook in-flight ZSET, 8 webhook token bucket HASH.
// ARGV: 1 lease ms, 2 max in flight, 3 the slot's member, 4 settings version of the
// caller's copy of the webhook ("" for none), 5 "1" if the caller has the event,
// 6 "1" if the delivery may have no record (webhook.NamesEvent): none then means
// queued, if the event is kept.
// Returns {delivery's first line or nil, event, webhook fields or 0, webhook
// status, state, wait ms}. The event is its JSON, or nil if gone; when the
// caller has it, 1 or 0 for kept or gone. The webhook's fields come only when
// its version differs from the caller's (or it is gone: empty). State: 0 not
// due (nothing taken), 1 slot taken, 2 no free slot, 3 no rate token (wait
// ms). The slot logic is luaAcquire's.
var scriptBegin = redis.NewScript(luaAcquire + luaDelivery + `
local v = delivery(KEYS[1], KEYS[2], KEYS[3], KEYS[4])
local d, st, test = false, nil, nil
if v then
  local h, attempts -- unused; locals, since a script may not set globals
  st, test, h, attempts, d = parse(v)
elseif ARGV[6] == '1' then
  st, test = 'pending', '0'
end
local e, kept
if ARGV[5] == '1' then
  e = redis.call('EXISTS', KEYS[5])
  kept = e == 1
else
  e = redis.call('GET', KEYS[5])
  kept = e ~= false
end
local w = redis.call('HMGET', KEYS[6], 'v', 'status', 'rate')
local full = 0
if not w[1] or w[1] ~= ARGV[4] then full = redis.call('HGETALL', KEYS[6]) end
if st ~= 'pending' or not kept or not w[2] or (w[2] ~= 'active' and test ~= '1') then
  return {d, e, full, w[2], 0, 0}
end
local rate = tonumber(w[3])
if not rate then -- written before the rate field existed
  local ok, cfg = pcall(cjson.decode, redis.call('HGET', KEYS[6], 'cfg') or '{}')
  rate = ok and type(cfg) == 'table' and tonumber(cfg['rate_limit']) or 0
end
local state, wait = acquire(KEYS[7], KEYS[8], ARGV[3], tonumber(ARGV[1]), tonumber(ARGV[2]), rate)
return {d, e, full, w[2], state, wait}`)

// RecordAttempt appends an attempt to a delivery's log and applies its
// outcome in one script: the delivery's status, counters and next retry
// time; the webhook's failure count, last delivery and success times and,
// for an exhausted ladder, its streak of exhausted deliveries, which it
// returns. A test delivery never touches the webhook's counters. A delivery
// that left pending meanwhile (cancelled) keeps its status. endedRetry is the
// task's retry count, kept when the attempt ends the delivery as failed.
// slot names the in-flight slot the attempt held: its member in the
// webhook's in-flight set, given by the delivery run that took it and kept
// as the slot passes from one delivery to the next. The slot is given back or, when
// handedOn (the worker gave it to the next delivery as the request ended),
// its lease renewed for that delivery; renewing only a slot still held lets
// the two deliveries' records land in either order.
func (s *Store) RecordAttempt(ctx context.Context, d *webhook.Delivery, a *webhook.Attempt, outcome webhook.Outcome, endedRetry int, slot string, handedOn bool, lease time.Duration) (streak int, err error) {
	raw, _ := storeAttempt(a).MarshalJSON() // cannot fail
	after := *d
	after.Status = webhook.DeliveryPending
	switch outcome {
	case webhook.OutcomeSuccess:
		after.Status = webhook.DeliverySucceeded
	case webhook.OutcomeExhausted, webhook.OutcomeGone:
		after.Status, after.EndedRetry = webhook.DeliveryFailed, endedRetry
	}
	after.Attempt, after.NextRetryAt, after.NextTrigger, after.UpdatedAt = a.Attempt, a.NextRetryAt, webhook.TriggerScheduled, s.now()
	after.LastResponseStatus, after.LastResponseBody, after.LastResponseTimeMs, after.LastError = a.ResponseStatus, a.ResponseBody, a.ResponseTimeMs, a.Error
	ten := d.TenantID
	keys := append(deliveryKeys(ten, d.ID), keyWebhook(ten, d.WebhookID), keyWebhookPending(ten, d.WebhookID), keyWebhookInflight(ten, d.WebhookID))
	args := []any{raw, headerOf(&after), string(after.Status), ms(after.UpdatedAt), s.retention.Milliseconds(), d.ID, string(outcome), slot, handedOn, lease.Milliseconds(),
		webhook.NamesEvent(d.ID, d.EventID)}
	n, err := scriptRecordAttempt.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return 0, wrap("record attempt", err)
	}
	return n, nil
}

// scriptRecordAttempt
// KEYS: 1-4 the delivery (deliveryKeys), 5 webhook hash, 6 webhook pending set,
// 7 webhook in-flight ZSET (the attempt's slot is given back or handed on).
// ARGV: 1 attempt JSON, 2 the delivery's header after it, 3 its status after
// it, 4 now ms, 5 retention ms, 6 delivery ID, 7 outcome, 8 the slot's
// member, 9 "1" if the slot was handed on (renew it) else "0" (give it
// back), 10 lease ms, 11 "1" if the delivery may have no record (webhook.NamesEvent):
// then it was queued, and this attempt writes its first.
// Returns the webhook's exhausted streak after this attempt (0 unless exhausted),
// or -1 if the delivery no longer exists.
var scriptRecordAttempt = redis.NewScript(luaDelivery + `
if ARGV[9] == '1' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[7], 'XX', now + tonumber(ARGV[10]), ARGV[8])
else
  redis.call('ZREM', KEYS[7], ARGV[8])
end
local v = delivery(KEYS[1], KEYS[2], KEYS[3], KEYS[4])
if not v then
  if ARGV[11] ~= '1' then return -1 end
  v = 'pending 0 []'
end
local st, test, _, attempts = parse(v)
if st == 'pending' then
  st = ARGV[3]
  if st ~= 'pending' then redis.call('SREM', KEYS[6], ARGV[6]) end
end
redis.call('SET', KEYS[1], st .. ' ' .. test .. ' ' .. ARGV[2] .. attempts .. '\n' .. ARGV[1], 'PX', ARGV[5])
local streak = 0
if test ~= '1' and redis.call('EXISTS', KEYS[5]) == 1 then
  if ARGV[7] == 'success' then
    redis.call('HSET', KEYS[5], 'last_delivery_at', ARGV[4], 'last_success_at', ARGV[4], 'failure_count', 0, 'exhausted_streak', 0)
  else
    redis.call('HSET', KEYS[5], 'last_delivery_at', ARGV[4])
    redis.call('HINCRBY', KEYS[5], 'failure_count', 1)
    if ARGV[7] == 'exhausted' then streak = redis.call('HINCRBY', KEYS[5], 'exhausted_streak', 1) end
  end
end
return streak`)

// EndDeliveries moves pending deliveries of one webhook to a final status
// (cancelled, or failed) without an attempt and takes them out of the
// webhook's pending set. Deliveries no longer pending are left alone. It
// returns how many changed.
func (s *Store) EndDeliveries(ctx context.Context, tenantID, webhookID string, ids []string, status webhook.DeliveryStatus, reason string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	// A delivery with no record is still queued: the script writes its first
	// from how it was queued (unless an attempt wrote one meanwhile).
	queued, err := s.getQueued(ctx, tenantID, ids)
	if err != nil {
		return 0, err
	}
	keys := make([]string, 0, 4*len(ids)+1)
	keys = append(keys, keyWebhookPending(tenantID, webhookID))
	args := make([]any, 0, 2*len(ids)+4)
	args = append(args, string(status), ms(s.now()), reason, s.retention.Milliseconds())
	for i, id := range ids {
		keys = append(keys, deliveryKeys(tenantID, id)...)
		first := ""
		if queued[i] != nil {
			first = deliveryLine(queued[i])
		}
		args = append(args, id, first)
	}
	n, err := scriptEndDeliveries.Run(ctx, s.rdb, keys, args...).Int()
	return n, wrap("end deliveries", err)
}

// scriptEndDeliveries
// KEYS: 1 webhook pending set, then per delivery its four deliveryKeys.
// ARGV: 1 status, 2 now ms, 3 reason (last_error when set), 4 retention ms,
// then per delivery (same order) its ID and its first line as queued, for
// one with no record ("" for none).
// Returns the number of deliveries changed.
var scriptEndDeliveries = redis.NewScript(luaDelivery + `
local n = 0
for i = 2, #KEYS, 4 do
  local j = (i - 2) / 2 + 5
  local v = delivery(KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3])
  local ttl = 'KEEPTTL'
  if not v and ARGV[j + 1] ~= '' then v, ttl = ARGV[j + 1], 'PX' end
  if v then
    local st, test, h, attempts = parse(v)
    if st == 'pending' then
      local f = cjson.decode(h)
      f[6], f[9] = 0, tonumber(ARGV[2]) -- next_retry_at, updated_at
      if ARGV[3] ~= '' then f[12] = ARGV[3] end -- last_error
      local line = ARGV[1] .. ' ' .. test .. ' ' .. cjson.encode(f) .. attempts
      if ttl == 'PX' then redis.call('SET', KEYS[i], line, 'PX', ARGV[4]) else redis.call('SET', KEYS[i], line, 'KEEPTTL') end
      n = n + 1
    end
  end
  redis.call('SREM', KEYS[1], ARGV[j])
end
return n`)

// Rerun makes a finished delivery pending again for another run of the
// ladder: extra more attempts, the next one recorded with trigger. It
// returns webhook.ErrConflict if the delivery is still pending.
func (s *Store) Rerun(ctx context.Context, d *webhook.Delivery, extra int, trigger string) error {
	keys := append(deliveryKeys(d.TenantID, d.ID), keyWebhookPending(d.TenantID, d.WebhookID))
	n, err := scriptRerun.Run(ctx, s.rdb, keys, extra, trigger, ms(s.now()), d.ID, s.retention.Milliseconds()).Int()
	switch {
	case err != nil:
		return wrap("rerun delivery", err)
	case n == -1:
		return wrap("rerun delivery", webhook.ErrNotFound)
	case n == 0:
		return wrap("rerun delivery", webhook.ErrConflict)
	}
	return nil
}

// scriptRerun
// KEYS: 1-4 the delivery (deliveryKeys), 5 webhook pending set.
// ARGV: 1 extra attempts, 2 trigger, 3 now ms, 4 delivery ID, 5 retention ms.
// Returns 1, 0 if the delivery is pending, -1 if it does not exist.
var scriptRerun = redis.NewScript(luaDelivery + `
local v = delivery(KEYS[1], KEYS[2], KEYS[3], KEYS[4])
if not v then return -1 end
local st, test, h, attempts = parse(v)
if st == 'pending' then return 0 end
local f = cjson.decode(h)
f[5] = f[5] + tonumber(ARGV[1]) -- max_attempts
f[6], f[7], f[8], f[9] = 0, ARGV[2], -1, tonumber(ARGV[3]) -- next_retry_at, next_trigger, ended_retry, updated_at
redis.call('SET', KEYS[1], 'pending ' .. test .. ' ' .. cjson.encode(f) .. attempts, 'PX', ARGV[5])
redis.call('SADD', KEYS[5], ARGV[4])
return 1`)

// storedAttempt is an attempt as kept in a delivery's attempts list, for the
// whole log retention, so it is stored compactly: a JSON array by position,
// Unix milliseconds, the next retry as an offset, trailing empty fields left
// out (see MarshalJSON). Attempts stored as objects with these short keys,
// before, still read.
type storedAttempt struct {
	N      int         `json:"n"`
	At     int64       `json:"at"`
	Tr     string      `json:"tr,omitempty"` // omitted: scheduled
	Status int         `json:"s,omitempty"`
	Body   string      `json:"b,omitempty"`
	Ms     int64       `json:"ms"`
	Timing [4]*float64 `json:"t"` // dns, connect, tls, first byte
	Class  string      `json:"c,omitempty"`
	Err    string      `json:"e,omitempty"`
	Next   int64       `json:"nr,omitempty"`
}

// MarshalJSON writes [n, at, status, ms, dns, connect, tls, first byte,
// class, error, next retry - at, trigger, body].
func (s storedAttempt) MarshalJSON() ([]byte, error) {
	var next int64
	if s.Next != 0 {
		next = s.Next - s.At
	}
	v := []any{&s.N, &s.At, &s.Status, &s.Ms, &s.Timing[0], &s.Timing[1], &s.Timing[2], &s.Timing[3], &s.Class, &s.Err, &next, &s.Tr, &s.Body}
	for len(v) > 4 && isZero(v[len(v)-1]) {
		v = v[:len(v)-1]
	}
	return appendArray(make([]byte, 0, 96+len(s.Err)+len(s.Body)), v...), nil
}

func isZero(v any) bool {
	switch x := v.(type) {
	case **float64:
		return *x == nil
	case *string:
		return *x == ""
	case *int64:
		return *x == 0
	}
	return false
}

func (s *storedAttempt) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		type object storedAttempt // no methods: the plain decoder
		return json.Unmarshal(b, (*object)(s))
	}
	var next int64
	if err := unmarshalPositional(b, &s.N, &s.At, &s.Status, &s.Ms, &s.Timing[0], &s.Timing[1], &s.Timing[2], &s.Timing[3], &s.Class, &s.Err, &next, &s.Tr, &s.Body); err != nil {
		return err
	}
	if next != 0 {
		s.Next = s.At + next
	}
	return nil
}

func storeAttempt(a *webhook.Attempt) storedAttempt {
	s := storedAttempt{N: a.Attempt, At: a.At.UnixMilli(), Status: a.ResponseStatus, Body: a.ResponseBody, Ms: a.ResponseTimeMs,
		Timing: [4]*float64{a.Timing.DNSMs, a.Timing.ConnectMs, a.Timing.TLSMs, a.Timing.FirstByteMs},
		Class:  a.ErrorClass, Err: a.Error}
	if a.Trigger != webhook.TriggerScheduled {
		s.Tr = a.Trigger
	}
	if !a.NextRetryAt.IsZero() {
		s.Next = a.NextRetryAt.UnixMilli()
	}
	return s
}

func (s storedAttempt) attempt() webhook.Attempt {
	a := webhook.Attempt{Attempt: s.N, At: time.UnixMilli(s.At).UTC(), Trigger: s.Tr, ResponseStatus: s.Status, ResponseBody: s.Body,
		ResponseTimeMs: s.Ms, Timing: webhook.Timing{DNSMs: s.Timing[0], ConnectMs: s.Timing[1], TLSMs: s.Timing[2], FirstByteMs: s.Timing[3]},
		ErrorClass: s.Class, Error: s.Err}
	if a.Trigger == "" {
		a.Trigger = webhook.TriggerScheduled
	}
	if s.Next != 0 {
		a.NextRetryAt = time.UnixMilli(s.Next).UTC()
	}
	return a
}

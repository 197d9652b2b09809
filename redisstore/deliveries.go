package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// Begin reads what one attempt needs and, when the delivery is due (pending,
// its event kept, its webhook active or the delivery a test), takes the
// webhook's in-flight slot and rate token as Acquire does: one script, one
// round trip on the hot path. An event read before is not read again, nor
// a webhook whose settings have not changed since (only its status is).
func (s *Store) Begin(ctx context.Context, tenantID, deliveryID, eventID, webhookID string, maxInFlight int, lease time.Duration) (*webhook.Turn, error) {
	keys := []string{keyDelivery(tenantID, deliveryID), keyEvent(tenantID, eventID), keyWebhook(tenantID, webhookID),
		keyWebhookInflight(tenantID, webhookID), keyWebhookBucket(tenantID, webhookID)}
	evKey, epKey := tenantID+"/"+eventID, tenantID+"/"+webhookID
	ev, haveEvent := s.events.get(evKey)
	ep, haveEndpoint := s.endpoints.get(epKey)
	res, err := scriptBegin.Run(ctx, s.rdb, keys, lease.Milliseconds(), maxInFlight, deliveryID, ep.version, haveEvent).Slice()
	if err != nil || len(res) != 6 {
		return nil, wrap("begin attempt", err)
	}
	b := &webhook.Turn{Delivery: decodeDelivery(tenantID, deliveryID, pairs(res[0]))}
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
// KEYS: 1 delivery hash, 2 event string, 3 webhook hash, 4 webhook in-flight ZSET,
// 5 webhook token bucket HASH.
// ARGV: 1 lease ms, 2 max in flight, 3 delivery ID, 4 settings version of the
// caller's copy of the webhook ("" for none), 5 "1" if the caller has the event.
// Returns {delivery fields, event, webhook fields or 0, webhook status, state,
// wait ms}. The event is its JSON, or nil if gone; when the caller has it, 1 or
// 0 for kept or gone. The webhook's fields come only when its version differs
// from the caller's (or it is gone: empty). State: 0 not due (nothing taken),
// 1 slot taken, 2 no free slot, 3 no rate token (wait ms). The slot logic is
// luaAcquire's.
var scriptBegin = redis.NewScript(luaAcquire + `
local d = redis.call('HGETALL', KEYS[1])
local e, kept
if ARGV[5] == '1' then
  e = redis.call('EXISTS', KEYS[2])
  kept = e == 1
else
  e = redis.call('GET', KEYS[2])
  kept = e ~= false
end
local w = redis.call('HMGET', KEYS[3], 'v', 'status', 'rate')
local full = 0
if not w[1] or w[1] ~= ARGV[4] then full = redis.call('HGETALL', KEYS[3]) end
local st, test
for i = 1, #d, 2 do
  if d[i] == 'status' then st = d[i + 1] elseif d[i] == 'test' then test = d[i + 1] end
end
if st ~= 'pending' or not kept or not w[2] or (w[2] ~= 'active' and test ~= '1') then
  return {d, e, full, w[2], 0, 0}
end
local rate = tonumber(w[3])
if not rate then -- written before the rate field existed
  local ok, cfg = pcall(cjson.decode, redis.call('HGET', KEYS[3], 'cfg') or '{}')
  rate = ok and type(cfg) == 'table' and tonumber(cfg['rate_limit']) or 0
end
local state, wait = acquire(KEYS[4], KEYS[5], ARGV[3], tonumber(ARGV[1]), tonumber(ARGV[2]), rate)
return {d, e, full, w[2], state, wait}`)

// RecordAttempt appends an attempt to a delivery's log and applies its
// outcome in one script: the delivery's status, counters and next retry
// time; the webhook's failure count, last delivery and success times and,
// for an exhausted ladder, its streak of exhausted deliveries, which it
// returns. A test delivery never touches the webhook's counters. A delivery
// that left pending meanwhile (cancelled) keeps its status. endedRetry is the
// task's retry count, kept when the attempt ends the delivery as failed.
// The delivery's in-flight slot is given back, or, when handTo names another
// delivery of the webhook waiting for one, handed to it for lease.
func (s *Store) RecordAttempt(ctx context.Context, d *webhook.Delivery, a *webhook.Attempt, outcome webhook.Outcome, endedRetry int, handTo string, lease time.Duration) (streak int, err error) {
	raw, err := json.Marshal(storeAttempt(a))
	if err != nil {
		return 0, fmt.Errorf("redisstore: encode attempt: %w", err)
	}
	status := webhook.DeliveryPending
	switch outcome {
	case webhook.OutcomeSuccess:
		status = webhook.DeliverySucceeded
	case webhook.OutcomeExhausted, webhook.OutcomeGone:
		status = webhook.DeliveryFailed
	}
	test := "0"
	if d.Test {
		test = "1"
	}
	ten := d.TenantID
	keys := []string{keyDelivery(ten, d.ID), keyAttempts(ten, d.ID), keyWebhook(ten, d.WebhookID), keyWebhookPending(ten, d.WebhookID),
		keyWebhookInflight(ten, d.WebhookID)}
	args := []any{
		raw, a.Attempt, string(status), ms(a.NextRetryAt), a.ResponseStatus, a.ResponseBody, a.ResponseTimeMs,
		a.Error, ms(s.now()), s.retention.Milliseconds(), d.ID, string(outcome), test, endedRetry, handTo, lease.Milliseconds(),
	}
	n, err := scriptRecordAttempt.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return 0, wrap("record attempt", err)
	}
	return n, nil
}

// scriptRecordAttempt
// KEYS: 1 delivery hash, 2 attempts string, 3 webhook hash, 4 webhook pending set,
// 5 webhook in-flight ZSET (the attempt's slot is given back or handed on).
// ARGV: 1 attempt JSON, 2 attempt number, 3 new status, 4 next_retry_at (ms or ""),
// 5 response status, 6 response body, 7 response time ms, 8 error, 9 now ms,
// 10 retention ms, 11 delivery ID, 12 outcome, 13 test ("1"/"0"), 14 the task's
// retry count (kept as ended_retry when the delivery fails), 15 the delivery
// ID to hand the slot to ("" for none), 16 its lease ms.
// Returns the webhook's exhausted streak after this attempt (0 unless exhausted),
// or -1 if the delivery no longer exists.
var scriptRecordAttempt = redis.NewScript(`
redis.call('ZREM', KEYS[5], ARGV[11])
if ARGV[15] ~= '' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[5], now + tonumber(ARGV[16]), ARGV[15])
end
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return -1 end
local prev = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], prev and prev .. '\n' .. ARGV[1] or ARGV[1], 'PX', ARGV[10])
local f = {'attempt', ARGV[2], 'next_retry_at', ARGV[4], 'last_status', ARGV[5], 'last_body', ARGV[6],
  'last_time_ms', ARGV[7], 'last_error', ARGV[8], 'next_trigger', 'scheduled', 'updated_at', ARGV[9]}
if st == 'pending' then
  f[#f + 1], f[#f + 2] = 'status', ARGV[3]
  if ARGV[3] == 'failed' then f[#f + 1], f[#f + 2] = 'ended_retry', ARGV[14] end
  if ARGV[3] ~= 'pending' then redis.call('SREM', KEYS[4], ARGV[11]) end
end
redis.call('HSET', KEYS[1], unpack(f))
redis.call('PEXPIRE', KEYS[1], ARGV[10])
local streak = 0
if ARGV[13] ~= '1' and redis.call('EXISTS', KEYS[3]) == 1 then
  if ARGV[12] == 'success' then
    redis.call('HSET', KEYS[3], 'last_delivery_at', ARGV[9], 'last_success_at', ARGV[9], 'failure_count', 0, 'exhausted_streak', 0)
  else
    redis.call('HSET', KEYS[3], 'last_delivery_at', ARGV[9])
    redis.call('HINCRBY', KEYS[3], 'failure_count', 1)
    if ARGV[12] == 'exhausted' then streak = redis.call('HINCRBY', KEYS[3], 'exhausted_streak', 1) end
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
	keys := make([]string, 0, len(ids)+1)
	keys = append(keys, keyWebhookPending(tenantID, webhookID))
	args := make([]any, 0, len(ids)+3)
	args = append(args, string(status), ms(s.now()), reason)
	for _, id := range ids {
		keys = append(keys, keyDelivery(tenantID, id))
		args = append(args, id)
	}
	n, err := scriptEndDeliveries.Run(ctx, s.rdb, keys, args...).Int()
	return n, wrap("end deliveries", err)
}

// scriptEndDeliveries
// KEYS: 1 webhook pending set, 2… delivery hashes.
// ARGV: 1 status, 2 now ms, 3 reason (last_error when set), 4… delivery IDs (same order).
// Returns the number of deliveries changed.
var scriptEndDeliveries = redis.NewScript(`
local n = 0
for i = 2, #KEYS do
  if redis.call('HGET', KEYS[i], 'status') == 'pending' then
    redis.call('HSET', KEYS[i], 'status', ARGV[1], 'next_retry_at', '', 'updated_at', ARGV[2])
    if ARGV[3] ~= '' then redis.call('HSET', KEYS[i], 'last_error', ARGV[3]) end
    n = n + 1
  end
  redis.call('SREM', KEYS[1], ARGV[i + 2])
end
return n`)

// Rerun makes a finished delivery pending again for another run of the
// ladder: extra more attempts, the next one recorded with trigger. It
// returns webhook.ErrConflict if the delivery is still pending.
func (s *Store) Rerun(ctx context.Context, d *webhook.Delivery, extra int, trigger string) error {
	ten := d.TenantID
	keys := []string{keyDelivery(ten, d.ID), keyAttempts(ten, d.ID), keyWebhookPending(ten, d.WebhookID), keyLegacyAttempts(ten, d.ID)}
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
// KEYS: 1 delivery hash, 2 attempts string, 3 webhook pending set, 4 attempts list
// written before the string.
// ARGV: 1 extra attempts, 2 trigger, 3 now ms, 4 delivery ID, 5 retention ms.
// Returns 1, 0 if the delivery is pending, -1 if it does not exist.
var scriptRerun = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return -1 end
if st == 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'pending', 'next_trigger', ARGV[2], 'next_retry_at', '', 'updated_at', ARGV[3], 'ended_retry', '')
redis.call('HINCRBY', KEYS[1], 'max_attempts', ARGV[1])
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[4], ARGV[5])
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
	v := []any{s.N, s.At, s.Status, s.Ms, s.Timing[0], s.Timing[1], s.Timing[2], s.Timing[3], s.Class, s.Err, next, s.Tr, s.Body}
	for len(v) > 4 && isZero(v[len(v)-1]) {
		v = v[:len(v)-1]
	}
	return json.Marshal(v)
}

func isZero(v any) bool {
	switch x := v.(type) {
	case *float64:
		return x == nil
	case string:
		return x == ""
	case int64:
		return x == 0
	}
	return false
}

func (s *storedAttempt) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		type object storedAttempt // no methods: the plain decoder
		return json.Unmarshal(b, (*object)(s))
	}
	var next int64
	fields := []any{&s.N, &s.At, &s.Status, &s.Ms, &s.Timing[0], &s.Timing[1], &s.Timing[2], &s.Timing[3], &s.Class, &s.Err, &next, &s.Tr, &s.Body}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for i, r := range raw[:min(len(raw), len(fields))] {
		if err := json.Unmarshal(r, fields[i]); err != nil {
			return err
		}
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

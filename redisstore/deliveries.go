package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// Begin reads what one attempt needs and, when the delivery is pending (its
// event kept, its webhook active or the delivery a test), takes the
// webhook's in-flight slot and rate token as Acquire does: one script, one
// round trip on the hot path. An event read before is not read again, nor a
// webhook whose settings have not changed since (only its status is).
func (s *Store) Begin(ctx context.Context, req webhook.BeginRequest) (*webhook.Prepared, error) {
	ten := req.TenantID
	keys := []string{keyDelivery(ten, req.DeliveryID), keyEvent(ten, req.EventID), keyWebhook(ten, req.WebhookID),
		keyWebhookInflight(ten, req.WebhookID), keyWebhookBucket(ten, req.WebhookID)}
	ev, haveEvent := s.events.get(ten + "/" + req.EventID)
	ep, _ := s.webhooks.get(ten + "/" + req.WebhookID) // zero: none kept
	res, err := s.runArray(ctx, "begin attempt", scriptBegin, keys, 6, req.Slot.Lease.Milliseconds(), req.Slot.MaxInFlight,
		req.Slot.Member, ep.version, haveEvent, webhook.NamesEvent(req.DeliveryID, req.EventID))
	if err != nil {
		return nil, err
	}
	b := &webhook.Prepared{}
	if b.Event, err = s.begunEvent(req, res[1], ev); err == nil {
		if b.Delivery, err = s.begunDelivery(req, res[0], b.Event); err == nil {
			b.Webhook, err = s.begunWebhook(req, res[2], res[3], ep.webhook)
		}
	}
	state, ok1 := res[4].(int64)
	waitMs, ok2 := res[5].(int64)
	switch {
	case errors.Is(err, errUnexpected) || !ok1 || !ok2:
		return nil, unexpectedReply("begin attempt", res)
	case err != nil:
		return nil, err
	}
	b.HasSlot = state == 1
	b.Wait, b.TokenIn = acquireResult(state, waitMs)
	return b, nil
}

// errUnexpected marks a reply element of the wrong type.
var errUnexpected = errors.New("unexpected reply element")

// begunEvent reads scriptBegin's event element: the event's value (read and
// kept), or whether the event the caller had (kept) is still stored.
func (s *Store) begunEvent(req webhook.BeginRequest, v any, kept *webhook.Event) (*webhook.Event, error) {
	switch v := v.(type) {
	case string:
		ev, err := decodeEvent(req.TenantID, req.EventID, splitEvent(v, nil))
		if err == nil {
			s.events.put(req.TenantID+"/"+req.EventID, ev, len(v))
		}
		return ev, err
	case int64:
		if v == 1 {
			return kept, nil
		}
		return nil, nil
	case nil:
		return nil, nil // gone
	}
	return nil, errUnexpected
}

// begunDelivery reads scriptBegin's delivery element: its value, or nil for
// a delivery with no record, which is queued if its event names it and is
// kept.
func (s *Store) begunDelivery(req webhook.BeginRequest, v any, ev *webhook.Event) (*webhook.Delivery, error) {
	switch v := v.(type) {
	case string:
		d, _, err := parseDelivery(req.TenantID, req.DeliveryID, v)
		return d, err
	case nil:
		if ev != nil && webhook.NamesEvent(req.DeliveryID, req.EventID) {
			return s.queued(ev, req.DeliveryID, req.WebhookID), nil
		}
		return nil, nil
	}
	return nil, errUnexpected
}

// begunWebhook reads scriptBegin's webhook elements: its whole hash when
// its settings changed from the caller's (kept) (kept anew with their
// version), else the caller's webhook with the status read now.
func (s *Store) begunWebhook(req webhook.BeginRequest, fields, status any, kept *webhook.Webhook) (*webhook.Webhook, error) {
	switch h := fields.(type) {
	case []any:
		m := pairs(h)
		e, err := decodeWebhook(req.TenantID, req.WebhookID, m)
		if err == nil && e != nil && m["v"] != "" {
			s.webhooks.put(req.TenantID+"/"+req.WebhookID, versioned{m["v"], e}, len(m["cfg"]))
		}
		return e, err
	case int64:
		if kept == nil || status == nil {
			return nil, nil
		}
		e := *kept // shared: copied to set the current status
		e.Status = webhook.WebhookStatus(str(status))
		return &e, nil
	}
	return nil, errUnexpected
}

// versioned is a webhook as cached with its settings version (the hash's v).
type versioned struct {
	version string
	webhook *webhook.Webhook
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// pairs turns an HGETALL reply inside a script's reply into a map.
func pairs(list []any) map[string]string {
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		m[str(list[i])] = str(list[i+1])
	}
	return m
}

// scriptBegin reads a delivery, its event and its webhook, and takes the
// webhook's in-flight slot if the delivery is due.
//
// Input:
// KEYS[1] -> tidings:{<ten>}:d:<dlv>            the delivery
// KEYS[2] -> tidings:{<ten>}:evt:<evt>          its event
// KEYS[3] -> tidings:{<ten>}:wh:<wh>            its webhook
// KEYS[4] -> tidings:{<ten>}:wh:<wh>:inflight   the webhook's slots
// KEYS[5] -> tidings:{<ten>}:wh:<wh>:bucket     the webhook's rate tokens
// --
// ARGV[1] -> lease of a slot, ms
// ARGV[2] -> the webhook's cap of slots
// ARGV[3] -> the slot's member (the delivery's run)
// ARGV[4] -> settings version of the caller's copy of the webhook ("" for none)
// ARGV[5] -> "1" if the caller has the event already
// ARGV[6] -> "1" if the delivery may have no record (webhook.NamesEvent): none
//
//	then means queued, if the event is kept
//
// Output: an array of 6:
// [1] the delivery's value, or nil
// [2] the event's value, or nil if gone; when the caller has it, 1 if kept, 0 if gone
// [3] the webhook's fields (HGETALL) when its version differs from the
//
//	caller's (empty if gone), else 0
//
// [4] the webhook's status, or nil if gone
// [5] slot state: 0 not due (nothing taken), 1 taken, 2 no free slot, 3 no rate token
// [6] ms until a rate token (state 3), else 0
var scriptBegin = redis.NewScript(luaAcquire + luaDelivery + `
local d = redis.call('GET', KEYS[1])
local st, test
if d then
  st, test = parse(d)
elseif ARGV[6] == '1' then
  st, test = 'pending', '0'
end
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
if st ~= 'pending' or not kept or not w[2] or (w[2] ~= 'active' and test ~= '1') then
  return {d, e, full, w[2], 0, 0}
end
local state, wait = acquire(KEYS[4], KEYS[5], ARGV[3], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(w[3]) or 0)
return {d, e, full, w[2], state, wait}`)

// RecordAttempt appends an attempt to a delivery's log and applies its
// outcome in one script: the delivery's status, counters and next retry
// time; the webhook's failure count, last delivery and success times and,
// for an exhausted ladder, its streak of exhausted deliveries, which it
// returns. A test delivery never touches the webhook's counters. A delivery
// that left pending meanwhile (cancelled) keeps its status. The attempt's
// slot is given back, or its lease renewed when it was passed on (see
// webhook.AttemptRecord), which lets the two deliveries' records land in
// either order.
func (s *Store) RecordAttempt(ctx context.Context, rec webhook.AttemptRecord) (streak int, err error) {
	d, a := rec.Delivery, rec.Attempt
	raw, _ := storeAttempt(a).MarshalJSON() // cannot fail
	after := *d
	after.Status = webhook.DeliveryPending
	switch rec.Outcome {
	case webhook.OutcomeSuccess:
		after.Status = webhook.DeliverySucceeded
	case webhook.OutcomeExhausted, webhook.OutcomeGone:
		after.Status, after.FailedAtRetry = webhook.DeliveryFailed, rec.FailedAtRetry
	}
	after.Attempt, after.NextRetryAt, after.NextTrigger, after.UpdatedAt = a.Attempt, a.NextRetryAt, webhook.TriggerScheduled, s.now()
	after.LastResponseStatus, after.LastResponseBody, after.LastResponseTimeMs, after.LastError = a.ResponseStatus, a.ResponseBody, a.ResponseTimeMs, a.Error
	ten := d.TenantID
	day, field, expireAt := statsField(a.At, rec.Outcome == webhook.OutcomeSuccess, s.retention)
	keys := []string{keyDelivery(ten, d.ID), keyWebhook(ten, d.WebhookID), keyWebhookPending(ten, d.WebhookID), keyWebhookInflight(ten, d.WebhookID),
		keyWebhookStats(ten, d.WebhookID, day)}
	n, err := s.runInt(ctx, "record attempt", scriptRecordAttempt, keys, raw, headerOf(&after), string(after.Status), ms(after.UpdatedAt),
		s.retention.Milliseconds(), d.ID, string(rec.Outcome), rec.Slot.Member, rec.SlotPassed, rec.Slot.Lease.Milliseconds(),
		webhook.NamesEvent(d.ID, d.EventID), field, expireAt)
	return int(n), err
}

// scriptRecordAttempt records an attempt and its outcome.
//
// Input:
// KEYS[1] -> tidings:{<ten>}:d:<dlv>            the delivery
// KEYS[2] -> tidings:{<ten>}:wh:<wh>            its webhook
// KEYS[3] -> tidings:{<ten>}:wh:<wh>:pending    the webhook's pending deliveries
// KEYS[4] -> tidings:{<ten>}:wh:<wh>:inflight   the webhook's slots
// KEYS[5] -> tidings:{<ten>}:wh:<wh>:stats:<day> the webhook's attempts per hour of the attempt's day
// --
// ARGV[1] -> the attempt's line (storedAttempt)
// ARGV[2] -> the delivery's header after it
// ARGV[3] -> the delivery's status after it
// ARGV[4] -> now, ms
// ARGV[5] -> retention, ms
// ARGV[6] -> delivery ID
// ARGV[7] -> outcome (webhook.Outcome)
// ARGV[8] -> the slot's member
// ARGV[9] -> "1" if the slot was passed on (renew its lease), else "0" (give it back)
// ARGV[10] -> lease, ms
// ARGV[11] -> "1" if the delivery may have no record (webhook.NamesEvent):
//
//	then it was queued, and this attempt writes its first
//
// ARGV[12] -> the stats field of the attempt's hour and outcome (statsField)
// ARGV[13] -> when the stats hash expires, ms: set when a field is new (the
// same time for every field of the day)
//
// Output:
// The webhook's streak of exhausted deliveries after this attempt (0 unless
// exhausted), or -1 if the delivery no longer exists.
var scriptRecordAttempt = redis.NewScript(luaDelivery + `
if ARGV[9] == '1' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[4], 'XX', now + tonumber(ARGV[10]), ARGV[8])
else
  redis.call('ZREM', KEYS[4], ARGV[8])
end
local v = redis.call('GET', KEYS[1])
if not v then
  if ARGV[11] ~= '1' then return -1 end
  v = 'pending 0 []'
end
local st, test, _, attempts = parse(v)
if st == 'pending' then
  st = ARGV[3]
  if st ~= 'pending' then redis.call('SREM', KEYS[3], ARGV[6]) end
end
redis.call('SET', KEYS[1], st .. ' ' .. test .. ' ' .. ARGV[2] .. attempts .. '\n' .. ARGV[1], 'PX', ARGV[5])
if redis.call('HINCRBY', KEYS[5], ARGV[12], 1) == 1 then redis.call('PEXPIREAT', KEYS[5], ARGV[13]) end
local streak = 0
if test ~= '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  if ARGV[7] == 'success' then
    redis.call('HSET', KEYS[2], 'last_delivery_at', ARGV[4], 'last_success_at', ARGV[4], 'failure_count', 0, 'exhausted_streak', 0)
  else
    redis.call('HSET', KEYS[2], 'last_delivery_at', ARGV[4])
    redis.call('HINCRBY', KEYS[2], 'failure_count', 1)
    if ARGV[7] == 'exhausted' then streak = redis.call('HINCRBY', KEYS[2], 'exhausted_streak', 1) end
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
	keys := make([]string, 0, len(ids)+1)
	keys = append(keys, keyWebhookPending(tenantID, webhookID))
	args := make([]any, 0, 2*len(ids)+4)
	args = append(args, string(status), ms(s.now()), reason, s.retention.Milliseconds())
	for i, id := range ids {
		keys = append(keys, keyDelivery(tenantID, id))
		first := ""
		if queued[i] != nil {
			first = deliveryLine(queued[i])
		}
		args = append(args, id, first)
	}
	n, err := s.runInt(ctx, "end deliveries", scriptEndDeliveries, keys, args...)
	return int(n), err
}

// scriptEndDeliveries ends pending deliveries without an attempt.
//
// Input:
// KEYS[1] -> tidings:{<ten>}:wh:<wh>:pending    the webhook's pending deliveries
// KEYS[2…] -> tidings:{<ten>}:d:<dlv>           each delivery
// --
// ARGV[1] -> the status to end them with
// ARGV[2] -> now, ms
// ARGV[3] -> reason (the last_error when set)
// ARGV[4] -> retention, ms
// ARGV[5…] -> per delivery, in KEYS' order: its ID, then its first line as
//
//	queued, for one with no record ("" for none)
//
// Output:
// The number of deliveries changed.
var scriptEndDeliveries = redis.NewScript(luaDelivery + `
local n = 0
for i = 2, #KEYS do
  local j = 2 * i + 1
  local v = redis.call('GET', KEYS[i])
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
	keys := []string{keyDelivery(d.TenantID, d.ID), keyWebhookPending(d.TenantID, d.WebhookID)}
	n, err := s.runInt(ctx, "rerun delivery", scriptRerun, keys, extra, trigger, ms(s.now()), d.ID, s.retention.Milliseconds())
	switch {
	case err != nil:
		return err
	case n == -1:
		return wrap("rerun delivery", webhook.ErrNotFound)
	case n == 0:
		return wrap("rerun delivery", webhook.ErrConflict)
	}
	return nil
}

// scriptRerun makes a finished delivery pending again.
//
// Input:
// KEYS[1] -> tidings:{<ten>}:d:<dlv>            the delivery
// KEYS[2] -> tidings:{<ten>}:wh:<wh>:pending    the webhook's pending deliveries
// --
// ARGV[1] -> attempts to add (one run of the ladder)
// ARGV[2] -> the next attempt's trigger
// ARGV[3] -> now, ms
// ARGV[4] -> delivery ID
// ARGV[5] -> retention, ms
//
// Output:
// 1 if made pending, 0 if it is pending already, -1 if it does not exist
// (a delivery with no record is queued, so pending).
var scriptRerun = redis.NewScript(luaDelivery + `
local v = redis.call('GET', KEYS[1])
if not v then return -1 end
local st, test, h, attempts = parse(v)
if st == 'pending' then return 0 end
local f = cjson.decode(h)
f[5] = f[5] + tonumber(ARGV[1]) -- max_attempts
f[6], f[7], f[8], f[9] = 0, ARGV[2], -1, tonumber(ARGV[3]) -- next_retry_at, next_trigger, failed_at_retry, updated_at
redis.call('SET', KEYS[1], 'pending ' .. test .. ' ' .. cjson.encode(f) .. attempts, 'PX', ARGV[5])
redis.call('SADD', KEYS[2], ARGV[4])
return 1`)

// UndoRerun puts back a delivery that Rerun made pending, as it was before
// (d, as read then), if no attempt was made since: the rollback of a re-run
// whose task could not be queued. It reports whether it did.
func (s *Store) UndoRerun(ctx context.Context, d *webhook.Delivery) (bool, error) {
	keys := []string{keyDelivery(d.TenantID, d.ID), keyWebhookPending(d.TenantID, d.WebhookID)}
	n, err := s.runInt(ctx, "undo rerun", scriptUndoRerun, keys, deliveryLine(d), d.Attempt, d.ID)
	return n == 1, err
}

// scriptUndoRerun restores a re-run delivery's first line.
//
// Input:
// KEYS[1] -> tidings:{<ten>}:d:<dlv>            the delivery
// KEYS[2] -> tidings:{<ten>}:wh:<wh>:pending    the webhook's pending deliveries
// --
// ARGV[1] -> the first line it had before the re-run
// ARGV[2] -> the attempts it had made then
// ARGV[3] -> delivery ID
//
// Output:
// 1 if restored, 0 if it is not pending or was attempted since.
var scriptUndoRerun = redis.NewScript(luaDelivery + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local st, _, h, attempts = parse(v)
if st ~= 'pending' or cjson.decode(h)[4] ~= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. attempts, 'KEEPTTL')
redis.call('SREM', KEYS[2], ARGV[3])
return 1`)

// DeleteDeliveries removes deliveries that AddDeliveries wrote and that
// could not be queued: the rollback of a recover. Their index entries stay
// (lists skip them) and so do their events' records of them (recover
// creates a delivery again where the recorded one is missing).
func (s *Store) DeleteDeliveries(ctx context.Context, ds []*webhook.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, d := range ds {
			p.Del(ctx, keyDelivery(d.TenantID, d.ID))
			p.SRem(ctx, keyWebhookPending(d.TenantID, d.WebhookID), d.ID)
		}
		return nil
	})
	return wrap("delete deliveries", err)
}

// storedAttempt is an attempt as kept in a delivery's value, for the whole
// log retention, so it is stored compactly: a JSON array by position, Unix
// milliseconds, the next retry as an offset, trailing empty fields left out
// (see MarshalJSON).
type storedAttempt struct {
	N      int
	At     int64
	Tr     string // "" for scheduled
	Status int
	Body   string
	Ms     int64
	Timing [4]*float64 // dns, connect, tls, first byte
	Class  string
	Err    string
	Next   int64
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

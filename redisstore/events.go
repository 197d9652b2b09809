package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// storedEvent is the JSON of an event key. Its ID is the key's.
type storedEvent struct {
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	ClientID  string          `json:"client_id,omitempty"`
	CreatedAt int64           `json:"created_at"`
}

// CreateEvent writes an event and its deliveries together, with the
// accepted record of its idempotency keys when idem is not nil. Test
// events (sent by /test) are kept out of the event indexes, so lists and
// recover never see them. listVersion is as CreateEvents'.
func (s *Store) CreateEvent(ctx context.Context, ev *webhook.Event, deliveries []*webhook.Delivery, test bool, idem *webhook.IdempotencyRecord, listVersion string) error {
	body, err := encodeEvent(ev)
	if err != nil {
		return err
	}
	w := newWrites(eventWrites(deliveries, idem))
	s.writeEvent(w, ev, body, deliveries, test, idem)
	return s.create(ctx, "create event", ev.TenantID, listVersion, w)
}

// encodeEvent is the JSON of an event key, without HTML escaping: the data
// (compact JSON, as every publisher stores it) must reach receivers byte
// for byte as sent. A plain type and client id (validated ones are) are
// written by hand, as cutEvent reads them, and the rest by the encoder.
func encodeEvent(ev *webhook.Event) ([]byte, error) {
	if webhook.PlainJSON(ev.Type) && webhook.PlainJSON(ev.ClientID) && len(ev.Data) > 1 && ev.Data[0] == '{' {
		const head, data, client, created = `{"type":"`, `","data":`, `,"client_id":"`, `,"created_at":`
		b := make([]byte, 0, len(head)+len(ev.Type)+len(data)+len(ev.Data)+len(client)+len(ev.ClientID)+len(created)+24)
		b = append(append(append(append(b, head...), ev.Type...), data...), ev.Data...)
		if ev.ClientID != "" {
			b = append(append(append(b, client...), ev.ClientID...), '"')
		}
		b = strconv.AppendInt(append(b, created...), ev.CreatedAt.UnixMilli(), 10)
		return append(b, '}'), nil
	}
	body, err := compactJSON(storedEvent{Type: ev.Type, Data: ev.Data, ClientID: ev.ClientID, CreatedAt: ev.CreatedAt.UnixMilli()})
	if err != nil {
		return nil, fmt.Errorf("redisstore: encode event: %w", err)
	}
	return body, nil
}

// writeEvent adds to w the writes of a new event (body: encodeEvent's),
// its deliveries and the accepted record of its idempotency keys (may be
// nil).
func (s *Store) writeEvent(w *writes, ev *webhook.Event, body []byte, deliveries []*webhook.Delivery, test bool, idem *webhook.IdempotencyRecord) {
	ten := ev.TenantID
	cut := s.indexCut()
	w.set(keyEvent(ten, ev.ID), append(body, deliveryRecords(deliveries)...), s.retention)
	if !test {
		w.addToIndex(keyEvents(ten), cut, ev.ID)
		w.add("sadd", keyTypes(ten), ev.Type)
	}
	s.addDeliveries(w, ev, deliveries, test, cut)
	if idem != nil {
		acceptIdempotency(w, ten, idem)
	}
}

// eventWrites is about how many writes writeEvent adds.
func eventWrites(deliveries []*webhook.Delivery, idem *webhook.IdempotencyRecord) int {
	n := 3 + 2*len(deliveries)
	if idem != nil {
		n += len(idem.Keys)
	}
	return n
}

// unrecorded reports whether d, a new delivery of ev, goes without a record
// of its own until something happens to it: its ID names the event
// (webhook.NamesEvent), and everything else about it is in the event key's
// records and the Store's settings (queued), so a queued task needs no key
// of its own. A test delivery is recorded, as the event does not say so.
func unrecorded(ev *webhook.Event, d *webhook.Delivery, test bool) bool {
	return webhook.NamesEvent(d.ID, ev.ID) && !test
}

// deliveryRecords is what an event key carries after its JSON: a line
// "<webhook ID> <delivery ID>" per delivery, each after a newline (the JSON
// has none). One key per event, not two.
func deliveryRecords(deliveries []*webhook.Delivery) []byte {
	var b []byte
	for _, d := range deliveries {
		b = append(b, '\n')
		b = append(b, d.WebhookID...)
		b = append(b, ' ')
		b = append(b, d.ID...)
	}
	return b
}

// splitEvent separates an event key's JSON from its delivery records, read
// into byWebhook (which may be nil), the last record of a webhook winning.
func splitEvent(raw string, byWebhook map[string]string) string {
	body, records, _ := strings.Cut(raw, "\n")
	for records != "" && byWebhook != nil {
		var line string
		line, records, _ = strings.Cut(records, "\n")
		if wh, dlv, ok := strings.Cut(line, " "); ok {
			byWebhook[wh] = dlv
		}
	}
	return body
}

// addDeliveries adds to w the writes of new deliveries of an event (whose
// key carries their records: CreateEvent's own SET, or AddDeliveries'
// append): each one's record unless it can go without (unrecorded), and
// indexes (cut: indexCut's).
func (s *Store) addDeliveries(w *writes, ev *webhook.Event, deliveries []*webhook.Delivery, test bool, cut string) {
	ten := ev.TenantID
	for _, d := range deliveries {
		if !unrecorded(ev, d, test) {
			w.set(keyDelivery(ten, d.ID), deliveryLine(d), s.retention)
		}
		w.addToIndex(keyWebhookDeliveries(ten, d.WebhookID), cut, d.ID)
		w.add("sadd", keyWebhookPending(ten, d.WebhookID), d.ID)
	}
}

// AddDeliveries writes new deliveries of an existing event (recover); the
// event key gets their records if it is still there. They are recorded
// whole: their IDs are not the event's (webhook.NewID), since one could
// otherwise take the ID of another webhook's delivery of the event.
func (s *Store) AddDeliveries(ctx context.Context, ev *webhook.Event, deliveries []*webhook.Delivery) error {
	if len(deliveries) == 0 {
		return nil
	}
	w := newWrites(3 * len(deliveries))
	s.addDeliveries(w, ev, deliveries, false, s.indexCut())
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Eval(ctx, luaAppendIfExists, []string{keyEvent(ev.TenantID, ev.ID)}, deliveryRecords(deliveries))
		w.queue(ctx, p)
		return nil
	})
	return wrap("add deliveries", err)
}

// luaAppendIfExists: KEYS[1] a string; ARGV[1] what to append if it exists
// (APPEND alone would recreate an expired key without a TTL). Sent whole
// (EVAL) because it runs inside MULTI, where a missing script cannot fall
// back.
const luaAppendIfExists = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('APPEND', KEYS[1], ARGV[1]) end
return 0`

// EventsBetween returns a batch of the events of a tenant created in
// [since, until], oldest first, from position after ("" for the start), with
// the ID of this webhook's delivery of each ("" for none), and the position
// of the next batch ("" after the last). A batch reads limit index entries,
// so it may hold fewer events (or none) before the last.
func (s *Store) EventsBetween(ctx context.Context, tenantID, webhookID string, since, until time.Time, after string, limit int) ([]*webhook.Event, []string, string, error) {
	start := strconv.FormatInt(max(since.Add(-indexSlack).UnixMilli(), 0), 10) + "-0"
	if after != "" {
		entry, ok := entryOf(after, webhook.PrefixEvent)
		if !ok {
			return nil, nil, "", badCursor()
		}
		start = "(" + entry
	}
	end := strconv.FormatInt(until.Add(indexSlack).UnixMilli(), 10) + "-" + strconv.FormatUint(math.MaxUint64, 10)
	msgs, err := s.rdb.XRangeN(ctx, keyEvents(tenantID), start, end, int64(limit)).Result()
	if err != nil {
		return nil, nil, "", wrap("events between", err)
	}
	next := ""
	if len(msgs) == limit {
		next = webhook.PrefixEvent + msgs[len(msgs)-1].ID
	}
	lo, hi := webhook.IDBound(webhook.PrefixEvent, since), webhook.IDBound(webhook.PrefixEvent, until.Add(time.Millisecond))
	var ids []string
	for _, m := range msgs {
		if id := str(m.Values["i"]); id >= lo && id < hi {
			ids = append(ids, id)
		}
	}
	p := s.rdb.Pipeline()
	evs := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		evs[i] = p.Get(ctx, keyEvent(tenantID, id))
	}
	if _, err := p.Exec(ctx); err != nil && err != redis.Nil {
		return nil, nil, "", wrap("events between", err)
	}
	var out []*webhook.Event
	var dlvs []string
	for i := range ids {
		if evs[i].Err() != nil {
			continue // expired
		}
		byWebhook := map[string]string{}
		ev, err := decodeEvent(tenantID, ids[i], splitEvent(evs[i].Val(), byWebhook))
		if err != nil {
			return nil, nil, "", err
		}
		out, dlvs = append(out, ev), append(dlvs, byWebhook[webhookID])
	}
	return out, dlvs, next, nil
}

// DeleteEvent removes an event whose deliveries could not be queued, and
// the idempotency keys that accepted it (idem, may be nil), so a failed
// publish leaves nothing behind but index entries, which lists skip (as
// those of expired events) until the retention trims them, and the client's
// retry creates the event once.
func (s *Store) DeleteEvent(ctx context.Context, ev *webhook.Event, deliveries []*webhook.Delivery, idem *webhook.IdempotencyRecord) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		deleteEvent(ctx, p, ev, deliveries, idem)
		return nil
	})
	return wrap("delete event", err)
}

// deleteEvent queues DeleteEvent's deletes.
func deleteEvent(ctx context.Context, p redis.Pipeliner, ev *webhook.Event, deliveries []*webhook.Delivery, idem *webhook.IdempotencyRecord) {
	ten := ev.TenantID
	p.Del(ctx, keyEvent(ten, ev.ID))
	if idem != nil {
		for _, k := range idem.Keys {
			p.Del(ctx, keyIdempotency(ten, k))
		}
	}
	for _, d := range deliveries {
		p.Del(ctx, keyDelivery(ten, d.ID))
		p.SRem(ctx, keyWebhookPending(ten, d.WebhookID), d.ID)
	}
}

// decodeEvent reads an event from its JSON (splitEvent's body).
func decodeEvent(tenantID, id, body string) (*webhook.Event, error) {
	se, ok := cutEvent(body)
	if !ok {
		if err := json.Unmarshal([]byte(body), &se); err != nil {
			return nil, fmt.Errorf("redisstore: corrupt event: %w", err)
		}
	}
	return &webhook.Event{ID: id, TenantID: tenantID, Type: se.Type, Data: se.Data, ClientID: se.ClientID,
		CreatedAt: unixMs(se.CreatedAt)}, nil
}

// cutEvent reads an event as CreateEvent writes it,
// {"type":…,"data":{…}[,"client_id":…],"created_at":…}, without the JSON
// decoder (every attempt reads its event); ok is false for anything else.
// The type and client ID are plain (validated), so their quotes end them,
// and everything after the data is plain: the data is what lies between.
func cutEvent(body string) (se storedEvent, ok bool) {
	const head, data, client, created = `{"type":"`, `","data":`, `,"client_id":"`, `,"created_at":`
	rest, ok := strings.CutPrefix(body, head)
	q := strings.IndexByte(rest, '"')
	if !ok || q < 0 || strings.IndexByte(rest[:q], '\\') >= 0 || !strings.HasPrefix(rest[q:], data) {
		return se, false
	}
	se.Type, rest = rest[:q], rest[q+len(data):]
	c := strings.LastIndex(rest, created)
	if c < 0 || !strings.HasSuffix(rest, "}") {
		return se, false
	}
	n, err := strconv.ParseInt(rest[c+len(created):len(rest)-1], 10, 64)
	if err != nil {
		return se, false
	}
	se.CreatedAt, rest = n, rest[:c]
	if strings.HasSuffix(rest, `"`) {
		k := strings.LastIndex(rest, client)
		if k < 0 {
			return se, false
		}
		se.ClientID, rest = rest[k+len(client):len(rest)-1], rest[:k]
		if strings.ContainsAny(se.ClientID, `"\\`) {
			return se, false
		}
	}
	if len(rest) < 2 || rest[0] != '{' || rest[len(rest)-1] != '}' {
		return se, false
	}
	se.Data = json.RawMessage(rest)
	return se, true
}

// GetEvent returns an event and the IDs of its deliveries by webhook ID.
func (s *Store) GetEvent(ctx context.Context, tenantID, id string) (*webhook.Event, map[string]string, error) {
	raw, err := s.rdb.Get(ctx, keyEvent(tenantID, id)).Result()
	if err != nil {
		return nil, nil, wrap("get event", err)
	}
	byWebhook := map[string]string{}
	ev, err := decodeEvent(tenantID, id, splitEvent(raw, byWebhook))
	if err != nil {
		return nil, nil, err
	}
	return ev, byWebhook, nil
}

// ListEvents pages through a tenant's events newest first, optionally of one
// type (filtered while paging: a per-type index would cost more memory per
// event than it saves). Events past retention have left the index.
func (s *Store) ListEvents(ctx context.Context, tenantID, eventType, cursor string, limit int) (webhook.Page[*webhook.Event], error) {
	return scanIndex(ctx, streamIndex(s.rdb, keyEvents(tenantID), webhook.PrefixEvent), cursor, limit, func(ids []string) ([]*webhook.Event, []string, error) {
		if len(ids) == 0 {
			return nil, nil, nil
		}
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = keyEvent(tenantID, id)
		}
		vals, err := s.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, nil, wrap("list events", err)
		}
		var out []*webhook.Event
		var kept []string
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // expired
			}
			ev, err := decodeEvent(tenantID, ids[i], splitEvent(str, nil))
			if err != nil {
				return nil, nil, err
			}
			if eventType != "" && ev.Type != eventType {
				continue
			}
			out = append(out, ev)
			kept = append(kept, ids[i])
		}
		return out, kept, nil
	})
}

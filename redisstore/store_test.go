package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/redistest"
	"github.com/tidingshq/tidings/webhook"
)

func newStore(t *testing.T, retention time.Duration) (*Store, *redis.Client) {
	_, rc := redistest.New(t)
	return New(rc, Options{Retention: retention}), rc
}

func fixture(t *testing.T, s *Store) (*webhook.Webhook, *webhook.Event, *webhook.Delivery) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	ten := &webhook.Tenant{ID: webhook.NewID(webhook.PrefixTenant, now), Name: "acme", CreatedAt: now}
	key := &webhook.APIKey{ID: webhook.NewID(webhook.PrefixKey, now), TenantID: ten.ID, Value: webhook.NewAPIKey(), CreatedAt: now}
	if err := s.CreateTenant(ctx, ten, key); err != nil {
		t.Fatal(err)
	}
	ep := &webhook.Webhook{ID: webhook.NewID(webhook.PrefixWebhook, now), TenantID: ten.ID, URL: "https://example.com",
		Events: []string{"batch.*", "computation.complete"}, Secret: webhook.NewSecret(), Status: webhook.StatusActive, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateWebhook(ctx, ep); err != nil {
		t.Fatal(err)
	}
	ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: ten.ID, Type: "batch.done", Data: json.RawMessage(`{"a":"<&>"}`), CreatedAt: now}
	d := &webhook.Delivery{ID: webhook.NewID(webhook.PrefixDelivery, now), TenantID: ten.ID, WebhookID: ep.ID, EventID: ev.ID,
		EventType: ev.Type, Status: webhook.DeliveryPending, MaxAttempts: 3, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateEvent(ctx, ev, []*webhook.Delivery{d}, false, nil, ""); err != nil {
		t.Fatal(err)
	}
	return ep, ev, d
}

// The keys of keys.go exist with the documented types and TTLs, and all of
// a tenant's keys share its hash tag.
func TestKeySchema(t *testing.T) {
	s, rc := newStore(t, time.Hour)
	ctx := context.Background()
	ep, ev, d := fixture(t, s)
	ten := ep.TenantID
	want := map[string]string{
		keyTenants: "zset", keyTenant(ten): "hash", keyTenantKeys(ten): "hash", keyWebhooks(ten): "zset",
		keyWebhook(ten, ep.ID): "hash", keyWebhookPending(ten, ep.ID): "set", keyWebhookDeliveries(ten, ep.ID): "stream",
		keyWebhooksVersion(ten): "string", keyEvents(ten): "stream", keyEvent(ten, ev.ID): "string",
		keyDelivery(ten, d.ID): "string",
		keyTypes(ten):          "set",
	}
	for k, typ := range want {
		if got := rc.Type(ctx, k).Val(); got != typ {
			t.Errorf("%s is %q, want %q", k, got, typ)
		}
	}
	for _, k := range []string{keyEvent(ten, ev.ID), keyDelivery(ten, d.ID)} {
		if ttl := rc.TTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s TTL = %v, want the retention", k, ttl)
		}
	}
	keys := rc.Keys(ctx, "*").Val()
	for _, k := range keys {
		if k == keyTenants || len(k) > len(keyAPIKeyPrefix) && k[:len(keyAPIKeyPrefix)] == keyAPIKeyPrefix || k == "redistest:next-db" {
			continue
		}
		if len(k) < len(tag(ten)) || k[:len(tag(ten))] != tag(ten) {
			t.Errorf("key %s is outside the tenant's hash tag", k)
		}
	}
	// The stored event keeps the data byte for byte (no HTML escaping).
	got, byWebhook, err := s.GetEvent(ctx, ten, ev.ID)
	if err != nil || string(got.Data) != `{"a":"<&>"}` || got.ID != ev.ID {
		t.Errorf("event = %+v, %v", got, err)
	}
	if len(byWebhook) != 1 || byWebhook[ep.ID] != d.ID {
		t.Errorf("deliveries by webhook = %v", byWebhook)
	}
}

// An event's key carries its deliveries: those added later (recover) too,
// unless it expired meanwhile.
func TestEventDeliveryRecords(t *testing.T) {
	s, rc := newStore(t, time.Hour)
	ctx := context.Background()
	ep, ev, d := fixture(t, s)
	ten := ep.TenantID
	later := *d
	later.ID, later.WebhookID = webhook.NewID(webhook.PrefixDelivery, time.Now()), "wh_other"
	if err := s.AddDeliveries(ctx, ev, []*webhook.Delivery{&later}); err != nil {
		t.Fatal(err)
	}
	if _, byWebhook, _ := s.GetEvent(ctx, ten, ev.ID); len(byWebhook) != 2 || byWebhook["wh_other"] != later.ID || byWebhook[ep.ID] != d.ID {
		t.Errorf("after recover: %v", byWebhook)
	}
	events, dlvs, _, err := s.EventsBetween(ctx, ten, "wh_other", ev.CreatedAt.Add(-time.Second), time.Now(), "", 10)
	if err != nil || len(events) != 1 || string(events[0].Data) != string(ev.Data) || dlvs[0] != later.ID {
		t.Errorf("EventsBetween = %+v %v, %v", events, dlvs, err)
	}
	if ttl := rc.TTL(ctx, keyEvent(ten, ev.ID)).Val(); ttl <= 0 {
		t.Errorf("event TTL after an append = %v", ttl)
	}
	// An expired event is not brought back by a late delivery record.
	rc.Del(ctx, keyEvent(ten, ev.ID))
	again := later
	again.ID = webhook.NewID(webhook.PrefixDelivery, time.Now())
	if err := s.AddDeliveries(ctx, ev, []*webhook.Delivery{&again}); err != nil {
		t.Fatal(err)
	}
	if n := rc.Exists(ctx, keyEvent(ten, ev.ID)).Val(); n != 0 {
		t.Error("AddDeliveries recreated an expired event key")
	}
}

// Recording attempts moves the delivery and the webhook's counters in one
// script; a cancelled delivery keeps its status.
func TestRecordAttemptAndEnd(t *testing.T) {
	s, _ := newStore(t, time.Hour)
	ctx := context.Background()
	ep, _, d := fixture(t, s)
	a := &webhook.Attempt{Attempt: 1, At: time.Now(), ErrorClass: webhook.ErrorHTTPStatus, ResponseStatus: 500, NextRetryAt: time.Now().Add(time.Second)}
	if _, err := s.RecordAttempt(ctx, webhook.AttemptRecord{Delivery: d, Attempt: a, Outcome: webhook.OutcomeRetry, Slot: webhook.Slot{Member: d.ID}}); err != nil {
		t.Fatal(err)
	}
	a2 := &webhook.Attempt{Attempt: 2, At: time.Now(), ErrorClass: webhook.ErrorTimeout}
	streak, err := s.RecordAttempt(ctx, webhook.AttemptRecord{Delivery: d, Attempt: a2, Outcome: webhook.OutcomeExhausted, FailedAtRetry: 1, Slot: webhook.Slot{Member: d.ID}})
	if err != nil || streak != 1 {
		t.Fatalf("streak = %d, %v", streak, err)
	}
	got, _ := s.GetDelivery(ctx, d.TenantID, d.ID)
	if got.Status != webhook.DeliveryFailed || got.Attempt != 2 || !got.NextRetryAt.IsZero() || got.FailedAtRetry != 1 {
		t.Errorf("delivery = %+v", got)
	}
	e, _ := s.GetWebhook(ctx, ep.TenantID, ep.ID)
	if e.FailureCount != 2 || e.ExhaustedStreak != 1 || e.LastDeliveryAt.IsZero() {
		t.Errorf("endpoint = %+v", e)
	}
	if ids, _ := s.PendingDeliveries(ctx, ep.TenantID, ep.ID); len(ids) != 0 {
		t.Errorf("pending after failure = %v", ids)
	}
	_, attempts, _ := s.DeliveryAttempts(ctx, d.TenantID, d.ID)
	if len(attempts) != 2 || attempts[0].ResponseStatus != 500 || attempts[1].ErrorClass != webhook.ErrorTimeout {
		t.Errorf("attempts = %+v", attempts)
	}
	// Rerun: pending again with a bigger budget; a second rerun conflicts.
	if err := s.Rerun(ctx, got, 3, webhook.TriggerManual); err != nil {
		t.Fatal(err)
	}
	if err := s.Rerun(ctx, got, 3, webhook.TriggerManual); !errors.Is(err, webhook.ErrConflict) {
		t.Errorf("rerun of pending = %v", err)
	}
	got, _ = s.GetDelivery(ctx, d.TenantID, d.ID)
	if got.Status != webhook.DeliveryPending || got.MaxAttempts != 6 || got.NextTrigger != webhook.TriggerManual {
		t.Errorf("rerun delivery = %+v", got)
	}
	// Cancel it; a late attempt does not resurrect it.
	if n, err := s.EndDeliveries(ctx, d.TenantID, d.WebhookID, []string{d.ID}, webhook.DeliveryCancelled, ""); n != 1 || err != nil {
		t.Fatalf("end = %d, %v", n, err)
	}
	if _, err := s.RecordAttempt(ctx, webhook.AttemptRecord{Delivery: d, Attempt: &webhook.Attempt{Attempt: 3, At: time.Now()}, Outcome: webhook.OutcomeSuccess, Slot: webhook.Slot{Member: d.ID}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetDelivery(ctx, d.TenantID, d.ID)
	if got.Status != webhook.DeliveryCancelled {
		t.Errorf("cancelled delivery became %s", got.Status)
	}
	e, _ = s.GetWebhook(ctx, ep.TenantID, ep.ID)
	if e.FailureCount != 0 || e.ExhaustedStreak != 0 || e.LastSuccessAt.IsZero() {
		t.Errorf("a success resets the counters: %+v", e)
	}
}

// A delivery stored with its event (an ID of webhook.NewDeliveryID) has no
// record until something happens to it; until then every read makes it up
// from the event, and the first attempt or cancellation writes it.
func TestUnrecordedDelivery(t *testing.T) {
	_, rc := redistest.New(t)
	s := New(rc, Options{Retention: time.Hour, Attempts: 7})
	ctx := context.Background()
	ep, _, _ := fixture(t, s)
	ten := ep.TenantID
	now := time.UnixMilli(time.Now().UnixMilli()).UTC() // as stored
	ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: ten, Type: "batch.done", Data: json.RawMessage(`{"n":1}`), CreatedAt: now}
	var ds []*webhook.Delivery
	for _, wh := range []string{ep.ID, "wh_b", "wh_c"} {
		ds = append(ds, &webhook.Delivery{ID: webhook.NewDeliveryID(ev.ID, nil), TenantID: ten, WebhookID: wh, EventID: ev.ID,
			EventType: ev.Type, Status: webhook.DeliveryPending, MaxAttempts: 7, NextTrigger: webhook.TriggerScheduled, CreatedAt: now, UpdatedAt: now})
	}
	if err := s.CreateEvent(ctx, ev, ds, false, nil, ""); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if n := rc.Exists(ctx, keyDelivery(ten, d.ID)).Val(); n != 0 {
			t.Fatalf("delivery %s has a record before its first attempt", d.ID)
		}
	}
	want := *ds[0]
	want.FailedAtRetry = -1
	got, err := s.GetDelivery(ctx, ten, ds[0].ID)
	if err != nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("queued delivery = %+v, %v\nwant %+v", got, err, want)
	}
	if d, attempts, err := s.DeliveryAttempts(ctx, ten, ds[1].ID); err != nil || d.WebhookID != "wh_b" || len(attempts) != 0 {
		t.Errorf("DeliveryAttempts = %+v %v, %v", d, attempts, err)
	}
	page, err := s.ListDeliveries(ctx, ten, ep.ID, webhook.DeliveryFilter{Status: webhook.DeliveryPending}, "", 10)
	if err != nil || len(page.Items) != 2 || page.Items[0].ID != ds[0].ID { // and the fixture's
		t.Errorf("ListDeliveries = %+v, %v", page.Items, err)
	}
	if _, err := s.GetDelivery(ctx, ten, webhook.NewDeliveryID(ev.ID, nil)); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("a delivery the event does not list = %v", err)
	}

	// Its turn: Begin makes it up too, and the first attempt writes its record.
	turn, err := s.Begin(ctx, webhook.BeginRequest{TenantID: ten, DeliveryID: ds[0].ID, EventID: ev.ID, WebhookID: ep.ID, Slot: webhook.Slot{Member: ds[0].ID, MaxInFlight: 5, Lease: time.Minute}})
	if err != nil || turn.Delivery == nil || !reflect.DeepEqual(*turn.Delivery, want) || !turn.HasSlot {
		t.Fatalf("Begin = %+v, %v", turn, err)
	}
	a := &webhook.Attempt{Attempt: 1, At: time.Now(), ErrorClass: webhook.ErrorHTTPStatus, ResponseStatus: 500, NextRetryAt: time.Now().Add(time.Minute)}
	if _, err := s.RecordAttempt(ctx, webhook.AttemptRecord{Delivery: turn.Delivery, Attempt: a, Outcome: webhook.OutcomeRetry, Slot: webhook.Slot{Member: ds[0].ID}}); err != nil {
		t.Fatal(err)
	}
	got, attempts, err := s.DeliveryAttempts(ctx, ten, ds[0].ID)
	if err != nil || got.Status != webhook.DeliveryPending || got.Attempt != 1 || got.MaxAttempts != 7 || len(attempts) != 1 || !got.CreatedAt.Equal(now) {
		t.Errorf("after an attempt = %+v %+v, %v", got, attempts, err)
	}
	if ttl := rc.PTTL(ctx, keyDelivery(ten, ds[0].ID)).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("record TTL = %v, want the retention", ttl)
	}

	// Cancelled before its turn: the cancellation is its first record.
	if n, err := s.EndDeliveries(ctx, ten, "wh_b", []string{ds[1].ID}, webhook.DeliveryCancelled, "webhook deleted"); n != 1 || err != nil {
		t.Fatalf("EndDeliveries = %d, %v", n, err)
	}
	got, err = s.GetDelivery(ctx, ten, ds[1].ID)
	if err != nil || got.Status != webhook.DeliveryCancelled || got.LastError != "webhook deleted" || got.EventType != ev.Type || got.WebhookID != "wh_b" {
		t.Errorf("cancelled = %+v, %v", got, err)
	}
	if ttl := rc.PTTL(ctx, keyDelivery(ten, ds[1].ID)).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("cancelled record TTL = %v, want the retention", ttl)
	}

	// Its event gone, a delivery with no record is gone too.
	rc.Del(ctx, keyEvent(ten, ev.ID)) // Begin kept it: it asks only whether it is still there
	if _, err := s.GetDelivery(ctx, ten, ds[2].ID); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("delivery of an expired event = %v", err)
	}
	if turn, err := s.Begin(ctx, webhook.BeginRequest{TenantID: ten, DeliveryID: ds[2].ID, EventID: ev.ID, WebhookID: "wh_c", Slot: webhook.Slot{Member: ds[2].ID, MaxInFlight: 5, Lease: time.Minute}}); err != nil || turn.Delivery != nil || turn.HasSlot {
		t.Errorf("Begin of a delivery whose event expired = %+v, %v", turn, err)
	}
	if got, _ := s.GetDelivery(ctx, ten, ds[0].ID); got == nil || got.Attempt != 1 {
		t.Errorf("a recorded delivery outlives its event: %+v", got)
	}

	// A test delivery is recorded at once.
	tev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: ten, Type: "webhook.test", Data: json.RawMessage(`{}`), CreatedAt: now}
	td := &webhook.Delivery{ID: webhook.NewDeliveryID(tev.ID, nil), TenantID: ten, WebhookID: ep.ID, EventID: tev.ID, EventType: tev.Type,
		Status: webhook.DeliveryPending, MaxAttempts: 7, Test: true, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateEvent(ctx, tev, []*webhook.Delivery{td}, true, nil, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetDelivery(ctx, ten, td.ID); err != nil || !got.Test || rc.Exists(ctx, keyDelivery(ten, td.ID)).Val() != 1 {
		t.Errorf("test delivery = %+v, %v", got, err)
	}
}

// The stream indexes list in the order entries were added (Redis's clock),
// whatever their items' creation times, and a window of creation times
// finds events by their IDs.
func TestStreamIndex(t *testing.T) {
	s, rc := newStore(t, time.Hour)
	ctx := context.Background()
	ep, first, _ := fixture(t, s)
	ten := ep.TenantID
	base := first.CreatedAt.Add(10 * time.Second)
	var evs []*webhook.Event
	for i, at := range []time.Time{base, base.Add(-5 * time.Second), base.Add(-5 * time.Second), base.Add(2 * time.Second)} {
		id := webhook.IDBound(webhook.PrefixEvent, at) + fmt.Sprintf("%015d", i) // NewID would not go back in time
		ev := &webhook.Event{ID: id, TenantID: ten, Type: "batch.done", Data: json.RawMessage(`{}`), CreatedAt: at}
		if err := s.CreateEvent(ctx, ev, nil, false, nil, ""); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	for _, e := range rc.XRange(ctx, keyEvents(ten), "-", "+").Val() {
		ms, _, _ := strings.Cut(e.ID, "-")
		if n, _ := strconv.ParseInt(ms, 10, 64); time.Since(time.UnixMilli(n)).Abs() > 5*time.Second {
			t.Errorf("entry %s is not Redis's time of adding it", e.ID)
		}
	}

	// Newest first as added, two a page, each once.
	var listed []string
	cursor := ""
	for range 5 {
		page, err := s.ListEvents(ctx, ten, "", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Items {
			listed = append(listed, ev.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor, _ = webhook.DecodeCursor(page.NextCursor, webhook.PrefixEvent)
	}
	if want := []string{evs[3].ID, evs[2].ID, evs[1].ID, evs[0].ID, first.ID}; !reflect.DeepEqual(listed, want) {
		t.Errorf("listed %v, want %v", listed, want)
	}

	// A window around the early two finds them by creation time, though
	// their entries are later; one entry at a time, as batches run.
	var found []string
	after := ""
	for range 10 {
		events, _, next, err := s.EventsBetween(ctx, ten, ep.ID, base.Add(-6*time.Second), base.Add(-time.Second), after, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			found = append(found, ev.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	if want := []string{evs[1].ID, evs[2].ID}; !reflect.DeepEqual(found, want) {
		t.Errorf("EventsBetween found %v, want %v", found, want)
	}

	for _, bad := range []string{"evt_", "evt_12", "evt_x-1", "evt_1-2-3", "dlv_1-0"} {
		var ve *webhook.ValidationError
		if _, err := s.ListEvents(ctx, ten, "", bad, 2); !errors.As(err, &ve) {
			t.Errorf("cursor %q: %v, want a validation error", bad, err)
		}
		if _, _, _, err := s.EventsBetween(ctx, ten, ep.ID, base, base, bad, 2); !errors.As(err, &ve) {
			t.Errorf("EventsBetween after %q: %v, want a validation error", bad, err)
		}
	}
}

// Indexes are trimmed to the retention as new entries are written, and
// expired events leave lists.
func TestRetentionTrimsIndexes(t *testing.T) {
	s, rc := newStore(t, time.Hour)
	ctx := context.Background()
	ep, _, _ := fixture(t, s)
	// The fixture's event, entered an hour and a minute ago, goes with the next write.
	key := keyEvents(ep.TenantID)
	entries := rc.XRange(ctx, key, "-", "+").Val()
	rc.Del(ctx, key)
	old := strconv.FormatInt(time.Now().Add(-61*time.Minute).UnixMilli(), 10) + "-0"
	if err := rc.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: old, Values: entries[0].Values}).Err(); err != nil {
		t.Fatal(err)
	}
	ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, time.Now()), TenantID: ep.TenantID, Type: "batch.done", Data: json.RawMessage(`{}`), CreatedAt: time.Now()}
	if err := s.CreateEvent(ctx, ev, nil, false, nil, ""); err != nil {
		t.Fatal(err)
	}
	if entries := rc.XRange(ctx, key, "-", "+").Val(); len(entries) != 1 || entries[0].Values["i"] != ev.ID {
		t.Errorf("index after trim = %v", entries)
	}
	// An event whose key expired is skipped by lists.
	rc.Del(ctx, keyEvent(ep.TenantID, ev.ID))
	page, err := s.ListEvents(ctx, ep.TenantID, "", "", 20)
	if err != nil || len(page.Items) != 0 {
		t.Errorf("list = %+v, %v", page.Items, err)
	}
}

// Concurrent claims of one idempotency key: exactly one wins, for its
// lease. The event's transaction accepts the keys with the full TTL;
// release gives back only keys still running.
func TestIdempotencyClaim(t *testing.T) {
	s, rc := newStore(t, time.Hour)
	ctx := context.Background()
	ep, _, _ := fixture(t, s)
	ten := ep.TenantID
	keys := []string{"h:k", "c:id"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Go(func() {
			rec, err := s.ClaimIdempotency(ctx, ten, keys, "fp", 20*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			if rec == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if rec.State != webhook.IdempotencyRunning || rec.Fingerprint != "fp" {
				t.Errorf("record = %+v", rec)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d claims won, want 1", wins)
	}
	for _, k := range keys {
		if ttl := rc.PTTL(ctx, keyIdempotency(ten, k)).Val(); ttl <= 0 || ttl > 20*time.Second {
			t.Errorf("running %s has TTL %v, want the 20s lease", k, ttl)
		}
	}
	// Another request's fingerprint does not release them.
	if err := s.ReleaseIdempotency(ctx, ten, keys, "other"); err != nil {
		t.Fatal(err)
	}
	if rec, _ := s.ClaimIdempotency(ctx, ten, keys[:1], "fp", time.Minute); rec == nil {
		t.Fatal("a release with another fingerprint freed the keys")
	}

	now := time.Now()
	ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: ten, Type: "batch.done", Data: json.RawMessage(`{}`), CreatedAt: now}
	accepted := &webhook.IdempotencyRecord{Keys: keys, Fingerprint: "fp", EventID: ev.ID, Response: []byte(`{"id":"` + ev.ID + `","x":"a|b"}`), TTL: 24 * time.Hour}
	if err := s.CreateEvent(ctx, ev, nil, false, accepted, ""); err != nil {
		t.Fatal(err)
	}
	rec, _ := s.ClaimIdempotency(ctx, ten, keys[1:], "other", time.Minute)
	if rec == nil || rec.State != webhook.IdempotencyAccepted || rec.Fingerprint != "fp" || rec.EventID != ev.ID || string(rec.Response) != string(accepted.Response) {
		t.Errorf("accepted record = %+v", rec)
	}
	if ttl := rc.PTTL(ctx, keyIdempotency(ten, "h:k")).Val(); ttl < 23*time.Hour {
		t.Errorf("accepted key TTL = %v, want the idempotency TTL", ttl)
	}
	// An accepted record is the event's: a release leaves it.
	if err := s.ReleaseIdempotency(ctx, ten, keys, "fp"); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteIdempotency(ctx, ten, accepted); err != nil {
		t.Fatal(err)
	}
	rec, _ = s.ClaimIdempotency(ctx, ten, keys[:1], "fp", time.Minute)
	if rec == nil || rec.State != webhook.IdempotencyDone || rec.EventID != ev.ID || string(rec.Response) != string(accepted.Response) {
		t.Errorf("done record = %+v", rec)
	}
	if ttl := rc.PTTL(ctx, keyIdempotency(ten, "h:k")).Val(); ttl < 23*time.Hour {
		t.Errorf("done key TTL = %v, want the idempotency TTL", ttl)
	}
	// Rolling the event back frees its keys.
	if err := s.DeleteEvent(ctx, ev, nil, accepted); err != nil {
		t.Fatal(err)
	}
	if rec, _ := s.ClaimIdempotency(ctx, ten, keys, "fp2", time.Minute); rec != nil {
		t.Errorf("keys of a deleted event still held: %+v", rec)
	}
	if err := s.ReleaseIdempotency(ctx, ten, keys, "fp2"); err != nil {
		t.Fatal(err)
	}
	if n := rc.Exists(ctx, keyIdempotency(ten, "h:k"), keyIdempotency(ten, "c:id")).Val(); n != 0 {
		t.Errorf("%d running keys left after their release", n)
	}
}

// A Redis that is down is webhook.ErrUnavailable, not a 500 or a hang.
func TestUnavailable(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rc.Close()
	s := New(rc, Options{})
	start := time.Now()
	_, err := s.GetWebhook(context.Background(), "ten_x", "wh_x")
	if !errors.Is(err, webhook.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

// replyOf answers every script with a reply of its own choosing, as a bug or
// a stranger's script of the same name would.
type replyOf struct {
	*redis.Client
	reply any
}

func (r replyOf) EvalSha(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	return redis.NewCmdResult(r.reply, nil)
}

func (r replyOf) Eval(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	return redis.NewCmdResult(r.reply, nil)
}

// A script reply of the wrong shape is an error, never a nil result taken
// for an answer (Begin used to return nil, nil, and the handler
// dereferenced it).
func TestScriptReplyShapes(t *testing.T) {
	_, rc := redistest.New(t)
	ctx := context.Background()
	slot := webhook.Slot{Member: "dlv_1.0", MaxInFlight: 1, Lease: time.Minute}
	for i, reply := range []any{[]any{int64(1), int64(2)}, int64(1), "x", nil, []any{"a", "b", "c", "d", "e", "f"},
		[]any{nil, nil, int64(0), "active", "1", int64(0)}} {
		s := New(replyOf{rc, reply}, Options{})
		p, err := s.Begin(ctx, webhook.BeginRequest{TenantID: "ten_1", DeliveryID: "dlv_1", EventID: "evt_1", WebhookID: "wh_1", Slot: slot})
		if err == nil {
			t.Errorf("Begin of reply %#v = %+v, nil; want an error", reply, p)
		}
		if _, _, err := s.Acquire(ctx, "ten_1", "wh_1", slot, 0); err == nil && i > 0 { // {1, 2} is Acquire's shape
			t.Errorf("Acquire of reply %#v: no error", reply)
		}
		if _, err := s.AllWebhooks(ctx, "ten_1"); err == nil && reply != nil {
			t.Errorf("AllWebhooks of reply %#v: no error", reply)
		}
	}
	for _, reply := range []any{"1", []any{int64(1)}, nil} {
		s := New(replyOf{rc, reply}, Options{})
		d := &webhook.Delivery{ID: "dlv_1", TenantID: "ten_1", WebhookID: "wh_1"}
		if _, err := s.RecordAttempt(ctx, webhook.AttemptRecord{Delivery: d, Attempt: &webhook.Attempt{}, Slot: slot}); err == nil {
			t.Errorf("RecordAttempt of reply %#v: no error", reply)
		}
		ev := &webhook.Event{ID: "evt_1", TenantID: "ten_1", Type: "a.b", Data: []byte(`{}`)}
		if err := s.CreateEvent(ctx, ev, nil, false, nil, ""); err == nil {
			t.Errorf("CreateEvent of reply %#v: no error", reply)
		}
		if err := s.Rerun(ctx, d, 3, webhook.TriggerManual); err == nil || errors.Is(err, webhook.ErrConflict) {
			t.Errorf("Rerun of reply %#v: %v, want an error that is no conflict", reply, err)
		}
	}
}

// Begin reads an attempt's inputs and takes the endpoint's slot only for a
// due delivery; the cap and the rate limit hold; recording the attempt gives
// the slot back.
func TestBeginTakesSlots(t *testing.T) {
	s, rc := newStore(t, time.Hour)
	ctx := context.Background()
	ep, ev, d := fixture(t, s)
	turn, err := s.Begin(ctx, webhook.BeginRequest{TenantID: d.TenantID, DeliveryID: d.ID, EventID: ev.ID, WebhookID: ep.ID, Slot: webhook.Slot{Member: d.ID, MaxInFlight: 1, Lease: time.Minute}})
	if err != nil || !turn.HasSlot || turn.Delivery.ID != d.ID || turn.Event.ID != ev.ID || turn.Webhook.ID != ep.ID {
		t.Fatalf("Begin = %+v, %v", turn, err)
	}
	// A second delivery of the same webhook finds the single slot taken.
	d2 := *d
	d2.ID = webhook.NewID(webhook.PrefixDelivery, time.Now())
	if err := s.AddDeliveries(ctx, ev, []*webhook.Delivery{&d2}); err != nil {
		t.Fatal(err)
	}
	turn2, _ := s.Begin(ctx, webhook.BeginRequest{TenantID: d.TenantID, DeliveryID: d2.ID, EventID: ev.ID, WebhookID: ep.ID, Slot: webhook.Slot{Member: d2.ID, MaxInFlight: 1, Lease: time.Minute}})
	if turn2.HasSlot || turn2.Wait != webhook.WaitConcurrency {
		t.Errorf("second Begin = %+v", turn2)
	}
	// The worker handed the slot to the waiting delivery as the request
	// ended: recording the attempt renews the slot, which keeps its member;
	// the next holder's record gives it back, in either order.
	for _, first := range []bool{true, false} {
		rc.ZAdd(ctx, keyWebhookInflight(d.TenantID, ep.ID), redis.Z{Score: 1, Member: d.ID}) // held, lease about to end
		renew := func() {
			if _, err := s.RecordAttempt(ctx, webhook.AttemptRecord{Delivery: d, Attempt: &webhook.Attempt{Attempt: 1, At: time.Now()}, Outcome: webhook.OutcomeSuccess, Slot: webhook.Slot{Member: d.ID, Lease: time.Minute}, SlotPassed: true}); err != nil {
				t.Fatal(err)
			}
		}
		if first {
			renew()
			lease := rc.ZScore(ctx, keyWebhookInflight(d.TenantID, ep.ID), d.ID).Val()
			if held := rc.ZRange(ctx, keyWebhookInflight(d.TenantID, ep.ID), 0, -1).Val(); len(held) != 1 || held[0] != d.ID || lease < float64(time.Now().UnixMilli()) {
				t.Errorf("slots after the hand-over = %v (lease end %v), want [%s] renewed", held, lease, d.ID)
			}
		}
		if _, err := s.RecordAttempt(ctx, webhook.AttemptRecord{Delivery: &d2, Attempt: &webhook.Attempt{Attempt: 1, At: time.Now(), ResponseStatus: 500}, Outcome: webhook.OutcomeRetry, Slot: webhook.Slot{Member: d.ID, Lease: time.Minute}}); err != nil {
			t.Fatal(err)
		}
		if !first {
			renew()
		}
		if n := rc.ZCard(ctx, keyWebhookInflight(d.TenantID, ep.ID)).Val(); n != 0 {
			t.Errorf("%d slots held after the attempts were recorded (renewal first: %v)", n, first)
		}
	}
	// Not due (succeeded): nothing is taken.
	turn3, _ := s.Begin(ctx, webhook.BeginRequest{TenantID: d.TenantID, DeliveryID: d.ID, EventID: ev.ID, WebhookID: ep.ID, Slot: webhook.Slot{Member: d.ID, MaxInFlight: 1, Lease: time.Minute}})
	if turn3.HasSlot || turn3.Wait != "" || turn3.Delivery.Status != webhook.DeliverySucceeded {
		t.Errorf("Begin of a succeeded delivery = %+v", turn3)
	}
	// A rate limit of 1/s: the first token is there, the next is ~1s away.
	ep.RateLimit = 1
	if err := s.SaveSettings(ctx, ep); err != nil {
		t.Fatal(err)
	}
	turn4, _ := s.Begin(ctx, webhook.BeginRequest{TenantID: d.TenantID, DeliveryID: d2.ID, EventID: ev.ID, WebhookID: ep.ID, Slot: webhook.Slot{Member: d2.ID, MaxInFlight: 5, Lease: time.Minute}})
	_ = s.Release(ctx, d.TenantID, ep.ID, d2.ID)
	d3 := d2
	d3.ID = webhook.NewID(webhook.PrefixDelivery, time.Now())
	_ = s.AddDeliveries(ctx, ev, []*webhook.Delivery{&d3})
	turn5, _ := s.Begin(ctx, webhook.BeginRequest{TenantID: d.TenantID, DeliveryID: d3.ID, EventID: ev.ID, WebhookID: ep.ID, Slot: webhook.Slot{Member: d3.ID, MaxInFlight: 5, Lease: time.Minute}})
	if !turn4.HasSlot || turn5.HasSlot || turn5.Wait != webhook.WaitRateLimit || turn5.TokenIn <= 0 || turn5.TokenIn > time.Second {
		t.Errorf("rate limit: %+v then %+v", turn4, turn5)
	}
}

// Begin carries an event and a webhook's settings only the first time; later
// turns use the store's copies, yet see a settings change, a new status, an
// expired event and a deleted webhook at once. A webhook written before
// settings had a version is read whole every time.
func TestBeginReadsWhatChanged(t *testing.T) {
	s, rc := newStore(t, time.Hour)
	ctx := context.Background()
	ep, ev, d := fixture(t, s)
	begin := func() *webhook.Prepared {
		t.Helper()
		turn, err := s.Begin(ctx, webhook.BeginRequest{TenantID: d.TenantID, DeliveryID: d.ID, EventID: ev.ID, WebhookID: ep.ID, Slot: webhook.Slot{Member: d.ID, MaxInFlight: 5, Lease: time.Minute}})
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Release(ctx, d.TenantID, ep.ID, d.ID)
		return turn
	}
	first := begin()
	second := begin()
	if second.Event != first.Event || second.Webhook.Secret != ep.Secret || !second.HasSlot {
		t.Fatalf("second turn = %+v (event %p, first %p)", second, second.Event, first.Event)
	}
	ep.URL, ep.RateLimit = "https://example.com/v2", 1000
	if err := s.SaveSettings(ctx, ep); err != nil {
		t.Fatal(err)
	}
	if got := begin().Webhook; got.URL != ep.URL || got.RateLimit != 1000 {
		t.Errorf("after a settings change: %+v", got)
	}
	if _, err := s.SetStatus(ctx, d.TenantID, ep.ID, webhook.StatusPaused, ""); err != nil {
		t.Fatal(err)
	}
	if got := begin(); got.Webhook.Status != webhook.StatusPaused || got.HasSlot {
		t.Errorf("after pausing: status %s, holding %v", got.Webhook.Status, got.HasSlot)
	}
	if _, err := s.SetStatus(ctx, d.TenantID, ep.ID, webhook.StatusActive, ""); err != nil {
		t.Fatal(err)
	}
	rc.Del(ctx, keyEvent(d.TenantID, ev.ID))
	if got := begin(); got.Event != nil || got.HasSlot {
		t.Errorf("expired event: %+v", got)
	}
	if _, err := s.DeleteWebhook(ctx, d.TenantID, ep.ID); err != nil {
		t.Fatal(err)
	}
	if got := begin(); got.Webhook != nil || got.HasSlot {
		t.Errorf("deleted webhook: %+v", got.Webhook)
	}
}

// A slot whose lease ended (its worker died) is free again once the cap is
// reached; a live one is not.
func TestAcquireDropsExpiredLeases(t *testing.T) {
	s, rc := newStore(t, time.Hour)
	ctx := context.Background()
	ep, _, d := fixture(t, s)
	key := keyWebhookInflight(d.TenantID, ep.ID)
	rc.ZAdd(ctx, key, redis.Z{Score: 1, Member: "dlv_dead"})
	if wait, _, err := s.Acquire(ctx, d.TenantID, ep.ID, webhook.Slot{Member: d.ID, MaxInFlight: 1, Lease: time.Minute}, 0); err != nil || wait != "" {
		t.Fatalf("Acquire with an expired lease in the way = %q, %v", wait, err)
	}
	if wait, _, _ := s.Acquire(ctx, d.TenantID, ep.ID, webhook.Slot{Member: "dlv_other", MaxInFlight: 1, Lease: time.Minute}, 0); wait != webhook.WaitConcurrency {
		t.Errorf("Acquire past a live lease = %q", wait)
	}
	if wait, _, _ := s.Acquire(ctx, d.TenantID, ep.ID, webhook.Slot{Member: d.ID, MaxInFlight: 1, Lease: time.Minute}, 0); wait != "" {
		t.Errorf("renewing a held slot = %q", wait)
	}
	if held := rc.ZRange(ctx, key, 0, -1).Val(); len(held) != 1 || held[0] != d.ID {
		t.Errorf("slots = %v", held)
	}
}

// Attempts are stored as compact arrays and read back whole.
func TestStoredAttemptEncoding(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	at := time.UnixMilli(1764380000123).UTC()
	for _, a := range []webhook.Attempt{
		{Attempt: 1, At: at, Trigger: webhook.TriggerScheduled, ResponseStatus: 200, ResponseTimeMs: 13,
			Timing: webhook.Timing{ConnectMs: f(0.4), FirstByteMs: f(12.5)}},
		{Attempt: 2, At: at, Trigger: webhook.TriggerManual, ResponseStatus: 500, ResponseBody: `{"err":"x"}`, ResponseTimeMs: 7,
			Timing: webhook.Timing{DNSMs: f(1), ConnectMs: f(2), TLSMs: f(3), FirstByteMs: f(4)}, ErrorClass: webhook.ErrorHTTPStatus,
			Error: "HTTP 500", NextRetryAt: at.Add(30 * time.Second)},
		{Attempt: 3, At: at, Trigger: webhook.TriggerScheduled, ErrorClass: "connection", Error: "refused", NextRetryAt: at.Add(time.Hour)},
	} {
		raw, err := json.Marshal(storeAttempt(&a))
		if err != nil || raw[0] != '[' {
			t.Fatalf("encode: %s, %v", raw, err)
		}
		var back storedAttempt
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if got := back.attempt(); !reflect.DeepEqual(got, a) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", raw, got, a)
		}
	}
}

// A delivery is one string: its first line, then its attempts, a line each,
// with the retention as TTL.
func TestDeliveryString(t *testing.T) {
	s, rc := newStore(t, time.Hour)
	ctx := context.Background()
	_, _, d := fixture(t, s)
	body := "<b>\"x\"</b> é/\u2028"
	for n := 1; n <= 2; n++ {
		a := &webhook.Attempt{Attempt: n, At: time.Now(), Trigger: webhook.TriggerScheduled, ResponseStatus: 500, ErrorClass: webhook.ErrorHTTPStatus,
			Error: "HTTP 500\nwith a newline", ResponseBody: body, NextRetryAt: time.Now().Add(time.Minute)}
		if _, err := s.RecordAttempt(ctx, webhook.AttemptRecord{Delivery: d, Attempt: a, Outcome: webhook.OutcomeRetry, Slot: webhook.Slot{Member: d.ID}}); err != nil {
			t.Fatal(err)
		}
		d.Attempt = n
	}
	key := keyDelivery(d.TenantID, d.ID)
	if ttl := rc.TTL(ctx, key).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("%s has TTL %v", key, ttl)
	}
	if v := rc.Get(ctx, key).Val(); strings.Count(v, "\n") != 2 || !strings.HasPrefix(v, "pending 0 [") || !strings.Contains(v, "<b>") {
		t.Errorf("delivery value = %q", v)
	}
	_, got, err := s.DeliveryAttempts(ctx, d.TenantID, d.ID)
	if err != nil || len(got) != 2 || got[0].Attempt != 1 || got[1].Attempt != 2 {
		t.Fatalf("Attempts = %+v, %v", got, err)
	}
	if got[1].Error != "HTTP 500\nwith a newline" {
		t.Errorf("error text = %q", got[1].Error)
	}
	back, err := s.GetDelivery(ctx, d.TenantID, d.ID)
	if err != nil || back.Attempt != 2 || back.LastResponseBody != body || back.LastError != "HTTP 500\nwith a newline" ||
		back.NextRetryAt.IsZero() || back.FailedAtRetry != -1 || !back.CreatedAt.Equal(d.CreatedAt.Truncate(time.Millisecond)) {
		t.Errorf("GetDelivery = %+v, %v", back, err)
	}
	// Ending it rewrites the first line in the script (cjson): the strings
	// read back the same, the attempts stay.
	if n, err := s.EndDeliveries(ctx, d.TenantID, d.WebhookID, []string{d.ID}, webhook.DeliveryCancelled, "webhook paused"); n != 1 || err != nil {
		t.Fatalf("EndDeliveries = %d, %v", n, err)
	}
	back, err = s.GetDelivery(ctx, d.TenantID, d.ID)
	if err != nil || back.Status != webhook.DeliveryCancelled || back.LastResponseBody != body || back.LastError != "webhook paused" ||
		!back.NextRetryAt.IsZero() || back.Attempt != 2 || !back.CreatedAt.Equal(d.CreatedAt.Truncate(time.Millisecond)) {
		t.Errorf("after EndDeliveries = %+v, %v", back, err)
	}
	if _, got, _ := s.DeliveryAttempts(ctx, d.TenantID, d.ID); len(got) != 2 {
		t.Errorf("attempts after EndDeliveries = %d", len(got))
	}
	if _, _, err := s.DeliveryAttempts(ctx, d.TenantID, "dlv_missing"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("DeliveryAttempts of a missing delivery: %v", err)
	}
}

// Publishing matches events against the list of a tenant's webhooks that
// AllWebhooks kept, and the write checks its version: any change to a
// webhook (create, status, settings, delete) makes the write fail and
// leaves nothing written, and a revoked key stops it.
func TestKeptWebhooksCheckedByTheWrite(t *testing.T) {
	s, rc := newStore(t, time.Hour)
	ctx := context.Background()
	ep, _, _ := fixture(t, s)
	ten := ep.TenantID
	kept := func(n int) string {
		t.Helper()
		if _, err := s.AllWebhooks(ctx, ten); err != nil {
			t.Fatal(err)
		}
		list, version, ok := s.KeptWebhooks(ten)
		if !ok || len(list) != n || version == "" {
			t.Fatalf("kept after a read: %d webhooks, version %q, %v; want %d", len(list), version, ok, n)
		}
		return version
	}
	// A write checks the version whether it goes as a script (few writes)
	// or in a transaction (many: checked by the script just before), and
	// leaves nothing written when it fails.
	write := func(version string) error {
		t.Helper()
		var err error
		for _, fanOut := range []int{0, maxScriptWrites} {
			now := time.Now()
			ev := &webhook.Event{ID: webhook.NewID(webhook.PrefixEvent, now), TenantID: ten, Type: "batch.done", Data: []byte(`{}`), CreatedAt: now}
			var ds []*webhook.Delivery
			for range fanOut {
				ds = append(ds, &webhook.Delivery{ID: webhook.NewDeliveryID(ev.ID, nil), TenantID: ten, WebhookID: webhook.NewID(webhook.PrefixWebhook, now),
					EventID: ev.ID, EventType: ev.Type, Status: webhook.DeliveryPending, MaxAttempts: 3, CreatedAt: now, UpdatedAt: now})
			}
			before := contents(t, rc)
			err = s.CreateEvent(ctx, ev, ds, false, nil, version)
			if written := rc.Exists(ctx, keyEvent(ten, ev.ID)).Val() == 1; written != (err == nil) {
				t.Errorf("CreateEvent to %d webhooks: %v, yet the event written: %v", fanOut, err, written)
			}
			if after := contents(t, rc); err != nil && !maps.Equal(before, after) {
				t.Errorf("CreateEvent to %d webhooks failed (%v) and left writes:\nbefore %v\nafter  %v", fanOut, err, before, after)
			}
		}
		return err
	}
	version := kept(1)
	if err := write(version); err != nil {
		t.Fatalf("write on the current list: %v", err)
	}
	other := *ep
	other.ID = webhook.NewID(webhook.PrefixWebhook, time.Now())
	changes := []struct {
		name   string
		change func() error
		after  int
	}{
		{"create", func() error { return s.CreateWebhook(ctx, &other) }, 2},
		{"status", func() error {
			_, err := s.SetStatus(ctx, ten, ep.ID, webhook.StatusDisabled, webhook.DisabledFailing)
			return err
		}, 2},
		{"settings", func() error { ep.Events = []string{"only.this"}; return s.SaveSettings(ctx, ep) }, 2},
		{"delete", func() error { _, err := s.DeleteWebhook(ctx, ten, other.ID); return err }, 1},
	}
	for _, c := range changes {
		if err := c.change(); err != nil {
			t.Fatal(err)
		}
		if err := write(version); !errors.Is(err, webhook.ErrWebhooksChanged) {
			t.Errorf("write after a %s on the list before it: %v, want ErrWebhooksChanged", c.name, err)
		}
		version = kept(c.after)
		if err := write(version); err != nil {
			t.Errorf("write after a %s on the list read again: %v", c.name, err)
		}
	}
	if list, _, _ := s.KeptWebhooks(ten); list[0].Status != webhook.StatusDisabled || list[0].Events[0] != "only.this" {
		t.Errorf("kept webhook %+v: not as changed", list[0])
	}
	keyIDs := rc.HKeys(ctx, keyTenantKeys(ten)).Val()
	if len(keyIDs) != 1 {
		t.Fatalf("the tenant's keys: %v", keyIDs)
	}
	confirming := webhook.WithKeyToConfirm(ctx, webhook.KeyToConfirm{TenantID: ten, KeyID: keyIDs[0]})
	rc.HDel(ctx, keyTenantKeys(ten), keyIDs[0])
	if err := write(version); err != nil {
		t.Errorf("write without a key to confirm: %v", err)
	}
	ctx = confirming
	if err := write(version); !errors.Is(err, webhook.ErrKeyRevoked) {
		t.Errorf("write with a revoked key: %v, want ErrKeyRevoked", err)
	}
	ctx = context.Background()
	// No version (webhooks written by an older release): nothing is kept.
	rc.Del(ctx, keyWebhooksVersion(ten))
	s.webhookLists = newCache[webhookList](1 << 20)
	if _, err := s.AllWebhooks(ctx, ten); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.KeptWebhooks(ten); ok {
		t.Error("a list without a version was kept")
	}
}

// contents is what Redis holds: each key's type and size.
func contents(t *testing.T, rc *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, k := range rc.Keys(ctx, "*").Val() {
		typ := rc.Type(ctx, k).Val()
		var n int64
		switch typ {
		case "string":
			n = rc.StrLen(ctx, k).Val()
		case "set":
			n = rc.SCard(ctx, k).Val()
		case "stream":
			n = rc.XLen(ctx, k).Val()
		case "hash":
			n = rc.HLen(ctx, k).Val()
		case "zset":
			n = rc.ZCard(ctx, k).Val()
		}
		out[k] = fmt.Sprintf("%s/%d", typ, n)
	}
	return out
}

// A kept list is not answered after webhookListTTL even if the version
// says nothing changed (a version can go back when Redis lost writes).
func TestKeptWebhooksExpire(t *testing.T) {
	_, rc := redistest.New(t)
	now := time.Now()
	s := New(rc, Options{Retention: time.Hour, Now: func() time.Time { return now }})
	ctx := context.Background()
	ep, _, _ := fixture(t, s)
	if _, err := s.AllWebhooks(ctx, ep.TenantID); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.KeptWebhooks(ep.TenantID); !ok {
		t.Fatal("a list just read is not kept")
	}
	now = now.Add(webhookListTTL)
	if _, _, ok := s.KeptWebhooks(ep.TenantID); ok {
		t.Error("a list read webhookListTTL ago is still answered")
	}
}

package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

func newSession(t *testing.T, s *Store, ten string, ttl time.Duration, caps ...string) *webhook.PortalSession {
	t.Helper()
	now := time.Now()
	ps := &webhook.PortalSession{ID: webhook.NewID(webhook.PrefixPortalSession, now), TenantID: ten, Token: webhook.NewPortalToken(ten),
		Capabilities: caps, ExpiresAt: now.Add(ttl)}
	if err := s.CreatePortalSession(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	return ps
}

// A portal token finds its session in its tenant's slot; it stops working
// when its record expires, when revoked alone, and when all are revoked.
func TestPortalSessions(t *testing.T) {
	s, rc := newStore(t, time.Hour)
	ctx := context.Background()
	ep, _, _ := fixture(t, s)
	ten := ep.TenantID
	a := newSession(t, s, ten, time.Hour, webhook.CapEndpointsRead, webhook.CapDeliveriesRead)
	b := newSession(t, s, ten, time.Hour, webhook.CapEndpointsRead)
	c := newSession(t, s, ten, time.Hour, webhook.Capabilities...)

	got, err := s.LookupPortalToken(ctx, a.Token)
	if err != nil || got.ID != a.ID || got.TenantID != ten || strings.Join(got.Capabilities, ",") != "endpoints:read,deliveries:read" ||
		!got.ExpiresAt.Equal(a.ExpiresAt.Truncate(time.Millisecond)) {
		t.Fatalf("lookup = %+v, %v", got, err)
	}
	for k, typ := range map[string]string{keyPortalToken(ten, HashKey(a.Token)): "string", keyPortalSession(ten, a.ID): "string", keyPortalSessions(ten): "zset"} {
		if !strings.HasPrefix(k, tag(ten)) || rc.Type(ctx, k).Val() != typ {
			t.Errorf("%s: type %s, want %s under the tenant's tag", k, rc.Type(ctx, k).Val(), typ)
		}
	}
	if ttl := rc.PTTL(ctx, keyPortalToken(ten, HashKey(a.Token))).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("token TTL = %v", ttl)
	}
	for _, bad := range []string{"pt_", "pt_nope", strings.Replace(a.Token, ten, webhook.NewID(webhook.PrefixTenant, time.Now()), 1), a.Token + "x"} {
		if _, err := s.LookupPortalToken(ctx, bad); !errors.Is(err, webhook.ErrNotFound) {
			t.Errorf("lookup %q: %v, want not found", bad, err)
		}
	}

	// Expiry: Redis drops the record.
	rc.PExpire(ctx, keyPortalToken(ten, HashKey(c.Token)), time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if _, err := s.LookupPortalToken(ctx, c.Token); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("expired token: %v", err)
	}
	// Expiry by the clock, should Redis not have expired it yet.
	late := New(rc, Options{Retention: time.Hour, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if _, err := late.LookupPortalToken(ctx, a.Token); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("token past its expiry: %v", err)
	}

	if err := s.RevokePortalSession(ctx, ten, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupPortalToken(ctx, a.Token); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("revoked token: %v", err)
	}
	if err := s.RevokePortalSession(ctx, ten, a.ID); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}
	if _, err := s.LookupPortalToken(ctx, b.Token); err != nil {
		t.Errorf("the other session after one was revoked: %v", err)
	}
	if err := s.RevokePortalSessions(ctx, ten); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupPortalToken(ctx, b.Token); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("token after revoking all: %v", err)
	}
	if n := rc.Exists(ctx, keyPortalSessions(ten), keyPortalSession(ten, b.ID)).Val(); n != 0 {
		t.Errorf("%d session keys left after revoking all", n)
	}
}

// Every attempt lands in its hour's bucket by outcome; hours without
// attempts are zeros, and the stats hash expires a retention after its day.
func TestWebhookStats(t *testing.T) {
	s, rc := newStore(t, 48*time.Hour)
	ctx := context.Background()
	ep, _, d := fixture(t, s)
	until := time.Now().UTC()
	at := []struct {
		ago     time.Duration
		outcome webhook.Outcome
	}{{0, webhook.OutcomeSuccess}, {0, webhook.OutcomeRetry}, {3 * time.Hour, webhook.OutcomeRetry}, {3 * time.Hour, webhook.OutcomeExhausted},
		{23 * time.Hour, webhook.OutcomeSuccess}, {30 * time.Hour, webhook.OutcomeSuccess}}
	for i, x := range at {
		a := &webhook.Attempt{Attempt: i + 1, At: until.Add(-x.ago)}
		if x.outcome != webhook.OutcomeSuccess {
			a.ErrorClass = webhook.ErrorHTTPStatus
		}
		if _, err := s.RecordAttempt(ctx, webhook.AttemptRecord{Delivery: d, Attempt: a, Outcome: x.outcome, Slot: webhook.Slot{Member: d.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	buckets, err := s.WebhookStats(ctx, ep.TenantID, ep.ID, until, 24)
	if err != nil || len(buckets) != 24 {
		t.Fatalf("%d buckets, %v", len(buckets), err)
	}
	hour := until.Truncate(time.Hour)
	for i, b := range buckets {
		if want := hour.Add(time.Duration(i-23) * time.Hour); !b.Start.Equal(want) {
			t.Errorf("bucket %d starts %v, want %v", i, b.Start, want)
		}
		want := map[int][2]int{23: {1, 1}, 20: {0, 2}, 0: {1, 0}}[i]
		if b.Succeeded != want[0] || b.Failed != want[1] {
			t.Errorf("bucket %d = %d/%d, want %d/%d", i, b.Succeeded, b.Failed, want[0], want[1])
		}
	}
	week, _ := s.WebhookStats(ctx, ep.TenantID, ep.ID, until, 168)
	total := 0
	for _, b := range week {
		total += b.Succeeded + b.Failed
	}
	if len(week) != 168 || total != len(at) {
		t.Errorf("week: %d buckets, %d attempts", len(week), total)
	}
	day := until.Unix() / 86400
	k := keyWebhookStats(ep.TenantID, ep.ID, day)
	exp := rc.PExpireTime(ctx, k).Val()
	if want := time.Duration((day+1)*86400)*time.Second + 48*time.Hour; exp != want {
		t.Errorf("%s expires at %v, want %v", k, exp, want)
	}
}

package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/webhook"
)

// Reads of deliveries: one, several, a delivery with its attempts, and a
// webhook's list. A delivery with no record of its own yet (queued with its
// event: see unrecorded) is made up from its event's record.

// GetDelivery returns a delivery or webhook.ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, tenantID, id string) (*webhook.Delivery, error) {
	ds, err := s.GetDeliveries(ctx, tenantID, []string{id})
	if err != nil {
		return nil, err
	}
	if ds[0] == nil {
		return nil, wrap("get delivery", webhook.ErrNotFound)
	}
	return ds[0], nil
}

// GetDeliveries fetches deliveries in one round trip; a missing one is nil.
func (s *Store) GetDeliveries(ctx context.Context, tenantID string, ids []string) ([]*webhook.Delivery, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = keyDelivery(tenantID, id)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, wrap("get deliveries", err)
	}
	out := make([]*webhook.Delivery, len(ids))
	var missing []int
	for i, id := range ids {
		v, ok := vals[i].(string)
		if !ok {
			missing = append(missing, i)
			continue
		}
		if out[i], _, err = parseDelivery(tenantID, id, v); err != nil {
			return nil, err
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	unrecordedIDs := make([]string, len(missing))
	for j, i := range missing {
		unrecordedIDs[j] = ids[i]
	}
	queued, err := s.getQueued(ctx, tenantID, unrecordedIDs)
	if err != nil {
		return nil, err
	}
	for j, i := range missing {
		out[i] = queued[j]
	}
	return out, nil
}

// DeliveryAttempts returns a delivery and its attempts, oldest first: the
// lines of its value. webhook.ErrNotFound if there is no such delivery.
func (s *Store) DeliveryAttempts(ctx context.Context, tenantID, id string) (*webhook.Delivery, []webhook.Attempt, error) {
	v, err := s.rdb.Get(ctx, keyDelivery(tenantID, id)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, wrap("get delivery", err)
	}
	var d *webhook.Delivery
	var raws []string
	if err == nil {
		var attempts string
		if d, attempts, err = parseDelivery(tenantID, id, v); err != nil {
			return nil, nil, err
		}
		if attempts != "" {
			raws = strings.Split(attempts, "\n")
		}
	}
	if d == nil {
		queued, err := s.getQueued(ctx, tenantID, []string{id})
		if err != nil {
			return nil, nil, err
		}
		d = queued[0]
	}
	if d == nil {
		return nil, nil, wrap("get delivery", webhook.ErrNotFound)
	}
	out := make([]webhook.Attempt, 0, len(raws))
	for _, r := range raws {
		var a storedAttempt
		if err := json.Unmarshal([]byte(r), &a); err != nil {
			return nil, nil, fmt.Errorf("redisstore: corrupt attempt: %w", err)
		}
		out = append(out, a.attempt())
	}
	return d, out, nil
}

// ListDeliveries pages through a webhook's deliveries, newest first.
func (s *Store) ListDeliveries(ctx context.Context, tenantID, webhookID string, f webhook.DeliveryFilter, cursor string, limit int) (webhook.Page[*webhook.Delivery], error) {
	return scanIndex(ctx, streamIndex(s.rdb, keyWebhookDeliveries(tenantID, webhookID), webhook.PrefixDelivery), cursor, limit, func(ids []string) ([]*webhook.Delivery, []string, error) {
		ds, err := s.GetDeliveries(ctx, tenantID, ids)
		if err != nil {
			return nil, nil, err
		}
		var out []*webhook.Delivery
		var kept []string
		for i, d := range ds {
			if d == nil || (f.Status != "" && d.Status != f.Status) || (f.EventType != "" && d.EventType != f.EventType) {
				continue
			}
			out = append(out, d)
			kept = append(kept, ids[i])
		}
		return out, kept, nil
	})
}

// queued is a delivery of ev that has no record: as Publish queued it with
// the event, before its first attempt.
func (s *Store) queued(ev *webhook.Event, id, webhookID string) *webhook.Delivery {
	return webhook.NewDelivery(id, ev, webhookID, webhook.TriggerScheduled, s.attempts, ev.CreatedAt)
}

// getQueued reads deliveries that have no record from their events: nil
// for any whose event is gone or does not list it.
func (s *Store) getQueued(ctx context.Context, tenantID string, ids []string) ([]*webhook.Delivery, error) {
	p := s.rdb.Pipeline()
	evs := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		if evt, ok := webhook.DeliveryEvent(id); ok {
			evs[i] = p.Get(ctx, keyEvent(tenantID, evt))
		}
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrap("get deliveries", err)
	}
	out := make([]*webhook.Delivery, len(ids))
	for i, id := range ids {
		if evs[i] == nil || evs[i].Err() != nil {
			continue
		}
		byWebhook := map[string]string{}
		body := splitEvent(evs[i].Val(), byWebhook)
		for wh, dlv := range byWebhook {
			if dlv != id {
				continue
			}
			evt, _ := webhook.DeliveryEvent(id)
			ev, err := decodeEvent(tenantID, evt, body)
			if err != nil {
				return nil, err
			}
			out[i] = s.queued(ev, id, wh)
		}
	}
	return out, nil
}

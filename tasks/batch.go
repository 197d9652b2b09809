package tasks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

// BatchEvent is one event of a batch publish.
type BatchEvent struct {
	Event *webhook.Event
	// Key is "c:<client id>", or "" for an event without one.
	Key string
	// Fingerprint is that of the event's own JSON: a single publish of the
	// same event has the same one, so either route replays the other's.
	Fingerprint string
	// Render is what a single publish of the event answers once its
	// deliveries are known; its key keeps it.
	Render func(ds []*webhook.Delivery) ([]byte, error)
}

// BatchRequest is a batch publish: events of one tenant, in order, and the
// batch's own idempotency key ("h:<Idempotency-Key>", or "") with the
// fingerprint of the whole body.
type BatchRequest struct {
	Events      []BatchEvent
	Key         string
	Fingerprint string
	TTL         time.Duration // how long the keys remember their responses
	// Render is the response of the batch from its events' answers, in
	// order; the batch's key keeps it.
	Render func(items []BatchItem) ([]byte, error)
}

// BatchItem is the answer for one event of a batch: what a single publish
// of it answered, and whether its client id had been accepted before (then
// the batch created nothing for it).
type BatchItem struct {
	Response []byte
	Replayed bool
}

// BatchResult is what a batch publish answers.
type BatchResult struct {
	Response []byte
	Replayed bool // the batch's own key was used before: nothing was done
	Created  int  // events stored by this request
}

// EventKeyError is a batch refused because of the client id of one of
// its events: Err is webhook.ErrIdempotencyKeyMismatch or
// webhook.ErrIdempotencyKeyInUse.
type EventKeyError struct {
	Index int
	Err   error
}

func (e *EventKeyError) Error() string {
	return fmt.Sprintf("tasks: event %d of the batch: %v", e.Index, e.Err)
}

func (e *EventKeyError) Unwrap() error { return e.Err }

// PublishBatch publishes the events of a batch as PublishOnce does one, at
// the cost of one publish: one claim of every key, one write of every new
// event (matched against the tenant's webhooks as a single publish is),
// then the tasks of all (Enqueue). An event whose client id was accepted
// before is answered as replayed and creates nothing; one whose client id
// is held by a request still running, or was used with another body,
// refuses the whole batch (EventKeyError). When it returns nil, every event
// of the batch and every task is in Redis; on error it leaves nothing
// behind.
func (q *Queue) PublishBatch(ctx context.Context, r BatchRequest) (BatchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, PublishDeadline)
	defer cancel()
	ten := r.Events[0].Event.TenantID
	mark, err := q.replicaMark(ctx)
	if err != nil {
		return BatchResult{}, err
	}
	items := make([]BatchItem, len(r.Events))
	c, err := q.claimBatch(ctx, ten, r, items)
	switch {
	case err != nil:
		return BatchResult{}, err
	case c.replay != nil:
		return *c.replay, q.acknowledge(ctx, mark, ten, nil, true)
	}
	res, ds, err := q.storeBatch(ctx, ten, r, items)
	if err != nil {
		q.releaseBatch(ctx, ten, c.keys, c.fps)
		return BatchResult{}, err
	}
	q.rec.Published(res.Created)
	replayed := slices.ContainsFunc(items, func(it BatchItem) bool { return it.Replayed })
	return res, q.acknowledge(ctx, mark, ten, ds, replayed)
}

// batchClaim is what claimBatch took: the keys this request holds and
// their fingerprints, or the replay of the whole batch (its own key was
// used before).
type batchClaim struct {
	keys, fps []string
	replay    *BatchResult
}

// claimBatch claims every idempotency key of a batch in one script, and
// answers the events whose client id was accepted before (into items).
// A client id held by a request still running, or used with another body,
// refuses the whole batch (EventKeyError), releasing what it claimed.
func (q *Queue) claimBatch(ctx context.Context, ten string, r BatchRequest, items []BatchItem) (batchClaim, error) {
	var c batchClaim
	all, allFPs := r.keys()
	if len(all) == 0 {
		return c, nil
	}
	recs, claimed, err := q.store.ClaimIdempotencyBatch(ctx, ten, all, allFPs, IdempotencyLease)
	if err != nil {
		return c, err
	}
	if r.Key != "" && recs[0] != nil {
		resp, err := q.replay(ctx, ten, recs[0], r.Fingerprint)
		if err != nil {
			return c, err
		}
		c.replay = &BatchResult{Response: resp, Replayed: true}
		return c, nil
	}
	if claimed {
		for i, rec := range recs {
			if rec == nil {
				c.keys, c.fps = append(c.keys, all[i]), append(c.fps, allFPs[i])
			}
		}
	}
	if r.Key != "" {
		recs = recs[1:]
	}
	for i, e := range r.Events {
		if e.Key == "" {
			continue
		}
		rec := recs[0]
		recs = recs[1:]
		if rec == nil {
			continue
		}
		resp, err := q.replay(ctx, ten, rec, e.Fingerprint)
		if err != nil {
			q.releaseBatch(ctx, ten, c.keys, c.fps)
			return c, &EventKeyError{Index: i, Err: err}
		}
		items[i] = BatchItem{Response: resp, Replayed: true}
	}
	if !claimed { // the script claims unless a replay above refuses
		return c, fmt.Errorf("tasks: batch keys not claimed: %w", webhook.ErrIdempotencyKeyInUse)
	}
	return c, nil
}

// storeBatch stores the batch's new events (those items does not answer
// yet) together with their keys' accepted records, queues their tasks,
// and marks the keys done. It returns the batch's answer and the
// deliveries it queued. On an error before the events are stored, the
// caller releases the keys; after, the events and their records are
// removed.
func (q *Queue) storeBatch(ctx context.Context, ten string, r BatchRequest, items []BatchItem) (BatchResult, []*webhook.Delivery, error) {
	var pubs []webhook.Publication
	var batch *webhook.IdempotencyRecord
	var resp []byte
	err := q.withWebhooks(ctx, ten, func(webhooks []*webhook.Webhook, version string) error {
		var err error
		pubs, err = q.newEvents(r, items, webhooks)
		if err == nil {
			resp, err = r.Render(items)
		}
		if err != nil {
			return err
		}
		if r.Key != "" {
			ids := make([]string, len(pubs))
			for i, p := range pubs {
				ids[i] = p.Event.ID
			}
			batch = &webhook.IdempotencyRecord{Keys: []string{r.Key}, Fingerprint: r.Fingerprint, EventID: strings.Join(ids, " "), Response: resp, TTL: r.TTL}
		}
		return q.store.CreateEvents(ctx, ten, pubs, batch, version)
	})
	if err != nil {
		return BatchResult{}, nil, err
	}
	var ds []*webhook.Delivery
	var done []*webhook.IdempotencyRecord
	for _, p := range pubs {
		ds = append(ds, p.Deliveries...)
		if p.Idem != nil {
			done = append(done, p.Idem)
		}
	}
	if err := q.Enqueue(ctx, ds); err != nil {
		if derr := q.store.DeleteEvents(context.WithoutCancel(ctx), ten, pubs, batch); derr != nil {
			q.log.Error("publish: batch not removed after a failed enqueue", "events", len(pubs), "error", derr)
		}
		return BatchResult{}, nil, err
	}
	if batch != nil {
		done = append(done, batch)
	}
	if len(done) > 0 {
		if err := q.store.CompleteIdempotency(ctx, ten, done...); err != nil {
			q.log.Warn("idempotency records not marked done", "events", len(pubs), "error", err)
		}
	}
	return BatchResult{Response: resp, Created: len(pubs)}, ds, nil
}

// keys are every idempotency key of a batch, its own first, and their
// fingerprints.
func (r BatchRequest) keys() (keys, fps []string) {
	if r.Key != "" {
		keys, fps = append(keys, r.Key), append(fps, r.Fingerprint)
	}
	for _, e := range r.Events {
		if e.Key != "" {
			keys, fps = append(keys, e.Key), append(fps, e.Fingerprint)
		}
	}
	return keys, fps
}

// newEvents fans out the events of a batch not answered yet (items) to
// the tenant's webhooks and renders their answers into items.
func (q *Queue) newEvents(r BatchRequest, items []BatchItem, webhooks []*webhook.Webhook) ([]webhook.Publication, error) {
	var pubs []webhook.Publication
	for i, e := range r.Events {
		if items[i].Replayed {
			continue
		}
		ds := q.matching(e.Event, webhooks)
		resp, err := e.Render(ds)
		if err != nil {
			return nil, err
		}
		items[i].Response = resp
		pub := webhook.Publication{Event: e.Event, Deliveries: ds}
		if e.Key != "" {
			pub.Idem = &webhook.IdempotencyRecord{Keys: []string{e.Key}, Fingerprint: e.Fingerprint, EventID: e.Event.ID, Response: resp, TTL: r.TTL}
		}
		pubs = append(pubs, pub)
	}
	return pubs, nil
}

// releaseBatch gives back the keys a batch claimed and did not get
// accepted.
func (q *Queue) releaseBatch(ctx context.Context, tenantID string, keys, fps []string) {
	if len(keys) == 0 {
		return
	}
	if err := q.store.ReleaseIdempotency(context.WithoutCancel(ctx), tenantID, keys, fps...); err != nil {
		q.log.Warn("idempotency keys not released; they free themselves when their lease ends", "error", err)
	}
}

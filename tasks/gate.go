package tasks

import (
	"context"
	"sync"
	"time"
)

// A delivery whose endpoint has all its in-flight slots taken is deferred
// through Asynq's retry set, which costs up to a second (whole-second due
// times) and a fetch, a read and a re-queue each time. When a slot is
// milliseconds away, the worker waits for it in process instead: the next
// attempt of that endpoint in this process whose request is over hands its
// slot over at once, before recording itself (the slot keeps its member in
// the webhook's in-flight set, and that record renews its lease), so a slot
// turns over at the pace of the requests, not of the requests plus the
// records' round trips. A slot is milliseconds away when this process
// gives that endpoint's slots back often enough that the deliveries already
// waiting here, and this one, would all have one within maxExpectedWait. A
// slow endpoint gives slots back seconds apart, so it never has waiters and
// never holds more worker slots than its cap; a busy moderately fast one has
// only a few.
const (
	flowingWithin   = 50 * time.Millisecond  // no slot given back for this long: not flowing
	maxExpectedWait = 50 * time.Millisecond  // longest expected wait worth holding a worker for
	maxSlotWait     = 250 * time.Millisecond // longest in-process wait before deferring
	slotPoll        = 50 * time.Millisecond  // try again meanwhile (slots freed by other processes)
)

// gates tracks, per endpoint, when this process last gave a slot back, and
// the deliveries waiting here for one.
type gates struct {
	mu        sync.Mutex
	m         map[string]*gate // by webhook ID
	lastSweep time.Time
	poll      time.Duration // slotPoll; tests lengthen it
}

type gate struct {
	last     time.Time     // a slot was last given back
	interval time.Duration // between slots given back, moving average
	waiters  []*waiter     // oldest first
}

// waiter is a delivery waiting for a slot. Once picked, the slot (its
// member in the webhook's in-flight set) is sent on granted.
type waiter struct {
	picked  bool
	granted chan string
}

func newGates() *gates { return &gates{m: map[string]*gate{}, poll: slotPoll} }

func (g *gates) get(webhookID string) *gate {
	e := g.m[webhookID]
	if e == nil {
		e = &gate{}
		g.m[webhookID] = e
	}
	return e
}

// released notes that a slot of the webhook was given back (or handed on).
func (g *gates) released(webhookID string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.get(webhookID)
	if !e.last.IsZero() {
		gap := min(now.Sub(e.last), time.Second)
		e.interval = (4*e.interval + gap) / 5
	}
	e.last = now
	if now.Sub(g.lastSweep) > time.Minute { // forget endpoints idle for a minute
		for id, x := range g.m {
			if now.Sub(x.last) > time.Minute && len(x.waiters) == 0 {
				delete(g.m, id)
			}
		}
		g.lastSweep = now
	}
}

// pick takes the oldest delivery waiting for a slot of the webhook, to hand
// it the slot of an attempt whose request is over; nil if none waits.
func (g *gates) pick(webhookID string) *waiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.m[webhookID]
	if e == nil || len(e.waiters) == 0 {
		return nil
	}
	w := e.waiters[0]
	e.waiters = e.waiters[1:]
	w.picked = true
	return w
}

// wait waits for a slot of the webhook for a delivery: it returns
// (slot, true) if a slot was handed to it, ("", true) after a poll interval
// with none (try to take one), and ("", false) at once if a slot is not
// expected soon or the deadline has passed (defer).
func (g *gates) wait(ctx context.Context, webhookID string, now, deadline time.Time) (slot string, again bool) {
	g.mu.Lock()
	e := g.get(webhookID)
	left := deadline.Sub(now)
	expected := time.Duration(len(e.waiters)+1) * e.interval
	if now.Sub(e.last) >= flowingWithin || expected > maxExpectedWait || left <= 0 {
		g.mu.Unlock()
		return "", false
	}
	w := &waiter{granted: make(chan string, 1)}
	e.waiters = append(e.waiters, w)
	g.mu.Unlock()

	t := time.NewTimer(min(left, g.poll))
	defer t.Stop()
	select {
	case slot := <-w.granted:
		return slot, true
	case <-t.C:
	case <-ctx.Done():
	}
	g.mu.Lock()
	if !w.picked { // leave the line
		for i, x := range e.waiters {
			if x == w {
				e.waiters = append(e.waiters[:i:i], e.waiters[i+1:]...)
				break
			}
		}
		g.mu.Unlock()
		return "", ctx.Err() == nil
	}
	g.mu.Unlock()
	return <-w.granted, true // picked: the slot is on its way
}

package tasks

import (
	"context"
	"sync"
	"time"
)

// A delivery whose endpoint has all its in-flight slots taken is deferred
// through Asynq's retry set, which costs up to a second (whole-second due
// times) and a fetch, a read and a re-queue each time. For an endpoint that
// is flowing — this process gave one of its slots back moments ago — a slot
// is milliseconds away, so the worker waits for it in process instead, for a
// bounded time. A slow endpoint gives nothing back for seconds, is never
// flowing, and so never holds more worker slots than its cap.
const (
	flowingWithin = 50 * time.Millisecond  // a slot given back this recently: the endpoint is flowing
	maxSlotWait   = 250 * time.Millisecond // longest in-process wait before deferring
	slotPoll      = 50 * time.Millisecond  // re-try without a signal (slots freed by other processes)
)

// gates tracks, per endpoint, when this process last gave a slot back, and
// wakes one waiter when it does.
type gates struct {
	mu        sync.Mutex
	m         map[string]*gate // by webhook ID
	lastSweep time.Time
}

type gate struct {
	freed chan struct{} // one buffered signal: a slot was given back
	last  time.Time     // when; guarded by gates.mu
}

func newGates() *gates { return &gates{m: map[string]*gate{}} }

func (g *gates) get(webhookID string) *gate {
	e := g.m[webhookID]
	if e == nil {
		e = &gate{freed: make(chan struct{}, 1)}
		g.m[webhookID] = e
	}
	return e
}

// released notes that a slot of the webhook was given back and wakes one
// waiter, if any.
func (g *gates) released(webhookID string, now time.Time) {
	g.mu.Lock()
	e := g.get(webhookID)
	e.last = now
	if now.Sub(g.lastSweep) > time.Minute { // forget endpoints idle for a minute
		for id, x := range g.m {
			if now.Sub(x.last) > time.Minute {
				delete(g.m, id)
			}
		}
		g.lastSweep = now
	}
	g.mu.Unlock()
	select {
	case e.freed <- struct{}{}:
	default:
	}
}

// wait blocks until a slot of the webhook may be free: it returns true after
// a signal or a poll interval, false at once if the endpoint is not flowing
// or the deadline has passed.
func (g *gates) wait(ctx context.Context, webhookID string, now, deadline time.Time) bool {
	g.mu.Lock()
	e := g.get(webhookID)
	flowing := now.Sub(e.last) < flowingWithin
	g.mu.Unlock()
	left := deadline.Sub(now)
	if !flowing || left <= 0 {
		return false
	}
	t := time.NewTimer(min(left, slotPoll))
	defer t.Stop()
	select {
	case <-e.freed:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return true
}

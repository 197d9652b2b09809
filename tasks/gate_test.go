package tasks

import (
	"context"
	"testing"
	"time"
)

func TestGatesWaitOnlyForFlowingEndpoints(t *testing.T) {
	g := newGates()
	ctx := context.Background()
	now := time.Now()
	if _, again := g.wait(ctx, "wh_a", now, now.Add(time.Second)); again {
		t.Fatal("waited for an endpoint that never gave a slot back")
	}
	g.released("wh_a", now)
	// Nobody hands a slot over: the wait ends at the poll interval, to try again.
	start := time.Now()
	slot, again := g.wait(ctx, "wh_a", now.Add(time.Millisecond), now.Add(time.Second))
	if slot != "" || !again || time.Since(start) < slotPoll/2 {
		t.Fatalf("wait = %q, %v after %s; want \"\", true after about %s", slot, again, time.Since(start), slotPoll)
	}
	if len(g.m["wh_a"].waiters) != 0 {
		t.Fatal("a waiter that gave up is still in line")
	}
	if _, again := g.wait(ctx, "wh_a", now.Add(flowingWithin), now.Add(time.Second)); again {
		t.Fatal("waited for an endpoint that gave nothing back for flowingWithin")
	}
	if _, again := g.wait(ctx, "wh_a", now.Add(time.Millisecond), now); again {
		t.Fatal("waited past the deadline")
	}
	if _, again := g.wait(ctx, "wh_b", now.Add(time.Millisecond), now.Add(time.Second)); again {
		t.Fatal("another endpoint's release counted")
	}
	if g.pick("wh_a") != nil {
		t.Fatal("picked a waiter from an empty line")
	}
}

// An attempt whose request is over hands its slot to the oldest waiter,
// even one whose poll interval ended meanwhile.
func TestGatesHandOver(t *testing.T) {
	g := newGates()
	g.poll = 300 * time.Millisecond // waiters stay in line while the test picks them
	ctx := context.Background()
	now := time.Now()
	g.released("wh_a", now)
	type result struct {
		slot  string
		again bool
	}
	results := make(chan result, 2)
	var line []*waiter // the waiters, in the order they joined
	for i := range 2 {
		go func() {
			slot, again := g.wait(ctx, "wh_a", now, now.Add(time.Hour))
			results <- result{slot, again}
		}()
		for deadline := time.Now().Add(time.Second); len(line) == i; { // in line, in order
			g.mu.Lock()
			if ws := g.m["wh_a"].waiters; len(ws) == i+1 {
				line = append(line, ws[i])
			}
			g.mu.Unlock()
			if time.Now().After(deadline) {
				t.Fatalf("waiter %d did not join the line", i+1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	w := g.pick("wh_a")
	if w == nil || w != line[0] {
		t.Fatalf("picked %+v, want the first waiter", w)
	}
	w.granted <- "dlv_0"
	if r := <-results; r.slot != "dlv_0" || !r.again {
		t.Fatalf("the picked waiter got %+v, want slot dlv_0", r)
	}
	w = g.pick("wh_a")
	if w == nil || w != line[1] {
		t.Fatalf("picked %+v, want the second waiter", w)
	}
	time.Sleep(g.poll + 50*time.Millisecond) // its poll interval ends while picked: it still takes the slot
	w.granted <- "dlv_0"
	if r := <-results; r.slot != "dlv_0" || !r.again {
		t.Fatalf("the second waiter got %+v, want slot dlv_0", r)
	}
}

// Only as many deliveries wait as the endpoint's pace of giving slots back
// serves within maxExpectedWait.
func TestGatesWaitOnlyWhenASlotIsNear(t *testing.T) {
	g := newGates()
	now := time.Now()
	for i := range 20 { // a slot back every 5 ms
		g.released("wh_a", now.Add(time.Duration(i-20)*5*time.Millisecond))
	}
	g.released("wh_a", now)
	fits := int(maxExpectedWait / (5 * time.Millisecond))
	g.mu.Lock()
	for range fits - 1 {
		g.m["wh_a"].waiters = append(g.m["wh_a"].waiters, &waiter{})
	}
	g.mu.Unlock()
	done := make(chan bool)
	go func() {
		_, again := g.wait(context.Background(), "wh_a", now, now.Add(time.Second))
		done <- again
	}()
	if again := <-done; !again {
		t.Errorf("the %dth waiter did not wait", fits)
	}
	g.mu.Lock()
	g.m["wh_a"].waiters = append(g.m["wh_a"].waiters, &waiter{})
	g.mu.Unlock()
	if _, again := g.wait(context.Background(), "wh_a", now, now.Add(time.Second)); again {
		t.Errorf("waited behind %d others at a slot per 5 ms", fits)
	}
}

func TestGatesForgetIdleEndpoints(t *testing.T) {
	g := newGates()
	now := time.Now()
	g.released("wh_old", now)
	g.released("wh_new", now.Add(2*time.Minute))
	if _, ok := g.m["wh_old"]; ok {
		t.Fatal("an endpoint idle for two minutes is still tracked")
	}
	if _, ok := g.m["wh_new"]; !ok {
		t.Fatal("the active endpoint was forgotten")
	}
}

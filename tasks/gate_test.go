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
	if g.wait(ctx, "wh_a", now, now.Add(time.Second)) {
		t.Fatal("waited for an endpoint that never gave a slot back")
	}
	g.released("wh_a", now)
	start := time.Now()
	if !g.wait(ctx, "wh_a", now.Add(time.Millisecond), now.Add(time.Second)) {
		t.Fatal("did not wait for a flowing endpoint")
	}
	if time.Since(start) > slotPoll/2 {
		t.Fatalf("the release signal did not wake the waiter: waited %s", time.Since(start))
	}
	// No signal left: the next wait ends at the poll interval.
	start = time.Now()
	if !g.wait(ctx, "wh_a", now.Add(time.Millisecond), now.Add(time.Second)) || time.Since(start) < slotPoll/2 {
		t.Fatalf("second wait returned after %s, want about %s", time.Since(start), slotPoll)
	}
	if g.wait(ctx, "wh_a", now.Add(flowingWithin), now.Add(time.Second)) {
		t.Fatal("waited for an endpoint that gave nothing back for flowingWithin")
	}
	if g.wait(ctx, "wh_a", now.Add(time.Millisecond), now) {
		t.Fatal("waited past the deadline")
	}
	if g.wait(ctx, "wh_b", now.Add(time.Millisecond), now.Add(time.Second)) {
		t.Fatal("another endpoint's release counted")
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

package main

import (
	"slices"
	"testing"
)

// A worker's concurrency is shared by near-equal Asynq servers of at most
// fetchersPer slots each, and at most maxFetchers servers (one on the
// embedded Redis of `tidings dev`).
func TestSplitConcurrency(t *testing.T) {
	for _, c := range []struct {
		total, most int
		want        []int
	}{
		{1, maxFetchers, []int{1}}, {10, maxFetchers, []int{10}}, {11, maxFetchers, []int{6, 5}},
		{50, maxFetchers, []int{10, 10, 10, 10, 10}}, {53, maxFetchers, []int{9, 9, 9, 9, 9, 8}},
		{500, maxFetchers, []int{63, 63, 63, 63, 62, 62, 62, 62}}, {50, 1, []int{50}},
	} {
		if got := split(c.total, fetchersPer, c.most); !slices.Equal(got, c.want) {
			t.Errorf("split(%d, at most %d) = %v, want %v", c.total, c.most, got, c.want)
		}
	}
}

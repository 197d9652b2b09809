package main

import (
	"slices"
	"testing"
)

// A worker's concurrency is shared by near-equal Asynq servers of at most
// fetchersPer slots each, and at most maxFetchers servers.
func TestSplitConcurrency(t *testing.T) {
	for _, c := range []struct {
		total int
		want  []int
	}{
		{1, []int{1}}, {10, []int{10}}, {11, []int{6, 5}}, {50, []int{10, 10, 10, 10, 10}}, {53, []int{9, 9, 9, 9, 9, 8}},
		{500, []int{63, 63, 63, 63, 62, 62, 62, 62}},
	} {
		if got := split(c.total, fetchersPer); !slices.Equal(got, c.want) {
			t.Errorf("split(%d) = %v, want %v", c.total, got, c.want)
		}
	}
}

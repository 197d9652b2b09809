package webhook

import (
	"strings"
	"testing"
	"time"
)

func BenchmarkMatches(b *testing.B) {
	patterns := []string{"computation.complete", "batch.*", "model.deployed", "training.*"}
	for b.Loop() {
		Matches(patterns, "training.progress")
	}
}

func BenchmarkCanonicalJSON(b *testing.B) {
	raw := []byte(`{"job_id":"550e8400-e29b-41d4-a716-446655440000","status":"completed","pad":"` + strings.Repeat("x", 400) +
		`","result":{"solution":[0,1,0,1],"objective_value":8.0,"approximation_ratio":0.95}}`)
	for b.Loop() {
		if _, err := CanonicalJSON(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewID(b *testing.B) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for b.Loop() {
		_ = NewID(PrefixDelivery, now)
	}
}

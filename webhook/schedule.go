package webhook

import (
	"fmt"
	"strings"
	"time"
)

// Schedule is the retry ladder: the delays between consecutive attempts of a
// delivery. The first attempt is immediate, so a delivery gets len(s)+1
// attempts in one run of the ladder.
type Schedule []time.Duration

// ParseSchedule parses a comma-separated list of positive Go durations such
// as "5s,30s,5m,1h". An empty string is an empty ladder (one attempt only).
func ParseSchedule(s string) (Schedule, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Schedule{}, nil
	}
	parts := strings.Split(s, ",")
	out := make(Schedule, 0, len(parts))
	for i, p := range parts {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("entry %d %q is not a Go duration (e.g. 5s, 1h)", i+1, strings.TrimSpace(p))
		}
		if d <= 0 {
			return nil, fmt.Errorf("entry %d %q must be positive", i+1, strings.TrimSpace(p))
		}
		out = append(out, d)
	}
	return out, nil
}

// DefaultSchedule is TIDINGS_RETRY_SCHEDULE's default.
var DefaultSchedule = Schedule{5 * time.Second, 30 * time.Second, 5 * time.Minute, time.Hour}

// Attempts is the number of attempts in one run of the ladder.
func (s Schedule) Attempts() int { return len(s) + 1 }

// Delay is the wait after the n-th attempt of a run (1-based) before the
// next one. It is meaningful for 1 <= n < Attempts(); past the ladder it
// repeats the last rung so that a stray extra attempt still waits.
func (s Schedule) Delay(n int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	if n < 1 {
		n = 1
	}
	if n > len(s) {
		n = len(s)
	}
	return s[n-1]
}

// String renders the ladder in the form ParseSchedule reads.
func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

package webhook

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// A parsed ladder renders back to itself; nothing panics.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"5s,30s,5m,1h", "1s", "", "1s,,2s", "-1s", "1h30m,2.5s", "9999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sched, err := ParseSchedule(s)
		if err != nil {
			return
		}
		for _, d := range sched {
			if d <= 0 {
				t.Fatalf("ParseSchedule(%q) accepted %v", s, d)
			}
		}
		again, err := ParseSchedule(sched.String())
		if err != nil || !reflect.DeepEqual(again, sched) {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
	})
}

// Matching follows its definition for every valid pattern and type.
func FuzzMatchPattern(f *testing.F) {
	for _, p := range [][2]string{{"*", "batch.progress"}, {"batch.*", "batch.a.b"}, {"tidings.*", "tidings.webhook.disabled"}, {"a.b", "a.b"}, {"*", "tidings.x"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, pattern, typ string) {
		got := MatchPattern(pattern, typ)
		if !ValidPattern(pattern) || !ValidEventType(typ) {
			return
		}
		var want bool
		switch {
		case pattern == "*":
			want = !strings.HasPrefix(typ, OperationalPrefix)
		case strings.HasSuffix(pattern, ".*"):
			want = strings.HasPrefix(typ, strings.TrimSuffix(pattern, "*"))
		default:
			want = pattern == typ
		}
		if got != want {
			t.Fatalf("MatchPattern(%q, %q) = %v, want %v", pattern, typ, got, want)
		}
		if ValidEventType(pattern) && !MatchPattern(pattern, pattern) {
			t.Fatalf("%q does not match itself", pattern)
		}
	})
}

// Canonical JSON is valid, means the same, and is a fixed point.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"a":"<&>","b":[1,2.5e3,null,true]}`, `{"x":"\u00e9\u2028\ud83d\ude00"}`, `[]`, `"s"`, `{"a":{"b":{}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := CanonicalJSON(raw)
		if err != nil {
			return
		}
		if asIs(raw) { // the fast path: the full rewrite must agree
			var full bytes.Buffer
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := canonicalValue(dec, &full, 0); err != nil || full.String() != string(raw) {
				t.Fatalf("asIs(%q) but the full rewrite gives %q, %v", raw, full.String(), err)
			}
		}
		if !json.Valid(out) {
			t.Fatalf("CanonicalJSON(%q) = %q: not JSON", raw, out)
		}
		var a, b any
		if json.Unmarshal(raw, &a) == nil {
			_ = json.Unmarshal(out, &b)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("CanonicalJSON(%q) = %q changes the value", raw, out)
			}
		}
		again, err := CanonicalJSON(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not a fixed point: %q → %q", out, again)
		}
	})
}

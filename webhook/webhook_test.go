package webhook

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		in      string
		want    Schedule
		wantErr bool
	}{
		{"5s,30s,5m,1h", Schedule{5 * time.Second, 30 * time.Second, 5 * time.Minute, time.Hour}, false},
		{" 1s , 2s ", Schedule{time.Second, 2 * time.Second}, false},
		{"", Schedule{}, false},
		{"1s,,2s", nil, true},
		{"1s,0s", nil, true},
		{"-1s", nil, true},
		{"soon", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSchedule(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSchedule(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
				t.Errorf("ParseSchedule(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// The ladder: attempt n of a run waits Delay(n) before attempt n+1.
func TestScheduleDelayTable(t *testing.T) {
	s, err := ParseSchedule("5s,30s,5m,1h")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Attempts(); got != 5 {
		t.Errorf("Attempts() = %d, want 5", got)
	}
	want := map[int]time.Duration{1: 5 * time.Second, 2: 30 * time.Second, 3: 5 * time.Minute, 4: time.Hour, 5: time.Hour}
	for n, d := range want {
		if got := s.Delay(n); got != d {
			t.Errorf("Delay(%d) = %v, want %v", n, got, d)
		}
	}
	if got := (Schedule{}).Delay(1); got != 0 {
		t.Errorf("empty ladder Delay(1) = %v, want 0", got)
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, typ string
		want         bool
	}{
		{"*", "batch.progress", true},
		{"*", "tidings.webhook.disabled", false},
		{"tidings.*", "tidings.webhook.disabled", true},
		{"tidings.webhook.disabled", "tidings.webhook.disabled", true},
		{"batch.*", "batch.progress", true},
		{"batch.*", "batch.step.done", true},
		{"batch.*", "batchx.progress", false},
		{"batch.*", "batch", false},
		{"batch.progress", "batch.progress", true},
		{"batch.progress", "batch.progressed", false},
		{"computation.complete", "batch.progress", false},
	}
	for _, tt := range tests {
		if got := MatchPattern(tt.pattern, tt.typ); got != tt.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tt.pattern, tt.typ, got, tt.want)
		}
	}
	if !Matches([]string{"a.b", "batch.*"}, "batch.x") || Matches(nil, "batch.x") {
		t.Error("Matches over a list is wrong")
	}
}

func TestValidPatternAndType(t *testing.T) {
	for _, s := range []string{"batch.progress", "a.b.c", "x1.y_2", "batch.*", "a.b.*", "*"} {
		if !ValidPattern(s) {
			t.Errorf("ValidPattern(%q) = false", s)
		}
	}
	for _, s := range []string{"", "batch", "Batch.progress", "batch.", ".batch", "batch.*.x", "**", "batch*", "1a.b", "a..b"} {
		if ValidPattern(s) {
			t.Errorf("ValidPattern(%q) = true", s)
		}
	}
	if ValidEventType("batch.*") || ValidEventType("*") {
		t.Error("a wildcard is not an event type")
	}
}

func TestIDsSortByTime(t *testing.T) {
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 50 {
		ids = append(ids, NewID(PrefixEvent, base.Add(time.Duration(i)*time.Millisecond)))
	}
	if !sort.StringsAreSorted(ids) {
		t.Error("IDs created later do not sort later")
	}
	if len(ids[0]) != len(PrefixEvent)+26 {
		t.Errorf("ID length = %d", len(ids[0]))
	}
	if b := IDBound(PrefixEvent, base.Add(10*time.Millisecond)); !(ids[9] < b && b <= ids[10]) {
		t.Errorf("IDBound does not separate earlier from later IDs: %s %s %s", ids[9], b, ids[10])
	}
}

func TestDeliveryIDs(t *testing.T) {
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ev, later := NewID(PrefixEvent, base), NewID(PrefixEvent, base.Add(time.Millisecond))
	seen := map[string]bool{}
	for range 2000 { // 2,000 of 2^20 suffixes: collisions are likely, and must be avoided
		id := NewDeliveryID(ev, func(id string) bool { return seen[id] })
		if seen[id] {
			t.Fatalf("NewDeliveryID returned a taken ID %s", id)
		}
		seen[id] = true
		if got, ok := DeliveryEvent(id); !ok || got != ev {
			t.Fatalf("DeliveryEvent(%s) = %s, %v; want %s", id, got, ok, ev)
		}
		if !strings.HasPrefix(id, PrefixDelivery) || id >= NewDeliveryID(later, nil) || id <= IDBound(PrefixDelivery, base) {
			t.Fatalf("%s does not sort by its event's time", id)
		}
	}
	for _, id := range []string{NewID(PrefixDelivery, base), "dlv_", "evt_" + ev[4:] + "ABCD", ""} {
		if got, ok := DeliveryEvent(id); ok {
			t.Errorf("DeliveryEvent(%q) = %s, want none", id, got)
		}
	}
}

func TestSecretFormat(t *testing.T) {
	s := NewSecret()
	if len(s) != len("whsec_")+44 || s[:6] != "whsec_" {
		t.Errorf("NewSecret() = %q", s)
	}
	if k := NewAPIKey(); k[:3] != "tk_" {
		t.Errorf("NewAPIKey() = %q", k)
	}
}

func TestBlockedIP(t *testing.T) {
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
		"0.0.0.0", "::1", "fc00::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "224.0.0.1", "::"} {
		if !BlockedIP(netip.MustParseAddr(s)) {
			t.Errorf("BlockedIP(%s) = false", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"} {
		if BlockedIP(netip.MustParseAddr(s)) {
			t.Errorf("BlockedIP(%s) = true", s)
		}
	}
}

func TestLiveSecrets(t *testing.T) {
	now := time.Now()
	e := &Webhook{Secret: "new", OldSecrets: []OldSecret{{"old", now.Add(time.Hour)}, {"older", now.Add(-time.Second)}}}
	if diff := cmp.Diff([]string{"new", "old"}, e.LiveSecrets(now)); diff != "" {
		t.Errorf("LiveSecrets (-want +got):\n%s", diff)
	}
}

func TestCanonicalJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{ "b" : 1, "a" : [1, 2.50, -3e2, true, false, null, 1.0, 1E3, 0.000014, 1e-7, 1e21, 123e19, -0, 0.1] }`,
			`{"b":1,"a":[1,2.5,-300,true,false,null,1,1000,0.000014,1e-7,1e+21,1.23e+21,0,0.1]}`},
		{`{"b":1,"2":2,"a":3,"10":4,"01":5,"b":6}`, `{"2":2,"10":4,"b":6,"a":3,"01":5}`},
		{`{"h":"\u003cb\u003e \u0026 é \u00e9 \n\t\"\\ \u0001 \u2028 \/"}`, "{\"h\":\"<b> & é é \\n\\t\\\"\\\\ \\u0001 \u2028 /\"}"},
		{`{"big":12345678901234567,"huge":1e999,"nested":{"x":{}, "y":[]}}`, `{"big":12345678901234568,"huge":null,"nested":{"x":{},"y":[]}}`},
		{`{}`, `{}`},
	}
	for _, tt := range tests {
		got, err := CanonicalJSON([]byte(tt.in))
		if err != nil {
			t.Errorf("CanonicalJSON(%s): %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("CanonicalJSON(%s)\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{`{"a":}`, `{"a":1`, ``} {
		if _, err := CanonicalJSON([]byte(bad)); err == nil {
			t.Errorf("CanonicalJSON(%q) accepted bad JSON", bad)
		}
	}
}

// A plain string is written between its quotes unchanged by encoding/json.
func TestPlainJSON(t *testing.T) {
	for s, want := range map[string]bool{"": true, "evt_1K1CZ0Y057": true, "batch.progress": true, "<&> ~!": true,
		"a\"b": false, "a\\b": false, "line\nbreak": false, "é": false, "\u2028": false, "\x7f": false, "\xff": false} {
		if PlainJSON(s) != want {
			t.Errorf("PlainJSON(%q) = %v", s, !want)
		}
		var enc strings.Builder
		e := json.NewEncoder(&enc)
		e.SetEscapeHTML(false)
		_ = e.Encode(s)
		if want && enc.String() != `"`+s+`"`+"\n" {
			t.Errorf("PlainJSON(%q), but the encoder writes %s", s, enc.String())
		}
	}
}

// The last_* response fields are null until an attempt got an answer: a
// refused connection has no status, body or response time to show.
func TestDeliveryViewLastResponse(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 35, 0, 0, time.UTC)
	ptr := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	tests := []struct {
		name                   string
		d                      Delivery
		status, body, ms, errs string
	}{
		{"not attempted", Delivery{Status: DeliveryPending}, "null", "null", "null", "null"},
		{"refused", Delivery{Status: DeliveryPending, Attempt: 1, LastResponseTimeMs: 3, LastError: "connection refused"},
			"null", "null", "null", `"connection refused"`},
		{"answered 500", Delivery{Status: DeliveryPending, Attempt: 1, LastResponseStatus: 500, LastResponseBody: "oops",
			LastResponseTimeMs: 12, LastError: "HTTP 500"}, "500", `"oops"`, "12", `"HTTP 500"`},
		{"answered 200", Delivery{Status: DeliverySucceeded, Attempt: 2, LastResponseStatus: 200, LastResponseTimeMs: 7},
			"200", `""`, "7", "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.d.CreatedAt, tt.d.UpdatedAt = at, at
			v := DeliveryView(&tt.d)
			got := []string{ptr(v.LastResponseStatus), ptr(v.LastResponseBody), ptr(v.LastResponseTimeMs), ptr(v.LastError)}
			want := []string{tt.status, tt.body, tt.ms, tt.errs}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("status, body, ms, error (-want +got):\n%s", diff)
			}
		})
	}
}

// The fast path takes canonical JSON as it is and leaves the rest to the
// full rewrite, which gives the same bytes for what it takes.
func TestCanonicalJSONAsIs(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"a":1,"b":[true,false,null,"x"],"c":{"d":-12,"e":{}},"f":[]}`: true,
		`{"pad":"` + strings.Repeat("x", 500) + `"}`:                    true,
		`{"a":1,"a":2}`:          false,
		`{"1":"x"}`:              false,
		`{"a": 1}`:               false,
		`{"a":1.5}`:              false,
		`{"a":1e3}`:              false,
		`{"a":-0}`:               false,
		`{"a":01}`:               false,
		`{"a":1234567890123456}`: false,
		`{"a":"\u003c"}`:         false,
		`{"a":"é"}`:              false,
		`{"a":tru}`:              false,
		`{"a":1,}`:               false,
		`{"a":1}x`:               false,
		` {"a":1}`:               false,
		`[1,2`:                   false,
		strings.Repeat("[", 70) + strings.Repeat("]", 70): false,
	} {
		if got := asIs([]byte(raw)); got != want {
			t.Errorf("asIs(%q) = %v, want %v", raw, got, want)
		}
		if !want {
			continue
		}
		out, err := CanonicalJSON([]byte(raw))
		var full bytes.Buffer
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		if ferr := canonicalValue(dec, &full, 0); err != nil || ferr != nil || string(out) != full.String() {
			t.Errorf("CanonicalJSON(%q) = %q, %v; the full rewrite %q, %v", raw, out, err, full.String(), ferr)
		}
	}
}

package sender

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

func message(url string) webhook.Message {
	now := time.Date(2026, 11, 22, 10, 35, 0, 0, time.UTC)
	return webhook.Message{
		Webhook:  &webhook.Webhook{ID: "wh_1", URL: url, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Headers: map[string]string{"X-Custom": "yes"}},
		Event:    &webhook.Event{ID: "evt_1", Type: "batch.progress", Data: json.RawMessage(`{"a":"<&>"}`), CreatedAt: now},
		Delivery: &webhook.Delivery{ID: "dlv_1"},
		Attempt:  2,
	}
}

func TestEnvelope(t *testing.T) {
	b, err := Envelope(message("").Event)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"evt_1","type":"batch.progress","timestamp":"2026-11-22T10:35:00.000Z","data":{"a":"<&>"}}`
	if string(b) != want {
		t.Errorf("Envelope = %s\nwant %s", b, want)
	}
	// The hand-written body is the encoder's, byte for byte; what it cannot
	// write plainly goes to the encoder.
	for _, ev := range []*webhook.Event{
		{ID: "evt_2", Type: "tidings.webhook.disabled", Data: json.RawMessage(`{"u":"\u003c\u00e9\n","n":[1,2.5,null],"o":{}}`), CreatedAt: time.Unix(1, 5e8)},
		{ID: "evt_3", Type: `odd"type\`, Data: json.RawMessage(`{"é":"✓"}`)},
		{ID: "evt_4", Type: "x.y"},
	} {
		got, err := Envelope(ev)
		want, _ := encodeEnvelope(ev)
		if err != nil || string(got) != string(want) || !json.Valid(got) {
			t.Errorf("Envelope = %s, %v\nencoder  %s", got, err, want)
		}
	}
}

func TestOutcomes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(204)
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/busy":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(429)
		case "/slow":
			time.Sleep(2 * time.Second)
		case "/big":
			w.WriteHeader(500)
			_, _ = w.Write([]byte(strings.Repeat("x", 5000)))
		}
	}))
	defer srv.Close()
	s := New(Options{Timeout: 500 * time.Millisecond, AllowPrivateNetworks: true, UserAgent: "Tidings/test"})
	defer s.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedURL := "http://" + closed.Addr().String()
	closed.Close()
	tests := []struct {
		url, class string
		status     int
	}{
		{srv.URL + "/ok", "", 204},
		{srv.URL + "/redirect", webhook.ErrorRedirect, 302},
		{srv.URL + "/busy", webhook.ErrorHTTPStatus, 429},
		{srv.URL + "/slow", webhook.ErrorTimeout, 0},
		{srv.URL + "/big", webhook.ErrorHTTPStatus, 500},
		{refusedURL, webhook.ErrorConnectionRefused, 0},
		{"https://" + srv.Listener.Addr().String() + "/ok", webhook.ErrorTLS, 0},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			a := s.Send(context.Background(), message(tt.url), time.Now())
			if a.ErrorClass != tt.class || a.ResponseStatus != tt.status {
				t.Errorf("Send(%s) = class %q status %d (%s), want %q %d", tt.url, a.ErrorClass, a.ResponseStatus, a.Error, tt.class, tt.status)
			}
			if tt.class != "" && a.Error == "" {
				t.Error("a failed attempt has no error text")
			}
			if len(a.ResponseBody) > webhook.MaxResponseBody {
				t.Errorf("kept %d bytes of body", len(a.ResponseBody))
			}
			if tt.status == 429 && a.RetryAfter != 2*time.Minute {
				t.Errorf("RetryAfter = %v", a.RetryAfter)
			}
		})
	}
}

// With private networks refused, the dialer blocks loopback after DNS, at
// connect time: the target never sees a byte.
func TestBlockedAddress(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
	defer srv.Close()
	s := New(Options{Timeout: time.Second})
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for _, host := range []string{"127.0.0.1", "localhost", "[::ffff:127.0.0.1]"} {
		a := s.Send(context.Background(), message("http://"+net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port))), time.Now())
		if a.ErrorClass != webhook.ErrorBlockedAddress {
			t.Errorf("%s: class %q (%s), want blocked_address", host, a.ErrorClass, a.Error)
		}
	}
	if hit {
		t.Error("the blocked target received a request")
	}
}

func TestHeadersAndSignatures(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	s := New(Options{Timeout: time.Second, AllowPrivateNetworks: true, UserAgent: "Tidings/test"})
	m := message(srv.URL)
	m.Webhook.OldSecrets = []webhook.OldSecret{{Secret: "old-secret-still-live-xxxxx", ExpiresAt: time.Now().Add(time.Hour)}}
	a := s.Send(context.Background(), m, time.Unix(1763807700, 0))
	if a.ErrorClass != "" {
		t.Fatal(a.Error)
	}
	for h, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "Tidings/test", "Webhook-Id": "dlv_1",
		"Webhook-Timestamp": "1763807700", "X-Webhook-Timestamp": "1763807700", "X-Webhook-Id": "wh_1", "X-Event-Id": "evt_1",
		"X-Event-Type": "batch.progress", "X-Delivery-Id": "dlv_1", "X-Delivery-Attempt": "2", "X-Custom": "yes"} {
		if got.Get(h) != want {
			t.Errorf("%s = %q, want %q", h, got.Get(h), want)
		}
	}
	if n := len(strings.Fields(got.Get("webhook-signature"))); n != 2 {
		t.Errorf("webhook-signature has %d entries during rotation, want 2", n)
	}
	if n := len(strings.Split(got.Get("X-Webhook-Signature"), ",")); n != 2 {
		t.Errorf("X-Webhook-Signature has %d entries during rotation, want 2", n)
	}
}

// Credentials in an endpoint's URL go out as basic auth, as http.Client
// sends them, unless the webhook sets its own Authorization header; an
// error's text never carries the URL.
func TestURLCredentials(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	s := New(Options{Timeout: time.Second, AllowPrivateNetworks: true})
	defer s.Close()
	u, _ := url.Parse(srv.URL)
	u.User = url.UserPassword("ci", "pa ss")
	m := message(u.String())
	s.Send(context.Background(), m, time.Now())
	m.Webhook.Headers = map[string]string{"Authorization": "Bearer own"}
	s.Send(context.Background(), m, time.Now())
	if want := []string{"Basic Y2k6cGEgc3M=", "Bearer own"}; !slices.Equal(got, want) {
		t.Errorf("Authorization = %q, want %q", got, want)
	}

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := closed.Addr().String()
	closed.Close()
	a := s.Send(context.Background(), message("http://ci:hunter2@"+addr+"/hook?token=hunter2"), time.Now())
	if a.ErrorClass != webhook.ErrorConnectionRefused || strings.Contains(a.Error, "hunter2") {
		t.Errorf("class %q, error %q: want connection_refused without the URL's secrets", a.ErrorClass, a.Error)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"": 0, "0": 0, "-5": 0, "30": 30 * time.Second, "999999999": MaxRetryAfter, "soon": 0,
		"Sun, 22 Nov 2026 10:01:00 GMT": time.Minute, "Sun, 22 Nov 2026 09:00:00 GMT": 0,
	}
	for in, want := range tests {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		err  error
		want string
	}{
		{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, webhook.ErrorDNS},
		{&errBlocked{ip: net.ParseIP("10.0.0.1")}, webhook.ErrorBlockedAddress},
		{context.DeadlineExceeded, webhook.ErrorTimeout},
		{errors.New("tls: handshake failure"), webhook.ErrorTLS},
		{errors.New("something odd"), webhook.ErrorOther},
	}
	for _, tt := range tests {
		if got := classify(ctx, &url.Error{Op: "Post", URL: "https://x", Err: tt.err}); got != tt.want {
			t.Errorf("classify(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

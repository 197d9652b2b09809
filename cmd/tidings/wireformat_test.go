package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tidingshq/tidings/redistest"
)

// wireFormat is one product-research document's webhook format: the
// settings that reproduce it and the receiver written from it.
type wireFormat struct {
	name     string
	env      map[string]string
	receiver []string // command, relative to testdata/receivers
	path     string
	catalog  string
	// sign signs a body the document's way, for the wrong-secret replay.
	sign   func(secret string, h http.Header, body []byte)
	fields []string // the envelope's fields
}

func hexMAC(secret string, parts ...[]byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return hex.EncodeToString(m.Sum(nil))
}

var wireFormats = []wireFormat{
	{
		name: "zeq", path: "/webhook/zeq", catalog: "zeq.txt", receiver: []string{"node", "zeq.js"},
		env: map[string]string{
			"TIDINGS_SIGNATURE_HEADER": "X-Zeq-Signature", "TIDINGS_TIMESTAMP_HEADER": "X-Zeq-Timestamp",
			"TIDINGS_DELIVERY_ID_HEADER": "X-Zeq-Delivery-ID", "TIDINGS_SIGNATURE_FORMAT": "sha256={hex}",
			"TIDINGS_SIGNED_CONTENT":   "{body}",
			"TIDINGS_PAYLOAD_TEMPLATE": `{"event":{{json .Type}},"computation_id":{{json .EventID}},"timestamp":{{.Unix}},"delivery_attempt":{{.Attempt}},"data":{{json .Data}}}`,
		},
		sign: func(secret string, h http.Header, body []byte) {
			h.Set("X-Zeq-Signature", "sha256="+hexMAC(secret, body))
		},
		fields: []string{"event", "computation_id", "timestamp", "delivery_attempt", "data"},
	},
	{
		name: "aiplatform", path: "/webhook", catalog: "aiplatform.txt", receiver: []string{"python3", "aiplatform.py"},
		env: map[string]string{
			"TIDINGS_SIGNATURE_HEADER": "X-Webhook-Signature", "TIDINGS_TIMESTAMP_HEADER": "X-Timestamp",
			"TIDINGS_SIGNATURE_FORMAT": "{hex}", "TIDINGS_SIGNED_CONTENT": "{body}",
			"TIDINGS_PAYLOAD_TEMPLATE": `{"event_id":{{json .EventID}},"event_type":{{json .Type}},"timestamp":{{json .Timestamp}},"data":{{json .Data}},"retry_count":{{sub .Attempt 1}}}`,
		},
		sign: func(secret string, h http.Header, body []byte) {
			h.Set("X-Webhook-Signature", hexMAC(secret, body))
		},
		fields: []string{"event_id", "event_type", "timestamp", "data", "retry_count"},
	},
	{
		name: "sematryx", path: "/webhooks/sematryx", catalog: "sematryx.txt", receiver: []string{"node", "sematryx.js"},
		env: map[string]string{
			"TIDINGS_SIGNATURE_HEADER": "X-Sematryx-Signature", "TIDINGS_SIGNATURE_FORMAT": "{hex}", "TIDINGS_SIGNED_CONTENT": "{body}",
			"TIDINGS_PAYLOAD_TEMPLATE": `{"id":{{json .EventID}},"type":{{json .Type}},"created_at":{{json .Timestamp}},"data":{{json .Data}}}`,
		},
		sign: func(secret string, h http.Header, body []byte) {
			h.Set("X-Sematryx-Signature", hexMAC(secret, body))
		},
		fields: []string{"id", "type", "created_at", "data"},
	},
	{
		name: "ztrace", path: "/api/webhooks/ztrace", catalog: "ztrace.txt", receiver: []string{"node", "ztrace.js"},
		env: map[string]string{
			"TIDINGS_SIGNATURE_HEADER": "X-Ztrace-Signature", "TIDINGS_TIMESTAMP_HEADER": "X-Ztrace-Timestamp",
			"TIDINGS_SIGNATURE_FORMAT": "sha256={hex}", "TIDINGS_SIGNED_CONTENT": "{timestamp}.{body}",
			"TIDINGS_PAYLOAD_TEMPLATE": `{"event":{{json .Type}},"data":{{json .Data}},"timestamp":{{json .Timestamp}}}`,
		},
		sign: func(secret string, h http.Header, body []byte) {
			h.Set("X-Ztrace-Signature", "sha256="+hexMAC(secret, []byte(h.Get("X-Ztrace-Timestamp")+"."), body))
		},
		fields: []string{"event", "data", "timestamp"},
	},
}

// startReceiver runs a document's receiver and returns its base URL.
func startReceiver(t *testing.T, f wireFormat, secret string) string {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("testdata", "receivers"))
	if _, err := exec.LookPath(f.receiver[0]); err != nil {
		if redistest.Required() {
			t.Fatalf("%s is required in CI for the %s receiver", f.receiver[0], f.name)
		}
		t.Skipf("%s not installed", f.receiver[0])
	}
	if f.receiver[0] == "node" {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "express")); err != nil && f.name != "ztrace" {
			if redistest.Required() {
				t.Fatal("express is not installed in testdata/receivers (scripts/test.sh runs npm ci)")
			}
			t.Skip("express not installed: run npm ci in cmd/tidings/testdata/receivers")
		}
	}
	cmd := exec.Command(f.receiver[0], f.receiver[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret, "PORT=0")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening ") {
				lines <- strings.TrimPrefix(sc.Text(), "listening ")
			}
		}
	}()
	select {
	case port := <-lines:
		return "http://127.0.0.1:" + strings.TrimSpace(port)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s receiver did not start", f.name)
		return ""
	}
}

// recordingProxy forwards to the receiver and keeps each request and the
// receiver's answer.
type recordingProxy struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
	got  []int
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	p := &recordingProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(r.Method, target+r.URL.Path, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		code := 502
		if err == nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, received{At: time.Now(), Header: r.Header.Clone(), Body: body})
		p.got = append(p.got, code)
		p.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(p.Close)
	return p
}

// replay sends a recorded request again, straight to the receiver.
func replay(t *testing.T, target, path string, h http.Header, body []byte) int {
	req, _ := http.NewRequest("POST", target+path, bytes.NewReader(body))
	req.Header = h.Clone()
	req.Header.Del("Content-Length")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Each documented wire format, configured in Tidings, is verified by a
// receiver written the way its document tells its readers; a tampered body
// and a wrong secret are rejected by the same receiver.
func TestWireFormats(t *testing.T) {
	for _, f := range wireFormats {
		t.Run(f.name, func(t *testing.T) {
			secret := "format-" + f.name + "-secret-0123456789"
			target := startReceiver(t, f, secret)
			proxy := newRecordingProxy(t, target)
			env := map[string]string{"TIDINGS_RETRY_SCHEDULE": "1s", "TIDINGS_EVENT_TYPES": "@" + filepath.Join("..", "..", "docs", "catalogs", f.catalog)}
			for k, v := range f.env {
				env[k] = v
			}
			in := start(t, env)
			_, key := in.tenant(f.name)
			catalog := in.must(200, "GET", "/v1/event-types", key, nil).list()
			if len(catalog) < 3 || catalog[0]["description"] == "" {
				t.Fatalf("event types = %v", catalog)
			}
			typ := catalog[0]["type"].(string)
			in.must(201, "POST", "/v1/webhooks", key, map[string]any{"url": proxy.URL + f.path, "events": []string{typ}, "secret": secret})
			in.must(422, "POST", "/v1/events", key, map[string]any{"type": "not.in.catalog", "data": map[string]any{}})
			data := `{"note":"<b>Tom & Jerry</b> – ünïcödé ✓ 日本","big":9007199254740993,"float":0.1,"sci":1.5e-7,"whole":2.0,"nested":{"10":"x","2":[1e21]}}`
			ev := in.must(202, "POST", "/v1/events", key, `{"type":"`+typ+`","data":`+data+`}`)
			dlvID := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
			d := in.waitDelivery(key, dlvID, "succeeded", 20*time.Second)
			if d.get("attempt") != float64(1) {
				t.Errorf("the receiver rejected attempts: %s", d.Raw)
			}
			proxy.mu.Lock()
			r, code := proxy.reqs[0], proxy.got[0]
			proxy.mu.Unlock()
			if code != 200 {
				t.Fatalf("receiver answered %d", code)
			}
			var body map[string]any
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			for _, field := range f.fields {
				if _, ok := body[field]; !ok {
					t.Errorf("envelope lacks %q: %s", field, r.Body)
				}
			}
			if !bytes.Contains(r.Body, []byte(`<b>Tom & Jerry</b>`)) {
				t.Errorf("body is HTML-escaped: %s", r.Body)
			}
			// The Standard Webhooks headers are sent whatever the format.
			lib, _ := standardwebhooks.NewWebhookRaw([]byte(secret))
			if err := lib.Verify(r.Body, r.Header); err != nil {
				t.Errorf("Standard Webhooks library: %v", err)
			}

			tampered := bytes.Replace(r.Body, []byte("Tom"), []byte("Tim"), 1)
			if got := replay(t, target, f.path, r.Header, tampered); got != 401 {
				t.Errorf("tampered body: receiver answered %d, want 401", got)
			}
			wrong := r.Header.Clone()
			f.sign("not-the-secret-0123456789abcdef", wrong, r.Body)
			if got := replay(t, target, f.path, wrong, r.Body); got != 401 {
				t.Errorf("wrong secret: receiver answered %d, want 401", got)
			}
			right := r.Header.Clone()
			f.sign(secret, right, r.Body)
			if got := replay(t, target, f.path, right, r.Body); got != 200 {
				t.Errorf("the test's own signing does not match the document's: %d", got)
			}
		})
	}
}

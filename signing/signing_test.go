package signing

import (
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

type vector struct {
	Name      string   `json:"name"`
	Secrets   []string `json:"secrets"`
	MsgID     string   `json:"msg_id"`
	Timestamp int64    `json:"timestamp"`
	Body      string   `json:"body"`
	Format    string   `json:"format"`
	Content   string   `json:"content"`
	Standard  string   `json:"standard"`
	Hex       string   `json:"hex"`
}

func vectors() []vector {
	return []vector{
		{Name: "whsec secret, default hex scheme", Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, MsgID: "dlv_01M82W0AMJEH7V4B3S7BBYHV4M",
			Timestamp: 1763807700, Body: `{"id":"evt_1","type":"batch.progress","timestamp":"2026-11-22T10:35:00.000Z","data":{"pct":50}}`,
			Format: "sha256={hex}", Content: "{timestamp}.{body}"},
		{Name: "plain secret, body-only bare hex", Secrets: []string{"a-plain-secret-of-24-chars!"}, MsgID: "dlv_X",
			Timestamp: 1700000000, Body: `{"a":"<b>&"}`, Format: "{hex}", Content: "{body}"},
		{Name: "two live secrets, base64 with id", Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "old-secret-still-in-grace-period"},
			MsgID: "dlv_Y", Timestamp: 1800000000, Body: `{}`, Format: "v1={base64}", Content: "{id}.{timestamp}.{body}"},
	}
}

func compute(v vector) vector {
	v.Standard = Standard(v.Secrets, v.MsgID, v.Timestamp, []byte(v.Body))
	v.Hex = HexScheme{Format: v.Format, Content: v.Content}.Sign(v.Secrets, v.MsgID, v.Timestamp, []byte(v.Body))
	return v
}

// The golden vectors pin both schemes: a change that alters a signature
// fails here (rerun with -update only when the change is intended).
func TestGoldenVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	var got []vector
	for _, v := range vectors() {
		got = append(got, compute(v))
	}
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []vector
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("%d vectors in testdata, %d computed", len(want), len(got))
	}
	for i := range want {
		if got[i].Standard != want[i].Standard || got[i].Hex != want[i].Hex {
			t.Errorf("%s: got (%s, %s), golden (%s, %s)", want[i].Name, got[i].Standard, got[i].Hex, want[i].Standard, want[i].Hex)
		}
	}
}

// A third party's verifier (the Standard Webhooks Go library) accepts our
// webhook-signature for every live secret.
func TestStandardWebhooksLibraryVerifies(t *testing.T) {
	now := time.Now()
	for _, v := range vectors() {
		v.Timestamp = now.Unix()
		v = compute(v)
		h := http.Header{}
		h.Set("webhook-id", v.MsgID)
		h.Set("webhook-timestamp", strconv.FormatInt(v.Timestamp, 10))
		h.Set("webhook-signature", v.Standard)
		for _, s := range v.Secrets {
			var wh *standardwebhooks.Webhook
			var err error
			if len(s) > 6 && s[:6] == "whsec_" {
				wh, err = standardwebhooks.NewWebhook(s)
			} else {
				wh, err = standardwebhooks.NewWebhookRaw([]byte(s))
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify([]byte(v.Body), h); err != nil {
				t.Errorf("%s: library rejects secret %q: %v", v.Name, s[:8], err)
			}
		}
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1763807700, 0)
	v := compute(vectors()[0])
	ts := strconv.FormatInt(v.Timestamp, 10)
	scheme := HexScheme{Format: v.Format, Content: v.Content}
	if err := VerifyStandard(v.Secrets[0], v.MsgID, ts, v.Standard, []byte(v.Body), now, time.Minute); err != nil {
		t.Errorf("VerifyStandard: %v", err)
	}
	if err := scheme.Verify(v.Secrets[0], v.MsgID, ts, v.Hex, []byte(v.Body), now, time.Minute); err != nil {
		t.Errorf("hex Verify: %v", err)
	}
	tampered := []byte(v.Body + " ")
	if err := VerifyStandard(v.Secrets[0], v.MsgID, ts, v.Standard, tampered, now, time.Minute); err != ErrMismatch {
		t.Errorf("tampered body: %v", err)
	}
	if err := scheme.Verify("whsec_wrong", v.MsgID, ts, v.Hex, []byte(v.Body), now, time.Minute); err != ErrMismatch {
		t.Errorf("wrong secret: %v", err)
	}
	if err := VerifyStandard(v.Secrets[0], v.MsgID, ts, v.Standard, []byte(v.Body), now.Add(time.Hour), time.Minute); err != ErrOutsideWindow {
		t.Errorf("old timestamp: %v", err)
	}
	if err := VerifyStandard(v.Secrets[0], v.MsgID, "x", v.Standard, []byte(v.Body), now, 0); err != ErrBadTimestamp {
		t.Errorf("bad timestamp: %v", err)
	}
}

// Sign → verify round-trips, and a changed byte of the body never verifies.
func FuzzSignVerify(f *testing.F) {
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "dlv_1", int64(1763807700), []byte(`{"a":1}`), 0)
	f.Add("plain", "x", int64(0), []byte(""), 3)
	f.Fuzz(func(t *testing.T, secret, id string, ts int64, body []byte, flip int) {
		if secret == "" {
			return
		}
		now := time.Unix(ts, 0)
		tsh := strconv.FormatInt(ts, 10)
		std := Standard([]string{secret}, id, ts, body)
		if err := VerifyStandard(secret, id, tsh, std, body, now, time.Minute); err != nil {
			t.Fatalf("standard round trip: %v", err)
		}
		hex := DefaultHex.Sign([]string{secret}, id, ts, body)
		if err := DefaultHex.Verify(secret, id, tsh, hex, body, now, time.Minute); err != nil {
			t.Fatalf("hex round trip: %v", err)
		}
		if len(body) == 0 {
			return
		}
		changed := append([]byte(nil), body...)
		i := (flip%len(changed) + len(changed)) % len(changed)
		changed[i] ^= 0x01
		if VerifyStandard(secret, id, tsh, std, changed, now, time.Minute) == nil {
			t.Fatal("standard signature verified a changed body")
		}
		if DefaultHex.Verify(secret, id, tsh, hex, changed, now, time.Minute) == nil {
			t.Fatal("hex signature verified a changed body")
		}
	})
}

func TestVerifyRequest(t *testing.T) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"id":"evt_1"}`)
	now := time.Now().Unix()
	h := http.Header{}
	h.Set(HeaderID, "dlv_1")
	h.Set(HeaderDeliveryID, "dlv_1")
	h.Set(HeaderTimestamp, strconv.FormatInt(now, 10))
	h.Set(HeaderHexTimestamp, strconv.FormatInt(now, 10))
	h.Set(HeaderSignature, Standard([]string{"whsec_other0000000000000000000000", secret}, "dlv_1", now, body))
	h.Set(HeaderHexSignature, DefaultHex.Sign([]string{secret}, "dlv_1", now, body))
	if err := Verify(secret, h, body, 0); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := Verify("whsec_wrong", h, body, 0); err != ErrMismatch {
		t.Errorf("wrong secret: %v", err)
	}
	if err := Verify(secret, h, []byte(`{"id":"evt_2"}`), 0); err != ErrMismatch {
		t.Errorf("tampered body: %v", err)
	}
	h.Del(HeaderHexSignature)
	if err := Verify(secret, h, body, 0); err != nil {
		t.Errorf("standard only: %v", err)
	}
	if err := Verify(secret, http.Header{}, body, 0); err != ErrNoSignature {
		t.Errorf("no signature: %v", err)
	}
}

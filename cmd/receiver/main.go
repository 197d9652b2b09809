// Command receiver is an example webhook receiver: it verifies both of
// Tidings' signature schemes, de-duplicates on webhook-id, and can be told to
// fail, for demos and end-to-end tests.
//
//	receiver -addr :9000 -secret whsec_… [-fail 2] [-status 500]
//
// It answers 200 for a verified new delivery, 200 again (without processing)
// for a duplicate webhook-id, 401 for a bad signature, and -status for the
// first -fail requests.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/tidingshq/tidings/signing"
)

func main() {
	addr := flag.String("addr", ":9000", "listen address")
	secret := flag.String("secret", os.Getenv("WEBHOOK_SECRET"), "the webhook's signing secret (or WEBHOOK_SECRET)")
	failN := flag.Int("fail", 0, "answer -status to the first N requests")
	status := flag.Int("status", http.StatusInternalServerError, "status for failed requests")
	flag.Parse()
	if *secret == "" {
		fmt.Fprintln(os.Stderr, "receiver: -secret or WEBHOOK_SECRET is required")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	r := &Receiver{Secret: *secret, FailFirst: *failN, FailStatus: *status, Log: log}
	log.Info("receiver listening", "addr", *addr)
	if err := http.ListenAndServe(*addr, r); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}

// Receiver verifies and de-duplicates webhook requests.
type Receiver struct {
	Secret     string
	FailFirst  int
	FailStatus int
	Log        *slog.Logger

	mu   sync.Mutex
	seen map[string]bool
	n    int
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	id := req.Header.Get("webhook-id")
	// Both schemes: the Standard Webhooks signature and the hex one.
	if req.Header.Get(signing.HeaderSignature) == "" || req.Header.Get(signing.HeaderHexSignature) == "" {
		http.Error(w, "missing signature", http.StatusUnauthorized)
		return
	}
	if err := signing.Verify(r.Secret, req.Header, body, signing.DefaultTolerance); err != nil {
		r.Log.Warn("signature rejected", "webhook_id", id, "error", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	r.n++
	n := r.n
	dup := r.seen[id]
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	fail := n <= r.FailFirst
	if !fail {
		r.seen[id] = true
	}
	r.mu.Unlock()
	switch {
	case fail:
		r.Log.Info("failing on purpose", "webhook_id", id, "request", n, "status", r.FailStatus)
		w.WriteHeader(r.FailStatus)
	case dup:
		r.Log.Info("duplicate ignored", "webhook_id", id)
		fmt.Fprintln(w, "duplicate")
	default:
		r.Log.Info("webhook received", "webhook_id", id, "type", req.Header.Get("X-Event-Type"),
			"attempt", req.Header.Get("X-Delivery-Attempt"), "body", string(body))
		fmt.Fprintln(w, "ok")
	}
}

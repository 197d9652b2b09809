package sender

import (
	"crypto/tls"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

// tracer records the phases of one request.
type tracer struct {
	mu                       sync.Mutex
	start                    time.Time
	dnsStart, dnsDone        time.Time
	connectStart, connectEnd time.Time
	tlsStart, tlsDone        time.Time
	firstByte                time.Time
}

func (t *tracer) set(dst *time.Time) {
	t.mu.Lock()
	if dst.IsZero() {
		*dst = time.Now()
	}
	t.mu.Unlock()
}

func (t *tracer) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSStart:             func(httptrace.DNSStartInfo) { t.set(&t.dnsStart) },
		DNSDone:              func(httptrace.DNSDoneInfo) { t.set(&t.dnsDone) },
		ConnectStart:         func(string, string) { t.set(&t.connectStart) },
		ConnectDone:          func(string, string, error) { t.set(&t.connectEnd) },
		TLSHandshakeStart:    func() { t.set(&t.tlsStart) },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { t.set(&t.tlsDone) },
		GotFirstResponseByte: func() { t.set(&t.firstByte) },
	}
}

// timing returns each phase's duration; nil where the phase did not happen.
func (t *tracer) timing() webhook.Timing {
	t.mu.Lock()
	defer t.mu.Unlock()
	return webhook.Timing{
		DNSMs:       span(t.dnsStart, t.dnsDone),
		ConnectMs:   span(t.connectStart, t.connectEnd),
		TLSMs:       span(t.tlsStart, t.tlsDone),
		FirstByteMs: span(t.start, t.firstByte),
	}
}

func span(a, b time.Time) *float64 {
	if a.IsZero() || b.IsZero() {
		return nil
	}
	ms := float64(b.Sub(a).Microseconds()) / 1000
	return &ms
}

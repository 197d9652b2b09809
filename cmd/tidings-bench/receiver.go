package main

import (
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// receiver counts deliveries to /fast (and /ceiling), sleeps 5 s on /slow,
// and records publish → first arrival per event.
type receiver struct {
	srv      *http.Server
	url      string
	count    atomic.Int64
	want     int64
	done     chan struct{}
	doneOnce *sync.Once

	mu        sync.Mutex
	track     bool
	sent      map[string]time.Time
	arrived   map[string]time.Time
	startedAt time.Time
	firstSeen map[string]time.Time
}

func newReceiver() (*receiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + l.Addr().String()}
	r.srv = &http.Server{Handler: r}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

func (r *receiver) reset(want int, _ bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count.Store(0)
	r.want = int64(want)
	r.done = make(chan struct{})
	r.doneOnce = &sync.Once{}
	r.track = false
	r.sent, r.arrived, r.firstSeen = map[string]time.Time{}, map[string]time.Time{}, map[string]time.Time{}
	r.startedAt = time.Time{}
}

// since makes latency relative to a start time (throughput runs whose events
// were all published before the workers started).
func (r *receiver) since(t time.Time) {
	r.mu.Lock()
	r.startedAt = t
	r.mu.Unlock()
}

func (r *receiver) trackLatency() {
	r.mu.Lock()
	r.track = true
	r.mu.Unlock()
}

func (r *receiver) published(id string, at time.Time) {
	r.mu.Lock()
	r.sent[id] = at
	r.mu.Unlock()
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch req.URL.Path {
	case "/slow":
		time.Sleep(5 * time.Second)
		return
	case "/fast":
		now := time.Now()
		id := req.Header.Get("X-Event-ID")
		r.mu.Lock()
		if _, ok := r.firstSeen[id]; !ok {
			r.firstSeen[id] = now
		}
		r.mu.Unlock()
	}
	if r.count.Add(1) == r.want {
		r.doneOnce.Do(func() { close(r.done) })
	}
}

func (r *receiver) wait(timeout time.Duration) {
	select {
	case <-r.done:
	case <-time.After(timeout):
		panic("deliveries did not all arrive")
	}
}

// percentiles of publish → first arrival (or start → arrival).
func (r *receiver) percentiles() (time.Duration, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lat []time.Duration
	for id, at := range r.firstSeen {
		from := r.startedAt
		if r.track {
			s, ok := r.sent[id]
			if !ok {
				continue
			}
			from = s
		}
		lat = append(lat, at.Sub(from))
	}
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

// Package metrics holds Tidings' Prometheus metrics on a registry of its own
// (no global state), with the contract's names and bounded labels: no
// per-endpoint or per-tenant label.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tidingshq/tidings/webhook"
)

// Metrics are the process's collectors.
type Metrics struct {
	reg             *prometheus.Registry
	Deliveries      *prometheus.CounterVec // outcome: succeeded, retried, failed, cancelled
	AttemptDuration prometheus.Histogram
	EventsPublished prometheus.Counter
	EndpointWaits   *prometheus.CounterVec // reason: concurrency, rate_limit
	queue           *queueCollector
}

// queueStates are the task states tidings_queue_tasks reports, as Asynq's
// inspector counts them.
var queueStates = []string{"pending", "active", "scheduled", "retry", "archived", "completed"}

// New registers every metric, with the Go and process collectors. queues
// are the Asynq queues Tidings owns: tidings_queue_tasks reports them from
// the first scrape, at zero until Asynq has created them.
func New(queues ...string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidings_deliveries_total", Help: "Delivery attempts by outcome: succeeded, retried (failed, another attempt scheduled), failed (ladder exhausted or 410), cancelled.",
		}, []string{"outcome"}),
		AttemptDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tidings_attempt_duration_seconds", Help: "Duration of one HTTP attempt, connect to last byte.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		EventsPublished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidings_events_published_total", Help: "Events stored by POST /v1/events and /v1/events/batch (replays excluded), also those answered 503 while replicas were awaited.",
		}),
		EndpointWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidings_endpoint_waits_total", Help: "Deliveries deferred without using an attempt, by reason: concurrency or rate_limit.",
		}, []string{"reason"}),
		queue: &queueCollector{desc: prometheus.NewDesc("tidings_queue_tasks", "Asynq tasks by queue and state, refreshed every few seconds.", []string{"queue", "state"}, nil), owned: queues},
	}
	m.queue.set(m.queue.zeros())
	m.reg.MustRegister(m.Deliveries, m.AttemptDuration, m.EventsPublished, m.EndpointWaits, m.queue,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{"succeeded", "retried", "failed", "cancelled"} {
		m.Deliveries.WithLabelValues(o)
	}
	for _, r := range []string{"concurrency", "rate_limit"} {
		m.EndpointWaits.WithLabelValues(r)
	}
	return m
}

// Published counts events stored by a publish (tasks.Recorder).
func (m *Metrics) Published(n int) { m.EventsPublished.Add(float64(n)) }

// Attempted counts an attempt (tasks.Recorder).
func (m *Metrics) Attempted(outcome webhook.Outcome, took time.Duration) {
	m.AttemptDuration.Observe(took.Seconds())
	label := "retried"
	switch outcome {
	case webhook.OutcomeSuccess:
		label = "succeeded"
	case webhook.OutcomeExhausted, webhook.OutcomeGone:
		label = "failed"
	}
	m.Deliveries.WithLabelValues(label).Inc()
}

// Waited counts a deferral (tasks.Recorder).
func (m *Metrics) Waited(reason string) { m.EndpointWaits.WithLabelValues(reason).Inc() }

// Cancelled counts cancelled deliveries (tasks.Recorder).
func (m *Metrics) Cancelled(n int) { m.Deliveries.WithLabelValues("cancelled").Add(float64(n)) }

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// WatchQueues refreshes tidings_queue_tasks from the Asynq inspector every
// interval until ctx is done, so a scrape never queries Redis.
func (m *Metrics) WatchQueues(ctx context.Context, inspector *asynq.Inspector, interval time.Duration, log *slog.Logger) {
	refresh := func() {
		queues, err := inspector.Queues()
		if err != nil {
			log.Debug("queue metrics", "error", err)
			return
		}
		snap := m.queue.zeros()
		for _, q := range queues {
			info, err := inspector.GetQueueInfo(q)
			if err != nil {
				log.Debug("queue metrics", "queue", q, "error", err)
				continue
			}
			for i, n := range []int{info.Pending, info.Active, info.Scheduled, info.Retry, info.Archived, info.Completed} {
				snap[[2]string{q, queueStates[i]}] = float64(n)
			}
		}
		m.queue.set(snap)
	}
	refresh()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			refresh()
		}
	}
}

// queueCollector exposes the last snapshot of queue sizes.
type queueCollector struct {
	desc  *prometheus.Desc
	owned []string
	mu    sync.Mutex
	snap  map[[2]string]float64
}

// zeros is a snapshot with every owned queue's states at zero.
func (c *queueCollector) zeros() map[[2]string]float64 {
	snap := make(map[[2]string]float64, len(c.owned)*len(queueStates))
	for _, q := range c.owned {
		for _, st := range queueStates {
			snap[[2]string{q, st}] = 0
		}
	}
	return snap
}

func (c *queueCollector) set(s map[[2]string]float64) {
	c.mu.Lock()
	c.snap = s
	c.mu.Unlock()
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.snap {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, k[0], k[1])
	}
}

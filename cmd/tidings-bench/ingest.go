package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// floorEnv, when set to a Redis URL, makes this binary the ingest floor
// instead of the benchmark (see serveFloor).
const floorEnv = "TIDINGS_BENCH_FLOOR_REDIS"

// serveFloor is the floor every webhook API pays to accept an event: a bare
// Gin server whose only route reads the body, does one
// asynq.Client.Enqueue of it and answers 202. It runs as a process of its
// own, as tidings does, so that the driver's CPU is not in its figures.
func serveFloor(redisURL string) error {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	rc := redis.NewClient(opt)
	client := asynq.NewClientFromRedisClient(rc)
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/v1/events", func(c *gin.Context) {
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		info, err := client.EnqueueContext(c.Request.Context(), asynq.NewTask("bench", body))
		if err != nil {
			c.AbortWithStatus(http.StatusServiceUnavailable)
			return
		}
		c.JSON(http.StatusAccepted, gin.H{"id": info.ID})
	})
	srv := &http.Server{Handler: r}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("API listening on http://%s\n", l.Addr())
	return srv.Serve(l)
}

// eventBody is the body of one bench event: 512 bytes on the wire.
var eventBody = `{"type":"bench.tick","data":{"pad":"` + strings.Repeat("x", 473) + `"}}`

// batchBody is a batch of n bench events.
func batchBody(n int) string {
	evs := make([]string, n)
	for i := range evs {
		evs[i] = eventBody
	}
	return `{"events":[` + strings.Join(evs, ",") + `]}`
}

// ginFloor measures the floor (serveFloor) driven by 32 clients.
func (b *bench) ginFloor() (rate float64, cpu string) {
	b.flush()
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	c := exec.Command(exe)
	c.SysProcAttr = diesWithUs()
	c.Env = append(os.Environ(), floorEnv+"="+b.redisURL)
	var out syncBuf
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		panic(err)
	}
	b.procs = append(b.procs, c)
	re := regexp.MustCompile(`API listening on (http://\S+)`)
	var url string
	for i := 0; url == ""; i++ {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		} else if i > 400 {
			panic("the floor did not start:\n" + out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	cpu0 := b.cpuNow()
	d, _ := b.drive(url, []string{"k"}, "/v1/events", eventBody, 32, b.n)
	cpu = b.cpuNow().since(cpu0, b.n)
	_ = c.Process.Kill()
	_, _ = c.Process.Wait()
	b.procs = nil
	b.flush()
	return float64(b.n) / d.Seconds(), cpu
}

// drive sends requests POSTs of body from clients goroutines, the n-th
// with the n-th key in turn, and returns how long they took and each
// request's latency, sorted.
func (b *bench) drive(api string, keys []string, path, body string, clients, requests int) (time.Duration, []time.Duration) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for i := next.Add(1); i <= int64(requests); i = next.Add(1) {
				t0 := time.Now()
				b.postAs(hc, api, keys[int(i)%len(keys)], path, body)
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	d := time.Since(start)
	slices.Sort(lat)
	return d, lat
}

// ingestRun measures `tidings api` (no worker) accepting events: single
// publishes (perRequest 1) or batches of perRequest events, to the given
// number of matching webhooks.
func (b *bench) ingestRun(webhooks, perRequest, clients, events int) (rate float64, p50, p99 time.Duration, cpu string) {
	b.flush()
	api, _ := b.spawn("api")
	key := b.tenant(api)
	for range webhooks {
		b.post(api, key, "/v1/webhooks", `{"url":"`+b.recv.url+`/fast","events":["bench.*"]}`)
	}
	path, body := "/v1/events", eventBody
	if perRequest > 1 {
		path, body = "/v1/events/batch", batchBody(perRequest)
	}
	requests := events / perRequest
	cpu0 := b.cpuNow()
	b.rdb.ConfigResetStat(context.Background())
	d, lat := b.drive(api, []string{key}, path, body, clients, requests)
	cpu = b.cpuNow().since(cpu0, requests*perRequest)
	if b.commandStats {
		b.printCommandStats(fmt.Sprintf("ingest, %d webhooks, %d events per request", webhooks, perRequest), requests*perRequest)
	}
	b.stopAll()
	return float64(requests*perRequest) / d.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100], cpu
}

// ingest measures the ingest figures: single publishes with 1 and
// 10 matching webhooks against the Gin + Enqueue floor measured before and
// after each, and batches of 100 (8 clients) against bare Enqueue before
// and after; with batchlat, a batch's latency at half its rate while
// workers deliver.
func (b *bench) ingest() {
	floors := make([]float64, 3)
	var floorCPU string
	floors[0], floorCPU = b.ginFloor()
	b.row("floor: Gin + one asynq Enqueue → 202, 32 clients", f0(floors[0]), "events/s; "+floorCPU)
	for i, wh := range []int{1, 10} {
		rate, p50, p99, cpu := b.ingestRun(wh, 1, 32, b.n)
		floors[i+1], floorCPU = b.ginFloor()
		mean := (floors[i] + floors[i+1]) / 2
		label := fmt.Sprintf("POST /v1/events, 32 clients, %d webhook(s)", wh)
		b.row("API ingest events/s, "+label, f0(rate), fmt.Sprintf("%s the floor (before/after %s/%s); p50 %s p99 %s; %s", ratio(rate, mean), f0(floors[i]), f0(floors[i+1]), ms(p50), ms(p99), cpu))
		b.row("floor: Gin + one asynq Enqueue → 202, 32 clients", f0(floors[i+1]), "events/s; "+floorCPU)
		target := map[int]float64{1: 0.6, 10: 0.3}[wh]
		b.judge("ingest, "+label+", to the floor", rate/mean, "×", fmt.Sprintf("≥ %.1f×", target), target, true)
	}
	e0 := b.enqueueCeiling()
	rate, p50, p99, cpu := b.ingestRun(1, 100, 8, b.n*5)
	e1 := b.enqueueCeiling()
	b.row("API ingest events/s, POST /v1/events/batch ×100, 8 clients, 1 webhook", f0(rate), fmt.Sprintf("%s bare Enqueue (before/after %s/%s); per request p50 %s p99 %s; %s", ratio(rate, (e0+e1)/2), f0(e0), f0(e1), ms(p50), ms(p99), cpu))
	b.judge("ingest, batches of 100, 8 clients, to bare Enqueue", rate/((e0+e1)/2), "×", "≥ 0.5×", 0.5, true)
	if b.wants("batchlat") {
		p := b.paced(rate/2/100, 5*time.Second, 100)
		b.judge("API p99 per batch of 100 at half the batch rate", float64(p.p99().Microseconds())/1000, " ms", "≤ 100 ms", 100, false)
		b.row("API latency per batch of 100 at half the batch rate, workers delivering, p50 / p99", ms(p.p50())+" / "+ms(p.p99()), fmt.Sprintf("at %.0f events/s; %s", p.achieved*100, p.load()))
	}
}

// Command tidings-bench measures Tidings against the ceiling that Asynq and
// Redis set on the same machine, in the same run, and prints a table.
//
//	go run ./cmd/tidings-bench [-events 20000] [-repeat 3]
//	go run ./cmd/tidings-bench -cluster 3 [-events 20000] [-tenants 30] [-pairs 2]
//
// It starts its own redis-server on a free port, builds and runs the tidings
// binary as child processes (api, worker, all), and plays the receiver on
// loopback. Every figure is measured in this run; the ratios are what travel
// between machines. With -repeat N it runs everything N times and ends with
// the median of each figure a target judges.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

func main() {
	if url := os.Getenv(floorEnv); url != "" {
		if err := serveFloor(url); err != nil {
			fmt.Fprintln(os.Stderr, "tidings-bench floor:", err)
			os.Exit(1)
		}
		return
	}
	events := flag.Int("events", 20000, "events per throughput run")
	memoryOnly := flag.Bool("memory-only", false, "measure only Redis memory per delivery and per task")
	commandStats := flag.Bool("commandstats", false, "print Redis command counts and CPU per delivery for each throughput run")
	only := flag.String("only", "", "comma-separated measures to run (ceiling,enqueue,one,ingest,batchlat,fanout,split,splitfan,latency,ingestlat,slow,memory; batchlat runs with ingest); default all")
	redisArgs := flag.String("redis-args", redisTuning, "extra redis-server arguments; the default is docker-compose.yml's memory setting, \"\" runs Redis's defaults")
	repeat := flag.Int("repeat", 1, "run the measures this many times and end with the median of each target's figure")
	cluster := flag.Int("cluster", 0, "instead, compare a Redis Cluster of this many masters (a replica each, as many queue shards) with one Redis: deliveries/s and each master's share of commands")
	tenants := flag.Int("tenants", 30, "with -cluster: tenants to spread the events over (one webhook each)")
	pairs := flag.Int("pairs", 2, "with -cluster: how many alternating rounds of one Redis, cluster, cluster with WAIT")
	flag.Parse()
	b, err := newBench(*events, strings.Fields(*redisArgs))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tidings-bench:", err)
		os.Exit(1)
	}
	defer b.close()
	b.commandStats = *commandStats
	if *only != "" {
		b.only = strings.Split(*only, ",")
	}
	if *cluster > 0 {
		if err := b.clusterBench(*cluster, *tenants, *pairs); err != nil {
			fmt.Fprintln(os.Stderr, "tidings-bench:", err)
			b.close()
			os.Exit(1)
		}
		return
	}
	if *memoryOnly {
		perDelivery, perTask := b.memory()
		fmt.Printf("Redis bytes per retained delivery (5 attempts): %.0f\nRedis bytes per queued task: %.0f\n", perDelivery, perTask)
		return
	}
	for range max(*repeat, 1) {
		if err := b.runAll(); err != nil {
			fmt.Fprintln(os.Stderr, "tidings-bench:", err)
			b.close()
			os.Exit(1)
		}
	}
	if *repeat > 1 {
		b.printMedians()
	}
}

type bench struct {
	n        int
	dir      string
	bin      string
	redis    *exec.Cmd
	redisURL string
	rdb      *redis.Client
	recv     *receiver
	rows     [][3]string // metric, value, note
	figures  []*figure   // what the targets judge, over every run
	procs    []*exec.Cmd
	nodes    []*exec.Cmd // -cluster: the cluster's redis-server processes
	only     []string    // measures to run; all when empty
	outs     []*syncBuf  // the output of every process spawned, shown when a request fails

	commandStats bool
}

// wants reports whether the measure named m is to run.
func (b *bench) wants(m string) bool { return len(b.only) == 0 || slices.Contains(b.only, m) }

const adminToken = "bench-admin-token-0123456789abcdef"

// redisTuning is what docker-compose.yml gives Redis for memory: Asynq's
// task hash keeps a value of ~260 bytes (its message), over Redis's default
// 64-byte limit for the compact encoding, so each queued task is a full
// hashtable (600 bytes instead of ~420).
const redisTuning = "--hash-max-listpack-value 512"

func newBench(n int, redisArgs []string) (*bench, error) {
	dir, err := os.MkdirTemp("", "tidings-bench")
	if err != nil {
		return nil, err
	}
	b := &bench{n: n, dir: dir, bin: filepath.Join(dir, "tidings")}
	fmt.Fprintln(os.Stderr, "building tidings…")
	if out, err := exec.Command("go", "build", "-o", b.bin, "./cmd/tidings").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--maxmemory-policy", "noeviction", "--logfile", filepath.Join(dir, "redis.log")}, redisArgs...)
	b.redis = exec.Command("redis-server", args...)
	b.redis.SysProcAttr = diesWithUs()
	if err := b.redis.Start(); err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	b.redisURL = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	b.rdb = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), PoolSize: 100})
	for i := 0; b.rdb.Ping(context.Background()).Err() != nil; i++ {
		if i > 100 {
			return nil, fmt.Errorf("redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.recv, err = newReceiver()
	return b, err
}

func (b *bench) close() {
	for _, p := range b.procs {
		_ = p.Process.Kill()
		_, _ = p.Process.Wait()
	}
	b.procs = nil
	for _, n := range b.nodes {
		_ = n.Process.Kill()
		_, _ = n.Process.Wait()
	}
	if b.redis != nil && b.redis.Process != nil {
		_ = b.redis.Process.Kill()
		_, _ = b.redis.Process.Wait()
	}
	if b.recv != nil {
		b.recv.srv.Close()
	}
	_ = os.RemoveAll(b.dir)
}

func (b *bench) row(metric, value, note string) {
	b.rows = append(b.rows, [3]string{metric, value, note})
	fmt.Fprintf(os.Stderr, "  %-58s %14s  %s\n", metric, value, note)
}

func (b *bench) runAll() error {
	b.rows = nil
	fmt.Printf("machine: %d CPUs, %s, %s/%s; redis-server local; %d events per run\n\n", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, b.n)
	if b.wants("ceiling") {
		rate, cpu := b.ceiling()
		b.row("ceiling: bare Asynq + HTTP POST deliveries/s (concurrency 50)", f0(rate), cpu)
	}
	if b.wants("enqueue") {
		b.row("ceiling: bare asynq.Client.Enqueue/s (32 goroutines)", f0(b.enqueueCeiling()), "")
		b.httpFloor()
	}
	var one, oneRatio float64 // the 1-webhook rate, and as a ratio to its ceiling
	if b.wants("one") || b.wants("latency") || b.wants("ingestlat") || b.wants("slow") {
		var r run
		e0 := b.enqueueCeiling()
		c := b.around(func() { r = b.throughput("all", 1, 1, false) })
		e1 := b.enqueueCeiling()
		one, oneRatio = r.rate, r.rate/c.mean
		b.judge("deliveries/s, 1 webhook, `tidings all`, to the ceiling", oneRatio, "×", "≥ 0.6×", 0.6, true)
		b.row("Tidings deliveries/s, 1 webhook, `tidings all`", f0(one), fmt.Sprintf("%s ceiling (%s); backlog drained: p50 %s p99 %s after start; %s", ratio(one, c.mean), c, ms(r.d50), ms(r.d99), r.cpu))
		b.row("API ingest events/s, 32 clients, 1 webhook", f0(r.ingest), fmt.Sprintf("%s enqueue (enqueue before/after %s/%s); p50 %s p99 %s; %s", ratio(r.ingest, (e0+e1)/2), f0(e0), f0(e1), ms(r.p50), ms(r.p99), r.ingestCPU))
		if b.wants("ingestlat") {
			p := b.paced(r.ingest/2, 5*time.Second, 1)
			b.judge("API p99 at half the ingest rate", float64(p.p99().Microseconds())/1000, " ms", "≤ 20 ms", 20, false)
			b.row("API request latency at half the ingest rate, p50 / p99", ms(p.p50())+" / "+ms(p.p99()), fmt.Sprintf("at %.0f requests/s; %s", p.achieved, p.load()))
		}
	}
	if b.wants("ingest") || b.wants("batchlat") {
		b.ingest()
	}
	for _, m := range []struct {
		name, label    string
		mode           string
		webhooks, divs int
		target         float64
	}{
		{"fanout", "Tidings deliveries/s, 10 webhooks (fan-out), `tidings all`", "all", 10, 10, 0.5},
		{"split", "Tidings deliveries/s, 1 webhook, api + 2 workers", "split", 1, 1, 0.6},
		{"splitfan", "Tidings deliveries/s, 10 webhooks, api + 2 workers", "split", 10, 10, 0.5},
	} {
		if b.wants(m.name) {
			var r run
			c := b.around(func() { r = b.throughput(m.mode, m.webhooks, m.divs, false) })
			b.row(m.label, f0(r.rate), fmt.Sprintf("%s ceiling (%s); drained p50 %s p99 %s; %s", ratio(r.rate, c.mean), c, ms(r.d50), ms(r.d99), r.cpu))
			b.judge(strings.TrimPrefix(m.label, "Tidings ")+", to the ceiling", r.rate/c.mean, "×", fmt.Sprintf("≥ %.1f×", m.target), m.target, true)
		}
	}
	if b.wants("latency") {
		p := b.paced(one/2, 10*time.Second, 1)
		lp50, lp99 := b.recv.percentiles()
		b.judge("publish → first arrival p99 at half the 1-webhook rate", float64(lp99.Microseconds())/1000, " ms", "≤ 100 ms", 100, false)
		b.row("publish → first arrival, p50 / p99", ms(lp50)+" / "+ms(lp99), fmt.Sprintf("at %.0f events/s (half the 1-webhook rate); API p50 / p99 %s / %s; %s", p.achieved, ms(p.p50()), ms(p.p99()), p.load()))
	}
	if b.wants("slow") {
		var r run
		c := b.around(func() { r = b.throughput("all", 1, 1, true) })
		b.judge("fast webhook with a slow one, to its rate without", r.rate/c.mean/oneRatio, "×", "≥ 0.5×", 0.5, true)
		b.row("fast webhook deliveries/s with a 5 s webhook mixed in", f0(r.rate), fmt.Sprintf("%s without (%s ceiling against the 1-webhook run's %.2f×; %s); backlog drained: p50 %s p99 %s after start",
			ratio(r.rate/c.mean, oneRatio), ratio(r.rate, c.mean), oneRatio, c, ms(r.d50), ms(r.d99)))
	}
	if b.wants("memory") {
		perDelivery, perTask := b.memory()
		b.judge("Redis bytes per retained delivery (5 attempts)", perDelivery, " B", "≤ 1,536 B", 1536, false)
		b.judge("Redis bytes per queued task", perTask, " B", "≤ 1,024 B", 1024, false)
		b.row("Redis bytes per retained delivery (5 attempts)", f0(perDelivery), "response bodies empty")
		b.row("Redis bytes per queued task", f0(perTask), "event + indexes + Asynq task")
	}

	fmt.Println("| measure | value | note |")
	fmt.Println("|---|---:|---|")
	for _, r := range b.rows {
		fmt.Printf("| %s | %s | %s |\n", r[0], r[1], r[2])
	}
	return nil
}

// figure is one measure a target judges, as read in each run.
type figure struct {
	name, unit, target string
	limit              float64
	atLeast            bool // the target is a floor (a ratio), else a cap
	values             []float64
}

// judge records a run's reading of a figure.
func (b *bench) judge(name string, v float64, unit, target string, limit float64, atLeast bool) {
	i := slices.IndexFunc(b.figures, func(f *figure) bool { return f.name == name })
	if i < 0 {
		b.figures = append(b.figures, &figure{name: name, unit: unit, target: target, limit: limit, atLeast: atLeast})
		i = len(b.figures) - 1
	}
	b.figures[i].values = append(b.figures[i].values, v)
}

// printMedians ends a repeated run: each figure in every run, its median,
// and whether the median meets the target. One run on a noisy machine can
// meet or miss a target by chance; the median of several is the verdict.
func (b *bench) printMedians() {
	if len(b.figures) == 0 {
		return // none of the measures run has a target
	}
	fmt.Printf("\nmedians of %d runs\n\n| figure | runs | median | target | met |\n|---|---|---:|---|---|\n", len(b.figures[0].values))
	for _, f := range b.figures {
		runs := make([]string, len(f.values))
		for i, v := range f.values {
			runs[i] = f.format(v)
		}
		sorted := slices.Sorted(slices.Values(f.values))
		median := sorted[len(sorted)/2]
		if len(sorted)%2 == 0 {
			median = (sorted[len(sorted)/2-1] + median) / 2
		}
		met := "no"
		if (f.atLeast && median >= f.limit) || (!f.atLeast && median <= f.limit) {
			met = "yes"
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", f.name, strings.Join(runs, ", "), f.format(median), f.target, met)
	}
}

func (f *figure) format(v float64) string {
	switch f.unit {
	case "×":
		return strconv.FormatFloat(v, 'f', 2, 64) + "×"
	case " ms":
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return f0(v) + f.unit
}

// bracket is the ceiling measured just before and just after a measure.
// This machine's speed drifts by tens of percent within minutes, so each
// ratio is taken against the ceiling of its own minutes: their mean.
type bracket struct{ before, after, mean float64 }

func (c bracket) String() string { return "ceiling before/after " + f0(c.before) + "/" + f0(c.after) }

func (b *bench) around(measure func()) bracket {
	before, _ := b.ceiling()
	measure()
	after, _ := b.ceiling()
	return bracket{before, after, (before + after) / 2}
}

// ratio formats a/base as "0.42×", or "n/a" when the base was not measured.
func ratio(a, base float64) string {
	if base == 0 {
		return "n/a×"
	}
	return strconv.FormatFloat(a/base, 'f', 2, 64) + "×"
}

func f0(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}

// flush empties Redis between runs.
func (b *bench) flush() { b.rdb.FlushAll(context.Background()) }

// ceiling: a bare Asynq server whose handler only POSTs the same 512-byte body
// to the same receiver, concurrency 50, same Redis.
func (b *bench) ceiling() (rate float64, cpu string) {
	b.flush()
	ctx := context.Background()
	client := asynq.NewClientFromRedisClient(b.rdb)
	payload := bytes.Repeat([]byte("x"), 512)
	for i := range b.n {
		if _, err := client.Enqueue(asynq.NewTask("bench", payload, asynq.TaskID(fmt.Sprintf("t%d", i)), asynq.MaxRetry(0))); err != nil {
			panic(err)
		}
	}
	b.recv.reset(b.n, false)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	url := b.recv.url + "/ceiling"
	srv := asynq.NewServerFromRedisClient(b.rdb, asynq.Config{Concurrency: 50, TaskCheckInterval: 100 * time.Millisecond,
		LogLevel: asynq.ErrorLevel})
	start := time.Now()
	cpu0 := b.cpuNow()
	b.rdb.ConfigResetStat(ctx)
	_ = srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(t.Payload()))
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}))
	b.recv.wait(10 * time.Minute)
	elapsed := time.Since(start)
	cpu = b.cpuNow().since(cpu0, b.n)
	if b.commandStats {
		b.printCommandStats("ceiling", b.n)
	}
	srv.Shutdown()
	_ = ctx
	return float64(b.n) / elapsed.Seconds(), cpu
}

// enqueueCeiling: bare asynq.Client.Enqueue from 32 goroutines.
func (b *bench) enqueueCeiling() float64 {
	b.flush()
	client := asynq.NewClientFromRedisClient(b.rdb)
	payload := bytes.Repeat([]byte("x"), 200)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.n) {
					return
				}
				_, _ = client.Enqueue(asynq.NewTask("bench", payload, asynq.TaskID(fmt.Sprintf("e%d", i))))
			}
		}()
	}
	wg.Wait()
	rate := float64(b.n) / time.Since(start).Seconds()
	b.flush()
	return rate
}

// httpFloor: the same 32 clients POSTing the same event body to a bare
// net/http handler that reads it and answers 202 — what HTTP alone costs on
// this machine, with no Redis at all.
func (b *bench) httpFloor() float64 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"id":"evt_0"}`))
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	url := "http://" + l.Addr().String()
	body := `{"type":"bench.tick","data":{"pad":"` + strings.Repeat("x", 400) + `"}}`
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.n) {
				b.postWith(hc, url, "k", "/v1/events", body)
			}
		})
	}
	wg.Wait()
	rate := float64(b.n) / time.Since(start).Seconds()
	b.row("floor: bare net/http POST /v1/events → 202, 32 clients, no Redis", f0(rate), "requests/s; HTTP alone on this machine")
	return rate
}

// spawn starts a tidings process and returns its base URL.
func (b *bench) spawn(cmd string, extra ...string) (string, *exec.Cmd) {
	c := exec.Command(b.bin, cmd)
	c.SysProcAttr = diesWithUs()
	c.Env = append(os.Environ(), "TIDINGS_REDIS_URL="+b.redisURL, "TIDINGS_ADMIN_TOKEN="+adminToken, "TIDINGS_HTTP_ADDR=127.0.0.1:0",
		"TIDINGS_ALLOW_HTTP=true", "TIDINGS_ALLOW_PRIVATE_NETWORKS=true", "TIDINGS_LOG_LEVEL=warn")
	c.Env = append(c.Env, extra...)
	out := &syncBuf{}
	c.Stdout, c.Stderr = out, out
	if err := c.Start(); err != nil {
		panic(err)
	}
	b.procs = append(b.procs, c)
	b.outs = append(b.outs, out)
	re := regexp.MustCompile(`(?m)^(?:API listening on|Worker health on) (http://\S+)$`)
	for i := 0; ; i++ {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], c
		}
		if i > 400 {
			panic("tidings " + cmd + " did not start:\n" + out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (b *bench) stopAll() {
	for _, p := range b.procs {
		_ = p.Process.Signal(os.Interrupt)
		_, _ = p.Process.Wait()
	}
	b.procs = nil
}

// throughput publishes n events through the API with no worker running
// (measuring ingest), then starts the workers and times the deliveries.
// mode is "all" (one process) or "split" (api + 2 workers). With slow, a
// second webhook that sleeps 5 s per request also gets one event in ten.
// It returns the delivery rate, the ingest rate and request latency, and
// when the fast webhook's deliveries arrived after the workers started.
func (b *bench) throughput(mode string, webhooks, eventsDivisor int, slow bool) (r run) {
	b.flush()
	n := b.n
	api, apiProc := b.spawn("api")
	key := b.tenant(api)
	for range webhooks {
		b.post(api, key, "/v1/webhooks", `{"url":"`+b.recv.url+`/fast","events":["bench.*"]}`)
	}
	if slow {
		b.post(api, key, "/v1/webhooks", `{"url":"`+b.recv.url+`/slow","events":["slowbench.*"]}`)
	}
	events := n / eventsDivisor
	deliveries := events * webhooks
	b.recv.reset(deliveries, slow)
	// Ingest with 32 clients while no worker runs.
	var lat []time.Duration
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	body := `{"type":"bench.tick","data":{"pad":"` + strings.Repeat("x", 400) + `"}}`
	slowBody := `{"type":"slowbench.tick","data":{}}`
	start := time.Now()
	ingestCPU := b.cpuNow()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				i := next.Add(1)
				if i > int64(events) {
					break
				}
				t0 := time.Now()
				b.postWith(hc, api, key, "/v1/events", body)
				mine = append(mine, time.Since(t0))
				if slow && i%10 == 0 {
					b.postWith(hc, api, key, "/v1/events", slowBody)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.ingest = float64(events) / time.Since(start).Seconds()
	r.ingestCPU = b.cpuNow().since(ingestCPU, events)
	slices.Sort(lat)

	if mode == "all" { // the same process will deliver: restart it as `all`
		_ = apiProc.Process.Signal(os.Interrupt)
		_, _ = apiProc.Process.Wait()
		b.procs = nil
	}
	publishedAt := time.Now()
	b.recv.since(publishedAt)
	start = time.Now()
	cpu0 := b.cpuNow()
	b.rdb.ConfigResetStat(context.Background())
	switch mode {
	case "all":
		b.spawn("all")
	default:
		b.spawn("worker")
		b.spawn("worker")
	}
	b.recv.wait(10 * time.Minute)
	r.rate = float64(deliveries) / time.Since(start).Seconds()
	r.cpu = b.cpuNow().since(cpu0, deliveries)
	if b.commandStats {
		b.printCommandStats(fmt.Sprintf("tidings %s, %d webhooks", mode, webhooks), deliveries)
	}
	r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	r.d50, r.d99 = b.recv.percentiles()
	b.stopAll()
	return r
}

// run is what one throughput run measured.
type run struct {
	rate, ingest       float64       // deliveries/s, events/s accepted
	p50, p99, d50, d99 time.Duration // ingest request latency; arrival after the workers started
	cpu, ingestCPU     string        // CPU per delivery by process; per event during ingest
}

// pacedRun is what a paced run measured.
type pacedRun struct {
	lat      []time.Duration // each request's latency, sorted
	achieved float64         // requests/s
	busy     float64         // % of the machine busy while publishing
	behind   int64           // deliveries yet to arrive when publishing ended
}

// p50 and p99 are the requests' latency percentiles.
func (p pacedRun) p50() time.Duration { return p.lat[len(p.lat)/2] }
func (p pacedRun) p99() time.Duration { return p.lat[len(p.lat)*99/100] }

// load says how hard the machine worked while publishing: near 100 % busy,
// with deliveries falling behind, a latency is that of a saturated machine.
func (p pacedRun) load() string {
	return fmt.Sprintf("machine %.0f%% busy while publishing, %d deliveries behind at its end", p.busy, p.behind)
}

// paced runs `tidings all` with one webhook, publishes at a fixed rate for
// the given time, and waits for every delivery; the receiver keeps publish
// → arrival.
func (b *bench) paced(rate float64, d time.Duration, perRequest int) pacedRun {
	b.flush()
	api, _ := b.spawn("all")
	key := b.tenant(api)
	b.post(api, key, "/v1/webhooks", `{"url":"`+b.recv.url+`/fast","events":["bench.*"]}`)
	total := max(int(rate*d.Seconds()), 1)
	path, body := "/v1/events", `{"type":"bench.tick","data":{}}`
	if perRequest > 1 {
		path, body = "/v1/events/batch", batchBody(perRequest)
	}
	b.recv.reset(total*perRequest, false)
	if perRequest == 1 {
		b.recv.trackLatency()
	}
	interval := time.Duration(float64(time.Second) / rate)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	lat := make([]time.Duration, total)
	var wg sync.WaitGroup
	cpu0 := b.cpuNow()
	start := time.Now()
	for i := range total {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			id := b.postWith(hc, api, key, path, body)
			lat[i] = time.Since(t0)
			if perRequest == 1 {
				b.recv.published(id, t0)
			}
		}()
	}
	wg.Wait()
	r := pacedRun{lat: lat, achieved: float64(total) / time.Since(start).Seconds(),
		busy: b.cpuNow().busySince(cpu0), behind: int64(total*perRequest) - b.recv.count.Load()}
	slices.Sort(r.lat)
	b.recv.wait(5 * time.Minute)
	b.stopAll()
	return r
}

func (b *bench) tenant(api string) string {
	var out struct {
		APIKey string `json:"api_key"`
	}
	raw := b.postAs(http.DefaultClient, api, adminToken, "/v1/tenants", `{"name":"bench"}`)
	_ = json.Unmarshal(raw, &out)
	return out.APIKey
}

func (b *bench) post(api, key, path, body string) { b.postAs(http.DefaultClient, api, key, path, body) }

// postWith publishes and returns the event id.
func (b *bench) postWith(hc *http.Client, api, key, path, body string) string {
	var out struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(b.postAs(hc, api, key, path, body), &out)
	return out.ID
}

func (b *bench) postAs(hc *http.Client, api, token, path, body string) []byte {
	req, _ := http.NewRequest("POST", api+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		logs := ""
		for _, o := range b.outs {
			logs += o.String()
		}
		panic(fmt.Sprintf("POST %s: %d %s\ntidings output:\n%s", path, resp.StatusCode, raw, logs))
	}
	return raw
}

// diesWithUs makes a child process end with this one, even when a panic
// ends it without its deferred cleanup: an orphan would keep its port, its
// CPU and any lock (flock) this process was started under.
func diesWithUs() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

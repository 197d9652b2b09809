package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterBench runs Tidings against a Redis Cluster of the given number of
// masters (a replica each) and against the one Redis, in alternating pairs,
// and prints deliveries/s, ingest and each master's share of Redis's
// commands and CPU (INFO commandstats per node). It also measures what
// TIDINGS_REDIS_WAIT_REPLICAS=1 costs ingest on the cluster.
func (b *bench) clusterBench(masters, tenants, pairs int) error {
	nodes, url, err := b.startCluster(masters)
	if err != nil {
		return err
	}
	fmt.Printf("machine: %d CPUs; %d events per run over %d tenants (one webhook each); cluster of %d masters with a replica each, TIDINGS_QUEUE_SHARDS=%d\n\n",
		runtime.NumCPU(), b.n, tenants, masters, masters)
	type result struct {
		name string
		clusterRun
	}
	var results []result
	for range pairs {
		results = append(results,
			result{"one Redis", b.clusterRun(b.redisURL, nil, nil, tenants)},
			result{"cluster", b.clusterRun(url, nodes, []string{"TIDINGS_QUEUE_SHARDS=" + strconv.Itoa(masters)}, tenants)},
			result{"cluster, WAIT_REPLICAS=1", b.clusterRun(url, nodes, []string{"TIDINGS_QUEUE_SHARDS=" + strconv.Itoa(masters), "TIDINGS_REDIS_WAIT_REPLICAS=1"}, tenants)},
		)
	}
	fmt.Println("| run | deliveries/s | ingest events/s | ingest p50 / p99 | Redis commands, µs per event (all masters) | share of commands per master | share of Redis CPU per master |")
	fmt.Println("|---|---:|---:|---|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %s | %s | %s | %s / %s | %.1f, %.0f µs | %s | %s |\n", r.name, f0(r.rate), f0(r.ingest), ms(r.p50), ms(r.p99),
			r.calls/float64(b.n), r.usec/float64(b.n), r.callShare, r.cpuShare)
	}
	return nil
}

// clusterRun is one run's figures.
type clusterRun struct {
	rate, ingest        float64
	calls, usec         float64 // Redis commands and CPU µs, summed over the masters
	p50, p99            time.Duration
	callShare, cpuShare string
}

// clusterRun publishes b.n events through `tidings api` spread over tenants
// (one webhook each) with 32 clients, then delivers them with `tidings all`;
// nodes are the masters to read commandstats from (none: the one Redis).
func (b *bench) clusterRun(url string, nodes []*redis.Client, env []string, tenants int) (r clusterRun) {
	ctx := context.Background()
	masters := b.masters(nodes)
	for _, m := range masters {
		m.FlushAll(ctx)
		m.ConfigResetStat(ctx)
	}
	env = append([]string{"TIDINGS_REDIS_URL=" + url}, env...)
	api, apiProc := b.spawn("api", env...)
	keys := make([]string, tenants)
	for i := range keys {
		keys[i] = b.tenant(api)
		b.post(api, keys[i], "/v1/webhooks", `{"url":"`+b.recv.url+`/fast","events":["bench.*"]}`)
	}
	b.recv.reset(b.n, false)
	body := `{"type":"bench.tick","data":{"pad":"` + strings.Repeat("x", 400) + `"}}`
	d, lat := b.drive(api, keys, "/v1/events", body, 32, b.n)
	r.ingest = float64(b.n) / d.Seconds()
	r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	_ = apiProc.Process.Signal(os.Interrupt)
	_, _ = apiProc.Process.Wait()
	b.procs = nil

	b.recv.since(time.Now())
	start := time.Now()
	b.spawn("all", env...)
	b.recv.wait(10 * time.Minute)
	r.rate = float64(b.n) / time.Since(start).Seconds()
	b.stopAll()

	var calls, usec []float64
	for _, m := range masters {
		c, u := commandTotals(m.Info(ctx, "commandstats").Val())
		calls, usec = append(calls, c), append(usec, u)
		r.calls, r.usec = r.calls+c, r.usec+u
	}
	r.callShare, r.cpuShare = shares(calls), shares(usec)
	fmt.Fprintf(os.Stderr, "  %s: %s deliveries/s, ingest %s/s, commands per master %s, CPU %s\n", url, f0(r.rate), f0(r.ingest), r.callShare, r.cpuShare)
	return r
}

// masters are the clients to flush and read: the cluster's masters, or the
// one Redis.
func (b *bench) masters(nodes []*redis.Client) []*redis.Client {
	if len(nodes) == 0 {
		return []*redis.Client{b.rdb}
	}
	var out []*redis.Client
	for _, n := range nodes {
		if role, err := n.Do(context.Background(), "ROLE").Slice(); err == nil && len(role) > 0 && role[0] == "master" {
			out = append(out, n)
		}
	}
	return out
}

// commandTotals sums calls and µs over INFO commandstats.
func commandTotals(info string) (calls, usec float64) {
	for _, l := range strings.Split(info, "\r\n") {
		_, rest, ok := strings.Cut(l, ":")
		if !ok || !strings.HasPrefix(l, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				calls += n
			case "usec":
				usec += n
			}
		}
	}
	return calls, usec
}

// shares formats each value as a percentage of their sum.
func shares(vs []float64) string {
	var sum float64
	for _, v := range vs {
		sum += v
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.FormatFloat(100*v/sum, 'f', 0, 64) + "%"
	}
	return strings.Join(parts, " / ")
}

// startCluster starts masters*2 cluster nodes and joins them with
// redis-cli --cluster create (a replica per master).
func (b *bench) startCluster(masters int) ([]*redis.Client, string, error) {
	var addrs []string
	var clients []*redis.Client
	for i := range masters * 2 {
		port, err := freePort()
		if err != nil {
			return nil, "", err
		}
		dir := filepath.Join(b.dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, "", err
		}
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
			"--maxmemory-policy", "noeviction", "--logfile", filepath.Join(dir, "redis.log"), "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--repl-diskless-sync-delay", "0"}
		cmd := exec.Command("redis-server", append(args, strings.Fields(redisTuning)...)...)
		cmd.SysProcAttr = diesWithUs()
		if err := cmd.Start(); err != nil {
			return nil, "", fmt.Errorf("redis-server: %w", err)
		}
		b.nodes = append(b.nodes, cmd)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		addrs = append(addrs, addr)
		c := redis.NewClient(&redis.Options{Addr: addr})
		clients = append(clients, c)
		for j := 0; c.Ping(context.Background()).Err() != nil; j++ {
			if j > 100 {
				return nil, "", fmt.Errorf("redis-server %s did not start", addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	if out, err := exec.Command("redis-cli", append(args, "--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for i := 0; ; i++ {
		ok := true
		for _, c := range clients {
			info, err := c.ClusterInfo(context.Background()).Result()
			ok = ok && err == nil && strings.Contains(info, "cluster_state:ok")
		}
		if ok {
			break
		}
		if i > 600 {
			return nil, "", fmt.Errorf("the cluster did not become ok")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return clients, "redis-cluster://" + strings.Join(addrs, ","), nil
}

package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the master name the test sentinels monitor.
const SentinelMaster = "tidings"

// Sentinel is a private Sentinel deployment: a primary, its replicas and
// sentinels, each a redis-server process on a free loopback port, with
// short timeouts (down after 1s) so a failover takes seconds.
type Sentinel struct {
	t         testing.TB
	Primary   *Server
	Replicas  []*Server
	Sentinels []*Server
}

// StartSentinel starts a primary with replicas and sentinels, and waits
// until the replicas are in sync and every sentinel knows them all.
func StartSentinel(t testing.TB, replicas, sentinels int) *Sentinel {
	t.Helper()
	bin := serverBinary(t)
	d := &Sentinel{t: t}
	d.Primary = startServer(&Server{t: t, bin: bin, dir: t.TempDir(), extra: []string{"--repl-diskless-sync-delay", "0"}})
	for range replicas {
		d.Replicas = append(d.Replicas, startServer(&Server{t: t, bin: bin, dir: t.TempDir(),
			extra: []string{"--replicaof", "127.0.0.1", strconv.Itoa(d.Primary.port), "--enable-debug-command", "local",
				"--repl-diskless-sync-delay", "0"}}))
	}
	for range sentinels {
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("dir %s\nsentinel monitor %s 127.0.0.1 %d %d\nsentinel down-after-milliseconds %[2]s 1000\n"+
			"sentinel failover-timeout %[2]s 4000\nsentinel parallel-syncs %[2]s 2\n", dir, SentinelMaster, d.Primary.port, sentinels/2+1)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		d.Sentinels = append(d.Sentinels, startServer(&Server{t: t, bin: bin, dir: dir, conf: conf}))
	}
	waitFor(t, 30*time.Second, "the replicas and sentinels to know each other", func() error {
		for _, r := range d.Replicas {
			if info := infoOf(r, "replication"); !strings.Contains(info, "master_link_status:up") {
				return fmt.Errorf("replica %d not in sync", r.port)
			}
		}
		for _, s := range d.Sentinels {
			m, err := s.do("SENTINEL", "MASTER", SentinelMaster)
			if err != nil {
				return err
			}
			f := fields(m)
			if f["num-slaves"] != strconv.Itoa(replicas) || f["num-other-sentinels"] != strconv.Itoa(sentinels-1) {
				return fmt.Errorf("sentinel %d sees %s replicas, %s other sentinels", s.port, f["num-slaves"], f["num-other-sentinels"])
			}
		}
		return nil
	})
	return d
}

// URL is the deployment's redis-sentinel:// URL.
func (d *Sentinel) URL() string {
	addrs := make([]string, len(d.Sentinels))
	for i, s := range d.Sentinels {
		addrs[i] = s.Addr()
	}
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/0?master=" + SentinelMaster
}

// PrimaryAddr asks a sentinel for the current primary's address.
func (d *Sentinel) PrimaryAddr() (string, error) {
	var last error
	for _, s := range d.Sentinels {
		if s.cmd == nil {
			continue
		}
		c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
		addr, err := c.GetMasterAddrByName(context.Background(), SentinelMaster).Result()
		_ = c.Close()
		if err == nil {
			return addr[0] + ":" + addr[1], nil
		}
		last = err
	}
	return "", last
}

// Node returns the server listening on addr.
func (d *Sentinel) Node(addr string) *Server {
	for _, s := range append([]*Server{d.Primary}, d.Replicas...) {
		if s.Addr() == addr {
			return s
		}
	}
	return nil
}

// Cluster is a private Redis Cluster: masters with replicas, each a
// redis-server process on a free loopback port, with a node timeout of one
// second so that a replica takes over from a dead master in seconds.
type Cluster struct {
	t     testing.TB
	Nodes []*Server
}

// StartCluster starts masters*(1+replicas)+spares nodes, joins them with
// `redis-cli --cluster create` (which makes the spares extra replicas:
// Redis moves one to a master left without a replica by a failover), and
// waits until every node serves all slots.
func StartCluster(t testing.TB, masters, replicas, spares int) *Cluster {
	t.Helper()
	bin := serverBinary(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		unavailable(t, "redis-cli is not installed")
	}
	c := &Cluster{t: t}
	var addrs []string
	for range masters*(1+replicas) + spares {
		dir := t.TempDir()
		n := startServer(&Server{t: t, bin: bin, dir: dir, extra: []string{"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--cluster-node-timeout", "1000",
			"--cluster-replica-validity-factor", "0", "--repl-diskless-sync-delay", "0"}})
		c.Nodes = append(c.Nodes, n)
		addrs = append(addrs, n.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	waitFor(t, 60*time.Second, "the cluster to be ok on every node", func() error {
		for _, n := range c.Nodes {
			info, err := n.do("CLUSTER", "INFO")
			if err != nil {
				return err
			}
			text := fmt.Sprint(info)
			if !strings.Contains(text, "cluster_state:ok") || !strings.Contains(text, "cluster_slots_ok:16384") ||
				!strings.Contains(text, fmt.Sprintf("cluster_known_nodes:%d", len(c.Nodes))) {
				return fmt.Errorf("node %d: %s", n.port, strings.ReplaceAll(text, "\r\n", " "))
			}
		}
		for _, n := range c.Nodes {
			if _, replica := c.masterOf(n); replica && !strings.Contains(infoOf(n, "replication"), "master_link_status:up") {
				return fmt.Errorf("replica %d not in sync", n.port)
			}
		}
		return nil
	})
	return c
}

// URL is the cluster's redis-cluster:// URL (every node as a seed).
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return "redis-cluster://" + strings.Join(addrs, ",")
}

// Masters are the nodes that are masters now, as a live node sees them.
func (c *Cluster) Masters() []*Server {
	var out []*Server
	for _, n := range c.Nodes {
		if _, replica := c.masterOf(n); n.cmd != nil && !replica {
			out = append(out, n)
		}
	}
	return out
}

// masterOf says whether n is a replica (asking n itself).
func (c *Cluster) masterOf(n *Server) (string, bool) {
	if n.cmd == nil {
		return "", false
	}
	v, err := n.do("ROLE")
	role, _ := v.([]any)
	if err != nil || len(role) == 0 {
		return "", false
	}
	if role[0] == "slave" && len(role) > 2 {
		return fmt.Sprintf("%v:%v", role[1], role[2]), true
	}
	return "", false
}

// ReplicasOf returns the replicas of a master.
func (c *Cluster) ReplicasOf(master *Server) []*Server {
	var out []*Server
	for _, n := range c.Nodes {
		if m, replica := c.masterOf(n); replica && m == master.Addr() {
			out = append(out, n)
		}
	}
	return out
}

// WaitHealthy waits until every live node sees the cluster ok.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.t.Helper()
	waitFor(c.t, timeout, "the cluster to be ok", func() error {
		for _, n := range c.Nodes {
			if n.cmd == nil {
				continue
			}
			info, err := n.do("CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if !strings.Contains(fmt.Sprint(info), "cluster_state:ok") {
				return fmt.Errorf("node %d not ok", n.port)
			}
		}
		return nil
	})
}

// Alive reports whether the server process runs.
func (s *Server) Alive() bool { return s.cmd != nil }

// Info returns a section of the server's INFO.
func (s *Server) Info(section string) string { return infoOf(s, section) }

func infoOf(s *Server, section string) string {
	v, _ := s.do("INFO", section)
	return fmt.Sprint(v)
}

// Do runs one command on a connection of its own.
func (s *Server) Do(args ...any) (any, error) { return s.do(args...) }

func (s *Server) do(args ...any) (any, error) {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
	defer c.Close()
	return c.Do(context.Background(), args...).Result()
}

// fields turns a flat [k1 v1 k2 v2 …] or a map reply into a map.
func fields(v any) map[string]string {
	out := map[string]string{}
	switch m := v.(type) {
	case []any:
		for i := 0; i+1 < len(m); i += 2 {
			out[fmt.Sprint(m[i])] = fmt.Sprint(m[i+1])
		}
	case map[any]any:
		for k, v := range m {
			out[fmt.Sprint(k)] = fmt.Sprint(v)
		}
	}
	return out
}

func serverBinary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "redis-server is not installed (scripts/test.sh installs it)")
	}
	return bin
}

// waitFor polls check until it returns nil or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
}

// Package redistest gives tests a real Redis: a private redis-server they
// can kill and restart, or a clean database of the server that
// scripts/test.sh started (TIDINGS_TEST_REDIS_URL).
//
// When CI is set (or TIDINGS_REQUIRE_REDIS), a test that cannot get a Redis
// fails; elsewhere it is skipped with the reason.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the variable holding a shared test server's URL.
const EnvURL = "TIDINGS_TEST_REDIS_URL"

// Required reports whether a missing Redis must fail tests.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("TIDINGS_REQUIRE_REDIS") != ""
}

func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("redis required (CI): "+format, args...)
	}
	t.Skipf("no redis: "+format, args...)
}

// New returns the URL of an empty Redis database for this test and a client
// on it; both are cleaned up with the test. With TIDINGS_TEST_REDIS_URL set
// it takes a database of that server of its own (the script starts it with
// many databases), else it starts a private server.
func New(t testing.TB) (string, *redis.Client) {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		s := Start(t, false)
		return s.URL(), s.Client(t)
	}
	opts, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	admin := redis.NewClient(opts)
	defer admin.Close()
	ctx := context.Background()
	n, err := admin.Incr(ctx, "redistest:next-db").Result()
	if err != nil {
		unavailable(t, "%s unreachable: %v", base, err)
	}
	dbs := 4096
	if v, err := admin.ConfigGet(ctx, "databases").Result(); err == nil {
		if d, err := strconv.Atoi(v["databases"]); err == nil {
			dbs = d
		}
	}
	opts.DB = 1 + int(n)%(dbs-1)
	c := redis.NewClient(opts)
	if err := c.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("flush db %d: %v", opts.DB, err)
	}
	t.Cleanup(func() {
		_ = c.FlushDB(context.Background()).Err()
		_ = c.Close()
	})
	return fmt.Sprintf("redis://%s/%d", opts.Addr, opts.DB), c
}

// Server is a private redis-server that a test can kill and restart.
type Server struct {
	t     testing.TB
	bin   string
	dir   string
	port  int
	aof   bool
	extra []string // more arguments
	conf  string   // a sentinel's configuration file
	cmd   *exec.Cmd
}

// Start starts a private redis-server on a free port, with AOF
// (appendfsync always) when aof is true, and stops it with the test.
func Start(t testing.TB, aof bool) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "redis-server is not installed (scripts/test.sh installs it)")
	}
	return startServer(&Server{t: t, bin: bin, dir: t.TempDir(), aof: aof})
}

func startServer(s *Server) *Server {
	s.t.Helper()
	s.port = freePort(s.t)
	s.start()
	s.t.Cleanup(s.Kill)
	return s
}

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Addr is host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Client returns a client on the server, closed with the test.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *Server) start() {
	s.t.Helper()
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir, "--save", "",
		"--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log"), "--maxmemory-policy", "noeviction"}
	if s.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, s.extra...)
	if s.conf != "" {
		args = []string{s.conf, "--sentinel", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
			"--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log")}
	}
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	for time.Now().Before(deadline) {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	s.t.Fatalf("redis-server on port %d did not start:\n%s", s.port, log)
}

// Kill stops the server with SIGKILL.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart starts the server again on the same port and data directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// RedisMode is the kind of Redis deployment TIDINGS_REDIS_URL names.
type RedisMode int

// Redis deployments.
const (
	RedisSingle   RedisMode = iota // redis://, rediss://
	RedisSentinel                  // redis-sentinel://, rediss-sentinel://
	RedisCluster                   // redis-cluster://, rediss-cluster://
)

// MaxQueueShards bounds TIDINGS_QUEUE_SHARDS: every worker polls every
// queue, so each shard costs every worker a poll loop's share.
const MaxQueueShards = 64

// RedisTarget is a parsed TIDINGS_REDIS_URL. For a single Redis, URL is the
// whole URL (go-redis parses it, query options included); for Sentinel and
// Cluster the fields below say everything.
type RedisTarget struct {
	Mode RedisMode
	URL  string
	// TLS: rediss-sentinel:// and rediss-cluster:// (a Sentinel deployment
	// speaks TLS to the sentinels and the data nodes alike).
	TLS bool
	// Addrs are the sentinels' or the cluster's seed nodes, host:port.
	Addrs    []string
	Username string
	Password string
	DB       int
	// MasterName is the Sentinel master's name (?master=).
	MasterName string
	// SentinelUsername and SentinelPassword authenticate to the sentinels
	// (?sentinel_username=, ?sentinel_password=) when they need it.
	SentinelUsername string
	SentinelPassword string
}

// ParseRedisURL reads the forms of TIDINGS_REDIS_URL:
//
//	redis://[user:password@]host:port[/db]        (and rediss:// for TLS)
//	redis-sentinel://[user:password@]host:port[,host:port…][/db]?master=NAME
//	redis-cluster://[user:password@]host:port[,host:port…]
//
// with rediss-sentinel:// and rediss-cluster:// for TLS. The user and
// password are the data nodes'. Errors never repeat the URL (it may hold a
// password).
func ParseRedisURL(s string) (RedisTarget, error) {
	u, err := url.Parse(s)
	if err != nil {
		return RedisTarget{}, errors.New("is not a valid URL")
	}
	t := RedisTarget{URL: s}
	switch u.Scheme {
	case "redis", "rediss":
		t.Mode = RedisSingle
		if u.Host == "" {
			return t, errors.New("must name a host, e.g. redis://localhost:6379/0")
		}
		return t, nil
	case "redis-sentinel", "rediss-sentinel":
		t.Mode = RedisSentinel
	case "redis-cluster", "rediss-cluster":
		t.Mode = RedisCluster
	default:
		return t, errors.New("must be a redis://, rediss://, redis-sentinel:// or redis-cluster:// URL")
	}
	t.TLS = strings.HasPrefix(u.Scheme, "rediss")
	if u.User != nil {
		t.Username = u.User.Username()
		t.Password, _ = u.User.Password()
	}
	for _, a := range strings.Split(u.Host, ",") {
		h, p, err := net.SplitHostPort(a)
		if err != nil || h == "" {
			return t, fmt.Errorf("%q is not a host:port", a)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return t, fmt.Errorf("%q has no valid port", a)
		}
		t.Addrs = append(t.Addrs, a)
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return t, fmt.Errorf("database %q is not a number", db)
		}
		if t.Mode == RedisCluster && n != 0 {
			return t, errors.New("Redis Cluster has only database 0")
		}
		t.DB = n
	}
	q := u.Query()
	allowed := map[RedisMode][]string{RedisSentinel: {"master", "sentinel_username", "sentinel_password"}}[t.Mode]
	for k := range q {
		if !contains(allowed, k) {
			return t, fmt.Errorf("unknown parameter %q", k)
		}
	}
	if t.Mode == RedisSentinel {
		t.MasterName = q.Get("master")
		if t.MasterName == "" {
			return t, errors.New("a redis-sentinel:// URL needs ?master=<name of the Sentinel master>")
		}
		t.SentinelUsername = q.Get("sentinel_username")
		t.SentinelPassword = q.Get("sentinel_password")
	}
	return t, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

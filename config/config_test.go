package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const token = "0123456789abcdef0123456789abcdef"

func TestDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{"TIDINGS_REDIS_URL": "redis://localhost:6379/0", "TIDINGS_ADMIN_TOKEN": token}), Production)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.DeliveryTimeout != 30*time.Second || c.WorkerConcurrency != 50 ||
		c.EndpointConcurrency != 10 || c.DisableAfterFailures != 1 || c.LogRetention != 168*time.Hour ||
		c.IdempotencyTTL != 24*time.Hour || c.MaxPayloadBytes != 262144 || c.AllowHTTP || c.AllowPrivateNetworks ||
		c.SignatureHeader != "X-Webhook-Signature" || c.SignatureFormat != "sha256={hex}" || !c.Monitoring {
		t.Errorf("defaults wrong: %+v", c)
	}
	if len(c.RetrySchedule) != 4 || c.RetrySchedule[3] != time.Hour {
		t.Errorf("default schedule = %v", c.RetrySchedule)
	}
	d, err := Load(env(nil), Dev)
	if err != nil {
		t.Fatalf("dev needs nothing: %v", err)
	}
	if !d.AllowHTTP || !d.AllowPrivateNetworks {
		t.Error("dev allows http and private networks")
	}
}

func TestValidationNamesTheVariable(t *testing.T) {
	ok := map[string]string{"TIDINGS_REDIS_URL": "redis://localhost:6379/0", "TIDINGS_ADMIN_TOKEN": token}
	tests := []struct{ name, value string }{
		{"TIDINGS_REDIS_URL", "http://localhost"},
		{"TIDINGS_ADMIN_TOKEN", "short"},
		{"TIDINGS_RETRY_SCHEDULE", "5s,banana"},
		{"TIDINGS_RETRY_SCHEDULE", "5s,-1s"},
		{"TIDINGS_DELIVERY_TIMEOUT", "0s"},
		{"TIDINGS_DELIVERY_TIMEOUT", "thirty"},
		{"TIDINGS_WORKER_CONCURRENCY", "0"},
		{"TIDINGS_ENDPOINT_CONCURRENCY", "x"},
		{"TIDINGS_DISABLE_AFTER_FAILED_DELIVERIES", "-1"},
		{"TIDINGS_LOG_RETENTION", "-2h"},
		{"TIDINGS_IDEMPOTENCY_TTL", "1d"},
		{"TIDINGS_MAX_PAYLOAD_BYTES", "0"},
		{"TIDINGS_ALLOW_HTTP", "yes please"},
		{"TIDINGS_SIGNATURE_HEADER", "Bad Header"},
		{"TIDINGS_TIMESTAMP_HEADER", "webhook-timestamp"},
		{"TIDINGS_SIGNATURE_FORMAT", "sha256="},
		{"TIDINGS_SIGNED_CONTENT", "{timestamp}"},
		{"TIDINGS_EVENT_TYPES", "batch.progress,NotAType"},
		{"TIDINGS_EVENT_TYPES", "@/does/not/exist"},
		{"TIDINGS_LOG_LEVEL", "loud"},
		{"TIDINGS_PROMETHEUS_URL", "prom:9090"},
		{"TIDINGS_REDIS_URL", "redis-sentinel://s1:26379,s2:26379"},
		{"TIDINGS_REDIS_URL", "redis-sentinel://s1:26379,s2/0?master=m"},
		{"TIDINGS_REDIS_URL", "redis-sentinel://s1:26379?master=m&pool=3"},
		{"TIDINGS_REDIS_URL", "redis-cluster://n1:7000,n2:7001/2"},
		{"TIDINGS_REDIS_URL", "redis-cluster://:secret@n1:notaport"},
		{"TIDINGS_QUEUE_SHARDS", "0"},
		{"TIDINGS_QUEUE_SHARDS", "65"},
		{"TIDINGS_REDIS_WAIT_REPLICAS", "-1"},
		{"TIDINGS_REDIS_WAIT_TIMEOUT", "0s"},
		{"TIDINGS_PUBLIC_URL", "hooks.example.com"},
		{"TIDINGS_PUBLIC_URL", "https://hooks.example.com/?a=b"},
		{"TIDINGS_PORTAL_FRAME_ANCESTORS", "https://app.example.com; script-src *"},
		{"TIDINGS_PORTAL_FRAME_ANCESTORS", "'unsafe-inline'"},
		{"TIDINGS_PORTAL_FRAME_ANCESTORS", "https://app.example.com/path"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range ok {
				m[k] = v
			}
			m[tt.name] = tt.value
			_, err := Load(env(m), Production)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Var != tt.name {
				t.Fatalf("Load with %s=%q: error %v, want one naming %s", tt.name, tt.value, err, tt.name)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error repeats the password: %q", err)
			}
		})
	}
	for _, name := range []string{"TIDINGS_REDIS_URL", "TIDINGS_ADMIN_TOKEN"} {
		m := map[string]string{}
		for k, v := range ok {
			if k != name {
				m[k] = v
			}
		}
		if _, err := Load(env(m), Production); err == nil || !strings.HasPrefix(err.Error(), name) {
			t.Errorf("missing %s: error %v", name, err)
		}
	}
}

func TestCatalog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "types.txt")
	if err := os.WriteFile(path, []byte("batch.progress Progress of a batch\n\n# comment\ncomputation.complete\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{
		"TIDINGS_REDIS_URL": "rediss://u:p@h:6380/2", "TIDINGS_ADMIN_TOKEN": token, "TIDINGS_EVENT_TYPES": "@" + path,
	}), Production)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.EventTypes) != 2 || c.EventTypes[0].Description != "Progress of a batch" || c.EventTypes[1].Type != "computation.complete" {
		t.Errorf("catalog = %+v", c.EventTypes)
	}
}

func TestRedisURLForms(t *testing.T) {
	tests := []struct {
		url  string
		want RedisTarget
	}{
		{"redis://localhost:6379/0", RedisTarget{Mode: RedisSingle}},
		{"redis-sentinel://u:p%40ss@s1:26379,s2:26380/3?master=mymaster&sentinel_password=sp",
			RedisTarget{Mode: RedisSentinel, Addrs: []string{"s1:26379", "s2:26380"}, Username: "u", Password: "p@ss", DB: 3,
				MasterName: "mymaster", SentinelPassword: "sp"}},
		{"rediss-sentinel://s1:26379?master=m", RedisTarget{Mode: RedisSentinel, TLS: true, Addrs: []string{"s1:26379"}, MasterName: "m"}},
		{"redis-cluster://:pw@n1:7000,n2:7001,n3:7002", RedisTarget{Mode: RedisCluster, Addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, Password: "pw"}},
		{"rediss-cluster://n1:7000/0", RedisTarget{Mode: RedisCluster, TLS: true, Addrs: []string{"n1:7000"}}},
	}
	for _, tt := range tests {
		got, err := ParseRedisURL(tt.url)
		if err != nil {
			t.Errorf("%s: %v", tt.url, err)
			continue
		}
		tt.want.URL = tt.url
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.url, got, tt.want)
		}
	}
	c, err := Load(env(map[string]string{"TIDINGS_REDIS_URL": "redis-cluster://n1:7000", "TIDINGS_ADMIN_TOKEN": token,
		"TIDINGS_QUEUE_SHARDS": "3", "TIDINGS_REDIS_WAIT_REPLICAS": "1", "TIDINGS_REDIS_WAIT_TIMEOUT": "250ms"}), Production)
	if err != nil || c.QueueShards != 3 || c.RedisWaitReplicas != 1 || c.RedisWaitTimeout != 250*time.Millisecond {
		t.Errorf("Load = %+v, %v", c, err)
	}
	if _, err := Load(env(map[string]string{"TIDINGS_REDIS_WAIT_REPLICAS": "1"}), Dev); err == nil || !strings.HasPrefix(err.Error(), "TIDINGS_REDIS_WAIT_REPLICAS") {
		t.Errorf("dev's embedded Redis with WAIT_REPLICAS: %v", err)
	}
	if d := Default(); d.QueueShards != 1 || d.RedisWaitReplicas != 0 || d.RedisWaitTimeout != time.Second {
		t.Errorf("defaults: shards %d, wait %d/%s", d.QueueShards, d.RedisWaitReplicas, d.RedisWaitTimeout)
	}
}

func TestPortalSettings(t *testing.T) {
	c, err := Load(env(map[string]string{"TIDINGS_REDIS_URL": "redis://localhost:6379/0", "TIDINGS_ADMIN_TOKEN": token,
		"TIDINGS_PUBLIC_URL": "https://hooks.example.com/", "TIDINGS_PORTAL_FRAME_ANCESTORS": " 'self'  https://app.example.com https://*.example.org:8443 https:"}), Production)
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "https://hooks.example.com" {
		t.Errorf("PublicURL = %q", c.PublicURL)
	}
	want := []string{"'self'", "https://app.example.com", "https://*.example.org:8443", "https:"}
	if strings.Join(c.PortalFrameAncestors, " ") != strings.Join(want, " ") {
		t.Errorf("PortalFrameAncestors = %q", c.PortalFrameAncestors)
	}
	for addr, want := range map[string]string{":8080": "http://127.0.0.1:8080", "0.0.0.0:80": "http://127.0.0.1:80",
		"[::]:9000": "http://127.0.0.1:9000", "10.0.0.5:8080": "http://10.0.0.5:8080"} {
		if got := PublicURLFor(addr); got != want {
			t.Errorf("PublicURLFor(%q) = %q, want %q", addr, got, want)
		}
	}
}

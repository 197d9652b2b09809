#!/usr/bin/env bash
# The test command, the same one CI runs: format check, go vet, and every
# test with -race against a private redis-server on a free port (installed
# with apt-get when missing and running as root). Extra arguments go to
# `go test` (e.g. ./scripts/test.sh -run TestPublish ./handlers).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server…"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is missing: install it (e.g. apt-get install redis-server)" >&2
    exit 1
  fi
fi

# Headless Chromium for the dashboard's browser test (Debian's package).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "chromium could not be installed; the browser test will fail in CI" >&2
fi

# Node.js: the canonical-JSON test checks against JavaScript itself, and the
# wire-format receivers are Express apps.
if ! command -v node >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing nodejs…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null) \
    || echo "nodejs could not be installed; the Node tests will fail in CI" >&2
fi

# Express for the wire-format receivers written from the research documents.
receivers=cmd/tidings/testdata/receivers
if command -v npm >/dev/null 2>&1 && [ ! -d "$receivers/node_modules/express" ]; then
  echo "installing the receivers' npm packages…"
  (cd "$receivers" && npm ci --silent --no-audit --no-fund) || echo "npm ci failed; the wire-format tests will fail in CI" >&2
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== client/ matches docs/openapi.yaml"
gen=$(mktemp -d)
go tool oapi-codegen -generate types,client -package client -o "$gen/client.gen.go" docs/openapi.yaml
if ! diff -u client/client.gen.go "$gen/client.gen.go" >"$gen/diff"; then
  head -40 "$gen/diff"; rm -rf "$gen"
  echo "client/client.gen.go is stale: run go generate ./client" >&2; exit 1
fi
rm -rf "$gen"

# A private Redis for the tests that share one (each takes its own database);
# fault tests start their own servers.
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 6390)
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
  --databases 4096 --maxmemory-policy noeviction --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
# Redis writes its log while it shuts down: wait for it to exit before
# removing its directory (else rm races the log and fails the run).
cleanup() {
  local pid
  pid=$(cat "$dir/redis.pid" 2>/dev/null) || true
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$dir" || true
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM # killed (e.g. piped into head): still clean up
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

export TIDINGS_TEST_REDIS_URL="redis://127.0.0.1:$port"
export TIDINGS_REQUIRE_REDIS=1

# Each fuzz target briefly, from its seed corpus in testdata/fuzz (set
# FUZZTIME=0 to skip; skipped when arguments pick tests). The budget is a
# count of executions, not a duration: with a duration, Go 1.26's fuzz
# coordinator can fail at the deadline with "context deadline exceeded" and
# no failing input (golang/go#75804, fixed in Go 1.27); a count has no
# deadline to race. 20000 runs take 1-7 s per target here.
fuzztime=${FUZZTIME:-20000x}
if [ "$fuzztime" != 0 ] && [ $# -eq 0 ]; then
  echo "== fuzz ($fuzztime each)"
  for target in webhook:FuzzParseSchedule webhook:FuzzMatchPattern webhook:FuzzCanonicalJSON \
                signing:FuzzSignVerify handlers:FuzzBinders redisstore:FuzzDeliveryLine \
                redisstore:FuzzEventBody; do
    go test "./${target%%:*}" -run '^$' -fuzz "^${target#*:}\$" -fuzztime "$fuzztime" >/dev/null \
      || { echo "fuzz ${target} failed"; go test "./${target%%:*}" -run '^$' -fuzz "^${target#*:}\$" -fuzztime 2000x; exit 1; }
    echo "ok   fuzz ${target}"
  done
fi

echo "== go test -race"
# Not exec: the EXIT trap must still stop the private Redis.
go test -race -count=1 -timeout 15m "${@:-./...}"

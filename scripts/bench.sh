#!/usr/bin/env bash
# The benchmark: one command, its own redis-server, a table on stdout.
# Usage: ./scripts/bench.sh [-events N] [-repeat N] (tidings-bench flags)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is missing" >&2; exit 1
  fi
fi
echo "== Go benchmarks of the hot pure functions"
go test -run '^$' -bench . -benchmem ./signing ./webhook ./sender ./redisstore | grep -E '^(Benchmark|ok)'
echo
echo "== end to end (tidings-bench)"
exec go run ./cmd/tidings-bench "$@"

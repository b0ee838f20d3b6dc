#!/usr/bin/env bash
# Warm-cache benchmarks: gatehouse against Go's http.FileServer serving the
# same files, in process and over loopback HTTP, then the parallel loopback
# load test. Everything stays on 127.0.0.1 and is bounded by -benchtime.
# Usage: scripts/bench.sh [count]   (docs/benchmarks.md quotes its output)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-6}
command -v benchstat >/dev/null || go install golang.org/x/perf/cmd/benchstat@latest
out=$(mktemp)
go test -run '^$' -bench 'Hit' -benchmem -count "$count" ./internal/server/ | tee "$out" | grep -E '^(Benchmark|ok|FAIL)'
"$(go env GOPATH)/bin/benchstat" "$out" 2>/dev/null || benchstat "$out"
rm -f "$out"

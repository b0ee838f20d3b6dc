#!/usr/bin/env bash
# The cold-path benchmark of issue 21 (docs/benchmarks.md quotes its output):
# the real go command downloads a whole project's modules straight from an
# upstream and through an empty gatehouse, both through the same relay that
# adds a fixed delay to every upstream request and counts them; then through
# the full store against GOPROXY=file://, and a warm-hit load test against a
# bare http.FileServer on the same files.
#
# Hermetic by default: ~75 generated modules from internal/testproxy, all on
# 127.0.0.1. With -live (or GATEHOUSE_LIVE=1) the upstream is proxy.golang.org
# and the project the 78 modules of internal/coldbench/testdata/lazygit/go.mod:
# the only mode that leaves loopback. Runs, and the time of each, are bounded.
#
# Usage: scripts/coldbench.sh [-live] [-runs N] [-delays 0ms,20ms,50ms] [-hits 2s] [-conns 32] [-out FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
usage() { sed -n 's/^# Usage: //p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	-live | --live) args+=(-coldbench.live) ;;
	-runs | --runs | -delays | --delays | -hits | --hits | -conns | --conns | -out | --out)
		[ $# -ge 2 ] || usage
		name=${1#-}; name=${name#-}
		val=$2
		[ "$name" = out ] && val=$(realpath -m -- "$2")
		args+=("-coldbench.$name=$val"); shift ;;
	*) usage ;;
	esac
	shift
done
exec go test -count=1 -v -timeout 60m -run '^TestColdBench$' ./internal/coldbench/ -args -coldbench "${args[@]}"

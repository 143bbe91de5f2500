#!/usr/bin/env bash
# Load benchmark: tokengate beside nginx and HAProxy on the same mock upstream, the gateway
# pinned to one core (../shared/bench does the measuring), then the idle-RSS check and the
# micro-benchmarks. Numbers land in $BENCH_WORK/RESULTS.md (default /tmp/tokengate-bench).
# usage: bench/run.sh            full run (~10 min)
#        QUICK=1 bench/run.sh    ~1 min
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SHARED=${SHARED_BENCH:-../shared/bench}
[[ -x build/tokengate ]] || { echo "run 'make build' first" >&2; exit 1; }
bash "$SHARED/setup.sh"
if [[ ${QUICK:-0} == 1 ]]; then
  export DURATION=3 REPS=1 WARMUP=1 CONNS="1 64"
fi
TARGETS=${TARGETS:-"direct nginx haproxy tokengate"} SCENARIOS=${SCENARIOS:-"json sse"} \
  bash "$SHARED/run.sh"
bash bench/idle_rss.sh
build/bench/tokengate_micro_bench --benchmark_min_time=0.2

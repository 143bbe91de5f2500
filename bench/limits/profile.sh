#!/usr/bin/env bash
# Where a request's CPU goes: perf samples of tokengate under wrk load, folded into the
# request path's stages (docs/benchmarks.md "Per-stage cost"). Same pieces and pinning as
# bench/limits/run.sh: the mock upstream and wrk on cpu0, tokengate alone on cpu1.
#   bench/limits/profile.sh [CONFIG] [SCENARIO]     CONFIG: limited (default), unlimited, or a file
#                                                    SCENARIO: json (default) or sse
# Env: DURATION (10 s), CONNS (64), BIN (build/tokengate), OUT (/tmp/tokengate-profile).
# Needs `perf` (Debian linux-perf) and a build with symbols (Release builds keep them: -g is off,
# but function symbols are enough for the stage table). Samples by cpu-clock, so it works where
# hardware counters do not. Prints the stage table; the raw report is in $OUT.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=$(cd "${SHARED_BENCH:-$ROOT/../shared/bench}" && pwd)
CONFIG=${1:-limited}
SCENARIO=${2:-json}
[[ -f "$CONFIG" ]] || CONFIG=$ROOT/bench/limits/$CONFIG.yaml
BIN=${BIN:-$ROOT/build/tokengate}
OUT=${OUT:-/tmp/tokengate-profile}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
command -v perf >/dev/null || { echo "perf not found (apt-get install linux-perf)" >&2; exit 1; }
rm -rf "$OUT"; mkdir -p "$OUT"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
UP_JSON=18980; UP_SSE=18981; PORT=18990
taskset -c 0 bash "$SHARED/upstream/mock-upstream.sh" "$OUT" $UP_JSON $UP_SSE 18982 18983 \
  >"$OUT/upstream.log" 2>&1 &
PIDS+=($!)
UP=$UP_JSON; [[ $SCENARIO == sse ]] && UP=$UP_SSE
sed -e "s/{PORT}/$PORT/g" -e "s/{UPSTREAM_PORT}/$UP/g" "$CONFIG" >"$OUT/config.yaml"
taskset -c 1 "$BIN" run --config "$OUT/config.yaml" >"$OUT/tokengate.log" 2>&1 &
TG=$!
PIDS+=($TG)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
LUA=$SHARED/wrk/chat.lua
BENCH_STREAM=0; [[ $SCENARIO == sse ]] && BENCH_STREAM=1
export BENCH_STREAM
taskset -c 0 wrk -t1 -c16 -d2s -s "$LUA" "http://127.0.0.1:$PORT/v1/chat/completions" >/dev/null
t0=$(awk '{print $14 + $15}' "/proc/$TG/stat")
taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$LUA" \
  "http://127.0.0.1:$PORT/v1/chat/completions" >"$OUT/wrk.txt" &
WRK=$!
sleep 1
perf record -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$TG" -o "$OUT/perf.data" -- sleep $((DURATION - 2)) \
  >/dev/null 2>&1
wait $WRK
t1=$(awk '{print $14 + $15}' "/proc/$TG/stat")
reqs=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
cpu_us=$(python3 -c "print(f'{($t1 - $t0) / $(getconf CLK_TCK) * 1e6 / $reqs:.1f}')")
echo "tokengate ($(basename "$CONFIG"), $SCENARIO, c=$CONNS): $reqs requests, $cpu_us us CPU per request"
perf report -i "$OUT/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null \
  >"$OUT/report.txt"
perf script -i "$OUT/perf.data" 2>/dev/null >"$OUT/script.txt"
python3 "$ROOT/bench/limits/stages.py" "$OUT/script.txt" "$cpu_us"

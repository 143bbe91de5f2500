#!/usr/bin/env bash
# Limits benchmark: nginx as the anchor, and the same tokengate binary without limits, with a
# per-consumer token limit on every request in the embedded store, and with the same limit in
# a local Redis, beside the direct baseline, in ONE run of ../shared/bench (interleaved runs,
# same machine state).
# Targets (issues 4, 5 and 12): tokengate_limited >= 95% of tokengate's throughput;
# tokengate_redis >= 95% of tokengate_limited's (issue 14: leased); tokengate_limited's CPU per request <= nginx's
# and its throughput >= nginx's at json and sse c=64, its c=1 +p50 within 10 us of nginx's
# (HAProxy beside them as the second anchor).
# Redis: one redis-server per scenario (picked through the scenario's upstream port), pinned to
# the load core beside wrk and the mock upstream, so its CPU per request can be reported per
# scenario after the run: Redis process CPU / requests the gateway served (its access log
# counts every request, warm-up included), and the batch script's runs and time per run; and,
# from bench/limits/redis_windows.py, the same inside tokengate_redis's measured runs only
# (issue 14's per-request targets: script runs and redis-server CPU per request).
# usage: bench/limits/run.sh     (DURATION, REPS, CONNS, SCENARIOS, TARGETS as ../shared/bench)
# Results: $BENCH_WORK/RESULTS.md (default /tmp/tokengate-bench).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
SHARED=$(cd "${SHARED_BENCH:-../shared/bench}" && pwd)
[[ -x build/tokengate ]] || { echo "run 'make build' first" >&2; exit 1; }
bash "$SHARED/setup.sh" >/dev/null
WORK=$(mktemp -d /tmp/tokengate-limits.XXXXXX)
BENCH_WORK=${BENCH_WORK:-/tmp/tokengate-bench}
export OUT=${OUT:-$BENCH_WORK/results/$(date +%Y%m%d-%H%M%S)}
SCENARIOS=${SCENARIOS:-"json sse"}
REDIS_PORT=${REDIS_PORT:-16479}
UP_PORT_BASE=${UP_PORT_BASE:-18080}
declare -A UP_OFFSET=([json]=0 [sse]=1 [sse_burst]=2 [sse_paced]=3)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
i=0
for sc in $SCENARIOS; do
  port=$((REDIS_PORT + i)); up=$((UP_PORT_BASE + ${UP_OFFSET[$sc]}))
  taskset -c "${LOAD_CPU:-0}" redis-server --port "$port" --bind 127.0.0.1 --save "" \
    --appendonly no --protected-mode no --loglevel warning >"$WORK/redis-$sc.log" 2>&1 &
  PIDS+=($!)
  echo "$sc $port $!" >>"$WORK/redis.list"
  sed "s/{REDIS_PORT}/$port/" bench/limits/redis.yaml >"$WORK/redis-$up.yaml"
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  i=$((i + 1))
done
cat > "$WORK/targets.conf" <<TARGETS
direct | - |
nginx | {BENCH}/targets/nginx.sh {PORT} {UPSTREAM_PORT} {RUN} |
haproxy | {BENCH}/targets/haproxy.sh {PORT} {UPSTREAM_PORT} {RUN} |
tokengate | env TOKENGATE_BIN=$ROOT/build/tokengate TOKENGATE_CONFIG=$ROOT/bench/limits/unlimited.yaml {BENCH}/targets/tokengate.sh {PORT} {UPSTREAM_PORT} {RUN} |
tokengate_limited | env TOKENGATE_BIN=$ROOT/build/tokengate TOKENGATE_CONFIG=$ROOT/bench/limits/limited.yaml {BENCH}/targets/tokengate.sh {PORT} {UPSTREAM_PORT} {RUN} |
tokengate_redis | env TOKENGATE_BIN=$ROOT/build/tokengate TOKENGATE_CONFIG=$WORK/redis-{UPSTREAM_PORT}.yaml {BENCH}/targets/tokengate.sh {PORT} {UPSTREAM_PORT} {RUN} |
TARGETS
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
while read -r sc port pid; do echo "$sc $(ticks "$pid")" >>"$WORK/ticks0"; done <"$WORK/redis.list"
DURATION=${DURATION:-5}
mkdir -p "$OUT" "$WORK/windows"
specs=$(awk '{printf "%s:%s:%s ", $1, $2, $3}' "$WORK/redis.list")
# shellcheck disable=SC2086  # one SC:PORT:PID word per scenario
taskset -c "${LOAD_CPU:-0}" python3 bench/limits/redis_windows.py sample "$OUT" "$DURATION" \
  "$WORK/windows" $specs &
SAMPLER=$!
PIDS+=($SAMPLER)
TARGETS_FILE=$WORK/targets.conf TARGETS=${TARGETS:-"direct nginx haproxy tokengate tokengate_limited tokengate_redis"} \
  DURATION=$DURATION REPS=${REPS:-3} WARMUP=${WARMUP:-2} CONNS=${CONNS:-"1 64"} \
  SCENARIOS=$SCENARIOS UP_PORT_BASE=$UP_PORT_BASE bash "$SHARED/run.sh"
touch "$WORK/windows/stop"; wait "$SAMPLER" || true
[[ -f $WORK/windows/windows.json ]] && python3 bench/limits/redis_windows.py report "$OUT" "$WORK/windows"
echo "Redis over the whole run (warm-up and the other targets' runs included; process CPU of the scenario's redis-server / requests the gateway served):"
while read -r sc port pid; do
  t0=$(awk -v s="$sc" '$1 == s {print $2}' "$WORK/ticks0")
  t1=$(ticks "$pid")
  reqs=$(cat "$OUT/logs/tokengate_redis-$sc.log" 2>/dev/null | grep -c '"status"' || true)
  stats=$(redis-cli -p "$port" info commandstats | tr -d '\r' | grep -E '^cmdstat_(evalsha|fcall):' || true)
  python3 - "$sc" "$t0" "$t1" "$(getconf CLK_TCK)" "$reqs" "$stats" <<'PY'
import re, sys
sc, t0, t1, hz, reqs, stats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
calls = usec = 0
for m in re.finditer(r"calls=(\d+),usec=(\d+)", stats):  # EVALSHA and FCALL (Redis Functions)
    calls += int(m.group(1)); usec += int(m.group(2))
cpu = (t1 - t0) / hz
print(f"  {sc}: {reqs} requests, {calls} batch script runs ({reqs / max(calls, 1):.1f} requests "
      f"per run, {usec / max(calls, 1):.1f} us per run, {usec / max(reqs, 1):.1f} us of script "
      f"per request); redis-server CPU {cpu:.2f} s = {cpu * 1e6 / max(reqs, 1):.1f} us per request")
PY
done <"$WORK/redis.list"

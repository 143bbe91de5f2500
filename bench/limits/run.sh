#!/usr/bin/env bash
# Limits benchmark: nginx as the anchor, and the same tokengate binary without limits, with a per-consumer token limit on
# every request in the embedded store, and with the same limit in a local Redis, beside the
# direct baseline, in ONE run of ../shared/bench (interleaved runs, same machine state).
# Targets (issues 4 and 5): tokengate_limited >= 95% of tokengate's throughput;
# tokengate_redis >= 80% of tokengate_limited's. Redis's own CPU per request is reported after
# the run (redis-server is pinned to the load core, beside wrk and the mock upstream).
# usage: bench/limits/run.sh     (DURATION, REPS, CONNS, SCENARIOS, TARGETS as ../shared/bench)
# Results: $BENCH_WORK/RESULTS.md (default /tmp/tokengate-bench).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
SHARED=$(cd "${SHARED_BENCH:-../shared/bench}" && pwd)
[[ -x build/tokengate ]] || { echo "run 'make build' first" >&2; exit 1; }
bash "$SHARED/setup.sh" >/dev/null
WORK=$(mktemp -d /tmp/tokengate-limits.XXXXXX)
REDIS_PORT=${REDIS_PORT:-16479}
taskset -c "${LOAD_CPU:-0}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
  --appendonly no --protected-mode no --loglevel warning >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
trap 'kill $REDIS_PID 2>/dev/null; wait $REDIS_PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
sed "s/{REDIS_PORT}/$REDIS_PORT/" bench/limits/redis.yaml > "$WORK/redis.yaml"
cat > "$WORK/targets.conf" <<TARGETS
direct | - |
nginx | {BENCH}/targets/nginx.sh {PORT} {UPSTREAM_PORT} {RUN} |
tokengate | env TOKENGATE_BIN=$ROOT/build/tokengate TOKENGATE_CONFIG=$ROOT/bench/limits/unlimited.yaml {BENCH}/targets/tokengate.sh {PORT} {UPSTREAM_PORT} {RUN} |
tokengate_limited | env TOKENGATE_BIN=$ROOT/build/tokengate TOKENGATE_CONFIG=$ROOT/bench/limits/limited.yaml {BENCH}/targets/tokengate.sh {PORT} {UPSTREAM_PORT} {RUN} |
tokengate_redis | env TOKENGATE_BIN=$ROOT/build/tokengate TOKENGATE_CONFIG=$WORK/redis.yaml {BENCH}/targets/tokengate.sh {PORT} {UPSTREAM_PORT} {RUN} |
TARGETS
ticks() { awk '{print $14 + $15}' "/proc/$REDIS_PID/stat"; }
T0=$(ticks)
TARGETS_FILE=$WORK/targets.conf TARGETS=${TARGETS:-"direct nginx tokengate tokengate_limited tokengate_redis"} \
  DURATION=${DURATION:-5} REPS=${REPS:-3} WARMUP=${WARMUP:-2} CONNS=${CONNS:-"1 64"} \
  SCENARIOS=${SCENARIOS:-"json sse"} bash "$SHARED/run.sh"
T1=$(ticks)
STATS=$(redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r')
python3 - "$T0" "$T1" "$(getconf CLK_TCK)" "$STATS" <<'PY'
import re, sys
t0, t1, hz, stats = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
m = re.search(r"cmdstat_evalsha:calls=(\d+),usec=(\d+)", stats)
calls, usec = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
cpu = (t1 - t0) / hz
# One request = one reserve + one settle script run (warm-up included in both figures).
reqs = calls / 2
print(f"redis-server: {calls} EVALSHA ({reqs:.0f} requests incl. warm-up), "
      f"{usec / max(calls, 1):.1f} us per script run inside Redis, "
      f"process CPU {cpu:.2f} s = {cpu * 1e6 / max(reqs, 1):.1f} us per request")
PY

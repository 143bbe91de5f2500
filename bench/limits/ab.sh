#!/usr/bin/env bash
# Simultaneous A/B: two targets measured AT THE SAME TIME, both pinned to cpu1 and each loaded
# by its own wrk (pinned with the mock upstream to cpu0), so that a host that speeds up or
# slows down by tens of percent over seconds (a shared VM) moves both alike. Per round it prints
# each target's CPU µs per request (utime+stime of its process tree / requests served) and the
# ratio B/A; at the end the median and range of the ratios.
#   bench/limits/ab.sh A B                A, B: a target of the limits benchmark: nginx, haproxy,
#                                         or BIN[:CONFIG] (a tokengate binary; CONFIG default
#                                         bench/limits/limited.yaml)
# Env: SCENARIO (json | sse), CONNS per target (32), DURATION per round (3 s), ROUNDS (8).
# Sharing one core is not the same as owning it (both run at about half load, caches are
# shared), so the ratio, not the absolute numbers, is the result.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=$(cd "${SHARED_BENCH:-$ROOT/../shared/bench}" && pwd)
SCENARIO=${SCENARIO:-json}; CONNS=${CONNS:-32}; DURATION=${DURATION:-3}; ROUNDS=${ROUNDS:-8}
OUT=$(mktemp -d /tmp/tokengate-ab.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
UP=18980; [[ $SCENARIO == sse ]] && UP=18981
taskset -c 0 bash "$SHARED/upstream/mock-upstream.sh" "$OUT" 18980 18981 18982 18983 \
  >"$OUT/upstream.log" 2>&1 &
PIDS+=($!)

start() {  # start TARGET PORT -> pid of the target's process tree root
  local t=$1 port=$2
  case $t in
    nginx | haproxy) taskset -c 1 bash "$SHARED/targets/$t.sh" "$port" "$UP" "$OUT" >/dev/null 2>&1 & ;;
    *)
      local bin=${t%%:*} cfg=$ROOT/bench/limits/limited.yaml
      [[ $t == *:* ]] && cfg=${t#*:}
      sed -e "s/{PORT}/$port/g" -e "s/{UPSTREAM_PORT}/$UP/g" "$cfg" >"$OUT/config-$port.yaml"
      taskset -c 1 "$bin" run --config "$OUT/config-$port.yaml" >"$OUT/target-$port.log" 2>&1 & ;;
  esac
  echo $!
}
ticks() {  # utime+stime of a process and its children (nginx workers)
  local total=0
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $total
}
PA=$(start "$1" 18991); PIDS+=("$PA")
PB=$(start "$2" 18992); PIDS+=("$PB")
for port in 18991 18992; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
export BENCH_STREAM=0; [[ $SCENARIO == sse ]] && BENCH_STREAM=1
load() {  # load PORT SECONDS -> requests
  taskset -c 0 wrk -t1 -c"$CONNS" -d"$2"s -s "$SHARED/wrk/chat.lua" \
    "http://127.0.0.1:$1/v1/chat/completions" 2>&1 | awk '/requests in/ {print $1}'
}
load 18991 1 >/dev/null & wa=$!  # warm-up
load 18992 1 >/dev/null & wb=$!
wait $wa $wb
HZ=$(getconf CLK_TCK)
echo "A=$1 B=$2 scenario=$SCENARIO conns=$CONNS each, ${DURATION}s x $ROUNDS rounds"
ratios=()
for r in $(seq "$ROUNDS"); do
  a0=$(ticks "$PA"); b0=$(ticks "$PB")
  load 18991 "$DURATION" >"$OUT/a.n" & la=$!
  load 18992 "$DURATION" >"$OUT/b.n" & lb=$!
  wait $la $lb
  a1=$(ticks "$PA"); b1=$(ticks "$PB")
  line=$(python3 -c "
na, nb = int(open('$OUT/a.n').read() or 0), int(open('$OUT/b.n').read() or 0)
ca, cb = ($a1 - $a0) / $HZ * 1e6 / max(na, 1), ($b1 - $b0) / $HZ * 1e6 / max(nb, 1)
print(f'{ca:.1f} {cb:.1f} {cb / ca:.3f} {na} {nb}')")
  read -r ca cb ratio na nb <<<"$line"
  ratios+=("$ratio")
  echo "round $r: A $ca us/req ($na req), B $cb us/req ($nb req), B/A $ratio"
done
python3 -c "
import statistics, sys
r = [float(x) for x in sys.argv[1:]]
print(f'B/A CPU per request: median {statistics.median(r):.3f} [{min(r):.3f}-{max(r):.3f}] over {len(r)} rounds')" "${ratios[@]}"

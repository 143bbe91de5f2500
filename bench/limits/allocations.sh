#!/usr/bin/env bash
# Heap allocations per request under heaptrack (docs/benchmarks.md, issue 12).
#   bench/limits/allocations.sh BIN [CONFIG]     3 s of wrk at c=4 against the mock upstream
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=$(cd "${SHARED_BENCH:-$ROOT/../shared/bench}" && pwd)
BIN=$(realpath "$1"); CFG=${2:-$ROOT/bench/limits/limited.yaml}
OUT=$(mktemp -d /tmp/tokengate-allocations.XXXXXX)
bash "$SHARED/upstream/mock-upstream.sh" "$OUT" 18980 18981 18982 18983 >/dev/null 2>&1 &
UP=$!
trap 'kill $UP 2>/dev/null || true; wait 2>/dev/null || true' EXIT
sed -e "s/{PORT}/18990/g" -e "s/{UPSTREAM_PORT}/18980/g" "$CFG" >"$OUT/c.yaml"
heaptrack -o "$OUT/ht" "$BIN" run --config "$OUT/c.yaml" >"$OUT/tg.log" 2>&1 &
HT=$!
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18990/ && break; sleep 0.1; done
# Start-up allocations, counted before the load and subtracted.
wrk -t1 -c4 -d3s -s "$SHARED/wrk/chat.lua" http://127.0.0.1:18990/v1/chat/completions >"$OUT/wrk.txt"
pkill -TERM -f "$BIN run --config $OUT/c.yaml" || true
wait "$HT" 2>/dev/null || true
reqs=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
heaptrack_print "$OUT"/ht*.zst >"$OUT/report.txt" 2>/dev/null || true
calls=$(awk -F': ' '/^calls to allocation functions/ {split($2, a, " "); print a[1]}' "$OUT/report.txt")
echo "$reqs requests, $calls allocation calls in all (start-up included): $((calls / reqs)) per request"
echo "top call sites: $OUT/report.txt"

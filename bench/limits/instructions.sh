#!/usr/bin/env bash
# User-space instructions per request under callgrind: repeatable whatever else the machine
# does, so two binaries compare exactly (docs/benchmarks.md, issue 12).
#   bench/limits/instructions.sh BIN [CONFIG] [N]   CONFIG default bench/limits/limited.yaml,
#                                                    N requests (3000) over 4 keep-alive connections
# Env: STREAM=1 (streaming requests, no stream_options: the gateway injects include_usage),
#      UPORT (mock upstream port: 18980 json, 18981 sse).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=$(cd "${SHARED_BENCH:-$ROOT/../shared/bench}" && pwd)
BIN=$(realpath "$1"); CFG=${2:-$ROOT/bench/limits/limited.yaml}; N=${3:-3000}
UPORT=${UPORT:-18980}
OUT=$(mktemp -d /tmp/tokengate-instructions.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
bash "$SHARED/upstream/mock-upstream.sh" "$OUT" 18980 18981 18982 18983 >/dev/null 2>&1 &
PIDS+=($!)
sed -e "s/{PORT}/18990/g" -e "s/{UPSTREAM_PORT}/$UPORT/g" "$CFG" >"$OUT/c.yaml"
valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$OUT/cg.out" "$BIN" run --config "$OUT/c.yaml" \
  >"$OUT/tg.log" 2>&1 &
VG=$!
PIDS+=($VG)
for _ in $(seq 150); do curl -s -o /dev/null http://127.0.0.1:18990/ && break; sleep 0.2; done
callgrind_control -z "$VG" >/dev/null 2>&1 || true
node -e '
const http = require("http");
const n = +process.argv[1], stream = process.argv[2] === "1";
const body = JSON.stringify({model: "gpt-4o-mini", max_tokens: 256, stream, messages: [
  {role: "system", content: "x".repeat(400)}, {role: "user", content: "hello ".repeat(200)}]});
const agent = new http.Agent({keepAlive: true, maxSockets: 4});
let done = 0, started = 0;
function one() {
  if (started >= n) return;
  started++;
  const r = http.request({host: "127.0.0.1", port: 18990, method: "POST", agent,
    path: "/v1/chat/completions", headers: {"content-type": "application/json",
    authorization: "Bearer sk-bench-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"}}, (res) => {
    res.resume();
    res.on("end", () => { if (++done === n) agent.destroy(); else one(); });
  });
  r.end(body);
}
for (let i = 0; i < 4; i++) one();' "$N" "${STREAM:-0}"
callgrind_control -d "$VG" >/dev/null 2>&1
sleep 1
total=$(callgrind_annotate "$OUT/cg.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
echo "$BIN: $((total / N)) instructions per request ($N requests; profile: $OUT/cg.out.1)"

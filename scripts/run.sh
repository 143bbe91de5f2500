#!/usr/bin/env bash
# make run: the simulated LLM upstream plus tokengate in front of it, on loopback.
# Ctrl-C (or SIGTERM) stops both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${1:-build}; PORT=${2:-8080}; SIM_PORT=${3:-9090}
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 0' INT TERM

"$BUILD/tokengate-sim" --listen "127.0.0.1:$SIM_PORT" --delay-ms 30 &
pids+=($!)
sed -e "s/{PORT}/$PORT/g" -e "s/{SIM_PORT}/$SIM_PORT/g" examples/quickstart.yaml > "$BUILD/run.yaml"
"$BUILD/tokengate" run --config "$BUILD/run.yaml" &
pids+=($!)
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && break
  sleep 0.1
done
cat <<MSG

tokengate is listening on http://127.0.0.1:$PORT in front of a simulated LLM on :$SIM_PORT.
Try it (streaming, one event every 30 ms):

  curl -N http://127.0.0.1:$PORT/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]}'

Access log lines appear below. Press Ctrl-C to stop.

MSG
wait

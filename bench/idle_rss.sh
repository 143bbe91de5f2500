#!/usr/bin/env bash
# Idle RSS of tokengate with 4 workers: start it, send a few requests through it (so pools
# and buffers exist), wait, and read VmRSS. Target: under 30 MB.
set -euo pipefail
BUILD=${BUILD:-build}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PORT=${PORT:-18990}; SIM=${SIM:-18991}
$BUILD/tokengate-sim --listen 127.0.0.1:$SIM >/dev/null 2>&1 & sim=$!
$BUILD/tokengate run --listen 127.0.0.1:$PORT --upstream http://127.0.0.1:$SIM --workers 4 \
  --access-log off >/dev/null 2>&1 & gw=$!
trap 'kill $gw $sim 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$PORT/health && break; sleep 0.1; done
for _ in $(seq 20); do
  curl -s -o /dev/null -XPOST http://127.0.0.1:$PORT/v1/chat/completions \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
done
sleep 1
rss=$(awk '/VmRSS/ {print $2}' /proc/$gw/status)
echo "idle RSS with 4 workers: $((rss / 1024)) MB ($rss kB)"

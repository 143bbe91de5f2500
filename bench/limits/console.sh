#!/usr/bin/env bash
# Issue 16: the operator console and Prometheus scraping every second cost the data plane
# nothing measurable. Two gateways with the limits benchmark's config and an admin listener,
# measured at the same time by bench/limits/ab.sh (both on one core); B's admin listener is
# polled every second as an open console does (/metrics, /admin/top, /admin/events,
# /admin/reloads, /admin/buckets of the benchmark's consumer; /admin/config) and scraped by a
# "Prometheus" (/metrics again). The admin listener runs on the gateway's main thread, in the
# same process, so its cost is in B's CPU per request.
#   bench/limits/console.sh            Env: SCENARIO, CONNS (64), DURATION, ROUNDS (as ab.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d /tmp/tokengate-console-bench.XXXXXX)
TOKEN=bench-admin-token
for side in a:18993 b:18994; do
  name=${side%%:*} port=${side#*:}
  { cat "$ROOT/bench/limits/limited.yaml"
    printf 'admin: {listen: "127.0.0.1:%s", token: "%s"}\n' "$port" "$TOKEN"; } >"$WORK/$name.yaml"
done
poll() {  # what an open console and a 1 s Prometheus scrape ask of B's admin listener
  local A=http://127.0.0.1:18994 H="Authorization: Bearer $TOKEN"
  while :; do
    for p in /metrics /metrics /admin/top?n=10 "/admin/events?after=0" /admin/reloads \
             "/admin/buckets?consumer=bench" /admin/config; do
      curl -s -o /dev/null -H "$H" "$A$p" || true
    done
    sleep 1
  done
}
taskset -c 0 bash -c "$(declare -f poll); TOKEN=$TOKEN poll" &
POLLER=$!
trap 'kill $POLLER 2>/dev/null || true; rm -rf "$WORK"' EXIT
CONNS=${CONNS:-64} bash "$ROOT/bench/limits/ab.sh" "$ROOT/build/tokengate:$WORK/a.yaml" \
  "$ROOT/build/tokengate:$WORK/b.yaml"

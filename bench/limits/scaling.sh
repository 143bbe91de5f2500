#!/usr/bin/env bash
# Scaling to both cores: nginx with 2 worker processes beside tokengate with `workers: 2`
# (the limits benchmark's per-consumer limit), in ONE run of ../shared/bench. The targets get
# both cores (TARGET_CPU=0,1) and so share cpu0 with wrk and the mock upstream: compare CPU per
# request and throughput between the two targets, not with the one-core runs of run.sh.
# usage: bench/limits/scaling.sh     (DURATION, REPS, CONNS, SCENARIOS as ../shared/bench)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
SHARED=$(cd "${SHARED_BENCH:-../shared/bench}" && pwd)
[[ -x build/tokengate ]] || { echo "run 'make build' first" >&2; exit 1; }
bash "$SHARED/setup.sh" >/dev/null
WORK=$(mktemp -d /tmp/tokengate-scaling.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
sed 's/workers: 1/workers: 2/' bench/limits/limited.yaml >"$WORK/limited2.yaml"
# nginx as the shared harness starts it, with two workers.
sed 's/^worker_processes 1;/worker_processes 2;/' "$SHARED/targets/nginx.sh" >"$WORK/nginx2.sh"
cat >"$WORK/targets.conf" <<TARGETS
direct | - |
nginx_2w | bash $WORK/nginx2.sh {PORT} {UPSTREAM_PORT} {RUN} |
tokengate_limited_2w | env TOKENGATE_BIN=$ROOT/build/tokengate TOKENGATE_CONFIG=$WORK/limited2.yaml {BENCH}/targets/tokengate.sh {PORT} {UPSTREAM_PORT} {RUN} |
TARGETS
BENCH_WORK=${BENCH_WORK:-/tmp/tokengate-bench-scaling} TARGETS_FILE=$WORK/targets.conf \
  TARGETS="direct nginx_2w tokengate_limited_2w" TARGET_CPU=0,1 \
  DURATION=${DURATION:-5} REPS=${REPS:-3} WARMUP=${WARMUP:-2} CONNS=${CONNS:-"64"} \
  SCENARIOS=${SCENARIOS:-"json sse"} bash "$SHARED/run.sh"

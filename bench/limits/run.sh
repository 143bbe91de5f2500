#!/usr/bin/env bash
# Limits benchmark: the same tokengate binary with and without a per-consumer token limit on
# every request, beside the direct baseline, in ONE run of ../shared/bench (same machine state,
# interleaved runs). Issue 4's target: tokengate_limited throughput >= 95% of tokengate.
# usage: bench/limits/run.sh            (DURATION, REPS, CONNS, SCENARIOS as ../shared/bench)
# Results: $BENCH_WORK/RESULTS.md (default /tmp/tokengate-bench).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
SHARED=$(cd "${SHARED_BENCH:-../shared/bench}" && pwd)
[[ -x build/tokengate ]] || { echo "run 'make build' first" >&2; exit 1; }
bash "$SHARED/setup.sh" >/dev/null
TF=$(mktemp /tmp/tokengate-limits-targets.XXXXXX)
trap 'rm -f "$TF"' EXIT
cat > "$TF" <<TARGETS
direct | - |
tokengate | env TOKENGATE_BIN=$ROOT/build/tokengate TOKENGATE_CONFIG=$ROOT/bench/limits/unlimited.yaml {BENCH}/targets/tokengate.sh {PORT} {UPSTREAM_PORT} {RUN} |
tokengate_limited | env TOKENGATE_BIN=$ROOT/build/tokengate TOKENGATE_CONFIG=$ROOT/bench/limits/limited.yaml {BENCH}/targets/tokengate.sh {PORT} {UPSTREAM_PORT} {RUN} |
TARGETS
TARGETS_FILE=$TF TARGETS="direct tokengate tokengate_limited" \
  DURATION=${DURATION:-5} REPS=${REPS:-3} WARMUP=${WARMUP:-2} CONNS=${CONNS:-"1 64"} \
  SCENARIOS=${SCENARIOS:-"json sse"} bash "$SHARED/run.sh"

#!/usr/bin/env bash
# Runs every test suite against one or more build directories:
#   unit tests (CTest, GoogleTest), then integration and SDK-compatibility tests (node:test)
#   against that build's real binaries on loopback.
# usage: scripts/test.sh BUILD_DIR [BUILD_DIR...]   (empty arguments are skipped)
#   TSAN_BUILD=dir additionally runs the integration tests against a ThreadSanitizer build
#   (the multi-threaded gateway under real traffic).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
failed=0; suites=0
for dir in "$@"; do
  [[ -n $dir ]] || continue
  echo "=== unit tests ($dir) ==="
  suites=$((suites+1))
  if ! (cd "$dir" && ctest --output-on-failure -j "$(nproc)"); then failed=$((failed+1)); fi
  echo "=== integration + compatibility tests ($dir) ==="
  suites=$((suites+1))
  if ! TOKENGATE_BIN="$PWD/$dir/tokengate" TOKENGATE_SIM_BIN="$PWD/$dir/tokengate-sim" \
       node --test --test-concurrency=1 tests/integration/ tests/compat/; then
    failed=$((failed+1))
  fi
done
if [[ -n ${TSAN_BUILD:-} ]]; then
  echo "=== integration tests under ThreadSanitizer ($TSAN_BUILD) ==="
  suites=$((suites+1))
  if ! TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
       TOKENGATE_BIN="$PWD/$TSAN_BUILD/tokengate" TOKENGATE_SIM_BIN="$PWD/$TSAN_BUILD/tokengate-sim" \
       node --test --test-concurrency=1 tests/integration/; then
    failed=$((failed+1))
  fi
fi
echo "test suites: $((suites-failed)) passed, $failed failed"
exit $((failed > 0))

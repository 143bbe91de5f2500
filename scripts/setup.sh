#!/usr/bin/env bash
# Installs every Debian package tokengate needs to build, test and run. Idempotent: a package
# already installed is not touched, and `apt-get update` runs at most once, only when something
# is missing. Also installs the npm packages of the compatibility tests (tests/compat).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config clang
  libboost1.81-dev libssl-dev libsimdjson-dev libyaml-cpp-dev libhiredis-dev
  libpcre2-dev libre2-dev libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev
  redis-server openssl curl ca-certificates tzdata nodejs npm
  prometheus
  chromium  # the operator console in a real browser (tests/compat/console.test.mjs)
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nodejs/npm may come from elsewhere than Debian (the machines ship Node 20): accept any.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  # Keep Debian from auto-starting a system redis-server: the tests start their own.
  created_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  ((created_policy)) && rm -f /usr/sbin/policy-rc.d
fi

# JS test clients (official SDKs), pinned by tests/compat/package-lock.json.
if [[ -f tests/compat/package.json ]]; then
  if [[ ! -d tests/compat/node_modules ]] || [[ tests/compat/package-lock.json -nt tests/compat/node_modules ]]; then
    (cd tests/compat && npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent)
    touch tests/compat/node_modules
  fi
fi

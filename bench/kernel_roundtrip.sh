#!/usr/bin/env bash
# Benchmark (full size outside CI; CI runs it in smoke mode, see bench/lib.sh): rankbook-kernel vs ipykernel, start-to-ready and the
# round trip of a trivial cell, same client, same run. Installs a small venv once.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
VENV="${KERNEL_BENCH_VENV:-.cache/bench-kernel-venv}"
PY=$(bench_python "python3 -m venv $VENV && $VENV/bin/pip install --quiet jupyter_client==8.10.0 ipykernel" "$VENV/bin/python")
bench_build --bin rankbook-kernel
KERNEL="${RANKBOOK_KERNEL_BIN:-target/release/rankbook-kernel}"
PREFIX=$(mktemp -d)
trap 'rm -rf "$PREFIX"' EXIT
"$KERNEL" install --prefix "$PREFIX" 2>/dev/null
smoke || "$PY" -m ipykernel install --prefix "$PREFIX" --name python3 >/dev/null
JUPYTER_PATH="$PREFIX/share/jupyter" "$PY" bench/kernel_roundtrip.py "$@"

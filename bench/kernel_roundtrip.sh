#!/usr/bin/env bash
# Benchmark (outside CI): rankbook-kernel vs ipykernel, start-to-ready and the
# round trip of a trivial cell, same client, same run. Installs a small venv once.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${KERNEL_BENCH_VENV:-.cache/bench-kernel-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet jupyter_client==8.10.0 ipykernel
fi
cargo build --release --bin rankbook-kernel
PREFIX=$(mktemp -d)
trap 'rm -rf "$PREFIX"' EXIT
target/release/rankbook-kernel install --prefix "$PREFIX" 2>/dev/null
"$VENV/bin/python" -m ipykernel install --prefix "$PREFIX" --name python3 >/dev/null
JUPYTER_PATH="$PREFIX/share/jupyter" "$VENV/bin/python" bench/kernel_roundtrip.py "$@"

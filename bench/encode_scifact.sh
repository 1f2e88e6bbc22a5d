#!/usr/bin/env bash
# Benchmark (outside CI): rankbook encode vs sentence-transformers on SciFact.
# Needs ../shared (data and the peer harness); installs the peer's venv (torch, ~6.5 GB) once.
set -euo pipefail
cd "$(dirname "$0")/.."
PEER="${RANKBOOK_PEER:-../shared/peer}"
if [ ! -x "${PEER_PYTHON:-/tmp/peer/venv/bin/python}" ]; then
  bash "$PEER/run_all.sh" setup
fi
bash scripts/setup.sh
cargo build --release --bin rankbook
"${PEER_PYTHON:-/tmp/peer/venv/bin/python}" bench/encode_scifact.py

#!/usr/bin/env bash
# Benchmark (outside CI): rankbook fit vs sentence-transformers' trainer on SciFact
# (1 epoch of MNRL, batch 32, 3 seeds each by default; SEEDS="42" for one).
# Needs ../shared (data and the peer harness); installs the peer's venv (torch, ~6.5 GB) once.
set -euo pipefail
cd "$(dirname "$0")/.."
PEER="${RANKBOOK_PEER:-../shared/peer}"
if [ ! -x "${PEER_PYTHON:-/tmp/peer/venv/bin/python}" ]; then
  bash "$PEER/run_all.sh" setup
fi
bash scripts/setup.sh
cargo build --release --bin rankbook
"${PEER_PYTHON:-/tmp/peer/venv/bin/python}" bench/fit_scifact.py

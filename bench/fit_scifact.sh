#!/usr/bin/env bash
# Benchmark (full size outside CI; CI runs it in smoke mode, see bench/lib.sh): rankbook fit vs sentence-transformers' trainer on SciFact
# (1 epoch of MNRL, batch 32, 3 seeds each by default; SEEDS="42" for one).
# Needs ../shared (data and the peer harness); installs the peer's venv (torch, ~6.5 GB) once.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
PEER="${RANKBOOK_PEER:-../shared/peer}"
PY=$(bench_python "bash $PEER/run_all.sh setup" "${PEER_PYTHON:-/tmp/peer/venv/bin/python}")
smoke || bash scripts/setup.sh
bench_build --bin rankbook
"$PY" bench/fit_scifact.py

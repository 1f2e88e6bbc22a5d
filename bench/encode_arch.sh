#!/usr/bin/env bash
# Benchmark: a new architecture (modernbert) at all-MiniLM-L6-v2's size with
# random weights, rankbook encode vs sentence-transformers on SciFact.
# Needs ../shared and the peer's venv (torch), as bench/encode_scifact.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
PEER="${RANKBOOK_PEER:-../shared/peer}"
PY=$(bench_python "bash $PEER/run_all.sh setup" "${PEER_PYTHON:-/tmp/peer/venv/bin/python}")
export PEER_PYTHON="$PY"
smoke || bash scripts/setup.sh
bench_build --bin rankbook
"$PY" bench/encode_arch.py "${1:-modernbert}"

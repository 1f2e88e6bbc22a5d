#!/usr/bin/env bash
# Benchmark (full size outside CI; CI runs it in smoke mode, see bench/lib.sh): rankbook encode in
# f32, bf16 and int8 vs ONNX Runtime f32 and dynamic int8 (the peer's onnx_encode.py) on SciFact.
# Needs ../shared (data and the peer harness); installs the peer's ONNX venv once.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
PEER="${RANKBOOK_PEER:-../shared/peer}"
PY=$(bench_python "bash $PEER/run_all.sh onnx-setup" "${ONNX_PYTHON:-/tmp/peer/onnx-venv/bin/python}")
smoke || bash scripts/setup.sh
bench_build --bin rankbook
"$PY" bench/encode_precision.py

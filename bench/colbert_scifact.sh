#!/usr/bin/env bash
# Benchmark (full size outside CI; CI runs it in smoke mode, see bench/lib.sh): ColBERT on SciFact,
# rankbook vs PyLate 1.6.0 on the same model (built by PyLate from all-MiniLM-L6-v2, seed 42):
# exact-search nDCG@10, encoding docs/s and peak RSS. Needs ../shared; PyLate's venv is made by
# ../shared/peer/run_all.sh colbert-setup (PYLATE_PYTHON points at another one).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
run_pylate_bench colbert_scifact.py

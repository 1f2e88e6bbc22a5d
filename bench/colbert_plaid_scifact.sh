#!/usr/bin/env bash
# Benchmark (full size outside CI; CI runs it in smoke mode, see bench/lib.sh): PLAID on SciFact,
# rankbook vs PyLate 1.6.0's PLAID index (fast-plaid) on the same ColBERT (PyLate's from
# all-MiniLM-L6-v2, seed 42): nDCG@10 against exact MaxSim, search QPS, index size. Needs
# ../shared; PyLate's venv is made by ../shared/peer/run_all.sh colbert-setup.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
run_pylate_bench colbert_plaid_scifact.py

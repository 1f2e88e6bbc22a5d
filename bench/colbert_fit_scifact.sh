#!/usr/bin/env bash
# Benchmark (full size outside CI; CI runs it in smoke mode, see bench/lib.sh): fine-tuning a ColBERT
# on SciFact, rankbook fit vs PyLate 1.6.0 from the same start (1 epoch of the Contrastive loss,
# batch 32, 3 seeds by default; SEEDS="42" for one). Needs ../shared; PyLate's venv is made by
# ../shared/peer/run_all.sh colbert-setup (PYLATE_PYTHON points at another one).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
run_pylate_bench colbert_fit_scifact.py

#!/usr/bin/env bash
# Benchmark (full size outside CI; CI runs it in smoke mode, see bench/lib.sh): rankbook eval vs pytrec_eval and ranx on 10,000 x 1,000.
# Builds rankbook in release and a bench venv (pytrec_eval, ranx, numba) under .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
VENV=.cache/bench-eval-venv
PY=$(bench_python "python3 -m venv $VENV && $VENV/bin/pip install --quiet --disable-pip-version-check numpy==2.4.6 pytrec-eval-terrier==0.5.11 ranx==0.3.21 numba==0.68.1" "$VENV/bin/python")
bench_build --bin rankbook
export NUMBA_NUM_THREADS=2 OMP_NUM_THREADS=2
"$PY" bench/eval_scale.py

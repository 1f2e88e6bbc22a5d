#!/usr/bin/env bash
# Benchmark (outside CI): rankbook eval vs pytrec_eval and ranx on 10,000 x 1,000.
# Builds rankbook in release and a bench venv (pytrec_eval, ranx, numba) under .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.cache/bench-eval-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check numpy==2.4.6 pytrec-eval-terrier==0.5.11 ranx==0.3.21 numba==0.68.1
cargo build --release --bin rankbook
export NUMBA_NUM_THREADS=2 OMP_NUM_THREADS=2
"$VENV/bin/python" bench/eval_scale.py

#!/usr/bin/env bash
# Benchmark (full size outside CI; CI runs it in smoke mode, see bench/lib.sh): BM25 indexing and search on SciFact, rankbook vs bm25s
# (the peer's BM25: English stop words, Snowball English stemmer, k1 1.5, b 0.75),
# measured in the same run; prints the speed ratio (goal >= 1.0x).
# Needs ../shared; installs a small venv (bm25s, PyStemmer, numpy, scipy) once.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
VENV="${BM25_VENV:-.cache/bench-bm25-venv}"
PY=$(bench_python "python3 -m venv $VENV && $VENV/bin/pip install --quiet bm25s==0.3.16 PyStemmer==3.1.0 numpy==2.4.6 scipy" "$VENV/bin/python")
bench_build --bin rankbook
"$PY" bench/bm25_scifact.py

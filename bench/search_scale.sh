#!/usr/bin/env bash
# Benchmark (full size outside CI; CI runs it in smoke mode, see bench/lib.sh): rankbook's exact index vs Python faiss IndexFlatIP on
# 1,000,000 x 384 random unit vectors, 1,000 queries, top-100, 2 threads.
# Uses the peer venv (faiss-cpu, numpy, pyarrow) made by ../shared/peer/run_all.sh setup.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
PEER="${RANKBOOK_PEER:-../shared/peer}"
PY=$(bench_python "bash $PEER/run_all.sh setup" "${PEER_PYTHON:-/tmp/peer/venv/bin/python}")
# ANN=1 also compares IVF and HNSW through the faiss feature (needs cmake and OpenBLAS);
# LANCE=1 with it adds the LanceDB index types (the lancedb feature, needs protoc).
if [ "${ANN:-0}" = 1 ] && [ "${LANCE:-0}" = 1 ]; then
  bench_build --bin rankbook --features rankbook-cli/faiss,rankbook-cli/lancedb
elif [ "${ANN:-0}" = 1 ]; then
  bench_build --bin rankbook --features rankbook-cli/faiss
else
  bench_build --bin rankbook
fi
OMP_NUM_THREADS=2 "$PY" bench/search_scale.py

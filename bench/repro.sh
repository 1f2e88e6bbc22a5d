#!/usr/bin/env bash
# Reproduction table (outside CI): BM25 (k1 0.9, b 0.4), all-MiniLM-L6-v2 and
# SPLADE-tiny on every collection of ../shared/data with a test split; prints
# nDCG@10 and R@100 beside the reference numbers of ../shared/data/SOURCES.md.
# Usage: bash bench/repro.sh [collection ...]   (default: all five)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
smoke || bash scripts/setup.sh
bench_build --bin rankbook
exec python3 bench/repro.py "$@"

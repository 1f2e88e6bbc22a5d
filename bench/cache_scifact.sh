#!/usr/bin/env bash
# Benchmark (full size outside CI; CI runs it in smoke mode, see bench/lib.sh): the embedding cache. Encodes the full SciFact corpus
# twice into an empty cache folder and prints both times and their ratio
# (goal: the second run >= 20x faster).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
smoke || bash scripts/setup.sh >/dev/null
bench_build --bin rankbook
BIN="${RANKBOOK_BIN:-target/release/rankbook}"
if smoke; then
  CORPUS=data/scifact-sample/corpus.jsonl
else
  CORPUS="${RANKBOOK_SHARED:-../shared}/data/scifact/corpus.jsonl"
fi
CACHE=$(mktemp -d)
trap 'rm -rf "$CACHE"' EXIT
run() {
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" encode --model sentence-transformers/all-MiniLM-L6-v2 --input "$CORPUS" \
    --output "$CACHE/out.npy" --threads 2 --quiet --cache-dir "$CACHE/cache" >&2
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
first=$(run)
second=$(run)
echo "first encode (empty cache): ${first} s; second (every vector cached): ${second} s"
echo "ratio: $(echo "scale=1; $first / $second" | bc)x (goal >= 20x)"

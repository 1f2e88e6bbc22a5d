#!/usr/bin/env bash
# Scale simulation (issue 24): N = 1, 2, 4 shards, each run alone as if on its
# own host (2 threads), on (a) a synthetic corpus of ROWS x 384 unit vectors
# (bf16, generated once, memory-mapped; default 10M), searched exactly for 64
# queries, top 100, the shards' hits merged by `rankbook merge` and checked
# equal to the one-shard run; (b) DOCS synthetic MS MARCO passages (default
# 8.8M) drawn from the vocabulary and lengths of ../shared's MS MARCO sample,
# each shard's slice indexed as a BM25 part. Prints per-shard time and peak
# RSS, and the projection to MS MARCO v2's 138M passages.
# SCALE_DIR (default /tmp/rankbook-scale) needs 2 x ROWS x 384 bytes free.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
OUT="${SCALE_DIR:-/tmp/rankbook-scale}"
if smoke; then
  ROWS="${ROWS:-20000}"; DOCS="${DOCS:-5000}"
  cargo build -q --example scale_simulation -p rankbook
  SIM=target/debug/examples/scale_simulation
  TRIPLES="${TRIPLES:-data/scifact-sample/corpus.jsonl}"
else
  ROWS="${ROWS:-10000000}"; DOCS="${DOCS:-8800000}"
  cargo build --release --example scale_simulation -p rankbook
  SIM=target/release/examples/scale_simulation
  TRIPLES="${TRIPLES:-../shared/data/msmarco-triples-sample/triples.train.small.head100.tsv}"
fi
bench_build --bin rankbook
BIN="${RANKBOOK_BIN:-target/release/rankbook}"
mkdir -p "$OUT"
export RAYON_NUM_THREADS=2
# WHAT picks the parts to run (default both); records of a part not run are kept.
WHAT="${WHAT:-dense bm25}"
LOG="$OUT/shards.jsonl"; touch "$LOG"
for w in $WHAT; do
  grep -v "\"what\": \"$w" "$LOG" > "$LOG.tmp" || true; mv "$LOG.tmp" "$LOG"
done
DIM=384
want=$((ROWS * DIM * 2))
if [[ " $WHAT " == *" dense "* ]]; then
if [ ! -f "$OUT/vectors.bin" ] || [ "$(stat -c %s "$OUT/vectors.bin")" != "$want" ]; then
  "$SIM" vectors "$OUT/vectors.bin" "$ROWS" "$DIM" >> "$LOG"
fi
for n in 1 2 4; do
  parts=()
  for ((i = 0; i < n; i++)); do
    "$SIM" dense "$OUT/vectors.bin" "$DIM" "$i/$n" 64 100 "$OUT/hits-$n-$i.trec" >> "$LOG"
    parts+=("$OUT/hits-$n-$i.trec")
  done
  "$BIN" merge --output "$OUT/merged-$n.trec" "${parts[@]}" 2>/dev/null
  cmp -s "$OUT/merged-1.trec" "$OUT/merged-$n.trec" && echo "dense N=$n: merged top 100 identical to one shard's" \
    || { echo "dense N=$n: merged run differs"; exit 1; }
done
fi
[[ " $WHAT " == *" bm25 "* ]] && for n in 1 2 4; do
  for ((i = 0; i < n; i++)); do
    "$SIM" bm25 "$TRIPLES" "$DOCS" "$i/$n" "$OUT/bm25-$n-$i" >> "$LOG" 2>/dev/null
    du -sm "$OUT/bm25-$n-$i" | awk -v n="$n" -v i="$i" '{print "{\"what\": \"bm25-size\", \"shard\": " i ", \"shards\": " n ", \"mib\": " $1 "}"}' >> "$LOG"
    rm -rf "$OUT/bm25-$n-$i"
  done
done
python3 bench/scale_simulation.py "$LOG" "$ROWS" "$DOCS"
smoke && rm -rf "$OUT"
exit 0

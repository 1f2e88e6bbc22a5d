#!/usr/bin/env bash
# Memory of a Qwen3-Embedding-0.6B-sized model (random weights, its real sizes):
# peak RSS of `rankbook encode` on 256 SciFact documents in f32 and, where the
# CPU has AVX512-BF16, with the linear layers in bf16. Needs ../shared and the
# peer's venv (torch) to build the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
PEER="${RANKBOOK_PEER:-../shared/peer}"
PY=$(bench_python "bash $PEER/run_all.sh setup" "${PEER_PYTHON:-/tmp/peer/venv/bin/python}")
bench_build --bin rankbook
RB="${RANKBOOK_BIN:-$PWD/target/release/rankbook}"
DOCS=$(mktemp --suffix=.jsonl)
if smoke; then
  # No torch to build the model: the tests' tiny Qwen3 on 8 sample docs.
  OUT=$(mktemp -d)
  DIR=stdlib/tests/fixtures/tiny/qwen3-st
  head -n 8 data/scifact-sample/corpus.jsonl > "$DOCS"
  MAXLEN=64
else
  MAXLEN=256
  OUT="${PEER_OUT_DIR:-/tmp/peer/out}"
  DIR="$OUT/scaled-qwen3-0.6b"
  MINILM=$("$RB" run /dev/stdin <<< 'print(model("sentence-transformers/all-MiniLM-L6-v2").to_string());' | sed -E 's/^Model\((.*), dim.*/\1/')
  [ -d "$DIR" ] || "$PY" bench/make_scaled_model.py --arch qwen3-0.6b --tokenizer "$MINILM" --out "$DIR" >&2
  head -n 256 "${PEER_DATA_DIR:-../shared/data/scifact}/corpus.jsonl" > "$DOCS"
fi
echo "weights on disk (f32 safetensors): $(du -m "$DIR/model.safetensors" | cut -f1) MiB"
# f32 must run; bf16 runs where the CPU has AVX512-BF16.
for p in f32 bf16; do
  stats=$(mktemp)
  args=(encode --model "$DIR" --input "$DOCS" --output "$OUT/q06_$p.npy" --batch-size 32
        --max-length "$MAXLEN" --threads 2 --quiet --no-cache --precision "$p" --stats-json "$stats")
  if [ "$p" = f32 ] || "$RB" "${args[@]}" 2>/dev/null; then
    [ "$p" = f32 ] && "$RB" "${args[@]}"
    "$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); print(f\"$p: peak RSS {s['peak_rss_mib']:.0f} MiB, {s['counts']['texts'] / s['seconds']['encode']:.2f} docs/s\")" "$stats"
  else
    echo "$p: not run (this CPU lacks the instructions)"
  fi
  rm -f "$stats"
done
"$PY" -c "
import numpy as np, sys
a, b = np.load('$OUT/q06_f32.npy'), np.load('$OUT/q06_bf16.npy')
cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
print(f'bf16 vs f32: min cosine {cos.min():.5f} over {len(a)} docs')
" 2>/dev/null || true
rm -f "$DOCS"

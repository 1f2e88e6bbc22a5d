"""Encoding in f32, bf16 and int8: rankbook vs ONNX Runtime on the full SciFact corpus.

One run, back to back, same settings (batch 32, max length 256, 2 threads): ONNX Runtime f32 and
dynamic int8 (avx512_vnni) through the peer harness's onnx_encode.py (sentence-transformers'
backend="onnx"), then `rankbook encode --precision f32|bf16|int8`. Prints docs/s, peak RSS and
nDCG@10 of each, the ratios the issue sets goals for, and the cosine of each rankbook precision to
rankbook f32 over every document. Run through bench/encode_precision.sh.
"""
import json
import os
import subprocess
import sys

import numpy as np

from common import DATA, MODEL, OUT, PEER, RANKBOOK, SMOKE, model_dir, ndcg_at_10, rankbook_stats, smoke_note

PRECISIONS = ["f32", "bf16", "int8"]


def supported(precision):
    """Whether this CPU runs `precision` (the CLI's own check, on a one-line input)."""
    probe = os.path.join(OUT, "probe.jsonl")
    with open(probe, "w") as f:
        f.write('{"id": "p", "text": "probe"}\n')
    r = subprocess.run([RANKBOOK, "encode", "--model", MODEL, "--input", probe, "--output",
                        os.path.join(OUT, "probe.npy"), "--precision", precision, "--no-cache", "--quiet"],
                       capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip().splitlines()[-1:] or [""]


def encode(precision, path, out):
    _, stats = rankbook_stats(
        ["encode", "--model", MODEL, "--input", path, "--output", out, "--batch-size", "32",
         "--max-length", "256", "--threads", "2", "--quiet", "--no-cache", "--precision", precision])
    n, secs = stats["counts"]["texts"], stats["seconds"]["encode"]
    return {"docs": n, "docs_per_s": n / secs, "peak_rss_mib": stats["peak_rss_mib"]}


def load(out):
    with open(out[:-4] + ".ids.json") as f:
        return json.load(f), np.load(out)


def ndcg(precision, doc_out):
    """nDCG@10 of exact inner-product search with this precision's vectors (test split)."""
    q_out = os.path.join(OUT, f"rankbook_queries_{precision}.npy")
    encode(precision, os.path.join(DATA, "queries.jsonl"), q_out)
    (qids, q), (dids, d) = load(q_out), load(doc_out)
    run = os.path.join(OUT, f"rankbook_{precision}.trec")
    scores = q @ d.T
    with open(run, "w") as f:
        for i, qid in enumerate(qids):
            for r, j in enumerate(np.argsort(-scores[i])[:100]):
                f.write(f"{qid} Q0 {dids[j]} {r + 1} {scores[i, j]:.6f} rankbook\n")
    return ndcg_at_10(run)


def onnx(precision, path):
    env = dict(os.environ, PEER_MODEL_DIR=path, PEER_DATA_DIR=DATA, PEER_OUT_DIR=OUT)
    subprocess.run([sys.executable, os.path.join(PEER, "onnx_encode.py"), "--precision", precision,
                    "--batch-size", "32", "--max-seq-length", "256"], env=env, check=True, capture_output=True, text=True)
    with open(os.path.join(OUT, f"onnx_encode_{precision}.json")) as f:
        return json.load(f)


def main():
    path = model_dir()
    print(f"model: {path}")
    os.makedirs(OUT, exist_ok=True)
    ort = {}
    if SMOKE:
        smoke_note("ONNX Runtime")
    else:
        os.environ.setdefault("OMP_NUM_THREADS", "2")
        for p in ["f32", "int8"]:
            ort[p] = onnx(p, path)
            print(f"onnxruntime {p}: {ort[p]['docs_per_s']:.2f} docs/s, peak RSS {ort[p]['peak_rss_mib_after_encode']:.0f} MiB, "
                  f"nDCG@10 {ort[p]['ndcg@10']:.4f}", flush=True)
    rb, vectors = {}, {}
    for p in PRECISIONS:
        ok, why = supported(p)
        if not ok:
            print(f"rankbook {p}: skipped ({why[0]})")
            continue
        out = os.path.join(OUT, f"rankbook_docs_{p}.npy")
        rb[p] = encode(p, os.path.join(DATA, "corpus.jsonl"), out)
        rb[p]["ndcg"] = ndcg(p, out)
        vectors[p] = load(out)[1]
        line = f"rankbook {p}: {rb[p]['docs_per_s']:.2f} docs/s, peak RSS {rb[p]['peak_rss_mib']:.0f} MiB, nDCG@10 {rb[p]['ndcg']:.4f}"
        if p != "f32":
            a, b = vectors["f32"], vectors[p]
            cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            rb[p]["cos"] = (float(cos.mean()), float(cos.min()))
            line += f", cosine to f32 mean {cos.mean():.5f} min {cos.min():.5f} over {len(cos)} docs"
        print(line, flush=True)
    if "bf16" in rb:
        print(f"bf16 / rankbook f32: {rb['bf16']['docs_per_s'] / rb['f32']['docs_per_s']:.2f}x (goal >= 1.5x, cosine >= 0.999)")
    if "int8" in rb:
        print(f"int8 nDCG@10 - f32: {rb['int8']['ndcg'] - rb['f32']['ndcg']:+.4f} (goal within 0.005)")
    for p in ort:
        mine = rb.get(p)
        if mine:
            goal = "1.0x" if p == "f32" else "1.3x"
            print(f"{p} / ONNX Runtime {p}: {mine['docs_per_s'] / ort[p]['docs_per_s']:.2f}x docs/s (goal >= {goal}), "
                  f"peak RSS {mine['peak_rss_mib'] / ort[p]['peak_rss_mib_after_encode']:.2f}x (goal <= 0.5x)")
    if "bf16" in rb and "f32" in ort:
        print(f"bf16 peak RSS / ONNX Runtime f32: {rb['bf16']['peak_rss_mib'] / ort['f32']['peak_rss_mib_after_encode']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())

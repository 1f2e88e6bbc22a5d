"""Encoding speed and memory: rankbook vs sentence-transformers on the full SciFact corpus.

Both sides in one run, back to back, same settings (batch 32, max length 256, 2 threads, f32):
sentence-transformers through the peer harness's own encode_eval.py, rankbook through
`rankbook encode`. Prints docs/s of each, the ratio, peak RSS of each, and how close the
two sets of embeddings are. Run through bench/encode_scifact.sh.
"""
import json
import os
import subprocess
import sys

from common import DATA, MODEL, OUT, PEER, PEER_PY, SMOKE, model_dir, rankbook_stats, smoke_note


def run_rankbook(out_path, model=MODEL, max_length=256):
    _, stats = rankbook_stats(
        ["encode", "--model", model, "--input", os.path.join(DATA, "corpus.jsonl"), "--output", out_path,
         "--batch-size", "32", "--max-length", str(max_length), "--threads", "2", "--quiet", "--no-cache"])
    n, tokens, secs = stats["counts"]["texts"], stats["counts"]["tokens"], stats["seconds"]["encode"]
    return {"docs": n, "tokens": tokens, "seconds": secs, "docs_per_s": n / secs,
            "peak_rss_mib": stats["peak_rss_mib"], "line": f"{n} texts, {tokens} tokens in {secs:.2f} s"}


def run_st(model_path):
    return run_st_model(model_path, "rankbook_bench")


def run_st_model(model_path, tag):
    """sentence-transformers through the peer's encode_eval.py; its summary."""
    env = dict(os.environ, PEER_MODEL_DIR=model_path, PEER_DATA_DIR=DATA, PEER_OUT_DIR=OUT)
    subprocess.run([PEER_PY, os.path.join(PEER, "encode_eval.py"), "--batch-size", "32",
                    "--max-seq-length", "256", "--threads", "2", "--tag", tag],
                   env=env, check=True, capture_output=True, text=True)
    with open(os.path.join(OUT, f"encode_eval_{tag}.json")) as f:
        return json.load(f)


def main():
    path = model_dir()
    print(f"model: {path}")
    os.makedirs(OUT, exist_ok=True)
    out = os.path.join(OUT, "rankbook_scifact.npy")
    if SMOKE:
        rb = run_rankbook(out)
        print(f"rankbook: {rb['docs_per_s']:.2f} docs/s, peak RSS {rb['peak_rss_mib']:.0f} MiB  ({rb['line']})")
        smoke_note("sentence-transformers")
        return
    st = run_st(path)
    rb = run_rankbook(out)
    ratio = rb["docs_per_s"] / st["docs_per_s"]
    print(f"sentence-transformers: {st['docs_per_s']:.2f} docs/s, peak RSS {st['peak_rss_mib']:.0f} MiB")
    print(f"rankbook:              {rb['docs_per_s']:.2f} docs/s, peak RSS {rb['peak_rss_mib']:.0f} MiB  ({rb['line']})")
    print(f"speed ratio rankbook / sentence-transformers: {ratio:.2f}x (goal >= 1.2x)")
    print(f"peak RSS ratio: {rb['peak_rss_mib'] / st['peak_rss_mib']:.2f}x (goal <= 0.5x)")
    import numpy as np

    a = np.load(out)
    b = np.load(os.path.join(OUT, "doc_emb_rankbook_bench.npy"))
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    print(f"embeddings: min cosine {cos.min():.7f}, max abs diff {np.abs(a - b).max():.2e} over {len(a)} docs")


if __name__ == "__main__":
    sys.exit(main())

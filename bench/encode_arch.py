"""Encoding speed of a new architecture at all-MiniLM-L6-v2's size (random
weights, see make_scaled_model.py): rankbook vs sentence-transformers on the
SciFact corpus, batch 32, max length 256, 2 threads, f32, both in one run.
Prints docs/s of each, the ratio (goal >= 1.2x) and the embeddings' agreement.

    python encode_arch.py modernbert
"""
import os
import subprocess
import sys

import numpy as np

from common import OUT, PEER_PY, ROOT, SMOKE, model_dir, smoke_note
from encode_scifact import run_rankbook, run_st_model


def main():
    arch = sys.argv[1] if len(sys.argv) > 1 else "modernbert"
    os.makedirs(OUT, exist_ok=True)
    if SMOKE:  # no torch to build the scaled model: the tests' tiny checkpoint
        folder = os.path.join(ROOT, "stdlib", "tests", "fixtures", "tiny", f"{arch}-st")
    else:
        folder = os.path.join(OUT, f"scaled-{arch}")
        subprocess.run([PEER_PY, os.path.join(os.path.dirname(__file__), "make_scaled_model.py"), "--arch", arch,
                        "--tokenizer", model_dir(), "--out", folder], check=True, capture_output=True, text=True)
    out = os.path.join(OUT, f"rankbook_{arch}.npy")
    if SMOKE:
        rb = run_rankbook(out, folder, max_length=64)  # the tiny model's positions
        print(f"rankbook {arch}: {rb['docs_per_s']:.2f} docs/s ({rb['line']})")
        smoke_note("sentence-transformers")
        return
    st = run_st_model(folder, f"{arch}_bench")
    rb = run_rankbook(out, folder)
    print(f"{arch} at MiniLM size (random weights), SciFact corpus, batch 32, max length 256, 2 threads")
    print(f"sentence-transformers: {st['docs_per_s']:.2f} docs/s, peak RSS {st['peak_rss_mib']:.0f} MiB")
    print(f"rankbook:              {rb['docs_per_s']:.2f} docs/s, peak RSS {rb['peak_rss_mib']:.0f} MiB  ({rb['line']})")
    print(f"speed ratio rankbook / sentence-transformers: {rb['docs_per_s'] / st['docs_per_s']:.2f}x (goal >= 1.2x)")
    a = np.load(out)
    b = np.load(os.path.join(OUT, f"doc_emb_{arch}_bench.npy"))
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    print(f"embeddings: min cosine {cos.min():.7f} over {len(a)} docs")


if __name__ == "__main__":
    sys.exit(main())

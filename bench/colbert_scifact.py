"""Late interaction on SciFact: rankbook vs PyLate, same ColBERT, same run.

The model is the one PyLate builds from all-MiniLM-L6-v2 (`colbert.py make --seed 42`, seeded
128-d projection); PyLate then encodes the corpus and the 300 test queries and searches exactly
(`colbert.py eval`), and rankbook does the same with `rankbook index` + `rankbook search` on that
folder. Prints nDCG@10 of each, docs/s and peak RSS of the encoding, and the exact search time.
A smoke run (RANKBOOK_BENCH_SMOKE=1) builds its ColBERT with `rankbook colbert` on the repo's
sample and leaves PyLate out. Run through bench/colbert_scifact.sh.
"""
import json
import os
import subprocess
import sys

from common import DATA, MODEL, OUT, PEER, RANKBOOK, SMOKE, model_dir, ndcg_at_10, rankbook_stats, smoke_note

PYLATE_PY = os.environ.get("PYLATE_PYTHON", "/tmp/peer/pylate-venv/bin/python")


def rankbook_side(model):
    index = os.path.join(OUT, "colbert-index")
    run = os.path.join(OUT, "colbert-rankbook.trec")
    _, build = rankbook_stats(["index", "--model", model, "--corpus", DATA, "--output", index,
                               "--batch-size", "32", "--threads", "2", "--no-cache", "--quiet"])
    _, search = rankbook_stats(["search", "--index", index, "--queries", os.path.join(DATA, "queries.jsonl"),
                                "--split", "test", "--k", "100", "--output", run, "--threads", "2", "--quiet"])
    docs = build["counts"]["texts"]
    return {"ndcg": ndcg_at_10(run), "docs_per_s": docs / build["seconds"]["encode"],
            "peak_rss_mib": build["peak_rss_mib"], "search_s": search["seconds"]["search"]}


def main():
    os.makedirs(OUT, exist_ok=True)
    if SMOKE:
        model = os.path.join(OUT, "colbert-minilm")
        subprocess.run([RANKBOOK, "colbert", "--model", MODEL, "--output", model], check=True,
                       capture_output=True)
        rb = rankbook_side(model)
        print(f"rankbook: nDCG@10 {rb['ndcg']:.4f}, {rb['docs_per_s']:.1f} docs/s, peak RSS "
              f"{rb['peak_rss_mib']:.0f} MiB, exact search {rb['search_s']:.2f} s")
        smoke_note("PyLate")
        return
    env = dict(os.environ, PEER_MODEL_DIR=model_dir(), PEER_DATA_DIR=DATA, PEER_OUT_DIR=OUT)
    model = os.path.join(OUT, "colbert-minilm-seed42")
    colbert = os.path.join(PEER, "colbert.py")
    subprocess.run([PYLATE_PY, colbert, "make", "--seed", "42", "--out", model], env=env, check=True,
                   capture_output=True)
    subprocess.run([PYLATE_PY, colbert, "eval", "--model", model, "--tag", "bench"], env=env, check=True,
                   capture_output=True)
    with open(os.path.join(OUT, "colbert_bench.json")) as f:
        py = json.load(f)
    rb = rankbook_side(model)
    print(f"PyLate:   nDCG@10 {py['measures']['ndcg@10']:.4f}, {py['docs_per_s']:.1f} docs/s, peak RSS "
          f"{py['peak_rss_mib']:.0f} MiB, exact search {py['exact_search_s']:.2f} s")
    print(f"rankbook: nDCG@10 {rb['ndcg']:.4f}, {rb['docs_per_s']:.1f} docs/s, peak RSS "
          f"{rb['peak_rss_mib']:.0f} MiB, exact search {rb['search_s']:.2f} s")
    print(f"nDCG@10 difference: {rb['ndcg'] - py['measures']['ndcg@10']:+.4f} (goal within 0.001)")
    print(f"encoding speed ratio rankbook / PyLate: {rb['docs_per_s'] / py['docs_per_s']:.2f}x (goal >= 1.3x)")
    print(f"peak RSS ratio: {rb['peak_rss_mib'] / py['peak_rss_mib']:.2f}x (goal <= 0.5x)")


if __name__ == "__main__":
    sys.exit(main())

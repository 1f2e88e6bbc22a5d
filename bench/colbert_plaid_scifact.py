"""PLAID on SciFact: rankbook vs PyLate's PLAID index (fast-plaid), same ColBERT, same run.

The model is the one PyLate builds from all-MiniLM-L6-v2 (`colbert.py make --seed 42`). PyLate
encodes the corpus and the 300 test queries, builds its PLAID index (4 bits, its defaults) and
retrieves the top 100 (`colbert.py plaid`; its timings exclude encoding). rankbook builds a
PLAID index with the same defaults (`rankbook index --factory PLAID`; compression time is the
index time less encoding) and an exact MaxSim one, and searches both; query vectors come from
the embedding cache on the timed search, so both sides time search alone. Prints nDCG@10 of
each against exact MaxSim, QPS, build time and index size against the uncompressed vectors.
A smoke run (RANKBOOK_BENCH_SMOKE=1) builds its ColBERT with `rankbook colbert` on the repo's
sample and leaves PyLate out. Run through bench/colbert_plaid_scifact.sh.
"""
import json
import os
import subprocess
import sys

from common import DATA, MODEL, OUT, PEER, RANKBOOK, SMOKE, model_dir, ndcg_at_10, rankbook_stats, smoke_note

PYLATE_PY = os.environ.get("PYLATE_PYTHON", "/tmp/peer/pylate-venv/bin/python")


def folder_mib(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)) / 2**20


def rankbook_side(model, factory):
    index = os.path.join(OUT, f"colbert-{factory}")
    run = os.path.join(OUT, f"colbert-{factory}.trec")
    cache = os.path.join(OUT, "colbert-cache")
    _, build = rankbook_stats(["index", "--model", model, "--corpus", DATA, "--output", index, "--factory",
                               factory, "--batch-size", "32", "--threads", "2", "--cache-dir", cache, "--quiet"])
    search = ["search", "--index", index, "--queries", os.path.join(DATA, "queries.jsonl"), "--split", "test",
              "--k", "100", "--output", run, "--threads", "2", "--cache-dir", cache, "--quiet"]
    rankbook_stats(search)  # puts the query vectors in the cache
    _, timed = rankbook_stats(search)
    queries = timed["counts"]["queries"]
    return {"ndcg": ndcg_at_10(run), "qps": queries / timed["seconds"]["search"],
            "build_s": build["seconds"]["index"] - build["seconds"].get("encode", 0.0),
            "size_mib": folder_mib(index)}


def main():
    os.makedirs(OUT, exist_ok=True)
    if SMOKE:
        model = os.path.join(OUT, "colbert-minilm")
        subprocess.run([RANKBOOK, "colbert", "--model", MODEL, "--output", model], check=True,
                       capture_output=True)
    else:
        env = dict(os.environ, PEER_MODEL_DIR=model_dir(), PEER_DATA_DIR=DATA, PEER_OUT_DIR=OUT)
        model = os.path.join(OUT, "colbert-minilm-seed42")
        colbert = os.path.join(PEER, "colbert.py")
        if not os.path.isdir(model):
            subprocess.run([PYLATE_PY, colbert, "make", "--seed", "42", "--out", model], env=env, check=True,
                           capture_output=True)
        subprocess.run([PYLATE_PY, colbert, "plaid", "--model", model], env=env, check=True, capture_output=True)
        with open(os.path.join(OUT, "colbert_plaid.json")) as f:
            py = json.load(f)
    exact = rankbook_side(model, "MaxSim")
    plaid = rankbook_side(model, "PLAID")
    print(f"rankbook exact: nDCG@10 {exact['ndcg']:.4f}, {exact['qps']:.1f} QPS, {exact['size_mib']:.1f} MiB")
    print(f"rankbook PLAID: nDCG@10 {plaid['ndcg']:.4f}, {plaid['qps']:.1f} QPS, build {plaid['build_s']:.1f} s, "
          f"{plaid['size_mib']:.1f} MiB ({plaid['size_mib'] / exact['size_mib']:.3f}x the exact index)")
    if SMOKE:
        smoke_note("PyLate")
        return
    py_ndcg = py["measures"]["ndcg@10"]
    print(f"PyLate PLAID:   nDCG@10 {py_ndcg:.4f}, {py['qps']:.1f} QPS, build {py['build_s']:.1f} s")
    print(f"PLAID nDCG@10 - exact: {plaid['ndcg'] - exact['ndcg']:+.4f} (goal within 0.005)")
    print(f"PLAID QPS ratio rankbook / PyLate: {plaid['qps'] / py['qps']:.2f}x (goal >= 1.0x)")
    print(f"PLAID size / uncompressed: {plaid['size_mib'] / exact['size_mib']:.3f}x (goal <= 0.25x)")


if __name__ == "__main__":
    sys.exit(main())

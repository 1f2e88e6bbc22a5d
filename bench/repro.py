"""Runs the reproduction table (see repro.sh); prints a Markdown table."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import RANKBOOK, ROOT, SMOKE  # noqa: E402

# A smoke run reproduces the repo's own sample (no reference numbers).
DATA = os.path.join(ROOT, "data") if SMOKE else os.path.join(os.environ.get("RANKBOOK_SHARED", "../shared"), "data")

# Reference (nDCG@10, R@100) from ../shared/data/SOURCES.md: Anserini BM25-flat
# for scifact/nfcorpus, the self-computed Lucene-style BM25 for the classic
# collections; MTEB / sentence-transformers for MiniLM; transformers for SPLADE.
REFERENCE = {
    "bm25": {
        "scifact": (0.6789, 0.9253),
        "nfcorpus": (0.3218, 0.2457),
        "cranfield": (0.3518, 0.7213),
        "cisi": (0.3579, 0.4232),
        "med": (0.6631, 0.7633),
    },
    "minilm": {
        "scifact": (0.6451, 0.9250),
        "nfcorpus": (0.31594, 0.31151),
        "cranfield": (0.3817, 0.7724),
        "cisi": (0.4193, 0.4720),
        "med": (0.7875, 0.9579),
    },
    "splade": {"cranfield": (0.3550, 0.7356)},
}
SYSTEMS = {
    "bm25": ["index", "--bm25", "--k1", "0.9", "--b", "0.4"],
    "minilm": ["index", "--model", "sentence-transformers/all-MiniLM-L6-v2"],
    "splade": ["index", "--sparse", "--model", "rasyosef/splade-tiny"],
}


def rankbook(*args):
    out = subprocess.run([RANKBOOK, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"rankbook {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def measure(system, collection, work):
    c = os.path.join(DATA, collection)
    index = os.path.join(work, f"{system}-{collection}")
    run = index + ".trec"
    rankbook(*SYSTEMS[system], "--corpus", c, "--output", index, "--quiet")
    rankbook("search", "--index", index, "--queries", os.path.join(c, "queries.jsonl"),
             "--split", "test", "--k", "1000", "--output", run, "--quiet")
    got = json.loads(rankbook("eval", "--qrels", os.path.join(c, "qrels", "test.tsv"),
                              "--run", run, "--measures", "nDCG@10,R@100", "--complete", "--json"))
    return got["measures"]["nDCG@10"], got["measures"]["R@100"]


def cell(value, ref):
    if ref is None:
        return f"{value:.4f} | — | —"
    return f"{value:.4f} | {ref:.4f} | {value - ref:+.4f}"


def main():
    collections = sys.argv[1:] or (["scifact-sample"] if SMOKE else ["scifact", "nfcorpus", "cranfield", "cisi", "med"])
    print("| collection | system | nDCG@10 | reference | diff | R@100 | reference | diff |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as work:
        for collection in collections:
            if not os.path.isfile(os.path.join(DATA, collection, "qrels", "test.tsv")):
                continue
            for system in SYSTEMS:
                ndcg, recall = measure(system, collection, work)
                ref = REFERENCE[system].get(collection, (None, None))
                print(f"| {collection} | {system} | {cell(ndcg, ref[0])} | {cell(recall, ref[1])} |",
                      flush=True)


if __name__ == "__main__":
    main()

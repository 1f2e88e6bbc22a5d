"""BM25 on SciFact: bm25s vs rankbook, same analysis (English stop words,
Snowball English stemmer), same k1/b, same 300 test queries, k=100; best of
REPEATS runs each, interleaved so both see the same machine load."""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import DATA, SMOKE, rankbook_stats, smoke_note  # noqa: E402

REPEATS = int(os.environ.get("REPEATS", "1" if SMOKE else "5"))
K1, B = 1.5, 0.75


def load():
    ids, texts = [], []
    with open(os.path.join(DATA, "corpus.jsonl"), encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            ids.append(str(d["_id"]))
            texts.append(((d.get("title") or "") + " " + (d.get("text") or "")).strip())
    queries = {}
    with open(os.path.join(DATA, "queries.jsonl"), encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            queries[str(d["_id"])] = d["text"]
    test = set()
    with open(os.path.join(DATA, "qrels", "test.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            if line.strip():
                test.add(line.split("\t")[0])
    return ids, texts, [queries[q] for q in sorted(test)]


def bm25s_once(texts, queries):
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    t0 = time.perf_counter()
    tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
    retriever.index(tokens, show_progress=False)
    t1 = time.perf_counter()
    q = bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever.retrieve(q, k=100, show_progress=False, n_threads=2)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def rankbook_once(work):
    index = os.path.join(work, "bm25")
    _, stats = rankbook_stats(["index", "--bm25", "--k1", str(K1), "--b", str(B), "--stemmer", "english",
                               "--corpus", DATA, "--output", index, "--quiet"])
    t_index = stats["seconds"]["index"]
    _, stats = rankbook_stats(["search", "--index", index, "--queries", os.path.join(DATA, "queries.jsonl"),
                               "--split", "test", "--k", "100", "--output", os.path.join(work, "run.trec"), "--quiet"])
    t_search = stats["seconds"]["search"]
    return t_index, t_search


def main():
    _, texts, queries = load()
    peer, mine = [], []
    with tempfile.TemporaryDirectory() as work:
        for _ in range(REPEATS):
            if SMOKE:
                mine.append(rankbook_once(work))
                print(f"rankbook: index {mine[-1][0]:.3f} s, search {mine[-1][1]:.3f} s ({len(texts)} docs)")
                smoke_note("bm25s")
                return
            peer.append(bm25s_once(texts, queries))
            mine.append(rankbook_once(work))
    p_index, p_search = min(p[0] for p in peer), min(p[1] for p in peer)
    m_index, m_search = min(m[0] for m in mine), min(m[1] for m in mine)
    print(f"SciFact BM25 ({len(texts)} docs, {len(queries)} queries, best of {REPEATS}; times inside each tool, "
          "corpus reading excluded)")
    print(f"  index (analyse + build): bm25s {p_index:.3f} s, rankbook {m_index:.3f} s -> {p_index / m_index:.2f}x")
    print(f"  search (analyse + top 100): bm25s {p_search:.3f} s, rankbook {m_search:.3f} s -> {p_search / m_search:.2f}x")
    total_p, total_m = p_index + p_search, m_index + m_search
    print(f"  index + search: {total_p / total_m:.2f}x (goal >= 1.0x)")


if __name__ == "__main__":
    main()

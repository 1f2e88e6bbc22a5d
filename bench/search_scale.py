"""rankbook's exact (Flat) index vs faiss IndexFlatIP, same data, same run.

Data as the peer harness makes it (numpy seed 0, standard normal, L2-normalised
float32): 1,000,000 x 384 docs, 1,000 queries; top-100; 2 threads on both sides.
Prints queries/s of each and their ratio (search only: faiss's index.search
against the search time rankbook reports), rankbook's whole-process time, and
how often both return the same top-10 lists.
"""
import os
import re
import subprocess
import sys
import time

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RANKBOOK = os.environ.get("RANKBOOK_BIN", os.path.join(ROOT, "target", "release", "rankbook"))
WORK = os.environ.get("BENCH_DIR", "/tmp/rankbook-bench-search")
N, D, NQ, K = int(os.environ.get("BENCH_N", 1_000_000)), 384, 1_000, 100


def write_vectors(path, prefix, x):
    ids = pa.array([f"{prefix}{i}" for i in range(len(x))])
    emb = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), D)
    table = pa.table({"id": ids, "embedding": emb})
    with ipc.new_file(path, table.schema) as w:
        w.write_table(table)


def main():
    os.makedirs(WORK, exist_ok=True)
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((N, D), dtype=np.float32)
    faiss.normalize_L2(xb)
    xq = rng.standard_normal((NQ, D), dtype=np.float32)
    faiss.normalize_L2(xq)
    docs, queries = os.path.join(WORK, "docs.arrow"), os.path.join(WORK, "queries.arrow")
    write_vectors(docs, "d", xb)
    write_vectors(queries, "q", xq)

    faiss.omp_set_num_threads(2)
    index = faiss.IndexFlatIP(D)
    index.add(xb)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        _, ids = index.search(xq, K)
        times.append(time.perf_counter() - t)
    faiss_s = min(times)
    del index, xb

    idx = os.path.join(WORK, "idx")
    t = time.perf_counter()
    subprocess.run([RANKBOOK, "index", "--vectors", docs, "--output", idx, "--threads", "2"],
                   check=True, capture_output=True)
    build_s = time.perf_counter() - t
    run = os.path.join(WORK, "run.trec")
    search, process = [], []
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run([RANKBOOK, "search", "--index", idx, "--query-vectors", queries, "--k", str(K),
                              "--output", run, "--threads", "2", "--quiet"],
                             check=True, capture_output=True, text=True)
        process.append(time.perf_counter() - t)
        search.append(float(re.search(r"docs \(k=\d+\) in ([\d.]+) s", out.stderr).group(1)))
    rb_s = min(search)

    mine = {}
    for line in open(run):
        q, _, d, rank, _, _ = line.split()
        if int(rank) <= 10:
            mine.setdefault(q, []).append(int(d[1:]))
    same = sum(mine[f"q{i}"] == list(ids[i][:10]) for i in range(NQ))

    print(f"data: {N:,} x {D} docs, {NQ} queries, top-{K}, 2 threads")
    print(f"faiss IndexFlatIP search: {faiss_s:.2f} s ({NQ / faiss_s:.0f} q/s)")
    print(f"rankbook Flat search:     {rb_s:.2f} s ({NQ / rb_s:.0f} q/s); whole process {min(process):.2f} s "
          f"(load + checksum + search + write); index build {build_s:.1f} s")
    print(f"speed ratio rankbook / faiss (search): {faiss_s / rb_s:.2f}x (goal >= 1.0x)")
    print(f"identical top-10 lists: {same}/{NQ}")


if __name__ == "__main__":
    sys.exit(main())

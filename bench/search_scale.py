"""rankbook's exact (Flat) index vs faiss IndexFlatIP, same data, same run.

Data as the peer harness makes it (numpy seed 0, standard normal, L2-normalised
float32): 1,000,000 x 384 docs, 1,000 queries; top-100; 2 threads on both sides.
Prints queries/s of each and their ratio (search only: faiss's index.search
against the search time rankbook reports), rankbook's whole-process time, and
how often both return the same top-10 lists.

With ANN=1 (and rankbook built with the faiss feature, as search_scale.sh does
then), also IVF1024,Flat (nprobe 16) and HNSW32 (efSearch 64) on the first
ANN_N docs (default 200,000): build and search time of each side, and recall@10
against exact search. LANCE=1 adds rankbook's LanceDB index types on the same
docs (built with the lancedb feature): exact (`lance`) and IVF_HNSW_SQ, their
queries/s beside faiss HNSW32's.
"""
import os
import subprocess
import sys
import time

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import OUT, RANKBOOK, SMOKE, rankbook_stats  # noqa: E402
WORK = os.environ.get("BENCH_DIR", OUT if SMOKE else "/tmp/rankbook-bench-search")
# A smoke run: the same steps on 2,000 docs and 50 queries.
N = int(os.environ.get("BENCH_N", 2_000 if SMOKE else 1_000_000))
D, NQ, K = 384, 50 if SMOKE else 1_000, 100


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
        _, stats = rankbook_stats(["search", "--index", idx, "--query-vectors", queries, "--k", str(K),
                                   "--output", run, "--threads", "2", "--quiet"])
        process.append(time.perf_counter() - t)
        search.append(stats["seconds"]["search"])
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

    if os.environ.get("ANN") == "1":
        n = int(os.environ.get("ANN_N", 200_000))
        rng = np.random.default_rng(0)
        xb = rng.standard_normal((N, D), dtype=np.float32)[:n]
        faiss.normalize_L2(xb)
        sub = os.path.join(WORK, "docs-ann.arrow")
        write_vectors(sub, "d", xb)
        ann(xb, xq, sub, queries)


def ann(xb, xq, docs_path, queries_path):
    n = len(xb)
    flat = faiss.IndexFlatIP(D)
    flat.add(xb)
    _, exact = flat.search(xq, 10)
    print(f"ANN on {n:,} docs, top-10, recall@10 against exact search")
    for factory, param, value in [("IVF1024,Flat", "nprobe", 16), ("HNSW32", "efSearch", 64)]:
        t = time.perf_counter()
        index = faiss.index_factory(D, factory, faiss.METRIC_INNER_PRODUCT)
        index.train(xb)
        index.add(xb)
        py_build = time.perf_counter() - t
        faiss.ParameterSpace().set_index_parameter(index, param, value)
        t = time.perf_counter()
        _, got = index.search(xq, 10)
        py_search = time.perf_counter() - t
        py_recall = np.mean([len(set(got[i]) & set(exact[i])) / 10 for i in range(NQ)])

        idx = os.path.join(WORK, "ann-" + factory.replace(",", "_"))
        t = time.perf_counter()
        subprocess.run([RANKBOOK, "index", "--vectors", docs_path, "--output", idx, "--factory", factory,
                        "--threads", "2"], check=True, capture_output=True)
        rb_build = time.perf_counter() - t
        run = os.path.join(WORK, "ann.trec")
        flag = "--nprobe" if param == "nprobe" else "--ef-search"
        _, stats = rankbook_stats(["search", "--index", idx, "--query-vectors", queries_path, "--k", "10",
                                   "--output", run, flag, str(value), "--threads", "2", "--quiet"])
        rb_search = stats["seconds"]["search"]
        mine = {}
        for line in open(run):
            q, _, d, _, _, _ = line.split()
            mine.setdefault(q, set()).add(int(d[1:]))
        rb_recall = np.mean([len(mine.get(f"q{i}", set()) & set(exact[i])) / 10 for i in range(NQ)])
        print(f"  {factory} ({param} {value}): build faiss {py_build:.1f} s, rankbook {rb_build:.1f} s "
              f"(whole process) = {py_build / rb_build:.2f}x; search faiss {py_search:.3f} s, rankbook {rb_search:.3f} s "
              f"= {py_search / max(rb_search, 1e-9):.2f}x; recall@10 faiss {py_recall:.3f}, rankbook {rb_recall:.3f}")
        if factory == "HNSW32":
            hnsw_qps = NQ / py_search
    if os.environ.get("LANCE") == "1":
        lance(exact, docs_path, queries_path, hnsw_qps)


def recall_of(run, exact):
    mine = {}
    for line in open(run):
        q, _, d, _, _, _ = line.split()
        mine.setdefault(q, set()).add(int(d[1:]))
    return np.mean([len(mine.get(f"q{i}", set()) & set(exact[i])) / 10 for i in range(NQ)])


def lance(exact, docs_path, queries_path, hnsw_qps):
    """rankbook's LanceDB index types: build time, queries/s (search only, best of
    3) beside faiss HNSW32's, recall@10 against exact search."""
    # LanceDB picks the number of IVF partitions from the size unless told.
    partitions = int(os.environ.get("LANCE_PARTITIONS", "0"))
    ann_type = "lance:IVF_HNSW_SQ" + (f",partitions={partitions}" if partitions else "")
    for factory, flags in [("lance", []),
                           (ann_type, ["--nprobe", os.environ.get("LANCE_NPROBE", "16"),
                                       "--ef-search", os.environ.get("LANCE_EF", "64")])]:
        idx = os.path.join(WORK, "ann-" + factory.replace(":", "_").replace(",", "_").replace("=", ""))
        t = time.perf_counter()
        subprocess.run([RANKBOOK, "index", "--vectors", docs_path, "--output", idx, "--factory", factory,
                        "--threads", "2"], check=True, capture_output=True)
        build = time.perf_counter() - t
        run = os.path.join(WORK, "lance.trec")
        search = []
        for _ in range(3):
            _, stats = rankbook_stats(["search", "--index", idx, "--query-vectors", queries_path, "--k", "10",
                                       "--output", run, "--threads", "2", "--quiet"] + flags)
            search.append(stats["seconds"]["search"])
        qps = NQ / max(min(search), 1e-9)
        print(f"  rankbook {factory} {' '.join(flags)}: build {build:.1f} s (whole process); "
              f"{qps:.0f} q/s = {qps / hnsw_qps:.2f}x faiss HNSW32's {hnsw_qps:.0f} q/s; "
              f"recall@10 {recall_of(run, exact):.3f}")


if __name__ == "__main__":
    sys.exit(main())

"""Summarises bench/scale_simulation.sh's per-shard records and projects them
to MS MARCO v2 (138M passages) on hosts like this one (24 GiB, 2 cores)."""
import json
import math
import sys

log, rows, docs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
recs = [json.loads(line) for line in open(log) if line.strip()]
TARGET, HOST_GIB, USABLE_GIB = 138_000_000, 24, 20


def table(what, total, unit):
    shards = [r for r in recs if r["what"] == what]
    print(f"\n{what}: {total:,} {unit}, each shard alone with 2 threads")
    print("| shards | rows per shard | seconds per shard (max) | peak RSS per shard (max, MiB) |")
    print("|---|---|---|---|")
    per_row = {}
    for n in (1, 2, 4):
        s = [r for r in shards if r["shards"] == n]
        if not s:
            continue
        secs = max(r["seconds"] for r in s)
        rss = max(r["peak_rss_mib"] for r in s)
        print(f"| {n} | {max(r['rows'] for r in s):,} | {secs:.1f} | {rss:,.0f} |")
        per_row[n] = (secs / max(r["rows"] for r in s), rss)
    return per_row


def project(per_row, name, base_mib):
    # Memory per row from the largest shard minus the process's base.
    t_row, rss = per_row[1]
    mib_row = max(rss - base_mib, 1) / (rows if name == "dense" else docs)
    hosts = math.ceil(TARGET * mib_row / (USABLE_GIB * 1024))
    per_host = TARGET / hosts
    print(
        f"projected to 138M: {mib_row * 1024 * 1024:,.0f} bytes per row -> {hosts} hosts of "
        f"{HOST_GIB} GiB ({USABLE_GIB} GiB usable), {per_host / 1e6:.1f}M rows and "
        f"~{per_host * t_row:,.0f} s per host"
    )


dense = table("dense", rows, "x 384 vectors (bf16, memory-mapped), 64 queries, top 100")
if dense:
    project(dense, "dense", 30)
bm25 = table("bm25", docs, "synthetic passages, BM25 part (term counts) built and written")
sizes = [r for r in recs if r["what"] == "bm25-size" and r["shards"] == 1]
if sizes:
    print(f"BM25 part on disk, one shard: {sizes[0]['mib']:,} MiB")
if bm25:
    project(bm25, "bm25", 30)

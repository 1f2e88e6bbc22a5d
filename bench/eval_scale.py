"""Evaluation at scale: `rankbook eval` (whole process) vs pytrec_eval and ranx.

The data is the peer harness's (../shared/peer/bench_scale.py make_data: 10,000 queries x
1,000 docs, graded qrels), written once as TREC files; each tool then reads the same files and
computes the same 10 measures. Prints the seconds of each, the ratios, and the largest
difference between the tools' means. Run through bench/eval_scale.sh.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER = os.environ.get("RANKBOOK_PEER", os.path.join(ROOT, "..", "shared", "peer"))
sys.path.insert(0, PEER)
sys.path.insert(0, HERE)

from common import RANKBOOK, SMOKE, smoke_note  # noqa: E402

WORK = os.environ.get("BENCH_DIR", "/tmp/rankbook-bench-eval-smoke" if SMOKE else "/tmp/rankbook-bench-eval")
QRELS, RUN = os.path.join(WORK, "qrels.txt"), os.path.join(WORK, "run.trec")

# rankbook name -> (trec_eval name, pytrec_eval key, ranx name)
MEASURES = {
    "nDCG@10": ("ndcg_cut.10", "ndcg_cut_10", "ndcg@10"),
    "nDCG": ("ndcg", "ndcg", "ndcg"),
    "AP": ("map", "map", "map"),
    "AP@100": ("map_cut.100", "map_cut_100", "map@100"),
    "RR": ("recip_rank", "recip_rank", "mrr"),
    "P@10": ("P.10", "P_10", "precision@10"),
    "R@100": ("recall.100", "recall_100", "recall@100"),
    "Rprec": ("Rprec", "Rprec", "r-precision"),
    "Bpref": ("bpref", "bpref", "bpref"),
    "Success@10": ("success.10", "success_10", "hit_rate@10"),
}


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def small_data(nq=50, nd=100):
    """A seeded stand-in for the peer's data in a smoke run."""
    import random

    rng = random.Random(0)
    qrels = {f"q{q}": {f"d{d}": rng.randint(1, 3) for d in rng.sample(range(nd), 5)} for q in range(nq)}
    run = {f"q{q}": {f"d{d}": rng.random() for d in range(nd)} for q in range(nq)}
    return qrels, run


def write_data():
    if os.path.exists(RUN) and os.path.exists(QRELS):
        return
    os.makedirs(WORK, exist_ok=True)
    if SMOKE:
        qrels, run = small_data()
    else:
        from bench_scale import make_data

        qrels, run = make_data()
    with open(QRELS, "w") as f:
        for q, docs in qrels.items():
            for d, g in docs.items():
                f.write(f"{q} 0 {d} {g}\n")
    with open(RUN, "w") as f:
        for q, docs in run.items():
            for r, (d, s) in enumerate(sorted(docs.items(), key=lambda kv: -kv[1])):
                f.write(f"{q} Q0 {d} {r + 1} {s!r} peer\n")


def run_rankbook():
    out = subprocess.run(
        [RANKBOOK, "eval", "--qrels", QRELS, "--run", RUN, "--json", "--measures", ",".join(MEASURES)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)["measures"]


PYTREC = r"""
import json, sys, pytrec_eval
qrels, run = {}, {}
for line in open(sys.argv[1]):
    q, _, d, g = line.split(); qrels.setdefault(q, {})[d] = int(g)
for line in open(sys.argv[2]):
    q, _, d, _, s, _ = line.split(); run.setdefault(q, {})[d] = float(s)
m = json.loads(sys.argv[3])
res = pytrec_eval.RelevanceEvaluator(qrels, {v[0] for v in m.values()}).evaluate(run)
print(json.dumps({k: sum(r[v[1]] for r in res.values()) / len(res) for k, v in m.items()}))
"""

RANX = r"""
import json, sys, time, ranx
t0 = time.perf_counter()
qrels = ranx.Qrels.from_file(sys.argv[1], kind="trec")
run = ranx.Run.from_file(sys.argv[2], kind="trec")
m = json.loads(sys.argv[3])
names = [v[2] for v in m.values()]
t1 = time.perf_counter()
v1 = ranx.evaluate(qrels, run, names, threads=2)
t2 = time.perf_counter()
v2 = ranx.evaluate(qrels, run, names, threads=2)
t3 = time.perf_counter()
print(json.dumps({"load_s": t1 - t0, "first_s": t2 - t1, "second_s": t3 - t2,
                  "values": {k: float(v1[v[2]]) for k, v in m.items()}}))
"""


def run_python(code):
    out = subprocess.run([sys.executable, "-c", code, QRELS, RUN, json.dumps(MEASURES)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    t_gen, _ = timed(write_data)
    print(f"data: {RUN} ({os.path.getsize(RUN) / 2**20:.0f} MiB), {QRELS} (made in {t_gen:.1f}s)")
    t_rb = min(timed(run_rankbook)[0] for _ in range(3))
    rb = run_rankbook()
    t_pt, pt = timed(lambda: run_python(PYTREC))
    if SMOKE:
        print(f"rankbook eval {t_rb:.2f}s, pytrec_eval {t_pt:.2f}s; "
              f"max |difference| {max(abs(rb[k] - pt[k]) for k in MEASURES):.2e}")
        smoke_note("ranx")
        return
    t_rx, rx = timed(lambda: run_python(RANX))
    ranx_incl = rx["load_s"] + rx["first_s"]
    ranx_excl = rx["load_s"] + rx["second_s"]
    print(f"rankbook eval (whole process, best of 3): {t_rb:.2f}s")
    print(f"pytrec_eval (whole process): {t_pt:.2f}s  -> rankbook is {t_pt / t_rb:.1f}x faster (goal >= 20x)")
    print(f"ranx: load {rx['load_s']:.2f}s, first evaluate {rx['first_s']:.2f}s, second {rx['second_s']:.2f}s, "
          f"process {t_rx:.2f}s")
    print(f"  vs ranx incl. JIT (load + first): {ranx_incl / t_rb:.1f}x; excl. JIT (load + second): "
          f"{ranx_excl / t_rb:.1f}x (goal >= 5x)")
    diff_pt = max(abs(rb[k] - pt[k]) for k in MEASURES)
    diff_rx = {k: abs(rb[k] - rx["values"][k]) for k in MEASURES}
    print(f"max |rankbook - pytrec_eval| over the means: {diff_pt:.2e}")
    print(f"|rankbook - ranx| per measure: " + ", ".join(f"{k} {v:.1e}" for k, v in diff_rx.items()))


if __name__ == "__main__":
    main()

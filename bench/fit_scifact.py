"""Fine-tuning on SciFact: rankbook fit vs sentence-transformers' trainer, same settings.

1 epoch of MultipleNegativesRankingLoss on the train qrels (919 pairs), batch 32, lr 2e-5,
10% warm-up, max length 256, 2 threads, f32, then nDCG@10 on the test split; for each seed
in $SEEDS (default "42 1 2") both sides run back to back. sentence-transformers runs through
the peer harness's own finetune.py (so it is measured exactly as the issue's figures were);
rankbook through `rankbook fit`. Prints nDCG@10 per seed and mean +- sd, the gain over the
base model, the median step time (forward + backward + optimiser) and the peak RSS of each.
Run through bench/fit_scifact.sh.
"""
import json
import os
import statistics
import subprocess
import sys

from common import DATA, MODEL, OUT, PEER, PEER_PY, RANKBOOK, SMOKE, model_dir, smoke_note

WORK = os.environ.get("RANKBOOK_BENCH_DIR", OUT if SMOKE else "/tmp/rankbook-bench-fit")
SEEDS = [int(s) for s in os.environ.get("SEEDS", "42" if SMOKE else "42 1 2").split()]
# The sample has a test split only: a smoke run trains two steps on it.
SPLIT, LIMIT = ("test", ["--max-steps", "2"]) if SMOKE else ("train", [])


def run_rankbook(seed):
    out = os.path.join(WORK, f"seed{seed}")
    p = subprocess.Popen(
        [RANKBOOK, "fit", "--model", MODEL, "--data", DATA, "--split", SPLIT, *LIMIT, "--loss", "mnrl",
         "--epochs", "1", "--batch-size", "32", "--lr", "2e-5", "--warmup", "0.1", "--max-length", "256",
         "--seed", str(seed), "--eval-split", "test", "--measures", "nDCG@10", "--threads", "2",
         "--output", out, "--quiet"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    stderr = p.stderr.read()
    # wait4: this child's own peak RSS.
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"rankbook fit failed: {stderr}")
    steps, ndcg = [], None
    with open(os.path.join(out, "history.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r["type"] == "step":
                steps.append(r["seconds"])
            else:
                ndcg = r["measures"]["nDCG@10"]
    return {"ndcg": ndcg, "steps": len(steps), "median_step_s": statistics.median(steps),
            "peak_rss_mib": usage.ru_maxrss / 1024.0}


def run_st(path, seed, eval_before):
    env = dict(os.environ, PEER_MODEL_DIR=path, PEER_DATA_DIR=DATA, PEER_OUT_DIR=OUT,
               OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    tag = f"rankbook_bench_seed{seed}"
    args = [PEER_PY, os.path.join(PEER, "finetune.py"), "--seed", str(seed), "--threads", "2", "--tag", tag]
    if eval_before:
        args.append("--eval-before")
    subprocess.run(args, env=env, check=True, capture_output=True, text=True)
    with open(os.path.join(OUT, f"finetune_{tag}.json")) as f:
        j = json.load(f)
    return {"ndcg": j["metrics_after"]["ndcg@10"], "steps": j["steps"], "median_step_s": j["median_step_s"],
            "peak_rss_mib": j["peak_rss_mib"],
            "before": (j.get("metrics_before") or {}).get("ndcg@10")}


def summary(xs):
    return f"{statistics.mean(xs):.4f} +- {statistics.stdev(xs) if len(xs) > 1 else 0.0:.4f}"


def main():
    path = model_dir()
    print(f"model: {path}; seeds {SEEDS}", flush=True)
    rb, st = [], []
    base = None
    if SMOKE:
        r = run_rankbook(SEEDS[0])
        print(f"rankbook: nDCG@10 {r['ndcg']:.4f} after {r['steps']} steps, median {r['median_step_s']:.2f} s/step, "
              f"peak {r['peak_rss_mib']:.0f} MiB")
        smoke_note("sentence-transformers' trainer")
        return
    for i, seed in enumerate(SEEDS):
        s = run_st(path, seed, eval_before=(i == 0))
        base = base or s["before"]
        r = run_rankbook(seed)
        st.append(s)
        rb.append(r)
        print(f"seed {seed}: sentence-transformers nDCG@10 {s['ndcg']:.4f} ({s['steps']} steps, median "
              f"{s['median_step_s']:.2f} s/step, peak {s['peak_rss_mib']:.0f} MiB); rankbook {r['ndcg']:.4f} "
              f"({r['steps']} steps, median {r['median_step_s']:.2f} s/step, peak {r['peak_rss_mib']:.0f} MiB)",
              flush=True)
    print(f"base model nDCG@10: {base:.4f}")
    print(f"sentence-transformers nDCG@10: {summary([x['ndcg'] for x in st])}, "
          f"gain {statistics.mean(x['ndcg'] for x in st) - base:+.4f}")
    print(f"rankbook nDCG@10:              {summary([x['ndcg'] for x in rb])}, "
          f"gain {statistics.mean(x['ndcg'] for x in rb) - base:+.4f}")
    step = statistics.mean(x["median_step_s"] for x in rb) / statistics.mean(x["median_step_s"] for x in st)
    rss = statistics.mean(x["peak_rss_mib"] for x in rb) / statistics.mean(x["peak_rss_mib"] for x in st)
    print(f"step time ratio rankbook / sentence-transformers: {step:.2f}x (goal <= 1.0x)")
    print(f"peak RSS ratio: {rss:.2f}x (goal <= 0.7x)")


if __name__ == "__main__":
    sys.exit(main())

"""Fine-tuning a ColBERT on SciFact: rankbook fit vs PyLate, same start, same settings.

For each seed in $SEEDS (default "42 1 2"): PyLate builds its ColBERT from all-MiniLM-L6-v2
with that seed and trains 1 epoch of its Contrastive loss on the train qrels' (query, positive)
pairs (batch 32, lr $LR (default 3e-6, the learning rate of PyLate's training docs; the issue
names it), 10% warm-up, linear decay, no weight decay, gradient norm clipped at 1), then searches
the test queries exactly (`colbert.py finetune`). rankbook starts from the
same model (`colbert.py make` with the seed) and runs `rankbook fit` with the same settings
(its default loss for a ColBERT is the same Contrastive loss), then `rankbook search` + `eval`.
Prints nDCG@10 per seed and mean +- sd, the median step time and the training's peak RSS.
A smoke run (RANKBOOK_BENCH_SMOKE=1) turns MiniLM into a ColBERT with `fit --colbert` and
trains two steps on the repo's sample, without PyLate. Run through bench/colbert_fit_scifact.sh.
"""
import functools
import json
import os
import statistics
import subprocess
import sys

from common import DATA, MODEL, OUT, PEER, RANKBOOK, SMOKE, model_dir, rankbook_stats, smoke_note

PYLATE_PY = os.environ.get("PYLATE_PYTHON", "/tmp/peer/pylate-venv/bin/python")
SEEDS = [int(s) for s in os.environ.get("SEEDS", "42" if SMOKE else "42 1 2").split()]
# The sample has a test split only: a smoke run trains two steps on it.
SPLIT, LIMIT = ("test", ["--max-steps", "2"]) if SMOKE else ("train", [])
LR = os.environ.get("LR", "3e-6")
SAMPLER = os.environ.get("SAMPLER", "random")
# PyLate's trainer batches with sentence-transformers' default plain BatchSampler (torch's
# RandomSampler; a query with several positives can meet itself in a batch); rankbook's default
# for in-batch negatives is no-duplicates, so the bench asks for `random` (the same order for the
# same seed) and gives the pairs in the qrels file's order, as the peer reads them: the same batches.
SETTINGS = ["--epochs", "1", "--batch-size", "32", "--lr", LR, "--warmup", "0.1", "--schedule", "linear",
            "--weight-decay", "0", "--max-grad-norm", "1", "--batch-sampler", SAMPLER, "--threads", "2"]


@functools.cache  # one file for all seeds
def train_pairs():
    """The train qrels' (query, positive) pairs in the file's order, as `--negatives` ids."""
    path = os.path.join(OUT, "colbert-fit-train-pairs.jsonl")
    with open(os.path.join(DATA, "qrels", "train.tsv")) as f, open(path, "w") as out:
        for line in list(f)[1:]:
            q, d, grade = line.rstrip("\n").split("\t")
            if int(grade) > 0:
                out.write(json.dumps({"query_id": q, "positive_id": d, "negative_ids": []}) + "\n")
    return ("--negatives", path)


def run_rankbook(model, seed, start=()):
    out = os.path.join(OUT, f"colbert-fit-seed{seed}")
    # The smoke run's sample has no train split: qrels pairs there.
    source = ["--split", SPLIT] if SMOKE else train_pairs()
    _, fit = rankbook_stats(["fit", "--model", model, *start, "--data", DATA, *source, *LIMIT,
                             *SETTINGS, "--seed", str(seed), "--output", out, "--quiet"])
    steps = []
    with open(os.path.join(out, "history.jsonl")) as f:
        steps = [json.loads(line)["seconds"] for line in f if json.loads(line)["type"] == "step"]
    run = os.path.join(OUT, f"colbert-fit-seed{seed}.trec")
    rankbook_stats(["search", "--model", os.path.join(out, "model"), "--corpus", DATA, "--queries",
                    os.path.join(DATA, "queries.jsonl"), "--split", "test", "--k", "100", "--batch-size", "32",
                    "--threads", "2", "--no-cache", "--output", run, "--quiet"])
    ev = subprocess.run([RANKBOOK, "eval", "--qrels", os.path.join(DATA, "qrels", "test.tsv"), "--run", run,
                         "--measures", "nDCG@10", "--json"], check=True, capture_output=True, text=True).stdout
    return {"ndcg": json.loads(ev)["measures"]["nDCG@10"], "steps": len(steps),
            "median_step_s": statistics.median(steps), "peak_rss_mib": fit["peak_rss_mib"]}


def run_pylate(seed, env):
    colbert = os.path.join(PEER, "colbert.py")
    subprocess.run([PYLATE_PY, colbert, "finetune", "--seed", str(seed), "--lr", LR], env=env, check=True, capture_output=True)
    with open(os.path.join(OUT, f"colbert_finetune_seed{seed}.json")) as f:
        j = json.load(f)
    start = os.path.join(OUT, f"colbert-minilm-seed{seed}")
    subprocess.run([PYLATE_PY, colbert, "make", "--seed", str(seed), "--out", start], env=env, check=True,
                   capture_output=True)
    return start, {"ndcg": j["eval"]["measures"]["ndcg@10"], "steps": j["steps"],
                   "median_step_s": j["median_step_s"], "peak_rss_mib": j["train_peak_rss_mib"]}


def line(name, r):
    return (f"{name} nDCG@10 {r['ndcg']:.4f} ({r['steps']} steps, median {r['median_step_s']:.2f} s/step, "
            f"training peak RSS {r['peak_rss_mib']:.0f} MiB)")


def summary(xs):
    return f"{statistics.mean(xs):.4f} +- {statistics.stdev(xs) if len(xs) > 1 else 0.0:.4f}"


def main():
    os.makedirs(OUT, exist_ok=True)
    if SMOKE:
        print(line("rankbook:", run_rankbook(MODEL, SEEDS[0], ["--colbert"])), flush=True)
        smoke_note("PyLate")
        return
    env = dict(os.environ, PEER_MODEL_DIR=model_dir(), PEER_DATA_DIR=DATA, PEER_OUT_DIR=OUT)
    print(f"lr {LR}, rankbook's batch sampler {SAMPLER}, seeds {' '.join(map(str, SEEDS))}", flush=True)
    rb, py = [], []
    for seed in SEEDS:
        start, p = run_pylate(seed, env)
        r = run_rankbook(start, seed)
        py.append(p)
        rb.append(r)
        print(f"seed {seed}: {line('PyLate', p)}; {line('rankbook', r)}", flush=True)
    print(f"PyLate nDCG@10:   {summary([x['ndcg'] for x in py])}")
    print(f"rankbook nDCG@10: {summary([x['ndcg'] for x in rb])} (goal: mean >= PyLate's)")
    step = statistics.mean(x["median_step_s"] for x in rb) / statistics.mean(x["median_step_s"] for x in py)
    rss = statistics.mean(x["peak_rss_mib"] for x in rb) / statistics.mean(x["peak_rss_mib"] for x in py)
    print(f"step time ratio rankbook / PyLate: {step:.2f}x (goal <= 0.8x)")
    print(f"training peak RSS ratio: {rss:.2f}x (goal <= 0.7x)")


if __name__ == "__main__":
    sys.exit(main())

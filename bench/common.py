"""What the benchmark scripts share: where things are, the model's folder, and
running rankbook with its machine-readable summary (`--stats-json`)."""
import json
import os
import tempfile
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# CI's smoke run (bench/lib.sh): the dev build, the repo's sample, no peer.
SMOKE = os.environ.get("RANKBOOK_BENCH_SMOKE") == "1"
PEER = os.environ.get("RANKBOOK_PEER", os.path.join(ROOT, "..", "shared", "peer"))
DATA = os.environ.get("PEER_DATA_DIR", os.path.join(ROOT, "data", "scifact-sample") if SMOKE
                      else os.path.join(ROOT, "..", "shared", "data", "scifact"))
RANKBOOK = os.environ.get("RANKBOOK_BIN", os.path.join(ROOT, "target", "debug" if SMOKE else "release", "rankbook"))
PEER_PY = os.environ.get("PEER_PYTHON", "/tmp/peer/venv/bin/python")
OUT = os.environ.get("PEER_OUT_DIR", tempfile.mkdtemp(prefix="rankbook-bench-") if SMOKE else "/tmp/peer/out")
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def smoke_note(what):
    """Says what a smoke run leaves out."""
    print(f"smoke run: {what} left out (RANKBOOK_BENCH_SMOKE=1)", flush=True)


def model_dir():
    """The folder rankbook resolves MODEL to (the peer loads the same files)."""
    out = subprocess.run([RANKBOOK, "run", "/dev/stdin"], input=f'print(model("{MODEL}").to_string());',
                         capture_output=True, text=True, check=True).stdout
    return re.search(r"Model\((.*), dim", out).group(1)


def rankbook_stats(args, **kwargs):
    """Runs `rankbook ARGS --stats-json F` and returns (the completed process,
    the summary: counts, seconds per phase, peak RSS)."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        out = subprocess.run([RANKBOOK, *args, "--stats-json", path], capture_output=True, text=True,
                             check=True, **kwargs)
        with open(path) as f:
            return out, json.load(f)
    finally:
        os.unlink(path)


def ndcg_at_10(run, qrels=None):
    """nDCG@10 of the TREC run file `run` by `rankbook eval` (qrels: DATA's test split)."""
    qrels = qrels or os.path.join(DATA, "qrels", "test.tsv")
    out = subprocess.run([RANKBOOK, "eval", "--qrels", qrels, "--run", run, "--measures", "nDCG@10", "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["measures"]["nDCG@10"]

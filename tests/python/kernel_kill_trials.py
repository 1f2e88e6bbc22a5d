"""Kill trials of the rankbook kernel (issue 22), run by
tests/tests/kernel_soak.rs: a cell writes a BM25 index over an existing one
and the kernel process gets SIGKILL at a random moment; afterwards the index
must load with its checksums verified (`rankbook search`), and a later write
must leave no temporary folder beside it. Prints one JSON summary on stdout.

Sizes from the environment: KILL_TRIALS, KILL_SEED; RANKBOOK_BIN is the
`rankbook` command that checks the index."""

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

from jupyter_client.manager import start_new_kernel

TIMEOUT = 120
TRIALS = int(os.environ.get("KILL_TRIALS", "200"))
rng = random.Random(int(os.environ.get("KILL_SEED", "22")))
RANKBOOK = os.environ["RANKBOOK_BIN"]


def cell(out, trial):
    # Alternate settings, so the old and the new index differ.
    k1 = 0.9 if trial % 2 else 1.2
    return (
        'let ds = beir("data/scifact-sample"); '
        f"let ix = bm25(corpus(ds), #{{ k1: {k1} }}); "
        f'save(ix, "{out}"); "saved"'
    )


def run_cell(kc, code):
    msg_id = kc.execute(code)
    while True:
        msg = kc.get_shell_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]["status"]


def loads(index, scratch):
    """Whether `rankbook search` opens the index (checksums verified)."""
    o = subprocess.run(
        [RANKBOOK, "search", "--index", index, "--queries",
         "data/scifact-sample/queries.jsonl", "--k", "5", "--output",
         os.path.join(scratch, "run.trec"), "--quiet"],
        capture_output=True, text=True,
    )
    if o.returncode != 0:
        sys.stderr.write(o.stderr)
    return o.returncode == 0


def main():
    scratch = tempfile.mkdtemp()
    out = os.path.join(scratch, "idx")
    km, kc = start_new_kernel(kernel_name="rankbook")
    assert run_cell(kc, cell(out, 0)) == "ok"
    start = time.time()
    assert run_cell(kc, cell(out, 1)) == "ok"
    span = (time.time() - start) * 1.2
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    killed = finished = bad = 0
    for trial in range(TRIALS):
        km, kc = start_new_kernel(kernel_name="rankbook")
        pid = km.provisioner.process.pid
        kc.execute(cell(out, trial))
        time.sleep(rng.uniform(0.0, span))
        if km.is_alive() and run_still_busy(kc):
            killed += 1
        else:
            finished += 1
        os.kill(pid, signal.SIGKILL)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        if not loads(out, scratch):
            bad += 1
            sys.stderr.write(f"trial {trial}: the index does not load after the kill\n")
    # A later write is not tripped by what the kills left, and clears it.
    km, kc = start_new_kernel(kernel_name="rankbook")
    status = run_cell(kc, cell(out, 0))
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    left = [n for n in os.listdir(scratch) if n.startswith(".rankbook-")]
    failures = []
    if status != "ok" or not loads(out, scratch):
        failures.append("the write after the trials failed")
    if bad:
        failures.append(f"{bad} indexes unreadable after a kill")
    if left:
        failures.append(f"temporary entries left: {left}")
    print(json.dumps({"trials": TRIALS, "killed_mid_cell": killed,
                      "finished_first": finished, "unreadable": bad,
                      "left": len(left), "failures": failures}))
    return 1 if failures else 0


def run_still_busy(kc):
    """Whether the cell has not replied yet."""
    try:
        kc.get_shell_msg(timeout=0.001)
        return False
    except Exception:
        return True


if __name__ == "__main__":
    sys.exit(main())

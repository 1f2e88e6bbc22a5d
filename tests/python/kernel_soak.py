"""A soak of the rankbook kernel (issue 22), run by tests/tests/kernel_soak.rs
(a short one) and scripts/kernel_soak.sh (the full size): many cells, some of
them failing, interrupts at random moments of long cells, and a client that
disconnects and reconnects. Checks that every request gets exactly one
reply, that the variables survive everything, and that the kernel's memory
stays flat after warm-up. Prints one JSON summary on stdout.

Sizes from the environment: SOAK_CELLS, SOAK_INTERRUPTS, SOAK_FAILING,
SOAK_RECONNECTS, SOAK_SEED."""

import json
import os
import random
import sys
import time

from jupyter_client.manager import start_new_kernel

TIMEOUT = 120
CELLS = int(os.environ.get("SOAK_CELLS", "10000"))
INTERRUPTS = int(os.environ.get("SOAK_INTERRUPTS", "100"))
FAILING = int(os.environ.get("SOAK_FAILING", "20"))
RECONNECTS = int(os.environ.get("SOAK_RECONNECTS", "5"))
rng = random.Random(int(os.environ.get("SOAK_SEED", "22")))

# The usual work of a notebook, rotating over a few variable names so that a
# growing memory is the kernel's, not the cells' own.
WORK = [
    "let a{i} = {n}; a{i} * 2",
    'let s{i} = "text " + {n}; s{i}.len()',
    "let v{i} = [1, 2, 3, {n}]; v{i}.len()",
    "let m{i} = #{{ k: {n}, name: \"x\" }}; m{i}.k",
    "fn f{i}(x) {{ x + {n} }} f{i}(1)",
    'let ds = beir("data/scifact-sample"); let ix = bm25(corpus(ds)); '
    'let r = search(ix, queries(ds, qrels(ds, "test")), 10); '
    'evaluate(qrels(ds, "test"), r, ["nDCG@10"])["nDCG@10"]',
]
LONG = "let s = 0; for i in 0..200000000 { s += i; } s"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Soak:
    def __init__(self):
        self.km, self.kc = start_new_kernel(kernel_name="rankbook")
        self.pid = self.km.provisioner.process.pid
        self.generation = 0  # a reconnected client numbers its messages anew
        self.replies = {}  # (generation, msg_id) -> number of execute replies
        self.stray = 0  # replies to requests this client never sent

    def execute(self, code):
        msg_id = self.kc.execute(code, store_history=True)
        self.replies[(self.generation, msg_id)] = 0
        return msg_id

    def wait(self, msg_id):
        """Reads shell replies until the one to `msg_id`; its content."""
        while True:
            msg = self.kc.get_shell_msg(timeout=TIMEOUT)
            parent = msg["parent_header"].get("msg_id")
            key = (self.generation, parent)
            if key not in self.replies:
                self.stray += 1
                continue
            self.replies[key] += 1
            if parent == msg_id:
                return msg["content"]

    def value(self, code):
        """The text/plain result of a cell."""
        msg_id = self.execute(code)
        self.wait(msg_id)
        while True:
            msg = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if (
                msg["parent_header"].get("msg_id") == msg_id
                and msg["msg_type"] == "execute_result"
            ):
                return msg["content"]["data"]["text/plain"]

    def reconnect(self):
        self.kc.stop_channels()
        self.kc = self.km.client()
        self.generation += 1
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=TIMEOUT)

    def drain_iopub(self):
        while True:
            try:
                self.kc.get_iopub_msg(timeout=0.01)
            except Exception:
                return


def main():
    # SOAK_WORK picks some of the usual cells (indices into WORK), to find
    # which one a growth comes from.
    picked = os.environ.get("SOAK_WORK")
    work = [WORK[int(k)] for k in picked.split(",")] if picked else WORK
    soak = Soak()
    failures = []
    soak.value("let keep = 12345; keep")
    # The moments of the rarer events, spread over the run.
    interrupt_at = set(rng.sample(range(1, CELLS), min(INTERRUPTS, CELLS - 1)))
    failing_at = set(rng.sample(range(1, CELLS), min(FAILING, CELLS - 1))) - interrupt_at
    reconnect_at = {CELLS * (k + 1) // (RECONNECTS + 1) for k in range(RECONNECTS)}
    # Warm-up: the first fifth of the cells (allocator pools, first loads).
    warmup = max(CELLS // 5, 1)
    curve = []  # (cells run, RSS KiB)
    counts = {"ok": 0, "error": 0, "aborted": 0, "interrupted": 0, "finished_first": 0}
    start = time.time()
    for i in range(CELLS):
        if i in reconnect_at:
            soak.reconnect()
            if soak.value("keep") != "12345":
                failures.append(f"cell {i}: keep lost after reconnecting")
        if i in interrupt_at:
            msg_id = soak.execute(LONG)
            time.sleep(rng.uniform(0.0, 0.3))
            soak.km.interrupt_kernel()
            reply = soak.wait(msg_id)
            if reply["status"] == "error":
                counts["interrupted"] += 1
            else:
                counts["finished_first"] += 1
            continue
        if i in failing_at:
            reply = soak.wait(soak.execute(f'throw "failing cell {i}"'))
            if reply["status"] != "error":
                failures.append(f"cell {i}: a failing cell replied {reply['status']}")
            counts["error"] += 1
            continue
        code = work[i % len(work)].format(i=i % 7, n=i)
        reply = soak.wait(soak.execute(code))
        counts[reply["status"]] = counts.get(reply["status"], 0) + 1
        if reply["status"] != "ok":
            failures.append(f"cell {i}: {code!r} replied {reply['status']}")
        if i % 100 == 0:
            soak.drain_iopub()
        if i % max(CELLS // 20, 1) == 0 or i == warmup:
            curve.append((i, rss_kib(soak.pid)))
    soak.drain_iopub()
    if soak.value("keep") != "12345":
        failures.append("keep lost at the end")
    curve.append((CELLS, rss_kib(soak.pid)))
    seconds = time.time() - start
    once = sum(1 for n in soak.replies.values() if n == 1)
    not_once = {m: n for m, n in soak.replies.items() if n != 1}
    if not_once:
        failures.append(f"{len(not_once)} requests not answered exactly once")
    if soak.stray:
        failures.append(f"{soak.stray} replies to requests never sent")
    # Growth: the highest RSS after warm-up against the highest during it.
    at_warmup = max(r for c, r in curve if c <= warmup)
    peak_after = max(r for c, r in curve if c > warmup)
    growth = (peak_after - at_warmup) / at_warmup
    if growth >= 0.05:
        failures.append(f"RSS grew {growth:.1%} after warm-up")
    soak.kc.stop_channels()
    soak.km.shutdown_kernel(now=True)
    print(
        json.dumps(
            {
                "cells": CELLS,
                "requests": len(soak.replies),
                "answered_once": once,
                "counts": counts,
                "reconnects": len(reconnect_at),
                "rss_kib": curve,
                "rss_growth_after_warmup": round(growth, 4),
                "seconds": round(seconds, 1),
                "failures": failures,
            }
        )
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Kernel start-to-idle and trivial-cell round trip: rankbook-kernel vs
ipykernel, measured in the same run with the same client (jupyter_client).
Usage: bench/kernel_roundtrip.sh (installs the kernelspec into a temporary
prefix and ipykernel into the bench venv)."""

import os
import statistics
import sys
import time

import socket
import subprocess
import tempfile
from queue import Empty

from jupyter_client.connect import write_connection_file
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager, start_new_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import SMOKE, smoke_note  # noqa: E402

CELLS = int(sys.argv[1]) if len(sys.argv) > 1 else (5 if SMOKE else 300)
STARTS = 1 if SMOKE else 5


def first_reply(kernel_name):
    """Launch to the first kernel_info reply: the kernel's own start-up, without
    jupyter_client's fixed wait in wait_for_ready (it flushes IOPub until 0.2 s
    pass with no message, the same 200 ms for every kernel)."""
    km = KernelManager(kernel_name=kernel_name)
    t0 = time.perf_counter()
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    while True:
        kc.kernel_info()
        try:
            if kc.get_shell_msg(timeout=0.05)["msg_type"] == "kernel_info_reply":
                break
        except Empty:
            pass
    elapsed = time.perf_counter() - t0
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return elapsed


def port_open(kernel_name):
    """The kernel process alone: exec (its kernelspec's argv) to its shell port
    accepting connections, without any client in the way."""
    spec = KernelSpecManager().get_kernel_spec(kernel_name)
    with tempfile.TemporaryDirectory() as d:
        path, info = write_connection_file(fname=os.path.join(d, "kernel.json"), ip="127.0.0.1")
        argv = [a.replace("{connection_file}", path) for a in spec.argv]
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", info["shell_port"]), timeout=0.01).close()
                    return time.perf_counter() - t0
                except OSError:
                    time.sleep(0.0005)
        finally:
            proc.kill()
            proc.wait()


def measure(kernel_name, code):
    opens = [port_open(kernel_name) for _ in range(STARTS)]
    replies = [first_reply(kernel_name) for _ in range(STARTS)]
    starts = []
    for _ in range(STARTS):
        t0 = time.perf_counter()
        km, kc = start_new_kernel(kernel_name=kernel_name)  # returns once kernel_info is answered
        starts.append(time.perf_counter() - t0)
        if _ < STARTS - 1:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    trips = []
    for _ in range(CELLS):
        t0 = time.perf_counter()
        reply = kc.execute_interactive(code, timeout=30, output_hook=lambda m: None)
        trips.append(time.perf_counter() - t0)
        assert reply["content"]["status"] == "ok", reply
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return statistics.median(starts), statistics.median(trips), statistics.median(replies), statistics.median(opens)


def main():
    rb = measure("rankbook", "1 + 1")
    if SMOKE:
        print(f"rankbook-kernel: exec to port open {rb[3] * 1000:.1f} ms, start to ready {rb[0] * 1000:.0f} ms, "
              f"launch to first reply {rb[2] * 1000:.0f} ms, "
              f"trivial cell {rb[1] * 1000:.2f} ms")
        smoke_note("ipykernel")
        return
    py = measure("python3", "1 + 1")
    print(f"kernel process, exec to shell port open (median of {STARTS}): rankbook {rb[3] * 1000:.1f} ms, "
          f"ipykernel {py[3] * 1000:.1f} ms -> {rb[3] / py[3]:.3f}x of ipykernel's (goal <= 0.25x)")
    print(f"launch to first kernel_info reply (median of {STARTS}; jupyter_client's ZMQ reconnect interval is 100 ms): "
          f"rankbook {rb[2] * 1000:.0f} ms, "
          f"ipykernel {py[2] * 1000:.0f} ms -> {rb[2] / py[2]:.2f}x of ipykernel's")
    print(f"start to ready, start_new_kernel (median of {STARTS}; includes jupyter_client's 200 ms IOPub flush):"
          f" rankbook {rb[0] * 1000:.0f} ms, ipykernel {py[0] * 1000:.0f} ms -> {rb[0] / py[0]:.2f}x of ipykernel's")
    print(f"trivial cell round trip (median of {CELLS}): rankbook {rb[1] * 1000:.2f} ms, ipykernel {py[1] * 1000:.2f} ms"
          f" -> {py[1] / rb[1]:.2f}x")


if __name__ == "__main__":
    main()

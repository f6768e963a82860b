"""Emulator figures for the closing notes: time to the ready line, SELECT 1 round trip, 50 clients.

Run on demand: ``.venv/bin/python tests/benchmarks/bench_emulator.py``. Everything is measured
in this one run, on this machine, through unmodified pyodps.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

from odps import ODPS, options


def time_to_ready(runs: int = 5) -> list[float]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "clarityq_emulator", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        json.loads(proc.stdout.readline())
        timings.append(time.perf_counter() - started)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    return timings


def main() -> None:
    from clarityq_emulator import start_emulator

    ready = time_to_ready()
    print(f"time to ready line (s): median {statistics.median(ready):.3f}  min {min(ready):.3f}  max {max(ready):.3f}")
    options.retry_times = 0
    with start_emulator() as emu:
        info = emu.info
        odps = ODPS(info.access_key_id, info.access_key_secret, info.project, endpoint=info.maxcompute_endpoint)
        odps.execute_sql("SELECT 1")  # warm-up: tenants, logview and tunnel discovery
        rounds = []
        for _ in range(100):
            started = time.perf_counter()
            with odps.execute_sql("SELECT 1").open_reader() as reader:
                assert [list(r.values) for r in reader] == [[1]]
            rounds.append(time.perf_counter() - started)
        rounds.sort()
        print(
            f"SELECT 1 + open_reader round trip (ms): p50 {rounds[49] * 1000:.1f}  p90 {rounds[89] * 1000:.1f}  "
            f"max {rounds[-1] * 1000:.1f}"
        )

        failures: list[BaseException] = []
        latencies: list[float] = []
        lock = threading.Lock()

        def client(i: int) -> None:
            try:
                own = ODPS(info.access_key_id, info.access_key_secret, info.project, endpoint=info.maxcompute_endpoint)
                started = time.perf_counter()
                with own.execute_sql(f"SELECT {i}, COUNT(*) FROM orders").open_reader() as reader:
                    rows = [list(r.values) for r in reader]
                assert rows[0][0] == i
                with lock:
                    latencies.append(time.perf_counter() - started)
            except BaseException as exc:
                with lock:
                    failures.append(exc)

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        wall = time.perf_counter() - started
        latencies.sort()
        print(
            f"50 concurrent clients: {len(latencies)} ok, {len(failures)} failed, wall {wall:.2f} s, "
            f"per-client p50 {statistics.median(latencies) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()

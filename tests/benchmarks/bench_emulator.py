"""Emulator figures, before and after a change, measured in one run through unmodified pyodps.

Run on demand: ``.venv/bin/python tests/benchmarks/bench_emulator.py [--before REV]``. The "before"
side is the emulator of revision ``REV`` (default: the merge base with ``main``), extracted with
``git archive`` into a temporary directory and run from there; the "after" side is the installed
``clarityq-emulator``. Both run as their own processes at the same time, measured in turns:

- time from process start to the ready line (median of 5);
- ``SELECT 1`` + ``open_reader`` round trip, p50 and p90 of 100, the two sides taking turns;
- 50 concurrent pyodps clients each running a query (median wall time of 3, failures);
- 10 MB through the table tunnel: ``write_table`` then ``read_table`` (MB/s), where served.

Ratios are after / before (lower is better for times, higher for throughput).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

from odps import ODPS, options

REPO = Path(__file__).resolve().parents[2]
ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("ODPS_")}

OLD_MAIN = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from airflow_provider_clarityq.emulator.__main__ import main; sys.exit(main(sys.argv[1:]))"
)


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True).stdout


def old_command(rev: str, workdir: Path) -> list[str]:
    """The emulator as it was at ``rev``: its package extracted and run from ``workdir``."""
    archive = _git("archive", "--format=tar", rev, "airflow_provider_clarityq")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(workdir, filter="data")
    return [sys.executable, "-c", OLD_MAIN.format(root=str(workdir))]


NEW_COMMAND = [str(Path(sys.executable).with_name("clarityq-emulator"))]


@contextmanager
def running(command: list[str]) -> Any:
    proc = subprocess.Popen(
        [*command, "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=ENV,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    try:
        yield info
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def time_to_ready(command: list[str]) -> float:
    started = time.perf_counter()
    with running(command):
        return time.perf_counter() - started


def _odps(info: dict[str, Any]) -> ODPS:
    return ODPS(info["access_key_id"], info["access_key_secret"], info["project"], endpoint=info["maxcompute_endpoint"])


def select_rounds(infos: dict[str, dict[str, Any]], rounds: int = 100) -> dict[str, tuple[float, float]]:
    """p50 and p90 of ``SELECT 1`` + ``open_reader`` per side, the sides taking turns round by round."""
    clients = {name: _odps(info) for name, info in infos.items()}
    for odps in clients.values():
        odps.execute_sql("SELECT 1")  # warm-up: tenants, logview and tunnel discovery
    timings: dict[str, list[float]] = {name: [] for name in infos}
    for _ in range(rounds):
        for name, odps in clients.items():
            started = time.perf_counter()
            with odps.execute_sql("SELECT 1").open_reader() as reader:
                assert [list(r.values) for r in reader] == [[1]]
            timings[name].append(time.perf_counter() - started)
    result = {}
    for name, values in timings.items():
        values.sort()
        result[name] = (values[len(values) // 2], values[int(len(values) * 0.9)])
    return result


def concurrent_clients(info: dict[str, Any], clients: int = 50) -> tuple[float, int]:
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        try:
            with _odps(info).execute_sql(f"SELECT {i}, COUNT(*) FROM orders").open_reader() as reader:
                assert next(list(r.values) for r in reader)[0] == i
        except BaseException as exc:  # counted below
            with lock:
                failures.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return time.perf_counter() - started, len(failures)


def tunnel_throughput(info: dict[str, Any], megabytes: int = 10) -> tuple[float, float] | None:
    """MB/s of ``write_table`` and ``read_table`` of about ``megabytes`` MB; None if not served."""
    odps = _odps(info)
    payload = "x" * 1000
    rows = [[i, payload] for i in range(megabytes * 1000)]
    try:
        odps.execute_sql("DROP TABLE IF EXISTS bench_tunnel")
        odps.execute_sql("CREATE TABLE bench_tunnel (id BIGINT, body STRING)")
        started = time.perf_counter()
        odps.write_table("bench_tunnel", rows)
        upload = time.perf_counter() - started
        started = time.perf_counter()
        count = sum(1 for _ in odps.read_table("bench_tunnel"))
        download = time.perf_counter() - started
    except Exception as exc:  # the old emulator has no table tunnel
        print(f"  (table tunnel not served: {type(exc).__name__})")
        return None
    assert count == len(rows)
    return megabytes / upload, megabytes / download


def _ratio(after: float, before: float) -> str:
    return f"{after / before:.2f}x" if before else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="revision whose emulator is the baseline (default: merge base with main)")
    args = parser.parse_args()
    before_rev = args.before or _git("merge-base", "HEAD", "main").decode().strip()
    options.retry_times = 0
    with tempfile.TemporaryDirectory(prefix="clarityq-bench-") as tmp:
        sides: dict[str, list[str]] = {"before": old_command(before_rev, Path(tmp)), "after": NEW_COMMAND}
        print(f"before: {before_rev[:12]} (extracted)   after: working tree ({NEW_COMMAND[0]})")
        ready: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(5):
            for name, command in sides.items():
                ready[name].append(time_to_ready(command))
        results: dict[str, dict[str, Any]] = {name: {"ready": statistics.median(ready[name])} for name in sides}
        with running(sides["before"]) as before_info, running(sides["after"]) as after_info:
            infos = {"before": before_info, "after": after_info}
            for name, figures in select_rounds(infos).items():
                results[name]["select"] = figures
            walls: dict[str, list[float]] = {name: [] for name in sides}
            for _ in range(3):
                for name, info in infos.items():
                    wall, failed = concurrent_clients(info)
                    walls[name].append(wall)
                    results[name]["failed"] = results[name].get("failed", 0) + failed
            for name, info in infos.items():
                results[name]["clients"] = (statistics.median(walls[name]), results[name]["failed"])
                results[name]["tunnel"] = tunnel_throughput(info)
    b, a = results["before"], results["after"]
    ready_ratio = _ratio(a["ready"], b["ready"])
    print(f"time to ready line      before {b['ready']:.3f} s   after {a['ready']:.3f} s   ({ready_ratio})")
    for label, index in (("p50", 0), ("p90", 1)):
        bv, av = b["select"][index] * 1000, a["select"][index] * 1000
        print(f"SELECT 1 round trip {label} before {bv:.1f} ms   after {av:.1f} ms   ({_ratio(av, bv)})")
    print(
        f"50 concurrent clients   before {b['clients'][0]:.2f} s ({b['clients'][1]} failed)   "
        f"after {a['clients'][0]:.2f} s ({a['clients'][1]} failed)   ({_ratio(a['clients'][0], b['clients'][0])})"
    )
    for label, index in (("upload", 0), ("download", 1)):
        bt = f"{b['tunnel'][index]:.1f} MB/s" if b["tunnel"] else "not served"
        at = f"{a['tunnel'][index]:.1f} MB/s" if a["tunnel"] else "not served"
        ratio = _ratio(a["tunnel"][index], b["tunnel"][index]) if a["tunnel"] and b["tunnel"] else "n/a"
        print(f"10 MB tunnel {label:<9} before {bt}   after {at}   ({ratio})")


if __name__ == "__main__":
    main()

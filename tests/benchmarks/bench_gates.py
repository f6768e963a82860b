"""Gate benchmark: N deferred health gates in one event loop vs N poking sensors each holding a slot.

Both sides run the same checks against the same emulator (a separate process on loopback), with the
same poll interval, for the same time window, while MaxCompute answers every SQL submission with 503:
every gate stays UNREACHABLE and keeps waiting until its deadline. Each side runs in a fresh interpreter
that reports its own peak RSS (``ru_maxrss``), CPU seconds (user + system), peak thread count and the
number of check rounds it did.

* deferred: N ``ClarityQHealthTrigger`` instances awaited in one asyncio loop (what a triggerer does);
  0 worker slots, 1 process.
* poke: N ``ClarityQHealthSensor(mode="poke")`` in N threads, each a worker slot. This is a floor for
  the poke side: real Airflow runs each task in its own process, so ``--process-baseline`` also measures
  one idle task-like process (Airflow SDK + provider + pyodps imported) to extrapolate N of them.

The reader is provisioned on the emulator with the real RAM SDK and pyodps (seed 000 steps 2-3).

Run: ``python tests/benchmarks/bench_gates.py [--gates 200] [--window 30] [--poll 5] [--json]`` (not
collected by pytest). Loopback only; bounded by ``--window`` plus start-up (about a minute in total).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CONN_ID = "clarityq_reader"
MIB = 1024.0


# --------------------------------------------------------------------------------------------------
# Children (fresh interpreters)


def _usage() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_rss_mib": usage.ru_maxrss / MIB, "cpu_s": usage.ru_utime + usage.ru_stime}


class _ThreadPeak:
    """Samples the thread count every 50 ms."""

    def __init__(self) -> None:
        self.peak = threading.active_count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, threading.active_count())

    def __enter__(self) -> _ThreadPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def child_deferred(gates: int, window: float, poll: float) -> dict[str, Any]:
    import asyncio
    from collections import Counter

    from airflow_provider_clarityq.triggers.health import ClarityQHealthTrigger

    before = _usage()
    started = time.perf_counter()

    async def one() -> dict[str, Any]:
        trigger = ClarityQHealthTrigger(maxcompute_conn_id=CONN_ID, end_time=time.time() + window, poll_interval=poll)
        generator = trigger.run()
        event = await generator.__anext__()
        await generator.aclose()
        payload: dict[str, Any] = event.payload
        return payload

    async def everything() -> list[dict[str, Any]]:
        return await asyncio.gather(*(one() for _ in range(gates)))

    with _ThreadPeak() as threads:
        events = asyncio.run(everything())
    after = _usage()
    return {
        "mode": "deferred",
        "gates": gates,
        "worker_slots": 0,
        "processes": 1,
        "statuses": dict(Counter(e["status"] for e in events)),
        "rounds": sum(int(e.get("attempts", 0)) for e in events),
        "wall_s": time.perf_counter() - started,
        "peak_threads": threads.peak,
        "import_rss_mib": before["peak_rss_mib"],
        **after,
        "cpu_s": after["cpu_s"] - before["cpu_s"],
    }


def child_poke(gates: int, window: float, poll: float) -> dict[str, Any]:
    from collections import Counter

    from airflow.sdk.exceptions import AirflowSensorTimeout

    from airflow_provider_clarityq.sensors.health import ClarityQHealthSensor

    rounds = 0
    lock = threading.Lock()
    statuses: Counter[str] = Counter()

    class CountingSensor(ClarityQHealthSensor):
        def poke(self, context: Any) -> Any:
            nonlocal rounds
            with lock:
                rounds += 1
            return super().poke(context)

    def slot(index: int) -> None:
        sensor = CountingSensor(
            task_id=f"gate_{index}", maxcompute_conn_id=CONN_ID, mode="poke", poke_interval=poll, timeout=window
        )
        try:
            sensor.execute({})  # type: ignore[arg-type]
            outcome = "healthy"
        except AirflowSensorTimeout:
            outcome = "timeout"
        except Exception as exc:
            outcome = type(exc).__name__
        with lock:
            statuses[outcome] += 1

    before = _usage()
    started = time.perf_counter()
    with _ThreadPeak() as threads:
        workers = [threading.Thread(target=slot, args=(i,), name=f"slot-{i}") for i in range(gates)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    after = _usage()
    return {
        "mode": "poke",
        "gates": gates,
        "worker_slots": gates,
        "processes": 1,
        "statuses": dict(statuses),
        "rounds": rounds,
        "wall_s": time.perf_counter() - started,
        "peak_threads": threads.peak,
        "import_rss_mib": before["peak_rss_mib"],
        **after,
        "cpu_s": after["cpu_s"] - before["cpu_s"],
    }


def child_process_baseline() -> dict[str, Any]:
    """What one idle task process costs before it does anything: Airflow SDK, our sensor, pyodps, SDKs."""
    import airflow.sdk  # noqa: F401
    import alibabacloud_ram20150501.client  # noqa: F401
    import alibabacloud_sts20150401.client  # noqa: F401
    import odps  # noqa: F401

    import airflow_provider_clarityq.hooks.maxcompute
    import airflow_provider_clarityq.sensors.health  # noqa: F401

    return {"mode": "process_baseline", **_usage()}


# --------------------------------------------------------------------------------------------------
# Parent: emulator, provisioning, children, report


EMULATOR = """
import signal, sys, threading
from clarityq_emulator import build_emulator, serve
from clarityq_emulator.core.limits import Limits
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
running = serve(build_emulator(), limits=Limits(max_connections=int(sys.argv[1])))
print(running.info.to_json(), flush=True)
stop.wait()
running.stop()
"""


def start_emulator(workdir: Path, workers: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """The emulator in its own process, allowing enough connections not to be the bottleneck.

    Its default limit (1024 open connections) would answer 503 once a few thousand clients hold pooled
    connections -- a limit of the emulator, not of MaxCompute, that would distort the poke side most
    (all its gates start at once).
    """
    log = (workdir / "emulator.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", EMULATOR, str(workers)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=REPO,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"the emulator did not start; see {workdir / 'emulator.log'}")
    info: dict[str, Any] = json.loads(line)
    return process, info


def support(info: dict[str, Any], method: str, route: str, payload: dict[str, Any] | None = None) -> Any:
    base = info["maxcompute_endpoint"].rsplit("/api", 1)[0]
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(  # noqa: S310 - loopback emulator only
        f"{base}/_emulator{route}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def provision_reader(info: dict[str, Any]) -> dict[str, Any]:
    """Seed 000 steps 2-3 with the real RAM SDK and pyodps, as the project owner."""
    from alibabacloud_ram20150501 import models as ram_models
    from alibabacloud_ram20150501.client import Client as RamClient
    from alibabacloud_tea_openapi.utils_models import Config
    from odps import ODPS

    ram = RamClient(
        Config(
            access_key_id=info["access_key_id"],
            access_key_secret=info["access_key_secret"],
            endpoint=info["ram_endpoint"],
            protocol="http",
        )
    )
    ram.create_user(ram_models.CreateUserRequest(user_name="clarityq"))
    key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="clarityq")).body.access_key
    uid = ram.get_user(ram_models.GetUserRequest(user_name="clarityq")).body.user.user_id
    owner = ODPS(
        info["access_key_id"],
        info["access_key_secret"],
        info["project"],
        endpoint=info["maxcompute_endpoint"],
        overwrite_global=False,
    )
    principal = f"RAM${info['account_id']}:{uid}"
    for statement in (
        f"ADD USER {principal};",
        "CREATE ROLE clarityq_reader;",
        f"GRANT CreateInstance, List ON PROJECT {info['project']} TO ROLE clarityq_reader;",
        "GRANT Describe, Select ON TABLE * TO ROLE clarityq_reader;",
        f"GRANT clarityq_reader TO {principal};",
    ):
        owner.execute_security_query(statement)
    service = f"http://{info['ram_endpoint']}"
    return {
        "conn_type": "clarityq_maxcompute",
        "login": key.access_key_id,
        "password": key.access_key_secret,
        "host": info["maxcompute_endpoint"],
        "schema": info["project"],
        "extra": {"ram_endpoint": service, "sts_endpoint": service},
    }


def run_child(args: list[str], env: dict[str, str], limit: float, script: str = __file__) -> dict[str, Any]:
    """Run ``script --child *args`` in a fresh interpreter; its last stdout line is its JSON result."""
    result = subprocess.run(
        [sys.executable, script, "--child", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=limit,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{result.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def child_env(workdir: Path, connection: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        {
            "AIRFLOW_HOME": str(workdir / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(connection),
            "PYTHONPATH": str(REPO),
        }
    )
    return env


def report(results: dict[str, dict[str, Any]], gates: int, window: float, poll: float) -> str:
    deferred, poke, base = results["deferred"], results["poke"], results["process_baseline"]
    rows = [
        ("worker slots held", f"{deferred['worker_slots']}", f"{poke['worker_slots']}"),
        ("processes", "1 (triggerer)", f"1 here; {gates} in Airflow"),
        ("peak RSS (MiB)", f"{deferred['peak_rss_mib']:.0f}", f"{poke['peak_rss_mib']:.0f}"),
        ("  of which imports (MiB)", f"{deferred['import_rss_mib']:.0f}", f"{poke['import_rss_mib']:.0f}"),
        ("CPU seconds", f"{deferred['cpu_s']:.1f}", f"{poke['cpu_s']:.1f}"),
        ("peak threads", f"{deferred['peak_threads']}", f"{poke['peak_threads']}"),
        ("check rounds", f"{deferred['rounds']}", f"{poke['rounds']}"),
        (
            "CPU ms per round",
            f"{1000 * deferred['cpu_s'] / max(deferred['rounds'], 1):.0f}",
            f"{1000 * poke['cpu_s'] / max(poke['rounds'], 1):.0f}",
        ),
        ("wall seconds", f"{deferred['wall_s']:.1f}", f"{poke['wall_s']:.1f}"),
        ("outcomes", json.dumps(deferred["statuses"]), json.dumps(poke["statuses"])),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [
        f"{gates} gates, {window:g} s window, poll every {poll:g} s, every SQL submission answered 503",
        f"{'':<{width}}  {'deferred':>16}  {'poke (threads)':>24}",
        *(f"{name:<{width}}  {a:>16}  {b:>24}" for name, a, b in rows),
        "",
        f"ratios poke/deferred: RSS {poke['peak_rss_mib'] / deferred['peak_rss_mib']:.2f}x, "
        f"CPU {poke['cpu_s'] / max(deferred['cpu_s'], 1e-9):.2f}x, "
        f"threads {poke['peak_threads'] / max(deferred['peak_threads'], 1):.1f}x, "
        f"worker slots {gates}:0",
        f"one idle task process (Airflow SDK + provider + pyodps + SDKs): {base['peak_rss_mib']:.0f} MiB -> "
        f"{gates} poke tasks as processes need about {gates * base['peak_rss_mib'] / 1024:.1f} GiB before doing "
        f"anything, vs {deferred['peak_rss_mib']:.0f} MiB for the triggerer",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gates", type=int, default=200)
    parser.add_argument("--window", type=float, default=30.0, help="seconds each gate waits before timing out")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between check rounds")
    parser.add_argument("--emulator-workers", type=int, default=4096, help="emulator connection limit")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        mode = args.child[0]
        if mode == "process_baseline":
            print(json.dumps(child_process_baseline()))
            return 0
        gates, window, poll = int(args.child[1]), float(args.child[2]), float(args.child[3])
        runner = child_deferred if mode == "deferred" else child_poke
        print(json.dumps(runner(gates, window, poll)))
        return 0

    with tempfile.TemporaryDirectory(prefix="clarityq-bench-") as tmp:
        workdir = Path(tmp)
        emulator, info = start_emulator(workdir, args.emulator_workers)
        try:
            connection = provision_reader(info)
            # Every SQL submission gets a 503 (POST is not retried by pyodps): all gates stay UNREACHABLE.
            support(info, "POST", "/faults", {"service": "maxcompute", "method": "POST", "path": "/instances",
                                              "status": 503, "count": 10_000_000})  # fmt: skip
            env = child_env(workdir, connection)
            limit = args.window * 3 + 120
            results: dict[str, dict[str, Any]] = {}
            for mode in ("deferred", "poke"):
                support(info, "DELETE", "/requests")
                results[mode] = run_child([mode, str(args.gates), str(args.window), str(args.poll)], env, limit)
                results[mode]["emulator_requests"] = len(support(info, "GET", "/requests"))
            results["process_baseline"] = run_child(["process_baseline"], env, 120)
        finally:
            emulator.terminate()
            emulator.wait(timeout=15)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(report(results, args.gates, args.window, args.poll))
    return 0


if __name__ == "__main__":
    sys.exit(main())

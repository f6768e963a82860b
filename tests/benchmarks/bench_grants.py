"""Access-as-code benchmark against the emulator: read cost vs table count, concurrent vs sequential apply,
and the cost of a converged re-run - all counted from the emulator's request log.

1. **State read vs table count**: ``plan`` runs of specs listing 10 and ``--tables`` (10,000) explicit
   tables; the requests sent must be the same (the read never asks per table).
2. **Apply N missing table grants** with ``--latency`` seconds injected on each GRANT (the emulator's
   ``delay`` fault), sequential (concurrency 1) vs bounded concurrency (``--concurrency``, default 8).
   Goal: >= 4x faster.
3. **Converged re-run**: an ``apply`` that finds nothing to do, in a fresh interpreter (as an Airflow task
   would run), counted in total - pyodps' unasked ``/logview/host`` and ``/tenants`` included. Goal: <= 5.

Run: ``python tests/benchmarks/bench_grants.py [--tables 10000] [--apply-n 200] [--latency 0.05]
[--concurrency 8] [--json] [--check]`` (not collected by pytest).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from clarityq_emulator import RunningEmulator, start_emulator  # noqa: E402

from airflow_provider_clarityq.core.alibaba.clients import ClientBundle  # noqa: E402
from airflow_provider_clarityq.core.alibaba.failures import RetryPolicy  # noqa: E402
from airflow_provider_clarityq.core.connection import parse_connection  # noqa: E402
from airflow_provider_clarityq.core.grants.backend import AlibabaBackend  # noqa: E402
from airflow_provider_clarityq.core.grants.run import run_access  # noqa: E402
from airflow_provider_clarityq.core.grants.spec import load_spec  # noqa: E402

PROJECT = "bench_prj"
SPEEDUP_GOAL = 4.0
CONVERGED_GOAL = 5
FAST = RetryPolicy(attempts=5, base=0.05, cap=0.2)

CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from airflow_provider_clarityq.core.connection import parse_connection  # noqa: E402
from airflow_provider_clarityq.core.alibaba.clients import ClientBundle  # noqa: E402
from airflow_provider_clarityq.core.grants.backend import AlibabaBackend  # noqa: E402
from airflow_provider_clarityq.core.grants.run import run_access  # noqa: E402
fields, spec = json.loads(sys.argv[2]), json.loads(sys.argv[3])
settings = parse_connection(fields)
result = run_access(AlibabaBackend(ClientBundle(settings)), spec, "apply")
print(json.dumps({"planned": len(result.plan.steps), "engine_requests": result.request_total}))
"""


def seed(tables: int) -> dict[str, Any]:
    """A project with ``tables`` empty tables plus ``base`` (for the setup grant)."""
    names = ["base", *(f"t{i:05d}" for i in range(tables))]
    return {
        "default_project": PROJECT,
        "projects": [
            {"name": PROJECT, "tables": [{"name": n, "columns": [{"name": "a", "type": "bigint"}]} for n in names]}
        ],
    }


def conn_fields(emu: RunningEmulator) -> dict[str, Any]:
    info = emu.info
    return {
        "login": info.access_key_id,
        "password": info.access_key_secret,
        "host": info.maxcompute_endpoint,
        "schema": info.project,
        "extra": json.dumps(
            {"ram_endpoint": f"http://{info.ram_endpoint}", "sts_endpoint": f"http://{info.sts_endpoint}"}
        ),
    }


def backend(emu: RunningEmulator) -> AlibabaBackend:
    settings = parse_connection(conn_fields(emu))
    return AlibabaBackend(ClientBundle(settings))


def spec_for(tables: list[str]) -> dict[str, Any]:
    return {"projects": [{"project": PROJECT, "tables": tables}]}


def prepare(emu: RunningEmulator) -> None:
    """Seed 000 with one table grant: user, membership, role, project grants and binding in place."""
    result = run_access(backend(emu), spec_for(["base"]), "apply", retry=FAST)
    assert result.ok and result.verified, result.to_text()


def log_summary(emu: RunningEmulator) -> dict[str, Any]:
    entries = emu.requests()
    kinds = Counter(
        r["action"]
        or (r["statement"].split(" ")[0] + " " + r["statement"].split(" ")[1] if r["statement"] else r["path"])
        for r in entries
    )
    return {"total": len(entries), "by_kind": dict(sorted(kinds.items()))}


def bench_reads(tables: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with start_emulator(seed=seed(0)) as emu:
        prepare(emu)
        for n in (10, tables):
            names = [f"t{i:05d}" for i in range(n)]
            load_spec(spec_for(names))  # validate outside the timing
            emu.clear_requests()
            started = time.perf_counter()
            result = run_access(backend(emu), spec_for(names), "plan", retry=FAST)
            elapsed = time.perf_counter() - started
            out[str(n)] = {**log_summary(emu), "planned_steps": len(result.plan.steps), "seconds": round(elapsed, 3)}
    return out


def bench_apply(n: int, latency: float, concurrency: int) -> dict[str, Any]:
    names = [f"t{i:05d}" for i in range(n)]
    timings: dict[str, Any] = {}
    for label, workers in (("sequential", 1), ("concurrent", concurrency)):
        with start_emulator(seed=seed(n)) as emu:
            prepare(emu)
            emu.add_fault(service="maxcompute", statement="ON TABLE t", delay=latency, count=n)
            emu.clear_requests()
            started = time.perf_counter()
            result = run_access(backend(emu), spec_for(names), "apply", retry=FAST, concurrency=workers, verify=False)
            elapsed = time.perf_counter() - started
            assert result.ok and len(result.executed) == n, result.to_text()
            timings[label] = {"seconds": round(elapsed, 3), "grants": len(result.executed), "workers": workers}
    timings["speedup"] = round(timings["sequential"]["seconds"] / timings["concurrent"]["seconds"], 2)
    return timings


def bench_converged(n: int) -> dict[str, Any]:
    names = [f"t{i:05d}" for i in range(n)]
    with start_emulator(seed=seed(n)) as emu:
        prepare(emu)
        assert run_access(backend(emu), spec_for(names), "apply", retry=FAST).ok
        emu.clear_requests()
        in_process = run_access(backend(emu), spec_for(names), "apply", retry=FAST)
        in_process_log = log_summary(emu)
        emu.clear_requests()
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(REPO), json.dumps(conn_fields(emu)), json.dumps(spec_for(names))],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        reported = json.loads(child.stdout.strip().splitlines()[-1])
        return {
            "tables": n,
            "fresh_process": {**log_summary(emu), **reported},
            "same_process": {**in_process_log, "engine_requests": in_process.request_total},
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=10_000)
    parser.add_argument("--apply-n", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()

    reads = bench_reads(args.tables)
    apply = bench_apply(args.apply_n, args.latency, args.concurrency)
    converged = bench_converged(args.apply_n)
    small, large = reads["10"], reads[str(args.tables)]
    goals = {
        "reads_independent_of_tables": small["by_kind"] == large["by_kind"],
        f"apply_speedup_ge_{SPEEDUP_GOAL:g}x": apply["speedup"] >= SPEEDUP_GOAL,
        f"converged_rerun_le_{CONVERGED_GOAL}_requests": converged["fresh_process"]["total"] <= CONVERGED_GOAL,
    }
    report = {"reads": reads, "apply": apply, "converged": converged, "goals": goals}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"State read, plan of 10 tables:      {small['total']} requests {small['by_kind']}")
        print(
            f"State read, plan of {args.tables} tables: {large['total']} requests ({large['planned_steps']} steps "
            f"planned in {large['seconds']} s)"
        )
        print(
            f"Apply {args.apply_n} table grants, {args.latency * 1000:.0f} ms latency each: sequential "
            f"{apply['sequential']['seconds']} s, {args.concurrency} workers {apply['concurrent']['seconds']} s "
            f"-> {apply['speedup']}x"
        )
        fresh, same = converged["fresh_process"], converged["same_process"]
        print(f"Converged re-run, fresh process: {fresh['total']} requests {fresh['by_kind']}")
        print(f"Converged re-run, same process:  {same['total']} requests {same['by_kind']}")
        print("Goals: " + ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in goals.items()))
    return 0 if all(goals.values()) or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())

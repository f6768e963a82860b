"""Shared-check benchmark: deferred health gates with one check per connection per interval, vs one per gate.

Each scenario runs in a fresh interpreter, all gates in one asyncio loop as in a triggerer, against the
emulator (its own process) with every SQL submission answered 503, so every gate keeps waiting:

* ``shared`` - :class:`~airflow_provider_clarityq.triggers.health.ClarityQHealthTrigger` as shipped: gates on
  the same connection share one in-flight check, its result and one client bundle;
* ``per-gate`` - the design before it (see the git history of ``triggers/health.py``): every gate builds its
  own clients and runs its own full check every interval. Reproduced here on the same check code.

Layouts: 1 gate on 1 connection, 1,000 gates on 1 connection, 1,000 gates over 10 connections. Reported:
requests to the service per interval, peak RSS above the imports (``ru_maxrss`` minus RSS after imports),
and CPU per check round, which at a 60 s interval is the CPU per minute (and /60 the share of one core).

Run: ``python tests/benchmarks/bench_shared_gates.py [--poll 10] [--rounds 3] [--gates 1000] [--json]``
(not collected by pytest; about five minutes on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gates import (
    REPO,
    _usage,
    child_env,
    provision_reader,
    run_child,
    start_emulator,
    support,
)

CONNECTIONS = [f"clarityq_reader_{i}" for i in range(10)]


def child(design: str, gates: int, connections: int, poll: float, rounds: int) -> dict[str, Any]:
    import asyncio

    from airflow_provider_clarityq.triggers.health import ClarityQHealthTrigger, _load_runtime

    class PerGateTrigger(ClarityQHealthTrigger):
        """Every gate its own clients and its own check each round (the design before shared checks)."""

        async def _wait(self, runtime: Any) -> Any:
            from airflow.sdk import BaseHook

            from airflow_provider_clarityq.core.health.options import HealthOptions
            from airflow_provider_clarityq.core.health.probe import connection_probe
            from airflow_provider_clarityq.core.health.runner import run_health_checks

            options = HealthOptions.from_dict(self.options)
            conn = await BaseHook.aget_connection(self.maxcompute_conn_id)
            fields = {"login": conn.login, "password": conn.password, "host": conn.host, "schema": conn.schema,
                      "port": conn.port, "extra": conn.extra}  # fmt: skip
            probe = await asyncio.to_thread(connection_probe, fields, conn_id=self.maxcompute_conn_id, options=options)
            attempts = 0
            while True:
                attempts += 1
                report = await asyncio.to_thread(run_health_checks, probe, options)
                remaining = self.end_time - time.time()
                if report.gate(accept_degraded=False) != "wait" or remaining <= 0:
                    return self._event("timeout", report, attempts)
                await asyncio.sleep(min(self.poll_interval, remaining))

    _load_runtime()
    import odps  # noqa: F401 - what a first check imports, counted as imports on both sides

    before = _usage()
    cls = ClarityQHealthTrigger if design == "shared" else PerGateTrigger
    end = time.time() + poll * rounds - poll / 2  # each gate sees `rounds` rounds, then its deadline
    triggers = [
        cls(maxcompute_conn_id=CONNECTIONS[i % connections], end_time=end, poll_interval=poll) for i in range(gates)
    ]

    async def drain(trigger: ClarityQHealthTrigger) -> dict[str, Any]:
        payloads = [e.payload async for e in trigger.run()]
        first: dict[str, Any] = payloads[0]
        return first

    async def everything() -> list[dict[str, Any]]:
        return await asyncio.gather(*(drain(t) for t in triggers))

    started = time.perf_counter()
    events = asyncio.run(everything())
    after = _usage()
    return {
        "design": design,
        "gates": gates,
        "connections": connections,
        "statuses": sorted({e["status"] for e in events}),
        "gate_rounds": sum(int(e["attempts"]) for e in events) / gates,
        "wall_s": time.perf_counter() - started,
        "import_rss_mib": before["peak_rss_mib"],
        "peak_rss_mib": after["peak_rss_mib"],
        "cpu_s": after["cpu_s"] - before["cpu_s"],
    }


def report(rows: list[dict[str, Any]], poll: float) -> str:
    lines = [
        f"every SQL submission answered 503; poll interval {poll:g} s; CPU per round = CPU per minute at 60 s",
        f"{'design':<9} {'gates':>5} {'conns':>5} {'req/interval':>12} {'RSS above imports':>17} "
        f"{'total RSS':>9} {'CPU/round':>9} {'core @60s':>9}",
    ]
    for r in rows:
        intervals = max(r["wall_s"] / poll, 1.0)
        rounds = max(r["gate_rounds"], 1.0)
        cpu_round = r["cpu_s"] / rounds
        lines.append(
            f"{r['design']:<9} {r['gates']:>5} {r['connections']:>5} {r['requests'] / intervals:>12.0f} "
            f"{r['peak_rss_mib'] - r['import_rss_mib']:>14.0f} MiB {r['peak_rss_mib']:>5.0f} MiB "
            f"{cpu_round:>8.2f}s {100 * cpu_round / 60:>8.1f}%"
        )
    by = {(r["design"], r["gates"], r["connections"]): r for r in rows}
    for gates, conns in ((1000, 1), (1000, 10)):
        old, new = by.get(("per-gate", gates, conns)), by.get(("shared", gates, conns))
        if old and new:
            rss_old = old["peak_rss_mib"] - old["import_rss_mib"]
            rss_new = max(new["peak_rss_mib"] - new["import_rss_mib"], 1)
            lines.append(
                f"{gates} gates / {conns} connection(s): per-gate vs shared - requests "
                f"{old['requests'] / max(new['requests'], 1):.0f}x, CPU {old['cpu_s'] / max(new['cpu_s'], 1e-9):.1f}x, "
                f"RSS above imports {rss_old / rss_new:.1f}x"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--poll", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gates", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        design, gates, conns, poll, rounds = args.child
        print(json.dumps(child(design, int(gates), int(conns), float(poll), int(rounds))))
        return 0

    layouts = [(1, 1), (args.gates, 1), (args.gates, 10)]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="clarityq-bench-") as tmp:
        workdir = Path(tmp)
        emulator, info = start_emulator(workdir, 4096)
        try:
            connection = provision_reader(info)
            support(info, "POST", "/faults", {"service": "maxcompute", "method": "POST", "path": "/instances",
                                              "status": 503, "count": 10_000_000})  # fmt: skip
            env = child_env(workdir, connection)
            env.update({f"AIRFLOW_CONN_{c.upper()}": json.dumps(connection) for c in CONNECTIONS})
            for gates, conns in layouts:
                for design in ("per-gate", "shared"):
                    support(info, "DELETE", "/requests")
                    child_args = [design, str(gates), str(conns), str(args.poll), str(args.rounds)]
                    row = run_child(child_args, env, args.poll * args.rounds * 20 + 300, script=__file__)
                    row["requests"] = len(support(info, "GET", "/requests"))
                    rows.append(row)
                    print(f"  {design} {gates}x{conns}: {row['wall_s']:.0f} s", file=sys.stderr, flush=True)
        finally:
            emulator.terminate()
            emulator.wait(timeout=15)
    print(json.dumps(rows, indent=2) if args.json else report(rows, args.poll))
    return 0


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())

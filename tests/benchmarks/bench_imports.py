"""Import-cost benchmark: does importing our operators and sensors slow down DAG parsing?

Compares, in fresh interpreters, ``import airflow.sdk`` alone (baseline) with ``import airflow.sdk`` plus
every module under ``airflow_provider_clarityq.{operators,sensors}`` (what a DAG file imports; ``--all``
adds ``hooks`` and ``triggers``, which only workers and the triggerer load). Runs
alternate between the two sets (after one untimed warm-up each) so drift hits both equally. Each child
reports its own import wall time and peak RSS (``ru_maxrss``) and whether any heavy SDK got imported.

Targets (the foundation issue): ours <= 1.03x baseline wall time and <= baseline + 5 MiB peak RSS.

Run: ``python tests/benchmarks/bench_imports.py [--runs 7] [--check] [--json]`` (not collected by
pytest: the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "airflow_provider_clarityq"
SUBPACKAGES = ("operators", "sensors")
ALL_SUBPACKAGES = (*SUBPACKAGES, "triggers", "hooks")
HEAVY = ("odps", "alibabacloud_tea_openapi", "alibabacloud_ram20150501", "alibabacloud_sts20150401", "pandas")
WALL_RATIO_TARGET = 1.03
RSS_DELTA_TARGET_MIB = 5.0
NOISY_CV = 0.03

CHILD = """
import json, resource, sys, time
modules = json.loads(sys.argv[1])
heavy = json.loads(sys.argv[2])
start, cpu_start = time.perf_counter(), time.process_time()
import airflow.sdk
import importlib
for name in modules:
    importlib.import_module(name)
wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall": wall, "cpu": cpu, "rss_kib": rss_kib, "heavy": [m for m in heavy if m in sys.modules]}))
"""


def discover_modules(subpackages: tuple[str, ...] = SUBPACKAGES) -> list[str]:
    """Every module in the given sub-packages, found on disk (nothing imported here)."""
    root = REPO / PACKAGE
    found: list[str] = []
    for sub in subpackages:
        found.append(f"{PACKAGE}.{sub}")
        for info in pkgutil.walk_packages([str(root / sub)], prefix=f"{PACKAGE}.{sub}."):
            found.append(info.name)
    return sorted(found)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="clarityq-bench-home-"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return env


def run_once(modules: list[str], env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(modules), json.dumps(list(HEAVY))],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    process_wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall"] = process_wall
    return result


def measure(runs: int, subpackages: tuple[str, ...] = SUBPACKAGES) -> dict[str, Any]:
    modules = discover_modules(subpackages)
    env = child_env()
    sets: dict[str, list[str]] = {"baseline": [], "ours": modules}
    samples: dict[str, list[dict[str, Any]]] = {"baseline": [], "ours": []}
    for mods in sets.values():  # warm-up: file-system caches, .pyc files
        run_once(mods, env)
    for i in range(runs):
        order = ("baseline", "ours") if i % 2 == 0 else ("ours", "baseline")
        for name in order:
            samples[name].append(run_once(sets[name], env))

    def summary(name: str) -> dict[str, Any]:
        rows = samples[name]
        return {
            "import_wall_s": statistics.median(r["wall"] for r in rows),
            "import_cpu_s": statistics.median(r["cpu"] for r in rows),
            "process_wall_s": statistics.median(r["process_wall"] for r in rows),
            "peak_rss_mib": statistics.median(r["rss_kib"] for r in rows) / 1024,
            "heavy_modules": sorted({m for r in rows for m in r["heavy"]}),
        }

    base, ours = summary("baseline"), summary("ours")
    # Runs i of both sets ran back to back, so their ratio cancels slow drift in machine load.
    paired = [o["wall"] / b["wall"] for b, o in zip(samples["baseline"], samples["ours"], strict=True)]
    base_walls = [r["wall"] for r in samples["baseline"]]
    return {
        "runs": runs,
        "modules": modules,
        "baseline": base,
        "ours": ours,
        "wall_ratio": ours["import_wall_s"] / base["import_wall_s"],
        "paired_wall_ratio": statistics.median(paired),
        "min_wall_ratio": min(r["wall"] for r in samples["ours"]) / min(base_walls),
        "baseline_wall_cv": statistics.stdev(base_walls) / statistics.mean(base_walls) if runs > 1 else 0.0,
        "cpu_ratio": ours["import_cpu_s"] / base["import_cpu_s"],
        "process_wall_ratio": ours["process_wall_s"] / base["process_wall_s"],
        "rss_delta_mib": ours["peak_rss_mib"] - base["peak_rss_mib"],
        "samples": samples,
    }


def report(result: dict[str, Any]) -> str:
    base, ours = result["baseline"], result["ours"]
    lines = [
        f"Import cost, median of {result['runs']} alternating runs ({len(result['modules'])} modules of ours)",
        "",
        f"{'':24} {'import wall':>12} {'import CPU':>11} {'process wall':>13} {'peak RSS':>10}",
        f"{'import airflow.sdk':24} {base['import_wall_s']:>11.3f}s {base['import_cpu_s']:>10.3f}s "
        f"{base['process_wall_s']:>12.3f}s {base['peak_rss_mib']:>7.1f}MiB",
        f"{'  + clarityq modules':24} {ours['import_wall_s']:>11.3f}s {ours['import_cpu_s']:>10.3f}s "
        f"{ours['process_wall_s']:>12.3f}s {ours['peak_rss_mib']:>7.1f}MiB",
        f"{'ratio / delta':24} {result['wall_ratio']:>11.3f}x {result['cpu_ratio']:>10.3f}x "
        f"{result['process_wall_ratio']:>12.3f}x {result['rss_delta_mib']:>+7.1f}MiB",
        f"{'target':24} {WALL_RATIO_TARGET:>11.2f}x {'':>11} {'':>13} {RSS_DELTA_TARGET_MIB:>+7.1f}MiB",
        "",
        f"median of paired wall ratios (verdict): {result['paired_wall_ratio']:.3f}x; "
        f"ratio of fastest runs: {result['min_wall_ratio']:.3f}x",
        f"baseline spread (coefficient of variation): {result['baseline_wall_cv']:.1%}"
        + ("  <- noisy machine, rerun when idle" if result["baseline_wall_cv"] > NOISY_CV else ""),
        f"heavy SDK modules loaded by ours: {', '.join(ours['heavy_modules']) or 'none'}",
        f"verdict: {'PASS' if passed(result) else 'FAIL'}",
    ]
    return "\n".join(lines)


def passed(result: dict[str, Any]) -> bool:
    return (
        result["paired_wall_ratio"] <= WALL_RATIO_TARGET
        and result["rss_delta_mib"] <= RSS_DELTA_TARGET_MIB
        and not result["ours"]["heavy_modules"]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per import set (default 7)")
    parser.add_argument("--json", action="store_true", help="print the raw result as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--all", action="store_true", help="also import our hooks and triggers")
    args = parser.parse_args(argv)
    result = measure(args.runs, ALL_SUBPACKAGES if args.all else SUBPACKAGES)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 1 if args.check and not passed(result) else 0


if __name__ == "__main__":
    sys.exit(main())

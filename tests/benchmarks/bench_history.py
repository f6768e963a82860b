"""Health history benchmark: append and read cost of the SQLite store, rendering time and size of the HTML report.

For ``--nights`` synthetic nights (default 365; the same story as the tests: failures, recoveries, an
unreachable night, grant drift, key rotations):

1. **Append**: one report per night into a fresh store, each in its own transaction, as the tasks do.
2. **Read**: every stored report of the connection, as the report writer and the API-server page do.
3. **Render**: the HTML page with its three charts (median of ``--repeat`` runs, after one warm-up that
   also pays matplotlib's import), and its size; the same for 30 nights, to show how it grows.

Run: ``python tests/benchmarks/bench_history.py [--nights 365] [--repeat 5] [--json] [--out page.html]``
(not collected by pytest).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from history_nights import nights  # noqa: E402

from airflow_provider_clarityq.core.history.charts import charts_available  # noqa: E402
from airflow_provider_clarityq.core.history.html import render_health_html  # noqa: E402
from airflow_provider_clarityq.core.history.store import ReportSource, SQLiteHistoryStore  # noqa: E402

CONN = "clarityq_reader"


def measure(count: int, repeat: int, directory: Path, out: Path | None = None) -> dict[str, Any]:
    written = nights(count)
    store = SQLiteHistoryStore(directory / f"history-{count}.sqlite3", retention_days=count + 30)
    started = time.perf_counter()
    for night in written:
        source = ReportSource("clarityq_connection_health", "check_connection", f"scheduled__{night.index}", 1, -1)
        store.append(CONN, night.report, source=source, now=night.at)
    append_s = time.perf_counter() - started

    started = time.perf_counter()
    stored = store.reports(CONN)
    read_s = time.perf_counter() - started
    assert len(stored) == count

    page = render_health_html(stored, conn_id=CONN)  # warm-up: imports, font cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        page = render_health_html(stored, conn_id=CONN)
        times.append(time.perf_counter() - started)
    if out is not None:
        out.write_text(page)
    size = len(page.encode())
    db_size = sum(p.stat().st_size for p in directory.glob(f"history-{count}.sqlite3*"))
    return {
        "nights": count,
        "append_ms_per_report": round(append_s / count * 1000, 2),
        "read_all_ms": round(read_s * 1000, 1),
        "render_s_median": round(statistics.median(times), 3),
        "render_s_min": round(min(times), 3),
        "html_bytes": size,
        "html_kib": round(size / 1024, 1),
        "svg_charts": page.count("<svg"),
        "store_bytes": db_size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, help="also write the big page here")
    args = parser.parse_args()
    if not charts_available():
        print("matplotlib is not installed: pip install 'airflow-provider-clarityq[report]'", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="clarityq-bench-history-") as tmp:
        small = measure(30, args.repeat, Path(tmp))
        big = measure(args.nights, args.repeat, Path(tmp), args.out)
    result = {
        "small": small,
        "big": big,
        "render_ratio": round(big["render_s_median"] / small["render_s_median"], 2),
        "size_ratio": round(big["html_bytes"] / small["html_bytes"], 2),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    for row in (small, big):
        print(
            f"{row['nights']:>4} nights: render {row['render_s_median']:.3f} s (median of {args.repeat}), "
            f"page {row['html_kib']} KiB with {row['svg_charts']} charts; "
            f"append {row['append_ms_per_report']} ms/report, read all {row['read_all_ms']} ms, "
            f"store {row['store_bytes'] // 1024} KiB"
        )
    print(f"{args.nights} vs 30 nights: {result['render_ratio']}x the time, {result['size_ratio']}x the size")
    return 0


if __name__ == "__main__":
    sys.exit(main())

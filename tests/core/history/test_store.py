"""The SQLite history store: restarts, concurrent writer processes, retention, repeats, no secret."""

from __future__ import annotations

import multiprocessing
import sqlite3
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from history_nights import SECRET, nights

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.history.store import ReportSource, SQLiteHistoryStore

CONN = "clarityq_reader"


def _source(index: int, *, try_number: int = 1) -> ReportSource:
    return ReportSource("clarityq_connection_health", "check_connection", f"scheduled__{index}", try_number, -1)


def test_reports_survive_a_restart_and_come_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    written = nights(5)
    store = SQLiteHistoryStore(path)
    for night in written:
        store.append(CONN, night.report, source=_source(night.index), now=night.at)
    del store

    reopened = SQLiteHistoryStore(path)  # a new process would see the same: nothing is cached
    stored = reopened.reports(CONN)
    assert [s.report for s in stored] == [n.report for n in written]
    assert [s.verdict for s in stored] == [n.verdict for n in written]
    assert [s.source.run_id for s in stored] == [f"scheduled__{n.index}" for n in written]
    assert reopened.conn_ids() == [CONN]
    assert reopened.reports("another_conn") == []


def test_the_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "history.sqlite3"
    SQLiteHistoryStore(path).append(CONN, nights(1)[0].report)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1


def _writer(path: str, worker: int, count: int, report: dict[str, Any], start: Any) -> None:
    store = SQLiteHistoryStore(path, busy_timeout_s=60)
    start.wait(60)
    for index in range(count):
        store.append(CONN, report, source=ReportSource("dag", f"task_{worker}", f"run_{index}", 1, -1))


def test_concurrent_writer_processes_lose_nothing(tmp_path: Path) -> None:
    """Several worker processes append at once, to a file none of them created first."""
    path = str(tmp_path / "history.sqlite3")
    report = nights(1)[0].report
    workers, each = 4, 60
    context = multiprocessing.get_context("spawn")  # fresh interpreters, as Airflow task processes are
    start = context.Event()
    processes = [context.Process(target=_writer, args=(path, w, each, report, start)) for w in range(workers)]
    for process in processes:
        process.start()
    start.set()  # all at once
    for process in processes:
        process.join(timeout=240)
    assert [p.exitcode for p in processes] == [0] * workers
    stored = SQLiteHistoryStore(path).reports(CONN)
    assert len(stored) == workers * each
    assert {(s.source.task_id, s.source.run_id) for s in stored} == {
        (f"task_{w}", f"run_{i}") for w in range(workers) for i in range(each)
    }


def test_retention_drops_old_reports_on_append(tmp_path: Path) -> None:
    store = SQLiteHistoryStore(tmp_path / "h.sqlite3", retention_days=10)
    written = nights(30)
    for night in written:
        store.append(CONN, night.report, source=_source(night.index), now=night.at)
    stored = store.reports(CONN)
    newest = written[-1].at
    assert stored, "the newest reports stay"
    assert all(
        newest - datetime.fromisoformat(s.started_at.replace("Z", "+00:00")) <= timedelta(days=10) for s in stored
    )
    assert len(stored) in (10, 11)


def test_a_repeated_outcome_of_one_task_try_is_one_row(tmp_path: Path) -> None:
    """A sensor poking all night on an unreachable service keeps one row, with a count and a last time."""
    store = SQLiteHistoryStore(tmp_path / "h.sqlite3")
    unreachable = next(n for n in nights(30) if n.verdict == "UNREACHABLE").report
    start = datetime.fromisoformat(unreachable["started_at"].replace("Z", "+00:00"))
    pokes = [dict(unreachable, started_at=(start + timedelta(minutes=i)).isoformat()) for i in range(5)]
    ids = {store.append(CONN, poke, source=_source(1)) for poke in pokes}
    assert len(ids) == 1
    (row,) = store.reports(CONN)
    assert row.repeats == 5
    assert row.started_at.startswith(start.strftime("%Y-%m-%dT%H:%M"))
    assert row.last_seen_at.startswith((start + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M"))

    later = (start + timedelta(minutes=5)).isoformat()
    healthy = dict(nights(1)[0].report, started_at=later)
    store.append(CONN, healthy, source=_source(1))  # the outcome changed: a new row
    store.append(CONN, dict(unreachable, started_at=later), source=_source(1, try_number=2))  # another try
    assert [r.repeats for r in store.reports(CONN)] == [5, 1, 1]


def test_a_secret_never_reaches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = SQLiteHistoryStore(path)
    report = nights(1)[0].report
    leaky = dict(report, summary=f"echoed by a server: {SECRET}")  # reports are built to hold none; check anyway
    store.append(CONN, leaky, secrets=[SECRET])
    (row,) = store.reports(CONN)
    assert SECRET not in str(row.report)
    assert "***" in row.report["summary"]
    for file in tmp_path.iterdir():  # the database, its WAL and shared-memory files
        assert SECRET.encode() not in file.read_bytes()


@pytest.mark.parametrize(
    ("report", "field"),
    [
        (
            {"schema_version": "2", "verdict": "HEALTHY", "checks": [], "started_at": "2026-01-01T00:00:00Z"},
            "schema_version",
        ),
        ({"schema_version": "1", "verdict": "FINE", "checks": [], "started_at": "2026-01-01T00:00:00Z"}, "verdict"),
        ({"schema_version": "1", "verdict": "HEALTHY", "checks": {}, "started_at": "2026-01-01T00:00:00Z"}, "checks"),
        ({"schema_version": "1", "verdict": "HEALTHY", "checks": [], "started_at": "yesterday"}, "started_at"),
    ],
)
def test_what_is_not_a_v1_report_is_refused_by_name(tmp_path: Path, report: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        SQLiteHistoryStore(tmp_path / "h.sqlite3").append(CONN, report)


def test_bad_settings_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="history_retention_days"):
        SQLiteHistoryStore(tmp_path / "h.sqlite3", retention_days=0)
    with pytest.raises(ConfigurationError, match="history_path"):
        SQLiteHistoryStore(":memory:")


def test_a_file_from_a_newer_provider_is_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 7")
    with pytest.raises(ConfigurationError, match="newer provider"):
        SQLiteHistoryStore(path).append(CONN, nights(1)[0].report)


def test_limit_keeps_the_newest_and_since_filters_by_time(tmp_path: Path) -> None:
    store = SQLiteHistoryStore(tmp_path / "h.sqlite3")
    written = nights(10)
    for night in written:
        store.append(CONN, night.report, source=_source(night.index), now=night.at)
    assert [s.report for s in store.reports(CONN, limit=3)] == [n.report for n in written[-3:]]
    since = written[6].at - timedelta(minutes=1)
    assert len(store.reports(CONN, since=since)) == 4
    assert len(store.reports(CONN, since=since.astimezone(timezone(timedelta(hours=8))))) == 4
    assert store.reports(CONN, dag_id="another_dag") == []

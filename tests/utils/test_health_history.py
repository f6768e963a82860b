"""The [clarityq] history options, recording that never fails a task, and the HTML file."""

from __future__ import annotations

import logging
import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from history_nights import SECRET, nights

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.history.store import ReportSource, SQLiteHistoryStore
from airflow_provider_clarityq.utils import health_history
from airflow_provider_clarityq.utils.health_history import (
    configured_store,
    record_health_report,
    report_file,
    write_health_report,
)

CONN = "clarityq_reader"


class _Settings:
    def secret_values(self) -> tuple[str, ...]:
        return (SECRET,)


class _Hook:
    settings = _Settings()


class _BrokenHook:
    @property
    def settings(self) -> Any:
        raise ConfigurationError("password", "is empty", "set it")


class _TI:
    dag_id, task_id, run_id, try_number, map_index = "health_dag", "check", "manual__1", 2, -1


class _Store:
    """What a factory named in [clarityq] history_store may return."""

    appended: list[tuple[str, dict[str, Any]]] = []

    def append(self, conn_id: str, report: dict[str, Any], **kwargs: Any) -> int:
        self.appended.append((conn_id, report))
        return 1

    def reports(self, conn_id: str, **kwargs: Any) -> list[Any]:
        return []


def make_store() -> _Store:
    return _Store()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    for option in ("HISTORY_STORE", "HISTORY_PATH", "HISTORY_RETENTION_DAYS", "REPORTS_DIR"):
        monkeypatch.delenv(f"AIRFLOW__CLARITYQ__{option}", raising=False)
    return tmp_path


def test_defaults_live_under_the_airflow_home(home: Path) -> None:
    store = configured_store()
    assert isinstance(store, SQLiteHistoryStore)
    assert store.path == home / "clarityq" / "health_history.sqlite3"
    assert store.retention_days == 400
    assert report_file("clarityq_reader") == home / "clarityq" / "reports" / "health-clarityq_reader.html"
    assert report_file("../x y").name == "health-.._x_y.html"  # never a path of its own


def test_options_choose_the_store(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CLARITYQ__HISTORY_PATH", str(home / "elsewhere.sqlite3"))
    monkeypatch.setenv("AIRFLOW__CLARITYQ__HISTORY_RETENTION_DAYS", "30")
    store = configured_store()
    assert isinstance(store, SQLiteHistoryStore)
    assert (store.path, store.retention_days) == (home / "elsewhere.sqlite3", 30)
    monkeypatch.setenv("AIRFLOW__CLARITYQ__HISTORY_STORE", "none")
    assert configured_store() is None
    monkeypatch.setenv("AIRFLOW__CLARITYQ__HISTORY_STORE", f"{__name__}:make_store")
    assert isinstance(configured_store(), _Store)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("HISTORY_STORE", "duckdb", r"\[clarityq\] history_store.*use sqlite, none, or package.module:callable"),
        ("HISTORY_STORE", "no_such_module_xyz:factory", r"\[clarityq\] history_store.*failed \(ModuleNotFoundError\)"),
        ("HISTORY_STORE", "os:getcwd", r"\[clarityq\] history_store.*returned no store"),
        ("HISTORY_RETENTION_DAYS", "a year", r"\[clarityq\] history_retention_days"),
        ("HISTORY_RETENTION_DAYS", "0", r"\[clarityq\] history_retention_days"),
    ],
)
def test_bad_options_are_named(
    home: Path, monkeypatch: pytest.MonkeyPatch, option: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"AIRFLOW__CLARITYQ__{option}", value)
    with pytest.raises(ConfigurationError, match=message):
        configured_store()


def test_recording_keeps_the_task_instance_and_redacts_the_connection_secret(home: Path) -> None:
    report = dict(nights(1)[0].report, summary=f"an echo of {SECRET}")
    record_health_report(report, conn_id=CONN, context={"ti": _TI()}, hook=_Hook(), log=logging.getLogger("t"))
    (row,) = SQLiteHistoryStore(home / "clarityq" / "health_history.sqlite3").reports(CONN)
    assert row.source == ReportSource("health_dag", "check", "manual__1", 2, -1)
    assert SECRET not in str(row.report)


def test_recording_never_fails_the_task(
    home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (home / "blocked").write_text("a file where a directory should be")
    monkeypatch.setenv("AIRFLOW__CLARITYQ__HISTORY_PATH", str(home / "blocked" / "h.sqlite3"))
    with caplog.at_level(logging.WARNING):
        record_health_report(
            nights(1)[0].report, conn_id=CONN, context={}, hook=_BrokenHook(), log=logging.getLogger("t")
        )
    assert "The health report was not added to the history" in caplog.text
    monkeypatch.setenv("AIRFLOW__CLARITYQ__HISTORY_STORE", "bogus")
    record_health_report(nights(1)[0].report, conn_id=CONN, context={}, hook=_Hook(), log=logging.getLogger("t"))


def test_the_html_file_shows_the_last_days_and_is_replaced_whole(home: Path) -> None:
    store = configured_store()
    assert isinstance(store, SQLiteHistoryStore)
    written = nights(30)
    for night in written:
        store.append(CONN, night.report, source=ReportSource("d", "t", f"r{night.index}", 1, -1), now=night.at)
    path, shown = write_health_report(CONN, days=7, now=written[-1].at + timedelta(minutes=1))
    assert path == report_file(CONN)
    assert shown == 7
    page = path.read_text()
    assert page.count("data-report-id=") == 7
    assert "last 7 days" in page
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    other, shown = write_health_report(CONN, path=str(home / "x" / "page.html"), days=400, dag_id="another")
    assert shown == 0 and "No health report is stored" in other.read_text()


def test_the_html_file_needs_a_history(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="days"):
        write_health_report(CONN, days=0)
    monkeypatch.setenv("AIRFLOW__CLARITYQ__HISTORY_STORE", "none")
    with pytest.raises(ConfigurationError, match=r"\[clarityq\] history_store"):
        write_health_report(CONN)


def test_airflow_home_falls_back_to_the_users_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    monkeypatch.delenv("AIRFLOW__CLARITYQ__HISTORY_PATH", raising=False)
    assert (
        health_history.history_path()
        == Path(os.path.expanduser("~")) / "airflow" / "clarityq" / "health_history.sqlite3"
    )

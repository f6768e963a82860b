"""Health history in a SQLite file: one row per health report, safe with several writer processes.

Why SQLite: it is in every Python, needs no server, and with write-ahead logging (WAL) readers never
block the writer. Several task processes on one host may append at the same moment: each append is a
single ``BEGIN IMMEDIATE`` transaction (the write lock is taken up front, so two writers never deadlock
upgrading a read lock), and a busy timeout makes a writer wait for the lock instead of failing.

WAL needs every writer on the same host (it uses shared memory next to the file): keep the file on a
local disk, not on NFS or SMB. Workers on several hosts need a store of their own (``[clarityq]
history_store`` accepts a factory).

A stored report is the health report JSON (schema version ``"1"``) exactly as the task produced it, plus
where it came from (connection, DAG, task, run, try). Consecutive reports of one task try with the same
outcome (verdict and every check's status and code) are one row whose ``repeats`` and ``last_seen_at``
grow: a sensor that waits all night on an unreachable service keeps one row, not one per poke.

Retention: every append deletes reports older than ``retention_days``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final, Protocol

from airflow_provider_clarityq.core.dates import parse_iso_utc
from airflow_provider_clarityq.core.errors import ConfigurationError, redact
from airflow_provider_clarityq.core.health.report import SCHEMA_VERSION, VERDICTS, format_timestamp

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "HistoryStore",
    "ReportSource",
    "SQLiteHistoryStore",
    "StoredReport",
    "outcome_signature",
]

DEFAULT_RETENTION_DAYS: Final = 400
DEFAULT_BUSY_TIMEOUT_S: Final = 30.0
#: ``PRAGMA user_version`` of the table layout below; a newer file is refused rather than misread.
STORE_VERSION: Final = 1

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS health_report (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    conn_id      TEXT    NOT NULL,
    started_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL,
    repeats      INTEGER NOT NULL DEFAULT 1,
    verdict      TEXT    NOT NULL,
    signature    TEXT    NOT NULL,
    dag_id       TEXT,
    task_id      TEXT,
    run_id       TEXT,
    try_number   INTEGER,
    map_index    INTEGER,
    report       TEXT    NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS health_report_by_conn ON health_report (conn_id, started_at)",
    "CREATE INDEX IF NOT EXISTS health_report_by_time ON health_report (started_at)",
)


@dataclass(frozen=True)
class ReportSource:
    """Which task produced a report (all optional: a report may come from a script)."""

    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    try_number: int | None = None
    map_index: int | None = None


@dataclass(frozen=True)
class StoredReport:
    """One row: the report JSON as produced, and how often it was seen in a row."""

    id: int
    conn_id: str
    started_at: str
    last_seen_at: str
    repeats: int
    verdict: str
    source: ReportSource
    report: Mapping[str, Any]


class HistoryStore(Protocol):
    """What the Airflow shells and the HTML report need from a history store."""

    def append(
        self,
        conn_id: str,
        report: Mapping[str, Any],
        *,
        source: ReportSource | None = None,
        secrets: Iterable[str | None] = (),
    ) -> int: ...

    def reports(
        self, conn_id: str, *, since: datetime | None = None, dag_id: str | None = None, limit: int | None = None
    ) -> list[StoredReport]: ...


def outcome_signature(report: Mapping[str, Any]) -> str:
    """What makes two reports "the same outcome": the verdict and each check's name, status and code."""
    checks = [(c.get("name"), c.get("status"), c.get("code")) for c in report.get("checks", [])]
    return json.dumps([report.get("verdict"), checks], separators=(",", ":"))


def _checked_report(report: Mapping[str, Any]) -> tuple[Mapping[str, Any], datetime]:
    """Refuse what is not a health report of the schema version this store reads back."""
    if not isinstance(report, Mapping):
        raise ConfigurationError("report", f"is a {type(report).__name__}", "pass the report's to_dict()")
    if report.get("schema_version") != SCHEMA_VERSION:
        raise ConfigurationError(
            "report.schema_version",
            f"is {report.get('schema_version')!r}",
            f"store health reports of schema version {SCHEMA_VERSION}",
        )
    if report.get("verdict") not in VERDICTS:
        raise ConfigurationError("report.verdict", f"is {report.get('verdict')!r}", f"use one of {list(VERDICTS)}")
    if not isinstance(report.get("checks"), list):
        raise ConfigurationError("report.checks", "is not a list", "pass the report's to_dict()")
    started = parse_iso_utc(report.get("started_at"))
    if started is None:
        raise ConfigurationError("report.started_at", f"is {report.get('started_at')!r}", "give an ISO 8601 time")
    return report, started


class SQLiteHistoryStore:
    """The default store: a SQLite file in WAL mode, bounded by ``retention_days``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> None:
        if isinstance(retention_days, bool) or not isinstance(retention_days, int) or retention_days < 1:
            raise ConfigurationError(
                "history_retention_days", f"is {retention_days!r}", "give a whole number of days, 1 or more"
            )
        if str(path) in ("", ":memory:"):
            raise ConfigurationError("history_path", f"is {str(path)!r}", "give a file path (the history must persist)")
        self.path = Path(path).expanduser()
        self.retention_days = retention_days
        self.busy_timeout_s = busy_timeout_s
        self._ready = False

    def __repr__(self) -> str:
        return f"SQLiteHistoryStore({str(self.path)!r}, retention_days={self.retention_days})"

    # ------------------------------------------------------------------------------------------
    # Connections

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self._create()
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            db.execute("PRAGMA synchronous = NORMAL")  # durable at each checkpoint; WAL keeps it consistent
            yield db
        finally:
            db.close()

    def _create(self) -> None:
        """Create the file (owner-only) and the table; any number of processes may race here."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with suppress(FileExistsError):
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ConfigurationError(
                    "history_path",
                    f"{self.path} cannot use write-ahead logging (journal mode {mode})",
                    "put the history file on a local disk",
                )
            db.execute("BEGIN IMMEDIATE")
            try:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > STORE_VERSION:
                    raise ConfigurationError(
                        "history_path",
                        f"{self.path} was written by a newer provider (store version {version})",
                        "upgrade the provider, or point history_path at another file",
                    )
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {STORE_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        finally:
            db.close()
        self._ready = True

    # ------------------------------------------------------------------------------------------
    # Writing

    def append(
        self,
        conn_id: str,
        report: Mapping[str, Any],
        *,
        source: ReportSource | None = None,
        secrets: Iterable[str | None] = (),
        now: datetime | None = None,
    ) -> int:
        """Store one report; returns its row id (an existing row's when it repeats the last outcome).

        ``secrets`` (the connection's AccessKey secret, STS token) are redacted from the stored JSON
        should a report ever carry one; reports are built to carry none.
        """
        if not isinstance(conn_id, str) or not conn_id:
            raise ConfigurationError("conn_id", "is empty", "name the connection the report is about")
        checked, started = _checked_report(report)
        source = source or ReportSource()
        text = redact(json.dumps(checked, sort_keys=True, default=str), secrets)
        started_at = seen = _iso(started)
        signature = outcome_signature(checked)
        cutoff = _iso(_utc(now) - timedelta(days=self.retention_days))
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row_id = self._repeat_of_last(db, conn_id, source, signature, seen)
                if row_id is None:
                    cursor = db.execute(
                        "INSERT INTO health_report (conn_id, started_at, last_seen_at, verdict, signature, dag_id, "
                        "task_id, run_id, try_number, map_index, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            conn_id,
                            started_at,
                            seen,
                            checked["verdict"],
                            signature,
                            source.dag_id,
                            source.task_id,
                            source.run_id,
                            source.try_number,
                            source.map_index,
                            text,
                        ),
                    )
                    row_id = int(cursor.lastrowid or 0)
                db.execute("DELETE FROM health_report WHERE started_at < ?", (cutoff,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return row_id

    @staticmethod
    def _repeat_of_last(
        db: sqlite3.Connection, conn_id: str, source: ReportSource, signature: str, seen: str
    ) -> int | None:
        """Fold a report into the previous row of the same task try when the outcome did not change."""
        if source.run_id is None or source.task_id is None:
            return None
        row = db.execute(
            "SELECT id, signature FROM health_report WHERE conn_id = ? AND dag_id IS ? AND task_id IS ? "
            "AND run_id IS ? AND try_number IS ? AND map_index IS ? ORDER BY id DESC LIMIT 1",
            (conn_id, source.dag_id, source.task_id, source.run_id, source.try_number, source.map_index),
        ).fetchone()
        if row is None or row[1] != signature:
            return None
        db.execute(
            "UPDATE health_report SET repeats = repeats + 1, last_seen_at = max(last_seen_at, ?) WHERE id = ?",
            (seen, row[0]),
        )
        return int(row[0])

    # ------------------------------------------------------------------------------------------
    # Reading

    def reports(
        self,
        conn_id: str,
        *,
        since: datetime | None = None,
        dag_id: str | None = None,
        limit: int | None = None,
    ) -> list[StoredReport]:
        """The connection's reports, oldest first; ``limit`` keeps the newest ones."""
        if not self.path.exists():
            return []
        since_text = _iso(_utc(since)) if since is not None else None
        with self._connect() as db:
            rows = db.execute(
                _SELECT + " WHERE conn_id = ? AND (? IS NULL OR started_at >= ?) AND (? IS NULL OR dag_id = ?) "
                "ORDER BY started_at DESC, id DESC LIMIT ?",
                (conn_id, since_text, since_text, dag_id, dag_id, -1 if limit is None else max(int(limit), 0)),
            ).fetchall()
        return [_stored(row) for row in reversed(rows)]

    def conn_ids(self) -> list[str]:
        """Every connection with stored reports."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            return [row[0] for row in db.execute("SELECT DISTINCT conn_id FROM health_report ORDER BY conn_id")]


_SELECT: Final = (
    "SELECT id, conn_id, started_at, last_seen_at, repeats, verdict, dag_id, task_id, run_id, try_number, map_index, "
    "report FROM health_report"
)


def _stored(row: Sequence[Any]) -> StoredReport:
    return StoredReport(
        id=row[0],
        conn_id=row[1],
        started_at=row[2],
        last_seen_at=row[3],
        repeats=row[4],
        verdict=row[5],
        source=ReportSource(dag_id=row[6], task_id=row[7], run_id=row[8], try_number=row[9], map_index=row[10]),
        report=json.loads(row[11]),
    )


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(timezone.utc)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _iso(moment: datetime) -> str:
    """One timestamp form in the columns (UTC, milliseconds, ``Z``), so text order is time order."""
    return format_timestamp(moment)

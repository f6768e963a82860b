"""Health over time: a history store for health reports (no Airflow import).

* :mod:`.store` -- :class:`~.store.SQLiteHistoryStore`, the default store (SQLite, WAL, bounded retention).

Everything reads the health report JSON (schema version ``"1"``), the contract, not the report classes.
"""

from __future__ import annotations

from airflow_provider_clarityq.core.history.store import (
    DEFAULT_RETENTION_DAYS,
    HistoryStore,
    ReportSource,
    SQLiteHistoryStore,
    StoredReport,
)

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "HistoryStore",
    "ReportSource",
    "SQLiteHistoryStore",
    "StoredReport",
]

"""Airflow side of the health history: the ``[clarityq]`` options, recording a task's report, the HTML file.

Options (``airflow.cfg`` or ``AIRFLOW__CLARITYQ__<OPTION>``; only administrators set them):

* ``history_store`` -- ``sqlite`` (default), ``none`` (record nothing) or ``package.module:callable``, a factory
  returning a :class:`~airflow_provider_clarityq.core.history.store.HistoryStore` (for workers on several hosts);
* ``history_path`` -- the SQLite file; default ``$AIRFLOW_HOME/clarityq/health_history.sqlite3``;
* ``history_retention_days`` -- reports older than this are deleted (default 400);
* ``reports_dir`` -- where the HTML health reports are written; default ``$AIRFLOW_HOME/clarityq/reports``.

Recording never fails the task: the gate's verdict matters more than its history, so a store that cannot be
written is a warning in the task log.
"""

from __future__ import annotations

import importlib
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.history.store import DEFAULT_RETENTION_DAYS, ReportSource, SQLiteHistoryStore

if TYPE_CHECKING:
    from airflow_provider_clarityq.core.history.store import HistoryStore

__all__ = [
    "SECTION",
    "configured_store",
    "history_path",
    "record_health_report",
    "report_file",
    "reports_dir",
    "source_of",
    "write_health_report",
]

SECTION = "clarityq"
_FACTORY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def _option(key: str, fallback: str = "") -> str:
    from airflow.sdk import conf

    value = conf.get(SECTION, key, fallback=fallback)
    return (value or "").strip() or fallback


def _error(option: str, problem: str, fix: str) -> ConfigurationError:
    return ConfigurationError(
        option, problem, fix, context="Airflow configuration option", label=f"[{SECTION}] {option}"
    )


def _airflow_home() -> Path:
    """Airflow's own rule: ``$AIRFLOW_HOME``, else ``~/airflow``."""
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser()


def history_path() -> Path:
    """``[clarityq] history_path`` or its default under the Airflow home."""
    return Path(_option("history_path") or _airflow_home() / "clarityq" / "health_history.sqlite3").expanduser()


def reports_dir() -> Path:
    """``[clarityq] reports_dir`` or its default under the Airflow home."""
    return Path(_option("reports_dir") or _airflow_home() / "clarityq" / "reports").expanduser()


def report_file(conn_id: str) -> Path:
    """The HTML health report of a connection: ``<reports_dir>/health-<conn_id>.html``."""
    return reports_dir() / f"health-{_SAFE_NAME.sub('_', conn_id)}.html"


def _retention_days() -> int:
    text = _option("history_retention_days", str(DEFAULT_RETENTION_DAYS))
    if not text.isdigit() or int(text) < 1:
        raise _error("history_retention_days", f"is {text[:30]!r}", "give a whole number of days, 1 or more")
    return int(text)


def configured_store() -> HistoryStore | None:
    """The store ``[clarityq] history_store`` selects; None when history is switched off."""
    setting = _option("history_store", "sqlite")
    if setting == "none":
        return None
    if setting == "sqlite":
        return SQLiteHistoryStore(history_path(), retention_days=_retention_days())
    if not _FACTORY.fullmatch(setting):
        raise _error(
            "history_store", f"is {setting[:60]!r}", "use sqlite, none, or package.module:callable (a store factory)"
        )
    module_name, _, attr = setting.partition(":")
    try:
        store = getattr(importlib.import_module(module_name), attr)()
    except Exception as exc:
        raise _error(
            "history_store",
            f"names {setting}, which failed ({type(exc).__name__})",
            "make it importable and callable without arguments",
        ) from None
    if not (callable(getattr(store, "append", None)) and callable(getattr(store, "reports", None))):
        raise _error("history_store", f"names {setting}, which returned no store", "return an object with append()")
    result: HistoryStore = store
    return result


def source_of(context: Mapping[str, Any]) -> ReportSource:
    """Which task instance produced a report (from the task context)."""
    ti = context.get("ti")
    if ti is None:
        return ReportSource()
    return ReportSource(
        dag_id=getattr(ti, "dag_id", None),
        task_id=getattr(ti, "task_id", None),
        run_id=getattr(ti, "run_id", None),
        try_number=getattr(ti, "try_number", None),
        map_index=getattr(ti, "map_index", None),
    )


class _Log(Protocol):
    def warning(self, event: Any, *args: Any, **kw: Any) -> Any: ...


def _secrets_of(hook: Any) -> list[str | None]:
    """The connection's secrets, for the store to redact; none when the connection could not be read."""
    try:
        return list(hook.settings.secret_values())
    except Exception:
        return []


def record_health_report(
    report: Mapping[str, Any],
    *,
    conn_id: str,
    context: Mapping[str, Any],
    hook: Any,
    log: _Log,
) -> None:
    """Append the report to the configured history; a failure is logged, never raised.

    ``hook`` is the task's :class:`~airflow_provider_clarityq.hooks.maxcompute.MaxComputeHook`: its AccessKey
    secret and STS token are redacted from what is stored, should a report ever carry them.
    """
    try:
        store = configured_store()
        if store is None:
            return
        store.append(conn_id, report, source=source_of(context), secrets=_secrets_of(hook))
    except Exception as exc:  # the gate's decision must not depend on its history
        log.warning("The health report was not added to the history: %s: %s", type(exc).__name__, exc)


def write_health_report(
    conn_id: str,
    *,
    path: str | os.PathLike[str] | None = None,
    days: int = 90,
    dag_id: str | None = None,
    now: datetime | None = None,
) -> tuple[Path, int]:
    """Render the connection's last ``days`` of history to an HTML file; returns (path, reports shown).

    The file is replaced atomically, so the API server or a browser never reads half a page.
    """
    from airflow_provider_clarityq.core.history.html import render_health_html

    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigurationError("days", f"is {days!r}", "give a whole number of days, 1 or more")
    store = configured_store()
    if store is None:
        raise _error("history_store", "is none: no history is recorded", "set it to sqlite to get the report")
    moment = now or datetime.now(timezone.utc)
    reports = store.reports(conn_id, since=moment - timedelta(days=days), dag_id=dag_id)
    page = render_health_html(reports, conn_id=conn_id, generated_at=moment, period=f"last {days} days")
    target = Path(path).expanduser() if path else report_file(conn_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.chmod(tmp, 0o640)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target, len(reports)

"""Health over time: a history store for health reports and a self-contained HTML report (no Airflow import).

* :mod:`.store` -- :class:`~.store.SQLiteHistoryStore`, the default store (SQLite, WAL, bounded retention);
* :mod:`.series` -- verdicts, latencies, key age and grant drift read from the stored reports;
* :mod:`.charts` -- the charts as inline SVG (matplotlib, the ``report`` extra);
* :mod:`.html` -- :func:`~.html.render_health_html`, the page.

Everything reads the health report JSON (schema version ``"1"``), the contract, not the report classes.
"""

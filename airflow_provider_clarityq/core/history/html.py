"""The health history as one self-contained HTML page: charts, the latest report, drift, every report.

The page loads nothing: styles are inline, charts are inline SVG, there is no script, and a Content
Security Policy forbids the browser to fetch anything, so it can be mailed, archived or served as is.
Every value from a report is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final

from airflow_provider_clarityq.core.health.report import format_timestamp
from airflow_provider_clarityq.core.history import charts
from airflow_provider_clarityq.core.history.series import (
    DriftEvent,
    Point,
    current_streak,
    drift_events,
    points,
    verdict_counts,
)
from airflow_provider_clarityq.core.history.store import StoredReport

__all__ = ["render_health_html"]

_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_STATUS_COLOURS: Final = {"pass": "#2e7d32", "warn": "#ef8f00", "fail": "#c62828", "skipped": "#757575"}

_STYLE: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#212121;
margin:0;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#616161;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:10px 14px;min-width:160px}
.card>b{display:block;font-size:18px}.card>span{color:#616161;font-size:12px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600;font-size:12px}
figure{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:10px 0;padding:6px}
figure svg{display:block;height:auto}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #e0e0e0;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.name code{white-space:nowrap}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f5f5f5;padding:1px 3px;
border-radius:3px;white-space:pre-wrap;word-break:break-word}
.diff{font:12px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}.add{color:#1b5e20}.del{color:#b71c1c}
.note{background:#fff8e1;border:1px solid #ffe082;border-radius:6px;padding:8px 12px}
details{margin:10px 0}summary{cursor:pointer;font-weight:600}
footer{color:#757575;font-size:12px;margin-top:28px}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _badge(verdict: str) -> str:
    colour = charts.VERDICT_COLOURS.get(verdict, "#757575")
    return f'<span class="badge" style="background:{colour}">{_e(verdict)}</span>'


def _status(status: object) -> str:
    colour = _STATUS_COLOURS.get(str(status), "#757575")
    return f'<b style="color:{colour}">{_e(status)}</b>'


def _cards(series: Sequence[Point], drift: Sequence[DriftEvent]) -> str:
    latest = series[-1]
    streak = current_streak(series)
    counts = verdict_counts(series)
    cards = [
        (_badge(latest.verdict), f"latest, {_when(latest.last_seen)}"),
    ]
    if streak is not None:
        cards.append((_e(_when(streak.since)), f"{streak.verdict} since ({streak.reports} report(s) in a row)"))
    healthy = counts.get("HEALTHY", 0)
    cards.append((f"{healthy} / {len(series)}", "reports HEALTHY"))
    if latest.key_age_days is not None:
        limit = f" (limit {latest.max_key_age_days})" if latest.max_key_age_days is not None else ""
        cards.append((f"{latest.key_age_days} days", f"age of the AccessKey in use{_e(limit)}"))
    cards.append((str(len(drift)), "grant changes"))
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{v}</b><span>{t}</span></div>' for v, t in cards)
        + ("</div>")
    )


def _latest_table(report: Mapping[str, Any]) -> str:
    rows = []
    checks = report.get("checks")
    for check in checks if isinstance(checks, list) else []:
        if not isinstance(check, Mapping):
            continue
        fix = check.get("remediation")
        rows.append(
            "<tr>"
            f"<td class=name><code>{_e(check.get('name'))}</code></td><td>{_status(check.get('status'))}</td>"
            f"<td class=name><code>{_e(check.get('code'))}</code></td><td class=num>{_e(check.get('duration_ms'))}</td>"
            f"<td>{_e(check.get('message'))}</td><td>{f'<code>{_e(fix)}</code>' if fix else ''}</td>"
            "</tr>"
        )
    head = "<tr><th>check</th><th>status</th><th>code</th><th>ms</th><th>message</th><th>fix</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _drift_table(drift: Sequence[DriftEvent]) -> str:
    if not drift:
        return "<p>No grant was added or removed in this period.</p>"
    rows = []
    for event in reversed(drift):
        changes = [f'<div class="add">+ {_e(g)}</div>' for g in event.added]
        changes += [f'<div class="del">- {_e(g)}</div>' for g in event.removed]
        rows.append(
            f"<tr><td>{_e(_when(event.at))}</td><td>{_e(_when(event.previous_at))}</td>"
            f'<td class="diff">{"".join(changes)}</td></tr>'
        )
    head = "<tr><th>seen at</th><th>compared with</th><th>grants added (+) and removed (-)</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _reports_table(series: Sequence[Point]) -> str:
    rows = []
    for point in reversed(series):
        source = point.stored.source
        where = " / ".join(str(v) for v in (source.dag_id, source.run_id) if v)
        seen = f" to {_when(point.last_seen)}" if point.repeats > 1 else ""
        rows.append(
            f'<tr data-report-id="{point.stored.id}"><td>{_e(_when(point.at))}{_e(seen)}</td>'
            f"<td>{_badge(point.verdict)}</td>"
            f"<td class=num>{point.repeats}</td><td class=num>{_e(point.duration_ms)}</td>"
            f"<td class=num>{_e(point.key_age_days)}</td><td>{_e(point.summary)}</td><td>{_e(where)}</td></tr>"
        )
    head = (
        "<tr><th>time</th><th>verdict</th><th>seen</th><th>ms</th><th>key age (days)</th><th>summary</th>"
        "<th>DAG / run</th></tr>"
    )
    return f"<details><summary>Every report ({len(series)})</summary><table>{head}{''.join(rows)}</table></details>"


def _figure(svg: str | None, caption: str) -> str:
    if svg is None:
        return ""
    return f'<figure aria-label="{_e(caption)}">{svg}</figure>'


def render_health_html(
    reports: Sequence[StoredReport],
    *,
    conn_id: str,
    generated_at: datetime | None = None,
    period: str | None = None,
) -> str:
    """The page for one connection's stored reports (any order; they are sorted by time)."""
    series = points(reports)
    generated = format_timestamp(generated_at or datetime.now(timezone.utc))
    title = f"ClarityQ health: {conn_id}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
    ]
    if not series:
        parts.append('<p class="note">No health report is stored for this connection yet.</p>')
    else:
        latest = series[-1].stored.report
        drift = drift_events(series)
        about = [f"project <b>{_e(latest.get('project'))}</b>" if latest.get("project") else ""]
        if latest.get("principal"):
            about.append(f"principal <code>{_e(latest.get('principal'))}</code>")
        about.append(f"{len(series)} report(s) from {_e(_when(series[0].at))} to {_e(_when(series[-1].at))}")
        if period:
            about.append(_e(period))
        parts.append(f'<p class="sub">{", ".join(a for a in about if a)}</p>')
        parts.append(_cards(series, drift))
        if not charts.charts_available():
            parts.append(
                '<p class="note">Charts need matplotlib: <code>pip install "airflow-provider-clarityq[report]"</code>. '
                "The tables below hold every number.</p>"
            )
        parts.append(_figure(charts.verdict_chart(series, drift), "verdict timeline"))
        parts.append(f"<h2>Latest report, {_e(_when(series[-1].at))}</h2>")
        summary = latest.get("summary")
        if summary:
            parts.append(f"<p>{_badge(series[-1].verdict)} {_e(summary)}</p>")
        parts.append(_latest_table(latest))
        parts.append("<h2>Latency</h2>")
        parts.append(_figure(charts.latency_chart(series), "latency per check"))
        parts.append("<h2>AccessKey age</h2>")
        key_chart = charts.key_age_chart(series)
        parts.append(_figure(key_chart, "key age") if key_chart else "<p>No report holds the key's age.</p>")
        parts.append("<h2>Grant drift</h2>")
        parts.append(_drift_table(drift))
        parts.append("<h2>All reports</h2>")
        parts.append(_reports_table(series))
    parts.append(
        f"<footer>Generated {_e(generated)} by airflow-provider-clarityq from the health history "
        "(health report schema version 1).</footer>"
    )
    parts.append("</main></body></html>")
    return "\n".join(p for p in parts if p)

"""The HTML health report from 30 synthetic nights: its numbers are the stored reports' numbers."""

from __future__ import annotations

import html
import itertools
import re
from pathlib import Path

import pytest
from history_nights import KEY_LIMIT, SECRET, Night, nights

from airflow_provider_clarityq.core.history import charts as charts_module
from airflow_provider_clarityq.core.history.html import render_health_html
from airflow_provider_clarityq.core.history.series import current_streak, drift_events, points
from airflow_provider_clarityq.core.history.store import ReportSource, SQLiteHistoryStore, StoredReport

CONN = "clarityq_reader"


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Night], list[StoredReport], Path]:
    path = tmp_path_factory.mktemp("history") / "h.sqlite3"
    store = SQLiteHistoryStore(path, retention_days=3650)
    written = nights(30)
    for night in written:
        source = ReportSource("clarityq_connection_health", "check_connection", f"scheduled__{night.index}", 1, -1)
        store.append(CONN, night.report, source=source, secrets=[SECRET], now=night.at)
    return written, store.reports(CONN), path


@pytest.fixture(scope="module")
def page(month: tuple[list[Night], list[StoredReport], Path]) -> str:
    return render_health_html(month[1], conn_id=CONN)


def _rows(page: str) -> dict[int, list[str]]:
    """The "every report" table: stored row id -> the text of its cells."""
    found = {}
    for row_id, body in re.findall(r'<tr data-report-id="(\d+)">(.*?)</tr>', page, flags=re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", body)
        ]
        found[int(row_id)] = cells
    return found


def test_the_story_has_failures_and_recoveries(month: tuple[list[Night], list[StoredReport], Path]) -> None:
    written = month[0]
    verdicts = [n.verdict for n in written]
    assert {"HEALTHY", "DEGRADED", "CONFIG_ERROR", "UNREACHABLE"} <= set(verdicts)
    assert verdicts[-1] == "HEALTHY"
    recoveries = sum(1 for a, b in itertools.pairwise(verdicts) if a != "HEALTHY" and b == "HEALTHY")
    assert recoveries >= 3


def test_every_stored_report_is_a_row_with_its_numbers(
    page: str, month: tuple[list[Night], list[StoredReport], Path]
) -> None:
    written, stored, _ = month
    rows = _rows(page)
    assert len(rows) == len(stored) == len(written)
    for night, row in zip(written, stored, strict=False):
        time, verdict, seen, ms, key_age, summary, source = rows[row.id]
        assert time == night.at.strftime("%Y-%m-%d %H:%M UTC")
        assert verdict == night.verdict == row.verdict
        assert seen == "1"
        assert ms == str(night.report["duration_ms"])
        expected_age = "" if night.verdict == "UNREACHABLE" else str(night.key_age_days)  # key check did not run
        assert key_age == expected_age
        assert summary == night.report["summary"]
        assert source == f"clarityq_connection_health / scheduled__{night.index}"


def test_the_latest_report_table_lists_each_check_with_its_fix(
    page: str, month: tuple[list[Night], list[StoredReport], Path]
) -> None:
    latest = month[0][-1].report
    latest_section = page.split("<h2>Latest report", 1)[1].split("<h2>", 1)[0]
    for check in latest["checks"]:
        assert f"<td class=name><code>{check['name']}</code></td>" in latest_section
        assert f"<td class=num>{check['duration_ms']}</td>" in latest_section
        assert html.escape(check["message"]) in latest_section


def test_a_failing_latest_report_shows_its_remediation(month: tuple[list[Night], list[StoredReport], Path]) -> None:
    stored = month[1]
    lost = [s for s in stored if s.verdict == "CONFIG_ERROR"]
    page = render_health_html(stored[: stored.index(lost[-1]) + 1], conn_id=CONN)
    assert "GRANT CreateInstance ON PROJECT clarityq_demo TO ROLE clarityq_reader;" in page
    assert "CONFIG_ERROR since" in page
    assert f"{len(lost)} report(s) in a row" in page


def test_cards_count_verdicts_key_age_and_drift(page: str, month: tuple[list[Night], list[StoredReport], Path]) -> None:
    written = month[0]
    healthy = sum(1 for n in written if n.verdict == "HEALTHY")
    assert f"<b>{healthy} / {len(written)}</b><span>reports HEALTHY</span>" in page
    assert f"<b>{written[-1].key_age_days} days</b>" in page
    assert f"limit {KEY_LIMIT}" in page
    streak = current_streak(points(month[1]))
    assert streak is not None
    expected_streak = 0
    for night in reversed(written):
        if night.verdict != "HEALTHY":
            break
        expected_streak += 1
    assert streak.reports == expected_streak
    assert f"HEALTHY since ({expected_streak} report(s) in a row)" in page


def test_drift_events_are_the_nights_a_grant_changed(
    page: str, month: tuple[list[Night], list[StoredReport], Path]
) -> None:
    written, stored, _ = month
    events = drift_events(points(stored))
    # night 8 loses CreateInstance, night 11 gets it back, night 21 gains Update on orders, night 23 loses it
    assert [(e.at, e.added, e.removed) for e in events] == [
        (written[8].at, (), ("CreateInstance on project clarityq_demo (role clarityq_reader)",)),
        (written[11].at, ("CreateInstance on project clarityq_demo (role clarityq_reader)",), ()),
        (written[21].at, ("Update on table orders (role clarityq_reader)",), ()),
        (written[23].at, (), ("Update on table orders (role clarityq_reader)",)),
    ]
    assert "<b>4</b><span>grant changes</span>" in page
    assert '<div class="del">- Update on table orders (role clarityq_reader)</div>' in page
    assert '<div class="add">+ CreateInstance on project clarityq_demo (role clarityq_reader)</div>' in page


def test_charts_are_inline_svg_and_the_page_loads_nothing(page: str) -> None:
    assert page.count("<svg") == 3
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert "<script" not in page.lower()
    assert not re.search(r'(?:src|href)\s*=\s*"(?:https?:)?//', page)
    assert "default-src 'none'" in page
    # the legend counts are the stored verdicts
    assert "HEALTHY (22)" in page and "CONFIG_ERROR (3)" in page and "UNREACHABLE (1)" in page


def test_the_same_history_gives_the_same_page(month: tuple[list[Night], list[StoredReport], Path]) -> None:
    from datetime import datetime, timezone

    at = datetime(2026, 4, 1, tzinfo=timezone.utc)
    assert render_health_html(month[1], conn_id=CONN, generated_at=at) == render_health_html(
        month[1], conn_id=CONN, generated_at=at
    )


def test_no_secret_in_the_page_or_the_store(page: str, month: tuple[list[Night], list[StoredReport], Path]) -> None:
    assert SECRET not in page
    for file in month[2].parent.iterdir():
        assert SECRET.encode() not in file.read_bytes()


def test_report_text_is_escaped(month: tuple[list[Night], list[StoredReport], Path]) -> None:
    stored = month[1][-1]
    hostile = dict(stored.report, summary="<script>alert(1)</script>", project='x" onmouseover="y')
    page = render_health_html([StoredReport(**{**stored.__dict__, "report": hostile})], conn_id="<b>conn</b>")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'x" onmouseover' not in page
    assert "&lt;b&gt;conn&lt;/b&gt;" in page


def test_without_matplotlib_the_tables_stay(
    month: tuple[list[Night], list[StoredReport], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts_module, "charts_available", lambda: False)
    page = render_health_html(month[1], conn_id=CONN)
    assert "<svg" not in page
    assert "airflow-provider-clarityq[report]" in page
    assert len(_rows(page)) == 30


def test_an_empty_history_says_so() -> None:
    page = render_health_html([], conn_id=CONN)
    assert "No health report is stored for this connection yet." in page


def test_repeats_show_the_last_time_seen(tmp_path: Path) -> None:
    from datetime import datetime

    store = SQLiteHistoryStore(tmp_path / "h.sqlite3")
    report = nights(1)[0].report
    source = ReportSource("d", "t", "r", 1, -1)
    store.append(CONN, report, source=source)
    later = datetime.fromisoformat(report["started_at"].replace("Z", "+00:00")).replace(hour=5, minute=30)
    store.append(CONN, dict(report, started_at=later.isoformat()), source=source)
    row = _rows(render_health_html(store.reports(CONN), conn_id=CONN))
    ((time, _, seen, *_),) = row.values()
    assert seen == "2"
    assert time.endswith(f"to {later:%Y-%m-%d} 05:30 UTC")

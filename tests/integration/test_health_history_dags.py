"""Health over time through real DAG runs: every report of the check and the gate lands in the history,
the teardown writes the HTML page whatever the check found, and grant drift shows between runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from clarityq_emulator import RunningEmulator

from airflow_provider_clarityq.core.history.store import SQLiteHistoryStore

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

REPO = Path(__file__).resolve().parents[2]
CONN = "clarityq_reader"
PROJECT = "clarityq_demo"


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    history, reports = tmp_path / "history.sqlite3", tmp_path / "reports"
    monkeypatch.setenv("AIRFLOW__CLARITYQ__HISTORY_PATH", str(history))
    monkeypatch.setenv("AIRFLOW__CLARITYQ__REPORTS_DIR", str(reports))
    monkeypatch.delenv("AIRFLOW__CLARITYQ__HISTORY_STORE", raising=False)
    monkeypatch.setenv("CLARITYQ_SYNC_DIR", str(tmp_path / "sync"))
    return history, reports


def run_dag(dag_id: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    bag = DagBag(dag_folder=str(REPO / "example_dags" / f"{dag_id}.py"))
    run = bag.dags[dag_id].test()
    with create_session() as session:
        tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run.run_id)
        ).all()
        xcom = {f"{row.task_id}:{row.key}": XComModel.deserialize_value(row) for row in rows}
    return str(run.state), tasks, xcom


def test_check_and_gate_reports_are_recorded_and_the_page_follows(
    emulator: RunningEmulator, owner: Any, reader: Any, connect: Any, places: tuple[Path, Path]
) -> None:
    history, reports = places
    state, tasks, xcom = run_dag("clarityq_connection_health")
    assert state == "success" and tasks == {"check_connection": "success", "write_report": "success"}
    page = Path(xcom["write_report:return_value"]["path"])
    assert page == reports / "health-clarityq_reader.html"
    assert xcom["write_report:return_value"]["reports"] == 1
    link = xcom["check_connection:_link_ClarityQHealthReportLink"]
    assert link == "/clarityq/health/clarityq_reader?dag_id=clarityq_connection_health"

    owner.run(f"REVOKE CreateInstance ON PROJECT {PROJECT} FROM ROLE clarityq_reader;")
    state, tasks, xcom = run_dag("clarityq_connection_health")
    assert state == "failed"  # the teardown writes the page without hiding the failed check
    assert tasks == {"check_connection": "failed", "write_report": "success"}

    store = SQLiteHistoryStore(history)
    stored = store.reports(CONN)
    assert [(s.verdict, s.source.dag_id, s.source.task_id) for s in stored] == [
        ("HEALTHY", "clarityq_connection_health", "check_connection"),
        ("CONFIG_ERROR", "clarityq_connection_health", "check_connection"),
    ]
    assert stored[1].report == xcom["check_connection:return_value"]  # exactly what the task returned
    html = page.read_text()
    assert f"GRANT CreateInstance ON PROJECT {PROJECT} TO ROLE clarityq_reader;" in html
    assert f"- CreateInstance on project {PROJECT} (role clarityq_reader)" in html  # drift between the two runs
    assert re.search(r"<b>1 / 2</b><span>reports HEALTHY</span>", html)

    state, tasks, _ = run_dag("clarityq_sync")  # the gate fails at once on the same config error
    assert tasks["health_gate"] == "failed"
    gate = [s for s in store.reports(CONN) if s.source.dag_id == "clarityq_sync"]
    assert [(s.verdict, s.source.task_id) for s in gate] == [("CONFIG_ERROR", "health_gate")]

    for file in history.parent.rglob("*"):
        if file.is_file():
            assert reader.access_key_secret.encode() not in file.read_bytes(), file

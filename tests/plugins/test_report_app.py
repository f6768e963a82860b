"""The API-server plugin behind the extra links: mounted by Airflow's own app, authenticated, self-contained pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from history_nights import SECRET, nights

from airflow_provider_clarityq.core.grants.plan import Plan
from airflow_provider_clarityq.core.grants.steps import CreateRole
from airflow_provider_clarityq.core.history.store import ReportSource, SQLiteHistoryStore
from airflow_provider_clarityq.links.reports import access_plan_url, health_report_url

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

CONN = "clarityq_reader"
HEALTH_DAG = "clarityq_connection_health"
USER = "RAM$1234567890123456:2345678901234567"


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SQLiteHistoryStore:
    path = tmp_path / "history.sqlite3"
    monkeypatch.setenv("AIRFLOW__CLARITYQ__HISTORY_PATH", str(path))
    monkeypatch.delenv("AIRFLOW__CLARITYQ__HISTORY_STORE", raising=False)
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    store = SQLiteHistoryStore(path)
    for night in nights(30)[-10:]:
        source = ReportSource(HEALTH_DAG, "check_connection", f"scheduled__{night.index}", 1, -1)
        store.append(CONN, night.report, source=source, secrets=[SECRET])
    store.append(CONN, nights(1)[0].report, source=ReportSource("other_dag", "gate", "r", 1, -1))
    return store


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app("core")) as test_client:
        yield test_client


def _token() -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token: str = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="viewer", role="viewer"))
    return token


def test_the_plugin_is_loaded_by_airflow() -> None:
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    assert {"name": "ClarityQ reports", "url_prefix": "/clarityq"} in [
        {k: v for k, v in app.items() if k != "app"} for app in apps
    ]


def test_the_health_page_needs_an_airflow_login(history: SQLiteHistoryStore, client: Any) -> None:
    url = health_report_url(CONN, dag_id=HEALTH_DAG)
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer not-a-token"}).status_code in (401, 403)


def test_the_health_page_shows_what_the_dag_recorded(history: SQLiteHistoryStore, client: Any) -> None:
    url = health_report_url(CONN, dag_id=HEALTH_DAG) + "&days=3650"
    response = client.get(url, cookies={"_token": _token()})  # the UI's session cookie
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert page.count("data-report-id=") == 10  # not the other DAG's report
    assert "DAG clarityq_connection_health" in page and "<svg" in page
    assert SECRET not in page
    by_header = client.get(url, headers={"Authorization": f"Bearer {_token()}"})
    assert by_header.status_code == 200
    assert (
        client.get(health_report_url(CONN, dag_id=HEALTH_DAG) + "&days=0", cookies={"_token": _token()}).status_code
        == 422
    )


_PLAN_DAG = """
import json, pendulum
from airflow.sdk import DAG, task

PLAN = json.loads({plan!r})

with DAG("clarityq_plan_page", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):

    @task
    def grant():
        return {{"format": "clarityq.access-result/1", "plan": PLAN}}

    @task
    def other():
        return "not a plan"

    grant()
    other()
"""


def test_the_plan_page_renders_the_tasks_xcom(client: Any, tmp_path: Path) -> None:
    import json

    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    plan = Plan(
        mode="apply",
        principal=USER,
        steps=(
            CreateRole(project="clarityq_demo", role="clarityq_reader", reason="role clarityq_reader does not exist"),
        ),
    ).to_dict()
    (tmp_path / "plan_dag.py").write_text(_PLAN_DAG.format(plan=json.dumps(plan)))
    bag = DagBag(dag_folder=str(tmp_path / "plan_dag.py"))
    assert bag.import_errors == {}
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)  # dag.test() re-syncs only its bundle, which this file is not in
    run = bag.dags["clarityq_plan_page"].test()
    cookies = {"_token": _token()}
    page = client.get(access_plan_url("clarityq_plan_page", run.run_id, "grant"), cookies=cookies)
    assert page.status_code == 200, page.text
    assert "+ role clarityq_reader" in page.text and "CREATE ROLE clarityq_reader;" in page.text
    markdown = client.get(access_plan_url("clarityq_plan_page", run.run_id, "grant") + "&format=md", cookies=cookies)
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "```diff\n# phase 2: role\n+ role clarityq_reader\n" in markdown.text
    assert client.get(access_plan_url("clarityq_plan_page", run.run_id, "other"), cookies=cookies).status_code == 404
    assert client.get(access_plan_url("clarityq_plan_page", run.run_id, "grant")).status_code == 401

"""The FastAPI app behind the extra links (mounted at ``/clarityq`` on the API server).

Airflow does not authenticate plugin apps, so every route here checks the caller itself with the same
dependency the core API uses: a valid Airflow token (the UI's session cookie or a bearer token) of a user
allowed to read the task instances of the DAG named in the request. A page therefore shows only what that
DAG recorded or returned:

* ``GET /health/{conn_id}?dag_id=&days=`` -- the connection's health history as recorded by the DAG's tasks,
  read from the configured history store (the API server must see it: same host and ``history_path`` as the
  workers, or a shared store);
* ``GET /plans/{dag_id}/{run_id}/{task_id}?map_index=&format=html|md`` -- the access plan the grants task
  returned in XCom (``plan``), as a readable diff.

Responses forbid the browser to load anything (the pages are self-contained) and to cache them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, PlainTextResponse

from airflow_provider_clarityq.core.errors import ClarityQError
from airflow_provider_clarityq.core.grants.plan_diff import plan_diff
from airflow_provider_clarityq.core.history.html import render_health_html
from airflow_provider_clarityq.utils.health_history import configured_store

__all__ = ["create_app"]

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
_RESULT_KEYS = ("return_value", "access_result")  # the grants task's XCom on success, on failure


def _task_xcom(dag_id: str, run_id: str, task_id: str, map_index: int) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        for key in _RESULT_KEYS:
            row = session.scalars(
                select(XComModel).where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == run_id,
                    XComModel.task_id == task_id,
                    XComModel.map_index == map_index,
                    XComModel.key == key,
                )
            ).first()
            if row is not None:
                return XComModel.deserialize_value(row)
    return None


def create_app() -> FastAPI:
    app = FastAPI(title="ClarityQ reports", docs_url=None, redoc_url=None, openapi_url=None)
    may_read_tasks = [Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))]

    @app.get("/health/{conn_id}", dependencies=may_read_tasks, response_class=HTMLResponse)
    def health_report(
        conn_id: str,
        dag_id: str = Query(min_length=1, max_length=250),
        days: int = Query(90, ge=1, le=3650),
    ) -> HTMLResponse:
        try:
            store = configured_store()
        except ClarityQError as err:
            raise HTTPException(500, str(err)) from None
        if store is None:
            raise HTTPException(404, "[clarityq] history_store is none: no health history is recorded")
        now = datetime.now(timezone.utc)
        reports = store.reports(conn_id, since=now - timedelta(days=days), dag_id=dag_id)
        page = render_health_html(reports, conn_id=conn_id, generated_at=now, period=f"DAG {dag_id}, last {days} days")
        return HTMLResponse(page, headers=_HEADERS)

    @app.get("/plans/{dag_id}/{run_id}/{task_id}", dependencies=may_read_tasks, response_model=None)
    def access_plan(
        dag_id: str,
        run_id: str,
        task_id: str,
        map_index: int = -1,
        format: Literal["html", "md"] = "html",  # noqa: A002 - the query parameter's name
    ) -> HTMLResponse | PlainTextResponse:
        value = _task_xcom(dag_id, run_id, task_id, map_index)
        plan = value.get("plan") if isinstance(value, dict) and "plan" in value else value
        try:
            diff = plan_diff(plan)
        except ClarityQError:
            raise HTTPException(404, "this task instance returned no access plan") from None
        if format == "md":
            return PlainTextResponse(diff.to_markdown(), media_type="text/markdown; charset=utf-8", headers=_HEADERS)
        return HTMLResponse(diff.to_html(), headers=_HEADERS)

    return app

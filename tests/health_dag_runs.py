"""Running the health and sync example DAGs through ``dag.test()`` and reading their XCom and Asset events."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_clarityq.core.health import health_asset_uri

REPO = Path(__file__).resolve().parents[1]
HEALTH_DAG = "clarityq_connection_health"
SYNC_DAG = "clarityq_sync"
READER_CONN_ID = "clarityq_reader"
HEALTH_URI = health_asset_uri(READER_CONN_ID)
PROJECT = "clarityq_demo"


@dataclass
class DagResult:
    state: str
    tasks: dict[str, str]
    xcom: dict[str, Any] = field(default_factory=dict)  # task_id -> return_value
    health_events: list[dict[str, Any]] = field(default_factory=list)  # extras of this run's Asset events

    def report(self, task_id: str) -> dict[str, Any]:
        value: dict[str, Any] = self.xcom[task_id]
        return value


def load_dag(dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "example_dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def run_dag(dag_id: str, **kwargs: Any) -> DagResult:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dagrun = load_dag(dag_id).test(**kwargs)
    with create_session() as session:
        tasks = {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances(session=session)}
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id, XComModel.run_id == dagrun.run_id, XComModel.key == "return_value"
            )
        ).all()
        xcom = {row.task_id: XComModel.deserialize_value(row) for row in rows}
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == HEALTH_URI, AssetEvent.source_run_id == dagrun.run_id)
        ).all()
        extras = [dict(event.extra) for event in events]
    return DagResult(str(dagrun.state), tasks, xcom, extras)


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in report["checks"] if c["name"] == name)
    return found

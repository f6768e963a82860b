"""Every example DAG imports cleanly; their ids and schedules are what the docs promise."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_example_dags_import_without_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "example_dags"))
    assert bag.import_errors == {}
    expected = {"clarityq_provision_access", "clarityq_connection_health", "clarityq_sync"}
    assert expected <= set(bag.dags)
    assert bag.dags["clarityq_connection_health"].schedule == "@daily"
    (asset,) = bag.dags["clarityq_sync"].schedule
    assert asset.uri == "clarityq://connection/clarityq_reader/health"
    assert bag.dags["clarityq_provision_access"].params["mode"] == "apply"
    # What is managed is fixed in the DAG files; a run's params choose only how.
    assert set(bag.dags["clarityq_provision_access"].params) == {"mode"}
    rotation = bag.dags["clarityq_rotate_access_key"].params
    assert set(rotation) == {"mode", "on_key_limit", "grace_period_hours"}
    assert rotation.get_param("grace_period_hours").schema["minimum"] == 24

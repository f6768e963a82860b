"""Extra links: registered with Airflow, on the right operators, pointing at the plugin's routes."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_clarityq.get_provider_info import get_provider_info
from airflow_provider_clarityq.links.reports import (
    ClarityQAccessPlanLink,
    ClarityQHealthReportLink,
    access_plan_url,
    health_report_url,
)
from airflow_provider_clarityq.operators.grants import ClarityQGrantsOperator
from airflow_provider_clarityq.operators.health_report import ClarityQHealthReportOperator
from airflow_provider_clarityq.operators.validation import ClarityQValidationOperator
from airflow_provider_clarityq.sensors.health import ClarityQHealthSensor


class _Key:
    dag_id, run_id, task_id, map_index, try_number = "my dag", "manual__2026-03-01T02:00:00+00:00", "grant", 3, 1


def test_links_are_registered_and_on_the_operators() -> None:
    info = get_provider_info()
    assert info["extra-links"] == [
        "airflow_provider_clarityq.links.reports.ClarityQHealthReportLink",
        "airflow_provider_clarityq.links.reports.ClarityQAccessPlanLink",
    ]
    assert "plugins" not in info  # an entry point instead: Airflow loads provider-info plugins only when not lazy
    for operator in (ClarityQValidationOperator, ClarityQHealthSensor, ClarityQHealthReportOperator):
        assert [type(link) for link in operator.operator_extra_links] == [ClarityQHealthReportLink]
    assert [type(link) for link in ClarityQGrantsOperator.operator_extra_links] == [ClarityQAccessPlanLink]


@pytest.mark.parametrize(
    ("base", "prefix"), [(None, ""), ("https://airflow.example.com/team-a/", "https://airflow.example.com/team-a")]
)
def test_urls_follow_the_api_base_url_and_quote_every_part(
    monkeypatch: pytest.MonkeyPatch, base: str | None, prefix: str
) -> None:
    if base:
        monkeypatch.setenv("AIRFLOW__API__BASE_URL", base)
    else:
        monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    operator: Any = ClarityQValidationOperator(task_id="check", maxcompute_conn_id="reader/../x")
    assert ClarityQHealthReportLink().get_link(operator, ti_key=_Key()) == (  # type: ignore[arg-type]
        f"{prefix}/clarityq/health/reader%2F..%2Fx?dag_id=my+dag"
    )
    assert ClarityQAccessPlanLink().get_link(operator, ti_key=_Key()) == (  # type: ignore[arg-type]
        f"{prefix}/clarityq/plans/my%20dag/manual__2026-03-01T02%3A00%3A00%2B00%3A00/grant?map_index=3"
    )
    assert health_report_url("c", dag_id="d").startswith(prefix + "/clarityq/")
    assert access_plan_url("d", "r", "t").endswith("/plans/d/r/t?map_index=-1")


def test_no_connection_no_link() -> None:
    class Bare:
        maxcompute_conn_id = ""

    assert ClarityQHealthReportLink().get_link(Bare(), ti_key=_Key()) == ""  # type: ignore[arg-type]

"""Extra links from a task to its ClarityQ pages, served by the provider's API-server plugin.

* **Health report** (validation operator, health sensor, report operator): the connection's health history
  as recorded by the task's DAG, ``<base>/clarityq/health/<conn_id>?dag_id=<dag_id>``;
* **Access plan** (grants operator): the plan of that task instance as a readable diff,
  ``<base>/clarityq/plans/<dag_id>/<run_id>/<task_id>?map_index=<n>``.

``<base>`` is ``[api] base_url`` when set (an API server behind a path prefix), else the link is relative to
the Airflow UI's own origin. Both pages need the plugin :mod:`airflow_provider_clarityq.plugins.reports`
(registered by the provider) and a user allowed to read the DAG's task instances.

Airflow 3 computes a link once, when the task finishes, and keeps it with the task instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from urllib.parse import quote, urlencode

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

__all__ = [
    "PLUGIN_PREFIX",
    "ClarityQAccessPlanLink",
    "ClarityQHealthReportLink",
    "access_plan_url",
    "health_report_url",
]

#: Where the plugin mounts its app on the API server.
PLUGIN_PREFIX: Final = "/clarityq"


def _base() -> str:
    from airflow.sdk import conf

    base = (conf.get("api", "base_url", fallback="") or "").strip().rstrip("/")
    return base + PLUGIN_PREFIX


def health_report_url(conn_id: str, *, dag_id: str) -> str:
    """The health history page of ``conn_id`` as recorded by ``dag_id``."""
    return f"{_base()}/health/{quote(conn_id, safe='')}?{urlencode({'dag_id': dag_id})}"


def access_plan_url(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """The readable plan of one grants task instance."""
    path = "/".join(quote(part, safe="") for part in (dag_id, run_id, task_id))
    return f"{_base()}/plans/{path}?{urlencode({'map_index': map_index})}"


class ClarityQHealthReportLink(BaseOperatorLink):
    """ "Health report": the connection's verdicts, latencies, key age and grant drift over time."""

    name = "Health report"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        conn_id = getattr(operator, "maxcompute_conn_id", None)
        if not isinstance(conn_id, str) or not conn_id:
            return ""
        return health_report_url(conn_id, dag_id=ti_key.dag_id)


class ClarityQAccessPlanLink(BaseOperatorLink):
    """ "Access plan": the plan the task made, one +/- line per grant."""

    name = "Access plan"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return access_plan_url(ti_key.dag_id, ti_key.run_id, ti_key.task_id, ti_key.map_index)

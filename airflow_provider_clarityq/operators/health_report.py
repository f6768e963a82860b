"""``ClarityQHealthReportOperator``: write a connection's health history as one HTML file.

Put it after the health check with the default ``trigger_rule="all_done"``, so a failed check (the night
people most want to look at) gets its report too. The page is self-contained (inline SVG charts, no
script): open it from disk, mail it, or follow the task's **Health report** link, which the provider's
API-server plugin serves from the same history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_clarityq.core.defaults import DEFAULT_CONN_ID
from airflow_provider_clarityq.links.reports import ClarityQHealthReportLink

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["ClarityQHealthReportOperator"]


class ClarityQHealthReportOperator(BaseOperator):
    """Render the connection's recorded health reports of the last ``days`` to an HTML file.

    :param maxcompute_conn_id: the connection whose history to show (templated).
    :param output_path: the HTML file (templated); default ``<[clarityq] reports_dir>/health-<conn_id>.html``.
    :param days: how many days of history the page shows.
    :param only_this_dag: show only the reports this DAG's tasks recorded (default: every DAG's).
    """

    template_fields: Sequence[str] = ("maxcompute_conn_id", "output_path")
    operator_extra_links = (ClarityQHealthReportLink(),)
    ui_color = "#d4ecfa"

    def __init__(
        self,
        *,
        maxcompute_conn_id: str = DEFAULT_CONN_ID,
        output_path: str | None = None,
        days: int = 90,
        only_this_dag: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.maxcompute_conn_id = maxcompute_conn_id
        self.output_path = output_path
        self.days = days
        self.only_this_dag = only_this_dag

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_clarityq.core.errors import ConfigurationError
        from airflow_provider_clarityq.utils.health_history import write_health_report

        try:
            path, shown = write_health_report(
                self.maxcompute_conn_id,
                path=self.output_path or None,
                days=self.days,
                dag_id=self.dag_id if self.only_this_dag else None,
            )
        except ConfigurationError as err:
            raise AirflowFailException(str(err)) from err
        self.log.info("Health report of %s (%d report(s)): %s", self.maxcompute_conn_id, shown, path)
        return {"path": str(path), "conn_id": self.maxcompute_conn_id, "reports": shown}

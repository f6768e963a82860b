"""``ClarityQValidationOperator``: run the health checks (and custom validation queries) as a task.

What it does with the report (schema version 1, also the task's XCom ``return_value`` in every case):

* HEALTHY (or DEGRADED with ``accept_degraded=True``) -> success; each ``Asset`` in ``outlets`` gets an
  event whose ``extra`` holds the verdict, project, principal and time;
* CONFIG_ERROR, a failed check, or DEGRADED otherwise -> ``AirflowFailException`` (no retries: waiting
  does not fix a missing GRANT), message = the one-line fix;
* UNREACHABLE -> ``AirflowException``, so the task's own ``retries`` apply.

A failed task emits no Asset event, so a DAG scheduled on the health Asset only runs after a HEALTHY
check. Use ``airflow_provider_clarityq.core.health.health_asset_uri(conn_id)`` for the Asset's URI.

Custom validations (templated, JSON-friendly)::

    validations=[
        {"name": "orders_loaded", "sql": "SELECT COUNT(*) FROM orders WHERE ds = '{{ ds_nodash }}'",
         "expect": "not_empty"},
        {"name": "one_currency", "sql": "SELECT COUNT(DISTINCT currency) FROM orders", "expect": "equals", "value": 1},
        {"name": "three_regions", "sql": "SELECT region FROM regions", "expect": "row_count", "value": 3},
    ]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_clarityq.core.defaults import DEFAULT_CONN_ID, DEFAULT_ROLE
from airflow_provider_clarityq.utils.health_task import HealthTask

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_clarityq.core.health.options import HealthOptions, ValidationQuery
    from airflow_provider_clarityq.core.health.report import HealthReport

__all__ = ["ClarityQValidationOperator"]


class ClarityQValidationOperator(HealthTask, BaseOperator):
    """Check ClarityQ's MaxCompute access; fail with the exact fix, emit ``outlets`` only when healthy.

    :param maxcompute_conn_id: Airflow connection of type ``clarityq_maxcompute`` (templated).
    :param role: the reader role named in GRANT/REVOKE fixes (templated).
    :param table: table to describe and query (templated); default: the first table listed.
    :param checks: subset of the checks to run; default: all of them.
    :param validations: custom validation queries, dicts with ``name``, ``sql``, ``expect``
        (``not_empty`` | ``row_count`` | ``equals``) and ``value`` (templated).
    :param accept_degraded: succeed (and emit) on warnings such as excess privileges or an old key.
    :param label_access_level: the label level the access spec gives the reader (``label_access_level``); a
        higher clearance is flagged as excess privilege. Default: not checked.
    """

    template_fields: Sequence[str] = ("maxcompute_conn_id", "role", "table", "validations")
    template_fields_renderers = {"validations": "json"}
    argument_error = AirflowFailException

    def __init__(
        self,
        *,
        maxcompute_conn_id: str = DEFAULT_CONN_ID,
        role: str = DEFAULT_ROLE,
        table: str | None = None,
        checks: Sequence[str] | None = None,
        validations: Sequence[Mapping[str, Any]] | None = None,
        accept_degraded: bool = False,
        label_access_level: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.maxcompute_conn_id = maxcompute_conn_id
        self._set_health_arguments(
            role=role,
            table=table,
            checks=checks,
            accept_degraded=accept_degraded,
            label_access_level=label_access_level,
        )
        self.validations = [dict(v) for v in validations] if validations else []

    def _arguments(self) -> tuple[HealthOptions, list[ValidationQuery]]:
        from airflow_provider_clarityq.core.errors import ConfigurationError
        from airflow_provider_clarityq.core.health.options import ValidationQuery

        options = self.health_options()
        try:
            validations = [ValidationQuery.from_value(v) for v in self.validations]
        except (ConfigurationError, TypeError) as err:
            raise AirflowFailException(f"invalid {type(self).__name__} arguments: {err}") from None
        return options, validations

    def run_checks(self) -> HealthReport:
        """The health report for the connection (no Airflow decision applied)."""
        from airflow_provider_clarityq.core.health.probe import check_client_source

        options, validations = self._arguments()
        return check_client_source(self.hook, options, validations=validations, conn_id=self.maxcompute_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_clarityq.utils.health_history import record_health_report

        report = self.run_checks()
        self.log.info("%s", report.summary_table())
        payload = report.to_dict()
        record_health_report(payload, conn_id=self.maxcompute_conn_id, context=context, hook=self.hook, log=self.log)
        decision = report.gate(accept_degraded=self.accept_degraded)
        if decision != "pass":
            # The report stays readable (XCom return_value) although the task fails.
            context["ti"].xcom_push(key="return_value", value=payload)
            summary = report.summary_line()
            if decision == "wait":
                raise AirflowException(f"{summary} (transient: the task's retries apply)")
            raise AirflowFailException(summary)
        self._annotate_asset_events(context, report)
        return payload

    def _annotate_asset_events(self, context: Context, report: HealthReport) -> None:
        """Put the verdict on each Asset event (nothing secret: no key, no secret, no token)."""
        from airflow.sdk import Asset

        extra = {
            "verdict": report.verdict,
            "project": report.project,
            "principal": report.principal,
            "checked_at": report.started_at,
            "summary": report.summary_line(),
        }
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = dict(extra)

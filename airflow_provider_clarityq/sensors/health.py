"""``ClarityQHealthSensor``: a gate that lets ClarityQ's sync run only when its MaxCompute access works.

Each poke runs the health checks (:mod:`airflow_provider_clarityq.core.health`) and acts on the verdict:

* HEALTHY (and DEGRADED with ``accept_degraded=True``) -> done; the report is the task's XCom;
* CONFIG_ERROR (and DEGRADED otherwise) -> the task fails at once with the one-line fix, without
  retries and without waiting out the timeout: only a person can fix it;
* UNREACHABLE (connection refused, timeouts, 5xx, throttling) -> keep waiting.

Modes: ``mode="poke"`` holds a worker slot between pokes, ``mode="reschedule"`` frees it, and
``deferrable=True`` pokes once and then hands the wait to
:class:`~airflow_provider_clarityq.triggers.health.ClarityQHealthTrigger` in the triggerer (default from
``[operators] default_deferrable``).

``soft_fail=True`` turns a gate that was still unreachable when its timeout ended into SKIPPED. It does
not turn a configuration error into a skip: a skipped misconfiguration hides the fix the on-call person
needs (apache/airflow#40787, #71255), so :class:`ClarityQHealthConfigError` always fails the task.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_clarityq.core.defaults import DEFAULT_CONN_ID, DEFAULT_ROLE
from airflow_provider_clarityq.utils.health_task import HealthTask

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_clarityq.core.health.report import HealthReport

__all__ = ["ClarityQHealthConfigError", "ClarityQHealthSensor"]


class ClarityQHealthConfigError(AirflowFailException):
    """The gate found what waiting cannot fix (configuration, permission, a warning not accepted).

    Fails the task without retries, even with ``soft_fail=True``.
    """


def _config_error_behind(skip: AirflowSkipException) -> ClarityQHealthConfigError | None:
    """The config error a base-class ``soft_fail`` conversion wrapped into a skip, if any."""
    cause = skip.__cause__
    while cause is not None:
        if isinstance(cause, ClarityQHealthConfigError):
            return cause
        cause = cause.__cause__
    return None


def validate_event(event: object) -> dict[str, Any]:
    """Refuse a missing or malformed trigger event instead of reading it as success."""
    from airflow_provider_clarityq.triggers.health import EVENT_STATUSES

    if not isinstance(event, dict):
        raise AirflowException(f"the health trigger sent no usable event (got {type(event).__name__})")
    status = event.get("status")
    if status not in EVENT_STATUSES:
        raise AirflowException(f"the health trigger sent an unknown status {status!r}")
    if status != "error" and not isinstance(event.get("report"), dict):
        raise AirflowException(f"the health trigger's {status!r} event carries no report")
    return event


class ClarityQHealthSensor(HealthTask, BaseSensorOperator):
    """Wait until ClarityQ's MaxCompute access is healthy; fail at once on a configuration error.

    :param maxcompute_conn_id: Airflow connection of type ``clarityq_maxcompute`` (templated).
    :param role: the reader role named in GRANT/REVOKE fixes (templated).
    :param table: table to describe and query (templated); default: the first table listed.
    :param checks: subset of the checks to run; default: all of them.
    :param accept_degraded: let warnings (excess privileges, an old key) pass the gate.
    :param label_access_level: the label level the access spec gives the reader (``label_access_level``); a
        higher clearance is flagged as excess privilege. Default: not checked.
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    template_fields: Sequence[str] = ("maxcompute_conn_id", "role", "table")
    argument_error = ClarityQHealthConfigError

    def __init__(
        self,
        *,
        maxcompute_conn_id: str = DEFAULT_CONN_ID,
        role: str = DEFAULT_ROLE,
        table: str | None = None,
        checks: Sequence[str] | None = None,
        accept_degraded: bool = False,
        label_access_level: int | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
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
        self.deferrable = deferrable

    def _check(self) -> HealthReport:
        from airflow_provider_clarityq.core.health.probe import check_client_source

        return check_client_source(self.hook, self.health_options(), conn_id=self.maxcompute_conn_id)

    def _record(self, report: HealthReport, context: Context) -> None:
        from airflow_provider_clarityq.utils.health_history import record_health_report

        record_health_report(
            report.to_dict(), conn_id=self.maxcompute_conn_id, context=context, hook=self.hook, log=self.log
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        report = self._check()
        self.log.info("%s", report.summary_table())
        self._record(report, context)
        decision = report.gate(accept_degraded=self.accept_degraded)
        if decision == "pass":
            return PokeReturnValue(is_done=True, xcom_value=report.to_dict())
        if decision == "fail":
            raise ClarityQHealthConfigError(report.summary_line())
        self.log.warning("Not healthy yet, will check again: %s", report.summary_line())
        return False

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSkipException as skip:
                error = _config_error_behind(skip)
                if error is not None:
                    raise error from None
                raise
        outcome = self.poke(context)  # poke once: no deferral when the answer is already known
        if isinstance(outcome, PokeReturnValue) and outcome.is_done:
            return outcome.xcom_value
        from airflow_provider_clarityq.triggers.health import ClarityQHealthTrigger

        self.defer(
            trigger=ClarityQHealthTrigger(
                maxcompute_conn_id=self.maxcompute_conn_id,
                end_time=time.time() + float(self.timeout),
                poll_interval=float(self.poke_interval),
                options=self.health_options().to_dict(),
                accept_degraded=self.accept_degraded,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: return the report, or fail/time out with the one-line fix."""
        from airflow_provider_clarityq.core.health.report import HealthReport, ReportFormatError

        event = validate_event(event)
        status = event["status"]
        if status == "error":
            raise AirflowException(f"the ClarityQ health trigger failed: {event.get('message', 'no message')}")
        try:
            report = HealthReport.from_dict(event["report"])
        except ReportFormatError as err:
            raise AirflowException(f"the health trigger's report is unreadable: {err}") from None
        self.log.info("%s", report.summary_table())
        self._record(report, context)
        if status == "healthy":
            return report.to_dict()
        if status == "config_error":
            raise ClarityQHealthConfigError(report.summary_line())
        raise AirflowSensorTimeout(
            f"still {report.verdict} after {event.get('attempts', '?')} attempt(s) when the timeout ended: "
            f"{report.summary_line()}"
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSkipException as skip:
            error = _config_error_behind(skip)
            if error is not None:
                raise error from None
            raise

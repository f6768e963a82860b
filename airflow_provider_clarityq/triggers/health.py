"""Deferrable half of :class:`~airflow_provider_clarityq.sensors.health.ClarityQHealthSensor`.

The trigger re-runs the same health checks until the gate passes, fails for good, or its absolute
deadline passes, then yields exactly one event and returns. Why it is built this way:

* kwargs are JSON-safe and secret-free (connection id, epoch deadline, options); the connection is
  fetched in :meth:`run` with ``await BaseHook.aget_connection`` (a sync lookup inside the triggerer's
  event loop fails or blocks it);
* every blocking call (parsing settings, building pyodps / SDK clients, the checks) runs in
  ``asyncio.to_thread``; clients are built once and reused between attempts;
* the deadline is absolute (``end_time``, epoch seconds), so a restarted triggerer keeps it;
* a configuration error ends the wait at once: no point in polling what only a person can fix.

Events (``TriggerEvent.payload``): ``{"status": "healthy" | "config_error" | "timeout" | "error",
"verdict", "summary", "attempts", "report"}`` where ``report`` is the health report as JSON (schema
version 1), or ``{"status": "error", "message"}`` for an unexpected failure of the trigger itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_provider_clarityq.core.health import HealthOptions, HealthReport

__all__ = ["EVENT_STATUSES", "ClarityQHealthTrigger"]

#: Every status an event may carry.
EVENT_STATUSES = ("healthy", "config_error", "timeout", "error")


def _mask(value: object) -> None:
    if isinstance(value, str) and value:
        from airflow.sdk.log import mask_secret

        mask_secret(value)


class ClarityQHealthTrigger(BaseTrigger):
    """Wait, in the triggerer, until the ClarityQ MaxCompute connection is healthy.

    :param maxcompute_conn_id: the Airflow connection to check (type ``clarityq_maxcompute``).
    :param end_time: absolute deadline, epoch seconds; a ``timeout`` event is sent once it has passed.
    :param poll_interval: seconds between attempts while the service is unreachable.
    :param options: :class:`~airflow_provider_clarityq.core.health.HealthOptions` as a dict.
    :param accept_degraded: treat DEGRADED (warnings only) as healthy.
    """

    def __init__(
        self,
        *,
        maxcompute_conn_id: str,
        end_time: float,
        poll_interval: float = 60.0,
        options: Mapping[str, Any] | None = None,
        accept_degraded: bool = False,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.maxcompute_conn_id = maxcompute_conn_id
        self.end_time = float(end_time)
        self.poll_interval = float(poll_interval)
        self.options = dict(options or {})
        self.accept_degraded = bool(accept_degraded)
        self._secrets: list[str] = []  # filled in run(), never serialized

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "maxcompute_conn_id": self.maxcompute_conn_id,
                "end_time": self.end_time,
                "poll_interval": self.poll_interval,
                "options": dict(self.options),
                "accept_degraded": self.accept_degraded,
            },
        )

    def _health_options(self) -> HealthOptions:
        from airflow_provider_clarityq.core.health import HealthOptions

        return HealthOptions.from_dict(self.options)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield exactly one event, then return."""
        try:
            event = await self._wait()
        except Exception as exc:
            from airflow_provider_clarityq.core.errors import one_line, redact

            self.log.exception("ClarityQ health trigger for %s failed", self.maxcompute_conn_id)
            message = redact(f"{type(exc).__name__}: {one_line(str(exc))[:300]}", self._secrets)
            event = TriggerEvent({"status": "error", "message": message})  # type: ignore[no-untyped-call]
        yield event

    async def _wait(self) -> TriggerEvent:
        from airflow.sdk import BaseHook

        from airflow_provider_clarityq.core.health import HealthReport, run_health_checks, unusable_connection_report
        from airflow_provider_clarityq.core.health.probe import connection_probe

        options = self._health_options()
        try:
            conn = await BaseHook.aget_connection(self.maxcompute_conn_id)
        except Exception as exc:
            report = unusable_connection_report(exc, conn_id=self.maxcompute_conn_id, options=options)
            return self._event("config_error", report, 0)
        _mask(conn.password)
        token = (conn.extra_dejson or {}).get("sts_token") if conn.extra else None
        _mask(token)
        self._secrets = [s for s in (conn.password, token) if isinstance(s, str) and s]
        fields = {
            "login": conn.login,
            "password": conn.password,
            "host": conn.host,
            "schema": conn.schema,
            "port": conn.port,
            "extra": conn.extra,
        }
        probe = await asyncio.to_thread(
            connection_probe, fields, conn_id=self.maxcompute_conn_id, options=options, on_new_secret=_mask
        )
        if isinstance(probe, HealthReport):
            return self._event("config_error", probe, 0)
        attempt = 0
        while True:
            attempt += 1
            report = await asyncio.to_thread(run_health_checks, probe, options)
            decision = report.gate(accept_degraded=self.accept_degraded)
            if decision == "pass":
                return self._event("healthy", report, attempt)
            if decision == "fail":
                return self._event("config_error", report, attempt)
            remaining = self.end_time - time.time()
            if remaining <= 0:
                return self._event("timeout", report, attempt)
            delay = min(self.poll_interval, remaining)
            self.log.info("Attempt %d: %s Next check in %.0f s.", attempt, report.summary_line(), delay)
            await asyncio.sleep(delay)

    @staticmethod
    def _event(status: str, report: HealthReport, attempts: int) -> TriggerEvent:
        return TriggerEvent(  # type: ignore[no-untyped-call]
            {
                "status": status,
                "verdict": report.verdict,
                "summary": report.summary_line(),
                "attempts": attempts,
                "report": report.to_dict(),
            }
        )

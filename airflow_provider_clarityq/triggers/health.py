"""Deferrable half of :class:`~airflow_provider_clarityq.sensors.health.ClarityQHealthSensor`.

The trigger waits, in the triggerer, until the gate passes, fails for good, or its absolute deadline
passes, then yields exactly one event and returns. Why it is built this way:

* a triggerer runs every deferred task of the deployment in one event loop, and many sync DAGs gate on the
  same reader connection: gates on the same connection and check options share one in-flight check and
  its result (:mod:`airflow_provider_clarityq.core.health.sharing`), so 1,000 waiting gates cost one check
  per poll interval, not 1,000;
* one client bundle (pyodps, STS, RAM clients) per connection and event loop, reused across rounds and
  gates; the connection is re-read (``await MaxComputeHook.aresolve_connection``) before every check, and a changed
  connection (a rotated key) gets new clients at once;
* nothing blocks the event loop: imports, connection parsing, client building and the checks run in
  worker threads (``asyncio.to_thread``);
* kwargs are JSON-safe and secret-free; the deadline is absolute (``end_time``, epoch seconds), so a
  restarted triggerer keeps it;
* a configuration error ends the wait at once - for every gate that shares it.

Events (``TriggerEvent.payload``): ``{"status": "healthy" | "config_error" | "timeout" | "error",
"verdict", "summary", "attempts", "report"}`` where ``report`` is the health report as JSON (schema
version 1), or ``{"status": "error", "message"}`` for an unexpected failure of the trigger itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_provider_clarityq.core.health.probe import MaxComputeProbe
    from airflow_provider_clarityq.core.health.report import HealthReport
    from airflow_provider_clarityq.core.health.sharing import SharedChecks

__all__ = ["EVENT_STATUSES", "ClarityQHealthTrigger"]

#: Every status an event may carry.
EVENT_STATUSES = ("healthy", "config_error", "timeout", "error")


def _load_runtime() -> None:
    """Import what a check needs; run in a thread so the first trigger does not stall the triggerer's loop."""
    import airflow.sdk  # noqa: F401

    import airflow_provider_clarityq.core.health
    import airflow_provider_clarityq.core.health.probe
    import airflow_provider_clarityq.core.health.sharing
    import airflow_provider_clarityq.hooks.maxcompute  # noqa: F401


@dataclass
class _Bundle:
    """A connection's clients (the probe) for one version of its fields; or the report saying they are unusable."""

    fingerprint: str
    probe: MaxComputeProbe | HealthReport
    secrets: tuple[str, ...] = field(repr=False, default=())


@dataclass
class _Runtime:
    """What the triggers of one event loop share: the single-flight checks and a client bundle per connection."""

    checks: SharedChecks[tuple[str, str], HealthReport]
    bundles: dict[str, _Bundle] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)


_RUNTIMES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Runtime] = weakref.WeakKeyDictionary()


def _runtime() -> _Runtime:
    from airflow_provider_clarityq.core.health.sharing import SharedChecks

    loop = asyncio.get_running_loop()
    runtime = _RUNTIMES.get(loop)
    if runtime is None:
        runtime = _RUNTIMES[loop] = _Runtime(SharedChecks())
    return runtime


class ClarityQHealthTrigger(BaseTrigger):
    """Wait, in the triggerer, until the ClarityQ MaxCompute connection is healthy.

    :param maxcompute_conn_id: the Airflow connection to check (type ``clarityq_maxcompute``).
    :param end_time: absolute deadline, epoch seconds; a ``timeout`` event is sent once it has passed.
    :param poll_interval: seconds between checks while the service is unreachable; a result another gate got
        within this window is reused.
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

    @property
    def _key(self) -> tuple[str, str]:
        """What gates must have in common to share a check: the connection and the check options."""
        return self.maxcompute_conn_id, json.dumps(self.options, sort_keys=True, default=str)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield exactly one event, then return."""
        runtime: _Runtime | None = None
        try:
            await asyncio.to_thread(_load_runtime)
            runtime = _runtime()
            runtime.checks.join(self._key)
            runtime.users[self.maxcompute_conn_id] = runtime.users.get(self.maxcompute_conn_id, 0) + 1
            event = await self._wait(runtime)
        except Exception as exc:
            event = self._error(exc, runtime)
        finally:
            if runtime is not None:
                self._leave(runtime)
        yield event

    def _leave(self, runtime: _Runtime) -> None:
        runtime.checks.leave(self._key)
        left = runtime.users.get(self.maxcompute_conn_id, 1) - 1
        if left > 0:
            runtime.users[self.maxcompute_conn_id] = left
        else:  # no gate waits on this connection any more: let its clients go
            runtime.users.pop(self.maxcompute_conn_id, None)
            runtime.bundles.pop(self.maxcompute_conn_id, None)

    def _error(self, exc: Exception, runtime: _Runtime | None) -> TriggerEvent:
        from airflow_provider_clarityq.core.errors import one_line, redact

        self.log.exception("ClarityQ health trigger for %s failed", self.maxcompute_conn_id)
        bundle = runtime.bundles.get(self.maxcompute_conn_id) if runtime is not None else None
        secrets = bundle.secrets if bundle is not None else ()
        message = redact(f"{type(exc).__name__}: {one_line(str(exc))[:300]}", secrets)
        return TriggerEvent({"status": "error", "message": message})  # type: ignore[no-untyped-call]

    async def _wait(self, runtime: _Runtime) -> TriggerEvent:
        attempts = 0
        last_summary = None
        while True:
            report, generation = await runtime.checks.latest(
                self._key, fresh_within=self.poll_interval, check=lambda: self._check(runtime)
            )
            attempts += 1
            decision = report.gate(accept_degraded=self.accept_degraded)
            if decision == "pass":
                return self._event("healthy", report, attempts)
            if decision == "fail":
                return self._event("config_error", report, attempts)
            remaining = self.end_time - time.time()
            if remaining <= 0:
                return self._event("timeout", report, attempts)
            delay = min(self.poll_interval, remaining)
            summary = report.summary_line()
            if summary != last_summary:  # one line per change, not one per gate per round
                self.log.info("Attempt %d: %s Next check within %.0f s.", attempts, summary, delay)
                last_summary = summary
            await runtime.checks.wait_newer(self._key, generation, delay)

    async def _check(self, runtime: _Runtime) -> HealthReport:
        """One check for every gate sharing the key: re-read the connection, reuse or rebuild its clients, run."""
        from airflow_provider_clarityq.core.health.options import HealthOptions
        from airflow_provider_clarityq.core.health.probe import connection_probe
        from airflow_provider_clarityq.core.health.report import HealthReport
        from airflow_provider_clarityq.core.health.runner import run_health_checks, unusable_connection_report
        from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook
        from airflow_provider_clarityq.utils.connection_fields import connection_secrets, mask_secret_value

        options = HealthOptions.from_dict(self.options)
        conn_id = self.maxcompute_conn_id
        try:
            fields = await MaxComputeHook(maxcompute_conn_id=conn_id).aresolve_connection()
        except Exception as exc:
            runtime.bundles.pop(conn_id, None)
            return unusable_connection_report(exc, conn_id=conn_id, options=options)
        fingerprint = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()
        bundle = runtime.bundles.get(conn_id)
        if bundle is None or bundle.fingerprint != fingerprint:  # first check, or the connection changed
            secrets = connection_secrets(fields)
            probe = await asyncio.to_thread(
                connection_probe, fields, conn_id=conn_id, options=options, on_new_secret=mask_secret_value
            )
            bundle = runtime.bundles[conn_id] = _Bundle(fingerprint, probe, secrets)
        if isinstance(bundle.probe, HealthReport):  # the connection is unusable: its CONFIG_ERROR report
            return bundle.probe
        return await asyncio.to_thread(run_health_checks, bundle.probe, options)

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

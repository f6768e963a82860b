"""ClarityQHealthSensor in poke, reschedule and deferrable modes, against the emulator.

The main account's key with the four seed checks is HEALTHY; a wrong secret is a configuration error;
a closed port or an injected 503 is transient. Modes are driven through the sensor's real ``execute``;
only the task instance is a small stand-in (what reschedule mode asks of it).
"""

from __future__ import annotations

import json
import socket
import time
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from clarityq_emulator import RunningEmulator

from airflow_provider_clarityq.core.health.options import SEED_CHECKS
from airflow_provider_clarityq.sensors.health import ClarityQHealthConfigError, ClarityQHealthSensor, validate_event
from airflow_provider_clarityq.triggers.health import ClarityQHealthTrigger

pytestmark = pytest.mark.integration

CONN_ID = "mc_sensor"


class RescheduleTI:
    """What reschedule mode asks of the task instance."""

    def get_first_reschedule_date(self, context: Any) -> None:
        return None


def context() -> dict[str, Any]:
    return {"ti": RescheduleTI()}


def set_conn(monkeypatch: pytest.MonkeyPatch, emu: RunningEmulator, **overrides: Any) -> None:
    info = emu.info
    service = f"http://{info.ram_endpoint}"
    fields: dict[str, Any] = {
        "conn_type": "clarityq_maxcompute",
        "login": info.access_key_id,
        "password": info.access_key_secret,
        "host": info.maxcompute_endpoint,
        "schema": info.project,
        "extra": {"ram_endpoint": service, "sts_endpoint": service},
    }
    fields.update(overrides)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(fields))


def set_unreachable(monkeypatch: pytest.MonkeyPatch, emu: RunningEmulator) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    set_conn(monkeypatch, emu, host=f"{endpoint}/api", extra={"ram_endpoint": endpoint, "sts_endpoint": endpoint})


def sensor(**kwargs: Any) -> ClarityQHealthSensor:
    kwargs.setdefault("checks", list(SEED_CHECKS))
    kwargs.setdefault("poke_interval", 0.1)
    kwargs.setdefault("timeout", 60)
    return ClarityQHealthSensor(task_id="gate", maxcompute_conn_id=CONN_ID, **kwargs)


def fail_next_query(emu: RunningEmulator, times: int = 1) -> None:
    """The next SQL submission(s) get a 503 (POST is not retried by pyodps): one UNREACHABLE poke each."""
    emu.add_fault(service="maxcompute", method="POST", path="/instances", status=503, count=times)


# --------------------------------------------------------------------------------------------------
# Construction


def test_constructor() -> None:
    gate = ClarityQHealthSensor(task_id="g", maxcompute_conn_id="{{ var.value.conn }}", mode="reschedule")
    assert {"maxcompute_conn_id", "role", "table"} <= set(gate.template_fields)
    assert "hook" not in gate.__dict__
    assert gate.deferrable is False  # [operators] default_deferrable is off in the test config
    assert gate.mode == "reschedule"
    with pytest.raises(TypeError):
        ClarityQHealthSensor("g")  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# poke()


def test_poke_outcomes(monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator) -> None:
    set_conn(monkeypatch, clarityq_emulator)
    gate = sensor()
    done = gate.poke(context())  # type: ignore[arg-type]
    assert isinstance(done, PokeReturnValue) and done.is_done
    assert isinstance(done.xcom_value, dict) and done.xcom_value["verdict"] == "HEALTHY"

    fail_next_query(clarityq_emulator)
    assert gate.poke(context()) is False  # type: ignore[arg-type]

    set_conn(monkeypatch, clarityq_emulator, password="W" * 30)
    with pytest.raises(ClarityQHealthConfigError, match=r"^CONFIG_ERROR: authentication failed") as exc_info:
        sensor().poke(context())  # type: ignore[arg-type]
    assert isinstance(exc_info.value, AirflowFailException)  # no retries
    assert "W" * 30 not in str(exc_info.value)


def test_degraded_fails_at_once_unless_accepted(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    set_conn(monkeypatch, clarityq_emulator)  # main account key -> least_privilege warns
    with pytest.raises(ClarityQHealthConfigError, match=r"^DEGRADED:"):
        sensor(checks=None).poke(context())  # type: ignore[arg-type]
    done = sensor(checks=None, accept_degraded=True).poke(context())  # type: ignore[arg-type]
    assert isinstance(done, PokeReturnValue) and done.xcom_value["verdict"] == "DEGRADED"  # type: ignore[index]


# --------------------------------------------------------------------------------------------------
# mode="poke"


def test_poke_mode_waits_through_transient_errors(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    set_conn(monkeypatch, clarityq_emulator)
    fail_next_query(clarityq_emulator, times=2)
    clarityq_emulator.clear_requests()
    report = sensor(mode="poke").execute(context())  # type: ignore[arg-type]
    assert report["verdict"] == "HEALTHY"
    submissions = [r for r in clarityq_emulator.requests() if r["method"] == "POST" and "/instances" in r["path"]]
    assert [r["status"] for r in submissions] == [503, 503, 201]


def test_config_error_fails_at_once_even_with_soft_fail(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    set_conn(monkeypatch, clarityq_emulator, schema="no_such_project")
    started = time.monotonic()
    with pytest.raises(ClarityQHealthConfigError, match=r"project not found: there is no project 'no_such_project'"):
        sensor(mode="poke", soft_fail=True, timeout=3600).execute(context())  # type: ignore[arg-type]
    assert time.monotonic() - started < 20  # did not wait for the hour-long timeout


def test_timeout_respects_soft_fail(monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator) -> None:
    set_unreachable(monkeypatch, clarityq_emulator)
    with pytest.raises(AirflowSensorTimeout):
        sensor(mode="poke", timeout=0.5).execute(context())  # type: ignore[arg-type]
    with pytest.raises(AirflowSkipException):
        sensor(mode="poke", timeout=0.5, soft_fail=True).execute(context())  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# mode="reschedule"


def test_reschedule_mode_frees_the_slot_while_unreachable(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    set_conn(monkeypatch, clarityq_emulator)
    fail_next_query(clarityq_emulator)
    gate = sensor(mode="reschedule", poke_interval=60)
    with pytest.raises(AirflowRescheduleException):
        gate.execute(context())  # type: ignore[arg-type]
    assert gate.execute(context())["verdict"] == "HEALTHY"  # type: ignore[arg-type]


def test_reschedule_mode_config_error(monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator) -> None:
    set_conn(monkeypatch, clarityq_emulator, password="W" * 30)
    with pytest.raises(ClarityQHealthConfigError):
        sensor(mode="reschedule", soft_fail=True).execute(context())  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# deferrable=True


def test_deferrable_pokes_once_before_deferring(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    set_conn(monkeypatch, clarityq_emulator)
    assert sensor(deferrable=True).execute(context())["verdict"] == "HEALTHY"  # type: ignore[arg-type]

    fail_next_query(clarityq_emulator)
    before = time.time()
    with pytest.raises(TaskDeferred) as exc_info:
        sensor(deferrable=True, timeout=600, poke_interval=30, role="BI_Reader").execute(context())  # type: ignore[arg-type]
    deferred = exc_info.value
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=600)
    trigger = deferred.trigger
    assert isinstance(trigger, ClarityQHealthTrigger)
    assert before + 600 <= trigger.end_time <= time.time() + 600  # absolute deadline
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_clarityq.triggers.health.ClarityQHealthTrigger"
    assert kwargs["poll_interval"] == 30 and kwargs["options"]["role"] == "bi_reader"
    text = json.dumps(kwargs)  # JSON-safe
    assert clarityq_emulator.info.access_key_secret not in text


def test_deferrable_config_error_never_defers(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    set_conn(monkeypatch, clarityq_emulator, password="W" * 30)
    with pytest.raises(ClarityQHealthConfigError):
        sensor(deferrable=True).execute(context())  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Resuming


def report_event(status: str, verdict: str = "HEALTHY") -> dict[str, Any]:
    from airflow_provider_clarityq.core.health.report import CheckResult, HealthReport

    checks = {
        "HEALTHY": [CheckResult("authentication", "pass", "OK", "fine")],
        "CONFIG_ERROR": [
            CheckResult("authentication", "fail", "AUTH_KEY_DISABLED", "key disabled", "enable it", category="config")
        ],
        "UNREACHABLE": [
            CheckResult(
                "authentication", "fail", "UNREACHABLE", "refused", "check network", True, category="unreachable"
            )
        ],
    }[verdict]
    report = HealthReport.build(checks, started_at="2026-11-23T00:00:00.000Z", duration_ms=1)
    return {
        "status": status,
        "verdict": verdict,
        "summary": report.summary_line(),
        "attempts": 3,
        "report": report.to_dict(),
    }


def test_execute_complete() -> None:
    gate = sensor(deferrable=True)
    assert gate.execute_complete(context(), report_event("healthy"))["verdict"] == "HEALTHY"  # type: ignore[arg-type]
    with pytest.raises(ClarityQHealthConfigError, match="key disabled"):
        gate.execute_complete(context(), report_event("config_error", "CONFIG_ERROR"))  # type: ignore[arg-type]
    with pytest.raises(AirflowSensorTimeout, match=r"still UNREACHABLE after 3 attempt\(s\)"):
        gate.execute_complete(context(), report_event("timeout", "UNREACHABLE"))  # type: ignore[arg-type]
    with pytest.raises(AirflowException, match="trigger failed: boom"):
        gate.execute_complete(context(), {"status": "error", "message": "boom"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (None, "no usable event"),
        ("healthy", "no usable event"),
        ({"status": "great"}, "unknown status 'great'"),
        ({"status": "healthy"}, "carries no report"),
        ({"status": "healthy", "report": {"schema_version": "9"}}, "report is unreadable"),
    ],
)
def test_malformed_events_are_refused(event: Any, message: str) -> None:
    with pytest.raises(AirflowException, match=message):
        sensor().execute_complete(context(), event)  # type: ignore[arg-type]


def test_validate_event_passes_good_events_through() -> None:
    event = report_event("healthy")
    assert validate_event(event) is event


def test_soft_fail_on_resume_skips_timeouts_but_not_config_errors() -> None:
    gate = sensor(deferrable=True, soft_fail=True)
    with pytest.raises(AirflowSkipException):
        gate.resume_execution("execute_complete", {"event": report_event("timeout", "UNREACHABLE")}, context())  # type: ignore[arg-type]
    with pytest.raises(ClarityQHealthConfigError):
        gate.resume_execution("execute_complete", {"event": report_event("config_error", "CONFIG_ERROR")}, context())  # type: ignore[arg-type]

"""ClarityQHealthTrigger: serialization round trip, then ``run()`` in a plain event loop (no triggerer).

Against the emulator with the real SDKs; the connection comes from ``AIRFLOW_CONN_*`` through
``BaseHook.aget_connection`` as in a triggerer.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import socket
import time
from typing import Any

import pytest
from clarityq_emulator import RunningEmulator

from airflow_provider_clarityq.core.health.options import SEED_CHECKS, HealthOptions
from airflow_provider_clarityq.core.health.report import HealthReport
from airflow_provider_clarityq.triggers.health import ClarityQHealthTrigger

pytestmark = pytest.mark.integration

CONN_ID = "mc_trigger"
SEED_OPTIONS = HealthOptions(checks=SEED_CHECKS).to_dict()


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


def trigger(*, timeout: float = 60, poll_interval: float = 0.1, **kwargs: Any) -> ClarityQHealthTrigger:
    kwargs.setdefault("options", SEED_OPTIONS)
    kwargs.setdefault("maxcompute_conn_id", CONN_ID)
    return ClarityQHealthTrigger(end_time=time.time() + timeout, poll_interval=poll_interval, **kwargs)


def first_event(subject: ClarityQHealthTrigger) -> dict[str, Any]:
    """What a triggerer does: take the first event, then close the generator."""

    async def collect() -> dict[str, Any]:
        generator = subject.run()
        try:
            event = await generator.__anext__()
        finally:
            await generator.aclose()
        payload: dict[str, Any] = event.payload
        return payload

    return asyncio.run(collect())


def test_serialize_round_trip() -> None:
    original = ClarityQHealthTrigger(
        maxcompute_conn_id="clarityq_reader",
        end_time=1_900_000_000.5,
        poll_interval=30,
        options=HealthOptions(role="bi_reader", table="orders").to_dict(),
        accept_degraded=True,
    )
    classpath, kwargs = original.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))
    assert isinstance(rebuilt, ClarityQHealthTrigger)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "maxcompute_conn_id": "clarityq_reader",
        "end_time": 1_900_000_000.5,
        "poll_interval": 30.0,
        "options": HealthOptions(role="bi_reader", table="orders").to_dict(),
        "accept_degraded": True,
    }


def test_healthy(monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator) -> None:
    set_conn(monkeypatch, clarityq_emulator)
    event = first_event(trigger())
    assert (event["status"], event["verdict"], event["attempts"]) == ("healthy", "HEALTHY", 1)
    report = HealthReport.from_dict(event["report"])
    assert [c.name for c in report.checks] == list(SEED_CHECKS)
    assert clarityq_emulator.info.access_key_secret not in json.dumps(event)


def test_config_error_fast_path(monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator) -> None:
    """A wrong secret ends the wait at once: one attempt, no sleeping through the poll interval."""
    wrong = "W" * 30
    set_conn(monkeypatch, clarityq_emulator, password=wrong)
    started = time.monotonic()
    event = first_event(trigger(timeout=3600, poll_interval=600))
    assert time.monotonic() - started < 20
    assert (event["status"], event["verdict"], event["attempts"]) == ("config_error", "CONFIG_ERROR", 1)
    assert event["summary"].startswith("CONFIG_ERROR: authentication failed")
    assert wrong not in json.dumps(event)


def test_unusable_or_missing_connection(monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator) -> None:
    set_conn(monkeypatch, clarityq_emulator, schema="bad-project-name")
    event = first_event(trigger(poll_interval=600))
    assert (event["status"], event["attempts"]) == ("config_error", 1)  # one look at the connection
    assert event["report"]["checks"][0]["code"] == "CONNECTION_INVALID"
    missing = first_event(trigger(maxcompute_conn_id="no_such_conn_abc", poll_interval=600))
    assert missing["status"] == "config_error"
    assert missing["report"]["checks"][0]["code"] == "CONNECTION_NOT_FOUND"


def test_transient_errors_are_waited_out(monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator) -> None:
    set_conn(monkeypatch, clarityq_emulator)
    clarityq_emulator.add_fault(service="maxcompute", method="POST", path="/instances", status=503, count=2)
    event = first_event(trigger(poll_interval=0.1))
    assert (event["status"], event["attempts"]) == ("healthy", 3)


def test_deadline_gives_a_timeout_event(monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    set_conn(
        monkeypatch,
        clarityq_emulator,
        host=f"{endpoint}/api",
        extra={"ram_endpoint": endpoint, "sts_endpoint": endpoint},
    )
    event = first_event(trigger(timeout=0.5, poll_interval=0.2))
    assert (event["status"], event["verdict"]) == ("timeout", "UNREACHABLE")
    assert event["report"]["retryable"] is True


def test_blocking_calls_run_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    """While every MaxCompute answer is slowed down, the loop keeps ticking."""
    set_conn(monkeypatch, clarityq_emulator)
    clarityq_emulator.add_fault(service="maxcompute", path="/api/projects/", delay=0.3, count=100)

    async def scenario() -> tuple[dict[str, Any], int, float]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        generator = trigger().run()
        event = await generator.__anext__()
        await generator.aclose()
        elapsed = time.monotonic() - started
        stop.set()
        await ticking
        return event.payload, ticks, elapsed

    payload, ticks, elapsed = asyncio.run(scenario())
    assert payload["status"] == "healthy"
    assert elapsed > 1.0  # the delays were real
    assert ticks > elapsed / 0.01 * 0.5  # a blocked loop would have ticked only a few times


def test_unexpected_failure_is_an_error_event(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    set_conn(monkeypatch, clarityq_emulator)
    event = first_event(trigger(options={"no_such_option": 1}))
    assert event["status"] == "error"
    assert "no_such_option" in event["message"] and "is not a known field" in event["message"]

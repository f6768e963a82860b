"""300 deferred gates on one connection in one event loop, as a triggerer runs them: the real trigger class,
real pyodps and SDK clients, the emulator answering every SQL submission with 503.

* they share one check per poll round: at most 30 requests reach the service per round (not ~9 per gate);
* each ends with exactly one event, a timeout at its own deadline;
* when the fault goes, every waiting gate reports healthy within one interval;
* a key rotated between rounds (the connection updated) is what the next round signs with.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as ram_models
from clarityq_emulator import RunningEmulator
from support import MANAGED_USER, owner_ram, provision_user_without_key

from airflow_provider_clarityq.core.health.options import SEED_CHECKS, HealthOptions
from airflow_provider_clarityq.triggers.health import ClarityQHealthTrigger

pytestmark = pytest.mark.integration

CONN_ID = "mc_shared_gates"
GATES = 300
POLL = 2.0
OPTIONS = HealthOptions(checks=SEED_CHECKS).to_dict()
SQL_503 = {"service": "maxcompute", "method": "POST", "path": "/instances", "status": 503, "count": 100_000}


def set_conn(monkeypatch: pytest.MonkeyPatch, emu: RunningEmulator, login: str, password: str) -> None:
    info = emu.info
    service = f"http://{info.ram_endpoint}"
    fields = {
        "conn_type": "clarityq_maxcompute",
        "login": login,
        "password": password,
        "host": info.maxcompute_endpoint,
        "schema": info.project,
        "extra": {"ram_endpoint": service, "sts_endpoint": service},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(fields))


async def events_of(triggers: list[ClarityQHealthTrigger]) -> list[tuple[list[dict[str, Any]], float]]:
    """Every event each trigger yields (a triggerer takes the first; there must be no second), and when."""

    async def drain(trigger: ClarityQHealthTrigger) -> tuple[list[dict[str, Any]], float]:
        payloads = [event.payload async for event in trigger.run()]
        return payloads, time.time()

    return await asyncio.gather(*(drain(t) for t in triggers))


def test_gates_share_one_check_per_round_and_end_at_their_own_deadlines(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    emu = clarityq_emulator
    set_conn(monkeypatch, emu, emu.info.access_key_id, emu.info.access_key_secret)
    emu.add_fault(**SQL_503)
    emu.clear_requests()
    start = time.time()
    deadlines = [start + 3 * POLL + (i % 30) * 0.1 for i in range(GATES)]
    triggers = [
        ClarityQHealthTrigger(maxcompute_conn_id=CONN_ID, end_time=d, poll_interval=POLL, options=OPTIONS)
        for d in deadlines
    ]
    results = asyncio.run(events_of(triggers))
    elapsed = time.time() - start

    requests = len(emu.requests())
    rounds = math.ceil(elapsed / POLL)
    assert requests / rounds <= 30, f"{requests} requests in {rounds} rounds"
    for (payloads, ended), deadline in zip(results, deadlines, strict=True):
        assert len(payloads) == 1 and payloads[0]["status"] == "timeout"
        assert payloads[0]["verdict"] == "UNREACHABLE"
        assert deadline <= ended <= deadline + POLL + 5  # its own deadline, not a shared one


def test_every_gate_sees_the_recovery_within_one_interval_and_a_rotated_key_is_used(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    emu = clarityq_emulator
    provision_user_without_key(emu)  # the reader as seed 000 sets it up; two keys: the first, and the rotated one
    ram = owner_ram(emu)
    first, rotated = (
        ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name=MANAGED_USER)).body.access_key
        for _ in range(2)
    )
    set_conn(monkeypatch, emu, first.access_key_id, first.access_key_secret)
    emu.add_fault(**SQL_503)
    identity = emu.state.identity

    async def scenario() -> tuple[list[tuple[list[dict[str, Any]], float]], float]:
        triggers = [
            ClarityQHealthTrigger(
                maxcompute_conn_id=CONN_ID, end_time=time.time() + 120, poll_interval=POLL, options=OPTIONS
            )
            for _ in range(GATES)
        ]
        waiting = asyncio.ensure_future(events_of(triggers))
        await asyncio.sleep(POLL * 0.5)  # round 1 ran with the first key, and failed on SQL
        assert identity.get_access_key_last_used(MANAGED_USER, rotated.access_key_id) is None
        set_conn(monkeypatch, emu, rotated.access_key_id, rotated.access_key_secret)
        await asyncio.sleep(POLL * 1.5)  # round 2 re-reads the connection: new clients, the rotated key
        assert identity.get_access_key_last_used(MANAGED_USER, rotated.access_key_id) is not None
        emu.clear_faults()
        recovered = time.time()
        return await asyncio.wait_for(waiting, timeout=60), recovered

    results, recovered = asyncio.run(scenario())
    for payloads, ended in results:
        assert [p["status"] for p in payloads] == ["healthy"]
        assert ended - recovered <= POLL + 5  # one interval (plus the check itself)

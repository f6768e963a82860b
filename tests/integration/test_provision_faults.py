"""Faults injected by the emulator (503, throttling, connection resets, a hard failure halfway): the final
state equals the fault-free run's, each change lands exactly once, and a broken run converges when re-run.

One run goes through real Airflow (``dag.test()``); the random-step runs drive the engine directly with
the real pyodps / RAM / STS clients (no mocks), which is what the operator does inside its task.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi.utils_models import Config
from clarityq_emulator import RunningEmulator, start_emulator
from odps import ODPS

from airflow_provider_clarityq.core.alibaba.clients import ClientBundle
from airflow_provider_clarityq.core.alibaba.failures import RetryPolicy
from airflow_provider_clarityq.core.connection import parse_connection
from airflow_provider_clarityq.core.grants.backend import AlibabaBackend
from airflow_provider_clarityq.core.grants.run import run_access
from airflow_provider_clarityq.core.grants.spec import default_spec

pytestmark = pytest.mark.integration

DAG_FILE = Path(__file__).resolve().parents[2] / "example_dags" / "clarityq_provision_access.py"
ROLE = "clarityq_reader"
FAST = RetryPolicy(attempts=5, base=0.05, cap=0.2, jitter=0.25)
MUTATING_VERBS = ("GRANT", "REVOKE", "ADD", "REMOVE", "CREATE", "DROP")
#: What a seed 000 run sends, as fault filters: one per step (RAM CreateUser is matched by action).
STEPS = ("CreateUser", "ADD USER", "CREATE ROLE", "ON PROJECT", "ON TABLE", f"GRANT {ROLE} TO")


@pytest.fixture(autouse=True)
def reader_connections_file(airflow_connections_file: Path) -> Path:
    """Where Airflow reads, and the DAG's ensure_access_key step delivers, the reader's AccessKey."""
    return airflow_connections_file


def connection(emu: RunningEmulator) -> dict[str, Any]:
    info = emu.info
    return {
        "conn_type": "clarityq_maxcompute",
        "login": info.access_key_id,
        "password": info.access_key_secret,
        "host": info.maxcompute_endpoint,
        "schema": info.project,
        "extra": {"ram_endpoint": f"http://{info.ram_endpoint}", "sts_endpoint": f"http://{info.sts_endpoint}"},
    }


def backend(emu: RunningEmulator) -> AlibabaBackend:
    fields = connection(emu)
    settings = parse_connection({**fields, "extra": json.dumps(fields["extra"])})
    return AlibabaBackend(ClientBundle(settings))


def snapshot(emu: RunningEmulator) -> dict[str, Any]:
    """The access state as the owner reads it, with the account and user UIDs replaced by placeholders."""
    info = emu.info
    odps = ODPS(
        info.access_key_id,
        info.access_key_secret,
        info.project,
        endpoint=info.maxcompute_endpoint,
        overwrite_global=False,
    )
    ram = RamClient(
        Config(
            access_key_id=info.access_key_id,
            access_key_secret=info.access_key_secret,
            endpoint=info.ram_endpoint,
            protocol="http",
        )
    )
    users = [u.display_name for u in odps.list_users()]
    state = {
        "users": users,
        "roles": sorted(r.name for r in odps.list_roles()),
        "role": odps.execute_security_query(f"DESCRIBE ROLE {ROLE}"),
        "user": odps.execute_security_query(f"SHOW GRANTS FOR {users[-1]}"),
        "ram_users": sorted(u.user_name for u in ram.list_users(ram_models.ListUsersRequest()).body.users.user),
    }
    text = json.dumps(state, sort_keys=True)
    text = text.replace(info.account_id, "<account>")
    normalised: dict[str, Any] = json.loads(re.sub(r"<account>:\d+", "<account>:<uid>", text))
    return normalised


def successful_mutations(emu: RunningEmulator) -> list[str]:
    """Mutating requests that took effect (status 200), UIDs normalised."""
    found = []
    for r in emu.requests():
        statement = (r.get("statement") or "").strip()
        if r["status"] != 200:
            continue
        if statement.upper().startswith(MUTATING_VERBS):
            found.append(re.sub(r"RAM\$\d+:\d+", "RAM$<account>:<uid>", statement))
        elif r["service"] == "ram" and (r.get("action") or "").startswith(("Create", "Update", "Delete")):
            found.append(f"ram:{r['action']}")
    return found


@pytest.fixture(scope="module")
def reference() -> Iterator[tuple[dict[str, Any], list[str]]]:
    """The fault-free run: final state and the mutating requests it needed."""
    with start_emulator() as emu:
        result = run_access(backend(emu), default_spec(emu.info.project), "apply", retry=FAST)
        assert result.ok and result.verified
        yield snapshot(emu), successful_mutations(emu)


def test_dag_run_with_503_throttling_and_a_reset_ends_like_the_fault_free_run(
    airflow_db: None,
    clarityq_emulator: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
    reference: tuple[dict[str, Any], list[str]],
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    emu = clarityq_emulator
    monkeypatch.setenv("AIRFLOW_CONN_CLARITYQ_ADMIN", json.dumps(connection(emu)))
    emu.add_fault(service="maxcompute", statement="GRANT Describe", status=503, count=2)
    # 4 throttled answers: more than the RAM SDK's own 3 attempts, so the provider's retry is needed too.
    emu.add_fault(service="ram", action="CreateUser", status=400, code="Throttling.User", count=4)
    emu.add_fault(service="maxcompute", statement="CREATE ROLE", reset=True)
    run = DagBag(dag_folder=str(DAG_FILE)).dags["clarityq_provision_access"].test()
    assert str(run.state) == "success"
    grant = run.get_task_instance("grant_access")
    result = grant.xcom_pull(task_ids="grant_access", key="return_value")
    assert result["ok"] and result["verified"] is True and result["summary"]["retries"] >= 3
    attempts = {s["statement"]: s["attempts"] for s in result["steps"]}
    assert attempts[f"GRANT Describe, Select ON TABLE * TO ROLE {ROLE}"] == 3
    assert attempts[f"CREATE ROLE {ROLE}"] == 2
    log = emu.requests()
    assert [r["status"] for r in log if r["action"] == "CreateUser"] == [400, 400, 400, 400, 200]
    state, mutations = reference
    assert snapshot(emu) == state
    # every change exactly once: no duplicate, nothing extra; then the DAG's key step adds the reader's key
    # (announced in the user's Comments before, its ID recorded after, the announcement cleared at the end)
    key_step = ["ram:UpdateUser", "ram:CreateAccessKey", "ram:UpdateUser", "ram:UpdateUser"]
    assert successful_mutations(emu) == [*mutations, *key_step]


@pytest.mark.parametrize("seed", range(5))
def test_a_reset_or_5xx_on_a_random_step_ends_like_the_fault_free_run(
    seed: int, reference: tuple[dict[str, Any], list[str]]
) -> None:
    rng = random.Random(seed)
    injected = 0
    with start_emulator() as emu:
        for target in rng.sample(STEPS, k=2):
            fault: dict[str, Any] = {"reset": True} if rng.random() < 0.5 else {"status": rng.choice([500, 502, 503])}
            count = rng.randint(1, 2)
            injected += count
            if target == "CreateUser":
                emu.add_fault(service="ram", action="CreateUser", count=count, **fault)
            else:
                emu.add_fault(service="maxcompute", statement=target, count=count, **fault)
        result = run_access(backend(emu), default_spec(emu.info.project), "apply", retry=FAST)
        assert result.ok and result.verified, result.to_text()
        assert sum(r["status"] == 0 or r["status"] >= 500 for r in emu.requests()) == injected  # all faults hit
        state, mutations = reference
        assert snapshot(emu) == state
        assert sorted(successful_mutations(emu)) == sorted(mutations)


def test_a_run_broken_halfway_converges_when_rerun(reference: tuple[dict[str, Any], list[str]]) -> None:
    with start_emulator() as emu:
        # Not retryable: the run stops after the project grants, before the table grants.
        emu.add_fault(service="maxcompute", statement="ON TABLE", status=403, code="NoPermission")
        first = run_access(backend(emu), default_spec(emu.info.project), "apply", retry=FAST)
        assert not first.ok
        assert [r.step.kind for r in first.failed] == ["grant_actions"]
        assert [r.step.kind for r in first.not_run] == ["grant_role"]
        emu.clear_requests()
        second = run_access(backend(emu), default_spec(emu.info.project), "apply", retry=FAST)
        assert second.ok and second.verified
        assert [r.step.kind for r in second.executed] == ["grant_actions", "grant_role"]
        state, _ = reference
        assert snapshot(emu) == state

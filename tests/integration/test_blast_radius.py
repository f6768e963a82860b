"""Replays the attacks on a shared deployment and shows nothing outside the managed principal changes.

The project has more than ClarityQ in it: ``etl_prod`` (another team's RAM user, a production key and a rollback
key), ``alice`` (the project's admin role), and ``analyst``, who also holds the role ``clarityq_reader`` and relies
on a grant it has beyond ClarityQ's spec. Then, through the example DAGs (``dag.test()``, the LocalFilesystemBackend
deployment of the demo) and the operators:

1. rotation triggered with a hostile conf (another RAM user, another sink, no grace period);
2. provisioning triggered with ``{"ram_user": "etl_prod", "mode": "sync"}``;
3. two ``ensure`` runs killed with SIGKILL right after CreateAccessKey, before delivery - then a third one;
4. the 48 allowlist probes through the security-query operator.

Before/after: every RAM user's keys and Comments, the project's users, roles, each role's members and ACL
(DESCRIBE ROLE) and every principal's grants (SHOW GRANTS FOR) - all identical except the managed user's own
keys and Comments. No secret appears in any artefact.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, ParamValidationError
from alibabacloud_ram20150501 import models as ram_models
from allowlist_probes import PROBES
from clarityq_emulator import RunningEmulator
from support import (
    ADMIN_CONN_ID,
    MANAGED_USER,
    READER_CONN_ID,
    READER_ROLE,
    admin_connection,
    owner_odps,
    owner_ram,
    run_dag,
    secret_hits,
    user_keys,
)

from airflow_provider_clarityq.operators.grants import ClarityQSecurityQueryOperator

pytestmark = pytest.mark.integration

PROVISION, ROTATE, HEALTH = "clarityq_provision_access", "clarityq_rotate_access_key", "clarityq_connection_health"
OTHERS = ("etl_prod", "alice", "analyst")
REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------------
# The shared project


def others_move_in(emu: RunningEmulator) -> list[str]:
    """Other teams' users, keys, roles and grants, made by hand as the owner. Returns their key secrets."""
    info, ram, odps = emu.info, owner_ram(emu), owner_odps(emu)
    secrets = []
    for name in OTHERS:
        ram.create_user(ram_models.CreateUserRequest(user_name=name, comments=f"{name}: not ClarityQ's"))
    for _ in range(2):  # etl_prod: a production key, and a rollback key kept Inactive
        key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="etl_prod")).body.access_key
        secrets.append(key.access_key_secret)
    rollback = key.access_key_id
    ram.update_access_key(
        ram_models.UpdateAccessKeyRequest(user_name="etl_prod", user_access_key_id=rollback, status="Inactive")
    )
    for statement in (
        *(f"ADD USER RAM${info.account_id}:{name}" for name in OTHERS),
        f"GRANT admin TO RAM${info.account_id}:alice",
        f"GRANT {READER_ROLE} TO RAM${info.account_id}:analyst",  # the role is shared
        f"GRANT Update ON TABLE orders TO ROLE {READER_ROLE}",  # ...and analyst relies on this grant
        "CREATE ROLE etl_writer",
        "GRANT Describe, Select, Update ON TABLE orders TO ROLE etl_writer",
        f"GRANT etl_writer TO RAM${info.account_id}:etl_prod",
    ):
        assert odps.execute_security_query(statement) == "OK", statement
    return secrets


def snapshot(emu: RunningEmulator) -> dict[str, Any]:
    """Everything access-relevant outside the managed user's own keys and Comments, read as the owner."""
    ram, odps = owner_ram(emu), owner_odps(emu)
    users = ram.list_users(ram_models.ListUsersRequest(max_items=100)).body.users.user
    state: dict[str, Any] = {"ram": {}}
    for user in users:
        if user.user_name == MANAGED_USER:
            continue
        state["ram"][user.user_name] = {"comments": user.comments, "keys": user_keys(emu, user.user_name)}
    state["members"] = sorted(u.id for u in odps.list_users())
    roles = sorted(r.name for r in odps.list_roles())
    state["roles"] = {role: odps.execute_security_query(f"DESCRIBE ROLE {role}") for role in roles}
    info = emu.info
    state["grants"] = {
        name: odps.execute_security_query(f"SHOW GRANTS FOR RAM${info.account_id}:{name}") for name in OTHERS
    }
    return state


def _reader_secret(path: Path) -> str:
    return str(json.loads(path.read_text())[READER_CONN_ID]["password"])


# --------------------------------------------------------------------------------------------------
# Killing an ensure run between CreateAccessKey and delivery


ENSURE = """
from airflow_provider_clarityq.operators.access_keys import ClarityQAccessKeyOperator
op = ClarityQAccessKeyOperator(task_id="ensure_access_key", maxcompute_conn_id="clarityq_admin", verify_attempts=1)
op.execute({})
"""


def _created(emu: RunningEmulator) -> int:
    return sum(1 for r in emu.requests() if r["action"] == "CreateAccessKey" and r["status"] == 200)


def kill_an_ensure_after_create_access_key(emu: RunningEmulator) -> None:
    """Run ``ensure`` in its own process; SIGKILL it once RAM has created the key (its verification hangs)."""
    before = _created(emu)
    # The new key's first check never gets an answer (and never reaches STS): the run sits after CreateAccessKey.
    emu.add_fault(service="sts", action="GetCallerIdentity", delay=20, reset=True)
    process = subprocess.Popen([sys.executable, "-c", ENSURE], env=dict(os.environ), cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while _created(emu) == before:
            assert process.poll() is None, "the ensure run ended before creating a key"
            assert time.monotonic() < deadline, "no CreateAccessKey within 60 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        emu.clear_faults()


# --------------------------------------------------------------------------------------------------


def test_nothing_outside_the_managed_principal_changes(
    clarityq_emulator: RunningEmulator,
    airflow_db: None,
    airflow_connections_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    emu = clarityq_emulator
    monkeypatch.setenv(f"AIRFLOW_CONN_{ADMIN_CONN_ID.upper()}", json.dumps(admin_connection(emu)))
    monkeypatch.delenv(f"AIRFLOW_CONN_{READER_CONN_ID.upper()}", raising=False)
    assert run_dag(PROVISION)[0] == "success"
    secrets = [_reader_secret(airflow_connections_file), *others_move_in(emu)]
    before = snapshot(emu)

    # 1. Rotation with a hostile conf: the grace period is refused; the rest cannot choose the user or sink.
    with pytest.raises(ParamValidationError, match="grace_period_hours"):
        run_dag(ROTATE, ram_user="etl_prod", sink_conn_id="scratch", grace_period_hours=0)
    state, rotated = run_dag(ROTATE, "rotate_access_key", ram_user="etl_prod", sink_conn_id="scratch")
    assert state == "success" and rotated is not None and rotated["user_name"] == MANAGED_USER
    secrets.append(_reader_secret(airflow_connections_file))

    # 2. Provisioning with {"ram_user": "etl_prod", "mode": "sync"}: a sync of ClarityQ's access only, and the
    #    shared role keeps the grant analyst relies on.
    state, synced = run_dag(PROVISION, "grant_access", ram_user="etl_prod", mode="sync")
    assert state == "success" and synced is not None and synced["summary"]["planned"] == 0
    assert any("shared with" in warning for warning in synced["plan"]["warnings"])

    # 3. Two ensure runs killed after CreateAccessKey (the reader has no key yet, as on a first provisioning),
    #    then a third, which must succeed within RAM's 2-key limit.
    airflow_connections_file.write_text("{}")
    ram = owner_ram(emu)
    for key_id in user_keys(emu):
        ram.delete_access_key(ram_models.DeleteAccessKeyRequest(user_name=MANAGED_USER, user_access_key_id=key_id))
    orphans = []
    for _ in range(2):
        kill_an_ensure_after_create_access_key(emu)
        # Each killed run leaves exactly its own key: the next run cleared the previous one (never used).
        (orphan,) = user_keys(emu)
        orphans.append(orphan)
    assert len(set(orphans)) == 2
    state, _ = run_dag(PROVISION)
    assert state == "success"
    final = json.loads(airflow_connections_file.read_text())[READER_CONN_ID]
    secrets.append(final["password"])
    assert user_keys(emu) == {final["login"]: "Active"}  # the second orphan is gone too, the reader has a key
    # The reader works with it; the health check also reports (and only reports) the write grant the shared
    # role holds for analyst.
    state, report = run_dag(HEALTH, "check_connection")
    checks = {c["name"]: c for c in report["checks"]}
    assert all(checks[name]["status"] == "pass" for name in ("authentication", "project_accessible", "query_works"))
    assert checks["least_privilege"]["status"] != "pass" and "Update" in json.dumps(checks["least_privilege"])

    # 4. The 48 allowlist probes: refused before any request.
    emu.clear_requests()
    for probe in PROBES:
        with pytest.raises(AirflowFailException):
            ClarityQSecurityQueryOperator(task_id="probe", maxcompute_conn_id=ADMIN_CONN_ID, statements=probe).execute(
                {}
            )
    assert emu.requests() == []

    assert snapshot(emu) == before
    console = capfd.readouterr()
    assert secret_hits(emu, secrets, ("stdout", console.out), ("stderr", console.err)) == []

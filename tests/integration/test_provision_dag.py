"""``clarityq_provision_access`` end to end: real Airflow (``dag.test()``) against the emulator.

Checked independently of the provider's parsers: the owner's own ``SHOW GRANTS FOR ROLE`` /
``DESCRIBE ROLE`` / ``SHOW GRANTS FOR <user>`` / ``LIST USERS`` through pyodps, queries run as
``clarityq`` with an AccessKey made by the real RAM SDK, and the emulator's request log for what was
sent (mutating = GRANT/REVOKE/ADD/REMOVE/CREATE/DROP statements and RAM Create*/Update*/Delete*).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as ram_models
from clarityq_emulator import RunningEmulator
from odps import ODPS, errors
from support import mutating, owner_ram
from support import owner_odps as owner

from airflow_provider_clarityq.core.managed_user import MANAGED_MARKER

pytestmark = pytest.mark.integration

DAG_FILE = Path(__file__).resolve().parents[2] / "example_dags" / "clarityq_provision_access.py"
DAG_ID = "clarityq_provision_access"
ROLE = "clarityq_reader"


@pytest.fixture(autouse=True)
def reader_connections_file(airflow_connections_file: Path) -> Path:
    """Where Airflow reads, and the DAG's ensure_access_key step delivers, the reader's AccessKey."""
    return airflow_connections_file


# --------------------------------------------------------------------------------------------------
# Helpers


def set_admin_connection(monkeypatch: pytest.MonkeyPatch, emu: RunningEmulator) -> None:
    info = emu.info
    conn = {
        "conn_type": "clarityq_maxcompute",
        "login": info.access_key_id,
        "password": info.access_key_secret,
        "host": info.maxcompute_endpoint,
        "schema": info.project,
        "extra": {"ram_endpoint": f"http://{info.ram_endpoint}", "sts_endpoint": f"http://{info.sts_endpoint}"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_CLARITYQ_ADMIN", json.dumps(conn))


def run_dag(**conf: str) -> tuple[str, dict[str, str], dict[str, Any] | None]:
    """One ``dag.test()`` run: (run state, task states, the grant_access XCom)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    run = bag.dags[DAG_ID].test(run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    grant = run.get_task_instance("grant_access")
    value = grant.xcom_pull(task_ids="grant_access", key="return_value") if grant is not None else None
    return str(run.state), states, value


def acl(answer: dict[str, Any]) -> set[tuple[str, str, tuple[str, ...]]]:
    """(principal, resource, actions) of every plain ACL entry of a JSON read-back."""
    return {
        (principal, resource, tuple(sorted(entry["Action"])))
        for entry in (answer.get("ACL") or {}).get("", [])
        for principal in entry["Principal"]
        for resource in entry["Resource"]
    }


def user_uid(emu: RunningEmulator, name: str = "clarityq") -> str:
    return str(owner_ram(emu).get_user(ram_models.GetUserRequest(user_name=name)).body.user.user_id)


def assert_seed_000(emu: RunningEmulator, *, others: tuple[str, ...] = (), other_roles: tuple[str, ...] = ()) -> None:
    """The project holds exactly seed 000's access (plus the named unmanaged members/roles), read as the owner."""
    info, odps = emu.info, owner(emu)
    project, principal = info.project, f"RAM${info.account_id}:{user_uid(emu)}"
    role_acl = acl(odps.execute_security_query(f"SHOW GRANTS FOR ROLE {ROLE}"))
    assert role_acl == {
        (f"role/{ROLE}", f"projects/{project}", ("CreateInstance", "List")),
        (f"role/{ROLE}", f"projects/{project}/tables/*", ("Describe", "Select")),
    }
    described = odps.execute_security_query(f"DESCRIBE ROLE {ROLE}")
    assert described["Users"] == [principal] and acl(described) == role_acl
    assert [u.display_name for u in odps.list_users()] == [f"ALIYUN${info.account_id}", principal, *others]
    assert sorted(r.name for r in odps.list_roles()) == sorted(["admin", ROLE, "super_administrator", *other_roles])
    mine = odps.execute_security_query(f"SHOW GRANTS FOR {principal}")
    assert mine["Roles"] == [ROLE]
    assert not {a for a in acl(mine) if a[0].startswith("user/")}  # nothing granted to the user directly


def assert_clarityq_can_read_only(emu: RunningEmulator) -> None:
    """As clarityq (AccessKey from the real RAM SDK): SELECT works, DDL is refused."""
    info = emu.info
    key = owner_ram(emu).create_access_key(ram_models.CreateAccessKeyRequest(user_name="clarityq")).body.access_key
    reader = ODPS(
        key.access_key_id,
        key.access_key_secret,
        info.project,
        endpoint=info.maxcompute_endpoint,
        overwrite_global=False,
    )
    with reader.execute_sql("SELECT COUNT(*) AS n FROM customers").open_reader() as rows:
        assert [list(r.values) for r in rows] == [[5]]
    assert reader.exist_table("orders")
    with pytest.raises(errors.ODPSError):
        reader.execute_sql("CREATE TABLE clarityq_was_here (a BIGINT)")


# --------------------------------------------------------------------------------------------------
# Tests


def test_plan_then_apply_then_converged_rerun(
    airflow_db: None, clarityq_emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = clarityq_emulator
    set_admin_connection(monkeypatch, emu)

    # plan: a dry run on the empty project shows seed 000's six steps and changes nothing
    emu.clear_requests()
    state, tasks, planned = run_dag(mode="plan")
    assert state == "success", tasks
    assert mutating(emu.requests()) == []
    assert planned is not None and planned["mode"] == "plan" and planned["steps"] == []
    assert [s["kind"] for s in planned["plan"]["steps"]] == [
        "create_ram_user",
        "add_user",
        "create_role",
        "grant_actions",
        "grant_actions",
        "grant_role",
    ]

    # apply: from the empty project to exactly seed 000
    emu.clear_requests()
    state, tasks, applied = run_dag()  # mode defaults to apply
    assert state == "success", tasks
    assert applied is not None and applied["ok"] and applied["verified"] is True
    uid = user_uid(emu)
    principal = f"RAM${emu.info.account_id}:{uid}"
    assert mutating(emu.requests()) == [
        "ram:CreateUser",
        f"ADD USER {principal}",
        f"CREATE ROLE {ROLE}",
        f"GRANT CreateInstance, List ON PROJECT {emu.info.project} TO ROLE {ROLE}",
        f"GRANT Describe, Select ON TABLE * TO ROLE {ROLE}",
        f"GRANT {ROLE} TO {principal}",
        # ensure_access_key: the key announced in the user's Comments, created, its ID recorded, delivered to the
        # connections file, and the announcement cleared.
        "ram:UpdateUser",
        "ram:CreateAccessKey",
        "ram:UpdateUser",
        "ram:UpdateUser",
    ]
    assert_seed_000(emu)

    # a second run: 0 mutating requests, and only a handful of reads
    emu.clear_requests()
    state, tasks, again = run_dag(mode="apply")
    assert state == "success", tasks
    log = emu.requests()
    assert mutating(log) == []
    assert again is not None and again["summary"]["planned"] == 0 and again["verified"] is None
    calls = [(r["service"], r["action"] or r["statement"] or r["path"]) for r in log]
    # ensure_ram_user: GetCallerIdentity + GetUser; grant_access: the same two again (the UIDs handed over
    # are checked, not trusted), then DESCRIBE ROLE, plus pyodps' own GET /tenants (and GET /logview/host
    # once per endpoint and process, cached by now).
    assert calls[:6] == [
        ("sts", "GetCallerIdentity"),
        ("ram", "GetUser"),
        ("sts", "GetCallerIdentity"),
        ("ram", "GetUser"),
        ("maxcompute", "/api/tenants"),
        ("maxcompute", f"DESCRIBE ROLE {ROLE}"),
    ]
    # ensure_access_key then only reads: the user's keys, and a check that the delivered key still works.
    assert ("ram", "CreateAccessKey") not in calls[6:]

    assert_clarityq_can_read_only(emu)


def test_sync_removes_only_the_hand_added_grant(
    airflow_db: None, clarityq_emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = clarityq_emulator
    set_admin_connection(monkeypatch, emu)
    assert run_dag()[0] == "success"
    info, odps = emu.info, owner(emu)
    # By hand: an extra grant on the managed role, and an unmanaged role with its own member and grants.
    owner_ram(emu).create_user(ram_models.CreateUserRequest(user_name="analyst"))
    analyst = f"RAM${info.account_id}:analyst"
    for statement in (
        f"GRANT Drop ON TABLE orders TO ROLE {ROLE}",
        "CREATE ROLE etl",
        "GRANT Describe, Select, Update ON TABLE orders TO ROLE etl",
        f"ADD USER {analyst}",
        f"GRANT etl TO {analyst}",
        f"GRANT Select ON TABLE customers TO USER {analyst}",
    ):
        assert odps.execute_security_query(statement) == "OK"
    etl_before = odps.execute_security_query("DESCRIBE ROLE etl")
    analyst_before = odps.execute_security_query(f"SHOW GRANTS FOR {analyst}")

    # plan mode reports the drift and changes nothing
    emu.clear_requests()
    state, _, planned = run_dag(mode="plan")
    assert state == "success" and mutating(emu.requests()) == []
    assert planned is not None and any("Drop on projects/" in w for w in planned["plan"]["warnings"])

    emu.clear_requests()
    state, tasks, synced = run_dag(mode="sync")
    assert state == "success", tasks
    assert mutating(emu.requests()) == [f"REVOKE Drop ON TABLE orders FROM ROLE {ROLE}"]
    assert synced is not None and synced["verified"] is True
    assert_seed_000(emu, others=(analyst,), other_roles=("etl",))
    assert odps.execute_security_query("DESCRIBE ROLE etl") == etl_before
    assert odps.execute_security_query(f"SHOW GRANTS FOR {analyst}") == analyst_before


def test_a_hostile_run_conf_cannot_change_what_is_managed(
    airflow_db: None, clarityq_emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trigger-time input is untrusted: the RAM user, role and reader connection are fixed in the DAG file."""
    emu = clarityq_emulator
    set_admin_connection(monkeypatch, emu)
    emu.clear_requests()
    hostile = {"role": "r; DROP ROLE admin", "ram_user": "etl_prod", "sink_conn_id": "scratch"}
    state, tasks, result = run_dag(**hostile)
    assert state == "success", tasks
    assert result is not None and result["ok"]
    sent = json.dumps(emu.requests())
    assert "etl_prod" not in sent and "DROP" not in sent and "scratch" not in sent
    assert_seed_000(emu)


def test_a_user_added_by_name_is_recognised(clarityq_emulator: RunningEmulator) -> None:
    """Half of seed 000 done by hand with the name form RAM$<account>:clarityq (on a user the provider manages):
    nothing is added twice."""
    from airflow_provider_clarityq.core.alibaba.clients import ClientBundle
    from airflow_provider_clarityq.core.connection import parse_connection
    from airflow_provider_clarityq.core.grants.backend import AlibabaBackend
    from airflow_provider_clarityq.core.grants.run import run_access
    from airflow_provider_clarityq.core.grants.spec import default_spec

    emu = clarityq_emulator
    info = emu.info
    owner_ram(emu).create_user(ram_models.CreateUserRequest(user_name="clarityq", comments=MANAGED_MARKER))
    by_name = f"RAM${info.account_id}:clarityq"
    for statement in (f"ADD USER {by_name}", f"CREATE ROLE {ROLE}", f"GRANT {ROLE} TO {by_name}"):
        assert owner(emu).execute_security_query(statement) == "OK"
    settings = parse_connection(
        {
            "login": info.access_key_id,
            "password": info.access_key_secret,
            "host": info.maxcompute_endpoint,
            "schema": info.project,
            "extra": json.dumps(
                {"ram_endpoint": f"http://{info.ram_endpoint}", "sts_endpoint": f"http://{info.sts_endpoint}"}
            ),
        }
    )
    emu.clear_requests()
    result = run_access(AlibabaBackend(ClientBundle(settings)), default_spec(info.project), "apply")
    assert result.ok and result.verified
    assert mutating(emu.requests()) == [
        f"GRANT CreateInstance, List ON PROJECT {info.project} TO ROLE {ROLE}",
        f"GRANT Describe, Select ON TABLE * TO ROLE {ROLE}",
    ]

"""AccessKeys on the emulator with the real RAM/STS SDKs and pyodps: the ensure operator, the rotation DAG
through ``dag.test()``, every failure branch of the manager, and a search of every artefact for the secret.

Set-up follows seed 000 without the provider: RAM CreateUser plus the project owner's security statements
(ADD USER, role, grants) through pyodps - but no AccessKey; making keys is what is under test. The sink is
a LocalFilesystemBackend connections file configured as Airflow's secrets backend, as in the demo, so
``clarityq_reader`` is resolved by Airflow itself from what the operator wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as ram_models
from clarityq_emulator import RunningEmulator
from odps import ODPS
from support import artefacts, owner_ram

from airflow_provider_clarityq.core.access_keys.manager import AccessKeyManager
from airflow_provider_clarityq.core.access_keys.model import AccessKeyOptions, KeyLimitError, VerificationError
from airflow_provider_clarityq.core.access_keys.ram import RamKeyBackend
from airflow_provider_clarityq.core.access_keys.verification import health_verifier
from airflow_provider_clarityq.core.managed_user import MANAGED_MARKER
from airflow_provider_clarityq.core.secret_sinks.base import SinkError
from airflow_provider_clarityq.core.secret_sinks.custom import CallableSink
from airflow_provider_clarityq.core.secret_sinks.files import ConnectionFileSink
from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook
from airflow_provider_clarityq.operators.access_keys import ClarityQAccessKeyOperator

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ADMIN = "clarityq_admin"
READER = "clarityq_reader"
USER = "clarityq"
ROLE = "clarityq_reader"
ROTATE_DAG = "clarityq_rotate_access_key"
PROVISION_DAG = "clarityq_provision_access"
CONTEXT: Any = {}


# --------------------------------------------------------------------------------------------------
# Set-up: seed 000 steps 2-3 minus the AccessKey, and the demo's secrets backend


def provision_user_without_key(emu: RunningEmulator) -> None:
    info = emu.info
    # Created as the provider's ensure_ram_user task does: with the provider's mark in its Comments.
    request = ram_models.CreateUserRequest(user_name=USER, comments=MANAGED_MARKER)
    uid = owner_ram(emu).create_user(request).body.user.user_id
    principal = f"RAM${info.account_id}:{uid}"
    owner = ODPS(
        info.access_key_id,
        info.access_key_secret,
        info.project,
        endpoint=info.maxcompute_endpoint,
        overwrite_global=False,
    )
    for statement in (
        f"ADD USER {principal}",
        f"CREATE ROLE {ROLE}",
        f"GRANT CreateInstance, List ON PROJECT {info.project} TO ROLE {ROLE}",
        f"GRANT Describe, Select ON TABLE * TO ROLE {ROLE}",
        f"GRANT {ROLE} TO {principal}",
    ):
        assert owner.execute_security_query(statement) == "OK", statement


def keys(emu: RunningEmulator) -> dict[str, str]:
    """{key id: status} of the user, read as the owner through the real SDK."""
    body = owner_ram(emu).list_access_keys(ram_models.ListAccessKeysRequest(user_name=USER)).body
    return {k.access_key_id: k.status for k in body.access_keys.access_key}


def actions(emu: RunningEmulator, *names: str) -> list[str]:
    return [r["action"] for r in emu.requests() if r["action"] in names]


@pytest.fixture
def conns(airflow_connections_file: Path) -> Path:
    return airflow_connections_file


@pytest.fixture
def emu(clarityq_emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch, conns: Path) -> RunningEmulator:
    info = clarityq_emulator.info
    service = f"http://{info.ram_endpoint}"
    admin = {
        "conn_type": "clarityq_maxcompute",
        "login": info.access_key_id,
        "password": info.access_key_secret,
        "host": info.maxcompute_endpoint,
        "schema": info.project,
        "extra": {"ram_endpoint": service, "sts_endpoint": service},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{ADMIN.upper()}", json.dumps(admin))
    monkeypatch.delenv(f"AIRFLOW_CONN_{READER.upper()}", raising=False)
    provision_user_without_key(clarityq_emulator)
    return clarityq_emulator


def reader_entry(conns: Path) -> dict[str, Any]:
    entry = ConnectionFileSink(conns).read(READER)
    assert entry is not None
    return entry


def reader_works() -> tuple[bool, str]:
    """The health checks through Airflow's own connection lookup of ``clarityq_reader`` (from the file)."""
    return MaxComputeHook(maxcompute_conn_id=READER).test_connection()


def manager(emu: RunningEmulator, sink: Any, **options: Any) -> AccessKeyManager:
    hook = MaxComputeHook(maxcompute_conn_id=ADMIN)
    return AccessKeyManager(
        RamKeyBackend(hook.ram_client, verifier=health_verifier()),
        sink,
        user_name=USER,
        sink_conn_id=READER,
        template={
            "conn_type": "clarityq_maxcompute",
            "host": emu.info.maxcompute_endpoint,
            "schema": emu.info.project,
            "extra": {
                "ram_endpoint": f"http://{emu.info.ram_endpoint}",
                "sts_endpoint": f"http://{emu.info.ram_endpoint}",
            },
        },
        options=AccessKeyOptions(**{"verify_attempts": 2, "verify_backoff_s": 0.0, **options}),
    )


# --------------------------------------------------------------------------------------------------
# The ensure operator (the provisioning step)


def test_first_provision_creates_one_working_key_and_a_rerun_creates_none(emu: RunningEmulator, conns: Path) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    op = ClarityQAccessKeyOperator(task_id="ensure_access_key", maxcompute_conn_id=ADMIN)
    first = op.execute(CONTEXT)
    (key_id,) = keys(emu)
    assert first["action"] == "created" and first["access_key_id"] == key_id and first["verified"]
    entry = reader_entry(conns)
    assert redact(f"x {entry['password']} y") == "x *** y"  # registered with Airflow's masker
    assert entry["login"] == key_id and entry["host"] == emu.info.maxcompute_endpoint
    assert (conns.stat().st_mode & 0o777) == 0o600
    ok, message = reader_works()
    assert ok, message

    again = ClarityQAccessKeyOperator(task_id="ensure_access_key", maxcompute_conn_id=ADMIN).execute(CONTEXT)
    assert again["action"] == "unchanged" and again["access_key_id"] == key_id
    assert actions(emu, "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey") == ["CreateAccessKey"]
    assert keys(emu) == {key_id: "Active"}
    assert entry["password"] not in json.dumps([first, again])


# --------------------------------------------------------------------------------------------------
# Failure branches of the manager, with the real SDK


def test_sink_write_failure_leaves_no_orphan_key(emu: RunningEmulator, conns: Path) -> None:
    file_sink = ConnectionFileSink(conns)
    first = manager(emu, file_sink).ensure()
    before = conns.read_text()

    def broken(conn_id: str, fields: dict[str, Any]) -> None:
        raise PermissionError("read-only secret store")

    with pytest.raises(SinkError, match="was deleted again"):
        manager(emu, CallableSink(broken, file_sink.read)).rotate()
    assert keys(emu) == {first.access_key_id: "Active"} and conns.read_text() == before
    assert actions(emu, "CreateAccessKey", "DeleteAccessKey")[-2:] == ["CreateAccessKey", "DeleteAccessKey"]


def test_sink_failure_with_ram_failing_too_is_reported_and_cleaned_next_run(emu: RunningEmulator, conns: Path) -> None:
    file_sink = ConnectionFileSink(conns)
    first = manager(emu, file_sink).ensure().access_key_id
    emu.advance_clock(2)  # CreateDate has 1 s resolution; a key made in the same second counts as older
    emu.add_fault(service="ram", action="DeleteAccessKey", status=500, code="InternalError")
    emu.add_fault(service="ram", action="UpdateAccessKey", status=500, code="InternalError")

    def broken(conn_id: str, fields: dict[str, Any]) -> None:
        raise OSError("disk full")

    with pytest.raises(SinkError, match="is left Active") as err:
        manager(emu, CallableSink(broken, file_sink.read)).rotate()
    orphan = next(k for k in keys(emu) if k != first)
    assert orphan in str(err.value) and keys(emu) == {first: "Active", orphan: "Active"}

    result = manager(emu, file_sink).rotate()
    assert orphan in result.deactivated and orphan in result.deleted and result.action == "rotated"
    assert keys(emu) == {first: "Inactive", result.access_key_id: "Active"}
    assert reader_entry(conns)["login"] == result.access_key_id
    ok, message = reader_works()
    assert ok, message


def test_verification_failure_keeps_the_old_key_active(emu: RunningEmulator, conns: Path) -> None:
    file_sink = ConnectionFileSink(conns)
    first = manager(emu, file_sink).ensure().access_key_id
    before = conns.read_text()
    # STS refuses the new key as unknown on every try (what a key that never propagates looks like).
    emu.add_fault(service="sts", action="GetCallerIdentity", status=404, code="InvalidAccessKeyId.NotFound", count=5)
    with pytest.raises(VerificationError) as err:
        manager(emu, file_sink).rotate()
    assert err.value.stage == "authentication" and "was deleted again" in str(err.value)
    assert keys(emu) == {first: "Active"} and conns.read_text() == before
    emu.clear_faults()
    assert reader_works()[0]


def test_key_limit_raced_at_create_is_reported_unchanged(emu: RunningEmulator, conns: Path) -> None:
    file_sink = ConnectionFileSink(conns)
    first = manager(emu, file_sink).ensure().access_key_id
    emu.add_fault(service="ram", action="CreateAccessKey", status=409, code="LimitExceeded.User.AccessKey")
    with pytest.raises(KeyLimitError, match="already has 2 AccessKeys"):
        manager(emu, file_sink).rotate()
    assert keys(emu) == {first: "Active"} and reader_entry(conns)["login"] == first


# --------------------------------------------------------------------------------------------------
# The rotation DAG, and the search for the secret in every artefact


def run_dag(dag_id: str, **conf: Any) -> tuple[str, dict[str, Any] | None]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "example_dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    run = bag.dags[dag_id].test(run_conf=conf or None)
    ti = run.get_task_instance("rotate_access_key") if dag_id == ROTATE_DAG else None
    value = ti.xcom_pull(task_ids="rotate_access_key", key="return_value") if ti is not None else None
    return str(run.state), value


def provisioning_dag_has_key_step() -> bool:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "example_dags" / f"{PROVISION_DAG}.py"))
    dag = bag.dags.get(PROVISION_DAG)
    return dag is not None and any(isinstance(t, ClarityQAccessKeyOperator) for t in dag.tasks)


def test_rotation_dag_end_to_end_and_no_secret_outside_the_sink(
    emu: RunningEmulator, conns: Path, airflow_db: None, capfd: pytest.CaptureFixture[str]
) -> None:
    secrets: list[str] = []

    # 1. Provisioning: the provisioning DAG's AccessKey step when it has one, else the rotation DAG's first run
    #    (with no key in the sink it creates one).
    if provisioning_dag_has_key_step():
        state, _ = run_dag(PROVISION_DAG)
        assert state == "success"
    else:
        state, created = run_dag(ROTATE_DAG)
        assert state == "success" and created is not None and created["action"] == "created"
    first = reader_entry(conns)
    secrets.append(first["password"])
    assert reader_works()[0] and keys(emu) == {first["login"]: "Active"}

    # 2. Rotation with one key: new key delivered and working, old key Inactive for the grace period.
    state, rotated = run_dag(ROTATE_DAG)
    assert state == "success" and rotated is not None and rotated["action"] == "rotated"
    second = reader_entry(conns)
    secrets.append(second["password"])
    assert rotated["access_key_id"] == second["login"] and rotated["deactivated"] == [first["login"]]
    assert keys(emu) == {first["login"]: "Inactive", second["login"]: "Active"}
    assert reader_works()[0]
    assert [p["access_key_id"] for p in rotated["pending_deletion"]] == [first["login"]]

    # 3. Two keys and policy "refuse": the run fails, nothing changes.
    state, _ = run_dag(ROTATE_DAG, on_key_limit="refuse")
    assert state == "failed" and reader_entry(conns) == second
    assert keys(emu) == {first["login"]: "Inactive", second["login"]: "Active"}

    # 4. Two keys, default policy: the oldest Inactive key goes (inside its grace period), then the rotation.
    state, third_run = run_dag(ROTATE_DAG)
    third = reader_entry(conns)
    secrets.append(third["password"])
    assert state == "success" and third_run is not None and third_run["deleted"] == [first["login"]]
    assert keys(emu) == {second["login"]: "Inactive", third["login"]: "Active"}

    # 5. Grace period over (0 h, a DAG author's setting; run params cannot go below 24 h): the next run deletes
    #    the deactivated key first.
    state, fourth_run = run_dag(ROTATE_DAG, mode="plan")
    assert state == "success" and fourth_run is not None and fourth_run["dry_run"]
    assert keys(emu) == {second["login"]: "Inactive", third["login"]: "Active"}  # plan: nothing done
    ok = ClarityQAccessKeyOperator(task_id="e", maxcompute_conn_id=ADMIN, grace_period=0).execute(CONTEXT)
    assert ok["deleted"] == [second["login"]] and keys(emu) == {third["login"]: "Active"}
    assert reader_works()[0]

    # The secret's only resting place is the sink: once, for the current key; never, for the old ones.
    sink_text = conns.read_text()
    assert sink_text.count(third["password"]) == 1
    assert all(old not in sink_text for old in secrets[:-1])
    captured = capfd.readouterr()  # dag.test() writes the task logs here
    console = captured.out + captured.err
    assert "Delivered AccessKey" in console and "Deactivated AccessKey" in console
    found = [*artefacts(emu), ("stdout", captured.out), ("stderr", captured.err)]
    # The search does cover the XComs and rendered fields of these runs (they name keys and the sink).
    assert any(where == "db:xcom" and third["login"] in text for where, text in found)
    assert any(where == "db:rendered_task_instance_fields" and READER in text for where, text in found)
    hits = [(where, secret[:4]) for where, text in found for secret in secrets if secret in text]
    assert hits == []

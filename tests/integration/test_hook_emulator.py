"""MaxComputeHook against the local emulator: connections from AIRFLOW_CONN_*, the ODPS, RAM and STS
clients, every credential mode, and test_connection()."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.utils_models import Config
from clarityq_emulator import RunningEmulator
from odps import ODPS, options

from airflow_provider_clarityq.core.alibaba.clients import ClientBundle, sts_assume_role_caller
from airflow_provider_clarityq.core.credentials import credentials_from_settings
from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

pytestmark = pytest.mark.integration


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, emu: RunningEmulator, **overrides: Any) -> None:
    info = emu.info
    extra = {"ram_endpoint": f"http://{info.ram_endpoint}", "sts_endpoint": f"http://{info.sts_endpoint}"}
    extra.update(overrides.pop("extra", {}))
    conn = {
        "conn_type": "clarityq_maxcompute",
        "login": info.access_key_id,
        "password": info.access_key_secret,
        "host": info.maxcompute_endpoint,
        "schema": info.project,
        "extra": extra,
    }
    conn.update(overrides)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def emu(clarityq_emulator: RunningEmulator) -> RunningEmulator:
    options.retry_times = 0
    return clarityq_emulator


def _owner_ram(emu: RunningEmulator) -> RamClient:
    info = emu.info
    return RamClient(
        Config(
            access_key_id=info.access_key_id,
            access_key_secret=info.access_key_secret,
            endpoint=info.ram_endpoint,
            protocol="http",
        )
    )


def _ram_user_with_key(emu: RunningEmulator, name: str) -> tuple[str, str, str]:
    """A RAM user and its AccessKey, created with the real RAM SDK as the main account."""
    ram = _owner_ram(emu)
    uid = ram.create_user(ram_models.CreateUserRequest(user_name=name)).body.user.user_id
    key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name=name)).body.access_key
    return uid, key.access_key_id, key.access_key_secret


def test_owner_connection_passes_test_connection(emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "mc_owner", emu)
    ok, message = MaxComputeHook(maxcompute_conn_id="mc_owner").test_connection()
    assert ok, message
    assert "clarityq_demo" in message
    assert emu.info.access_key_secret not in message


def test_wrong_secret_fails_and_names_the_field(emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "mc_bad", emu, password="definitely-not-the-secret")
    ok, message = MaxComputeHook(maxcompute_conn_id="mc_bad").test_connection()
    assert not ok
    assert "secret" in message.lower()
    assert "definitely-not-the-secret" not in message


def test_unknown_project_fails_with_project_not_found(emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "mc_noproj", emu, schema="no_such_project")
    ok, message = MaxComputeHook(maxcompute_conn_id="mc_noproj").test_connection()
    assert not ok
    assert "no_such_project" in message
    assert "not found" in message.lower() or "does not exist" in message.lower()


def test_dbapi_queries_through_common_sql_methods(emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "mc_sql", emu)
    hook = MaxComputeHook(maxcompute_conn_id="mc_sql")
    assert [list(r) for r in hook.get_records("SELECT COUNT(*) FROM customers")] == [[5]]
    assert list(hook.get_first("SELECT name FROM customers WHERE customer_id = 2")) == ["Blue Lantern"]


def test_ram_and_sts_clients_reach_the_emulator(emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "mc_clients", emu)
    hook = MaxComputeHook(maxcompute_conn_id="mc_clients")
    identity = hook.sts_client.get_caller_identity().body
    assert identity.account_id == emu.info.account_id
    assert identity.identity_type == "Account"
    created = hook.ram_client.create_user(ram_models.CreateUserRequest(user_name="from_hook")).body.user
    assert (
        hook.ram_client.get_user(ram_models.GetUserRequest(user_name="from_hook")).body.user.user_id == created.user_id
    )
    assert [r["service"] for r in emu.requests() if r["action"] in ("GetCallerIdentity", "CreateUser")] == [
        "sts",
        "ram",
    ]


def test_security_query_runs_as_the_owner(emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "mc_sec", emu)
    hook = MaxComputeHook(maxcompute_conn_id="mc_sec")
    who = hook.run_security_query("WHOAMI")
    assert who["DisplayName"] == f"ALIYUN${emu.info.account_id}"


def test_sts_token_connection(emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ak, sk = _ram_user_with_key(emu, "token_user")
    emu.state.identity.add_role("mc-reader-role")
    sts = StsClient(Config(access_key_id=ak, access_key_secret=sk, endpoint=emu.info.sts_endpoint, protocol="http"))
    arn = f"acs:ram::{emu.info.account_id}:role/mc-reader-role"
    creds = sts.assume_role(sts_models.AssumeRoleRequest(role_arn=arn, role_session_name="tests")).body.credentials
    owner = ODPS(
        emu.info.access_key_id, emu.info.access_key_secret, emu.info.project, endpoint=emu.info.maxcompute_endpoint
    )
    principal = f"`RAM${emu.info.account_id}:role/mc-reader-role`"
    for statement in (  # seed 000's grants, to the RAM role instead of a RAM user
        f"ADD USER {principal}",
        "CREATE ROLE clarityq_reader",
        f"GRANT CreateInstance, List ON PROJECT {emu.info.project} TO ROLE clarityq_reader",
        "GRANT Describe, Select ON TABLE * TO ROLE clarityq_reader",
        f"GRANT clarityq_reader TO {principal}",
    ):
        owner.execute_security_query(statement)
    _set_conn(
        monkeypatch,
        "mc_token",
        emu,
        login=creds.access_key_id,
        password=creds.access_key_secret,
        extra={"sts_token": creds.security_token},
    )
    hook = MaxComputeHook(maxcompute_conn_id="mc_token")
    ok, message = hook.test_connection()
    assert ok, message
    assert creds.security_token not in message
    assert hook.sts_client.get_caller_identity().body.identity_type == "AssumedRoleUser"


def test_assume_role_connection_refreshes_expired_credentials(
    emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ak, sk = _ram_user_with_key(emu, "assumer")
    emu.state.identity.add_role("mc-reader-role")
    owner = ODPS(
        emu.info.access_key_id, emu.info.access_key_secret, emu.info.project, endpoint=emu.info.maxcompute_endpoint
    )
    owner.execute_security_query(f"ADD USER `RAM${emu.info.account_id}:role/mc-reader-role`")
    arn = f"acs:ram::{emu.info.account_id}:role/mc-reader-role"
    _set_conn(monkeypatch, "mc_assume", emu, login=ak, password=sk, extra={"role_arn": arn})
    hook = MaxComputeHook(maxcompute_conn_id="mc_assume")
    # Let the credential source read the emulator's clock, so moving that clock ages both sides.
    credentials = credentials_from_settings(
        hook.settings, assume_role=sts_assume_role_caller(hook.settings), clock=emu.state.clock
    )
    hook.__dict__["clients"] = ClientBundle(hook.settings, credentials)
    assert hook.odps.exist_project(emu.info.project)
    assert sum(1 for r in emu.requests() if r["action"] == "AssumeRole") == 1
    emu.advance_clock(4000)  # past the default 3600 s lifetime: the temporary key is now refused
    assert hook.odps.exist_project(emu.info.project)
    assert sum(1 for r in emu.requests() if r["action"] == "AssumeRole") == 2

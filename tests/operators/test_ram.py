"""``ClarityQRamUserOperator`` against the emulator: creates once, then finds; ``plan`` only looks; bad names
fail before any request; the XCom carries identifiers, never a secret."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from alibabacloud_ram20150501 import models as ram_models
from clarityq_emulator import RunningEmulator

from airflow_provider_clarityq.core.defaults import DEFAULT_CONN_ID
from airflow_provider_clarityq.operators.ram import ClarityQRamUserOperator

CONN_ID = "clarityq_ram_admin"
CONTEXT: Any = {}  # the operator reads nothing from the task context


@pytest.fixture
def emu(clarityq_emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> RunningEmulator:
    info = clarityq_emulator.info
    conn = {
        "conn_type": "clarityq_maxcompute",
        "login": info.access_key_id,
        "password": info.access_key_secret,
        "host": info.maxcompute_endpoint,
        "schema": info.project,
        "extra": {"ram_endpoint": f"http://{info.ram_endpoint}", "sts_endpoint": f"http://{info.sts_endpoint}"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return clarityq_emulator


def _actions(emu: RunningEmulator) -> list[str]:
    return [r["action"] or r["path"] for r in emu.requests()]


def test_construction() -> None:
    with pytest.raises(TypeError):
        ClarityQRamUserOperator("clarityq")  # type: ignore[call-arg]
    op = ClarityQRamUserOperator(task_id="u")
    assert (op.ram_user, op.maxcompute_conn_id, op.mode, op.create) == ("clarityq", DEFAULT_CONN_ID, "apply", True)
    assert set(ClarityQRamUserOperator.template_fields) == {"ram_user", "maxcompute_conn_id", "mode"}
    assert "hook" not in op.__dict__


@pytest.mark.integration
def test_creates_once_then_finds_and_never_returns_secrets(emu: RunningEmulator) -> None:
    first = ClarityQRamUserOperator(task_id="u", maxcompute_conn_id=CONN_ID).execute(CONTEXT)
    second = ClarityQRamUserOperator(task_id="u", maxcompute_conn_id=CONN_ID).execute(CONTEXT)
    assert first["created"] and not second["created"] and first["user_uid"] == second["user_uid"]
    assert second["principal"] == f"RAM${emu.info.account_id}:{second['user_uid']}"
    assert second["account_id"] == emu.info.account_id and second["exists"]
    assert _actions(emu) == [
        "GetCallerIdentity",
        "GetUser",
        "CreateUser",
        "GetCallerIdentity",
        "GetUser",
    ]  # no MaxCompute request, no AccessKey
    text = json.dumps([first, second])
    assert emu.info.access_key_secret not in text and emu.info.access_key_id not in text
    # The main account's RAM view agrees
    from alibabacloud_ram20150501.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    info = emu.info
    ram = Client(
        Config(
            access_key_id=info.access_key_id,
            access_key_secret=info.access_key_secret,
            endpoint=info.ram_endpoint,
            protocol="http",
        )
    )
    assert ram.get_user(ram_models.GetUserRequest(user_name="clarityq")).body.user.user_id == first["user_uid"]


@pytest.mark.integration
def test_plan_mode_only_reports_a_missing_user(emu: RunningEmulator) -> None:
    result = ClarityQRamUserOperator(task_id="u", maxcompute_conn_id=CONN_ID, mode="plan").execute(CONTEXT)
    assert result["exists"] is False and result["user_uid"] is None and result["principal"] is None
    assert "CreateUser" not in _actions(emu)


@pytest.mark.integration
def test_create_false_fails_without_retry(emu: RunningEmulator) -> None:
    with pytest.raises(AirflowFailException, match="does not exist"):
        ClarityQRamUserOperator(task_id="u", maxcompute_conn_id=CONN_ID, create=False).execute(CONTEXT)


@pytest.mark.parametrize(("kwargs", "match"), [({"ram_user": "bad user;"}, "ram_user"), ({"mode": "nuke"}, "mode")])
def test_bad_input_fails_before_any_request(emu: RunningEmulator, kwargs: dict[str, Any], match: str) -> None:
    emu.clear_requests()
    with pytest.raises(AirflowFailException, match=match):
        ClarityQRamUserOperator(task_id="u", maxcompute_conn_id=CONN_ID, **kwargs).execute(CONTEXT)
    assert emu.requests() == []

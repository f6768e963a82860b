"""``RamAccessKeyOperator`` / ``RamAccessKeyRotationOperator``: construction and templating, where the
connections file comes from, sink selection, and ``execute`` against the emulator (XCom = key IDs only,
refusals fail without retry)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi.utils_models import Config

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.secret_sinks import CallableSink, ConnectionFileSink
from airflow_provider_clarityq.emulator.runner import RunningEmulator
from airflow_provider_clarityq.operators.access_keys import (
    CONNECTIONS_FILE_ENV,
    RamAccessKeyOperator,
    RamAccessKeyRotationOperator,
    _grace_period,
    resolve_connections_file,
)

ADMIN = "clarityq_keys_admin"
CONTEXT: Any = {}  # the operators read nothing from the task context


def test_construction_is_keyword_only_cheap_and_templates_no_secret() -> None:
    with pytest.raises(TypeError):
        RamAccessKeyOperator("clarityq")  # type: ignore[call-arg]
    op = RamAccessKeyRotationOperator(task_id="rotate")
    assert (op.ram_user, op.sink_conn_id, op.mode, op.on_key_limit) == (
        "clarityq",
        "clarityq_reader",
        "apply",
        "delete_oldest_inactive",
    )
    assert op.operation == "rotate" and RamAccessKeyOperator.operation == "ensure"
    assert set(RamAccessKeyOperator.template_fields) == {
        "ram_user",
        "maxcompute_conn_id",
        "sink_conn_id",
        "connections_file",
        "airflow_api_conn_id",
        "mode",
        "on_key_limit",
        "grace_period",
    }
    assert "hook" not in op.__dict__


def test_connections_file_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CONNECTIONS_FILE_ENV, raising=False)
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND", raising=False)
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND_KWARGS", raising=False)
    with pytest.raises(ConfigurationError, match=CONNECTIONS_FILE_ENV):
        resolve_connections_file("")
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "airflow.secrets.local_filesystem.LocalFilesystemBackend")
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps({"connections_file_path": "/demo/c.json"}))
    assert resolve_connections_file(None) == "/demo/c.json"
    monkeypatch.setenv(CONNECTIONS_FILE_ENV, str(tmp_path / "env.yaml"))
    assert resolve_connections_file("  ") == str(tmp_path / "env.yaml")
    assert resolve_connections_file(" /explicit.json ") == "/explicit.json"


def test_grace_period_parsing() -> None:
    assert _grace_period(None) == timedelta(days=7)
    assert _grace_period("3600.0") == _grace_period(3600) == timedelta(hours=1)
    assert _grace_period(timedelta(minutes=5)) == timedelta(minutes=5)
    for bad in ("soon", "-1", "nan"):
        with pytest.raises(ConfigurationError, match="grace_period"):
            _grace_period(bad)


def test_sink_selection(tmp_path: Path) -> None:
    sink = CallableSink(lambda c, f: None, lambda c: None)
    assert RamAccessKeyOperator(task_id="k", sink=sink)._sink() is sink
    chosen = RamAccessKeyOperator(task_id="k", connections_file=str(tmp_path / "c.yaml"))._sink()
    assert isinstance(chosen, ConnectionFileSink) and chosen.format == "yaml"
    with pytest.raises(ConfigurationError, match="2 ways"):
        RamAccessKeyOperator(task_id="k", sink=sink, connections_file="/x.json")._sink()


def test_refusals_fail_without_retry_before_any_request(tmp_path: Path) -> None:
    same = RamAccessKeyOperator(task_id="k", maxcompute_conn_id="c", sink_conn_id="c", connections_file="/x.json")
    with pytest.raises(AirflowFailException, match="admin connection"):
        same.execute(CONTEXT)
    with pytest.raises(AirflowFailException, match="on_key_limit"):
        RamAccessKeyOperator(task_id="k", on_key_limit="yolo", connections_file="/x.json").execute(CONTEXT)
    with pytest.raises(AirflowFailException, match="mode"):
        RamAccessKeyOperator(task_id="k", mode="force", connections_file="/x.json").execute(CONTEXT)


# --------------------------------------------------------------------------------------------------
# execute on the emulator


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
    monkeypatch.setenv(f"AIRFLOW_CONN_{ADMIN.upper()}", json.dumps(conn))
    ram = RamClient(
        Config(
            access_key_id=info.access_key_id,
            access_key_secret=info.access_key_secret,
            endpoint=info.ram_endpoint,
            protocol="http",
        )
    )
    ram.create_user(ram_models.CreateUserRequest(user_name="clarityq"))
    return clarityq_emulator


@pytest.mark.integration
def test_execute_returns_key_ids_only_and_refuses_the_key_limit(emu: RunningEmulator, tmp_path: Path) -> None:
    path = tmp_path / "connections.json"
    # The user is not a project member: the new key authenticates but has no project access.
    op = RamAccessKeyOperator(task_id="k", maxcompute_conn_id=ADMIN, connections_file=str(path), verify_attempts=1)
    with pytest.raises(AirflowFailException, match="project_accessible"):
        op.execute(CONTEXT)
    assert not path.exists()
    assert [r["action"] for r in emu.requests() if r["action"] in ("CreateAccessKey", "DeleteAccessKey")] == [
        "CreateAccessKey",
        "DeleteAccessKey",
    ]

    keys = emu.state.identity.list_access_keys("clarityq")
    assert keys == []
    emu.state.identity.create_access_key("clarityq")
    emu.state.identity.create_access_key("clarityq")
    refused = RamAccessKeyRotationOperator(
        task_id="r", maxcompute_conn_id=ADMIN, connections_file=str(path), on_key_limit="refuse"
    )
    with pytest.raises(AirflowFailException, match="already has 2 AccessKeys"):
        refused.execute(CONTEXT)

    plan = RamAccessKeyRotationOperator(
        task_id="p", maxcompute_conn_id=ADMIN, sink=CallableSink(_no, _none), mode="plan"
    )
    with pytest.raises(AirflowFailException, match="both keys are Active"):
        plan.execute(CONTEXT)


def _no(conn_id: str, fields: dict[str, Any]) -> None:
    raise AssertionError("plan mode must not deliver")


def _none(conn_id: str) -> None:
    return None

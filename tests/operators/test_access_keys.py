"""``ClarityQAccessKeyOperator`` / ``ClarityQAccessKeyRotationOperator``: construction and templating, where the
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
from clarityq_emulator import RunningEmulator

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.managed_user import MANAGED_MARKER
from airflow_provider_clarityq.core.secret_sinks.api import AirflowApiConnectionSink
from airflow_provider_clarityq.core.secret_sinks.base import SinkError
from airflow_provider_clarityq.core.secret_sinks.custom import CallableSink
from airflow_provider_clarityq.core.secret_sinks.files import ConnectionFileSink
from airflow_provider_clarityq.operators.access_keys import (
    ClarityQAccessKeyOperator,
    ClarityQAccessKeyRotationOperator,
    _grace_period,
)

ADMIN = "clarityq_keys_admin"
CONTEXT: Any = {}  # the operators read nothing from the task context


def test_construction_is_keyword_only_cheap_and_templates_no_secret() -> None:
    with pytest.raises(TypeError):
        ClarityQAccessKeyOperator("clarityq")  # type: ignore[call-arg]
    op = ClarityQAccessKeyRotationOperator(task_id="rotate")
    assert (op.ram_user, op.sink_conn_id, op.mode, op.on_key_limit) == (
        "clarityq",
        "clarityq_reader",
        "apply",
        "delete_oldest_inactive",
    )
    assert op.operation == "rotate" and ClarityQAccessKeyOperator.operation == "ensure"
    assert set(ClarityQAccessKeyOperator.template_fields) == {
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


LOCAL_BACKEND = "airflow.secrets.local_filesystem.LocalFilesystemBackend"


@pytest.fixture
def no_backend(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "AIRFLOW__SECRETS__BACKEND",
        "AIRFLOW__SECRETS__BACKEND_KWARGS",
        "AIRFLOW__WORKERS__SECRETS_BACKEND",
        "AIRFLOW__CLARITYQ__SECRET_SINK",
        "AIRFLOW__CLARITYQ__CONNECTIONS_FILE",
        "AIRFLOW__CLARITYQ__AIRFLOW_API_CONN_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    from airflow.sdk.configuration import clear_secrets_backends_cache

    clear_secrets_backends_cache()
    return monkeypatch


def test_configured_sink_follows_the_tasks_secrets_backend(no_backend: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch = no_backend
    # LocalFilesystemBackend configured: its file, with no DAG edit.
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", LOCAL_BACKEND)
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps({"connections_file_path": "/demo/c.json"}))
    chosen = ClarityQAccessKeyOperator(task_id="k")._sink()
    assert isinstance(chosen, ConnectionFileSink) and str(chosen.path) == "/demo/c.json"
    # [clarityq] connections_file overrides the backend's path.
    monkeypatch.setenv("AIRFLOW__CLARITYQ__CONNECTIONS_FILE", str(tmp_path / "other.yaml"))
    chosen = ClarityQAccessKeyOperator(task_id="k")._sink()
    assert isinstance(chosen, ConnectionFileSink) and chosen.path == tmp_path / "other.yaml"
    # No backend: the metadata DB through the REST API connection [clarityq] airflow_api_conn_id.
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND")
    monkeypatch.delenv("AIRFLOW__CLARITYQ__CONNECTIONS_FILE")
    api = {"conn_type": "http", "host": "https://airflow.example.com", "login": "deployer", "password": "pw-123456"}
    monkeypatch.setenv("AIRFLOW_CONN_CLARITYQ_AIRFLOW_API", json.dumps(api))
    chosen = ClarityQAccessKeyOperator(task_id="k")._sink()
    assert isinstance(chosen, AirflowApiConnectionSink) and chosen.base_url == "https://airflow.example.com"


def test_configured_sink_refusals_name_the_option(no_backend: pytest.MonkeyPatch) -> None:
    monkeypatch = no_backend
    # A custom backend the provider cannot write: no guess, say what to configure.
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "airflow.providers.hashicorp.secrets.vault.VaultBackend")
    with pytest.raises(ConfigurationError, match=r"\[clarityq\] secret_sink.*VaultBackend.*package.module:callable"):
        ClarityQAccessKeyOperator(task_id="k")._sink()
    # A bad value fails while the DAG file is parsed (the operator is constructed).
    monkeypatch.setenv("AIRFLOW__CLARITYQ__SECRET_SINK", "vault please")
    with pytest.raises(ConfigurationError, match=r"\[clarityq\] secret_sink.*use one of auto"):
        ClarityQAccessKeyOperator(task_id="k")
    # Plain HTTP to a remote API server is refused unless allowed explicitly.
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND")
    monkeypatch.setenv("AIRFLOW__CLARITYQ__SECRET_SINK", "airflow_api")
    api = {"conn_type": "http", "host": "http://airflow.example.com:8080", "password": "a.jwt.token"}
    monkeypatch.setenv("AIRFLOW_CONN_CLARITYQ_AIRFLOW_API", json.dumps(api))
    with pytest.raises(SinkError, match=r"plain HTTP.*allow_insecure_http"):
        ClarityQAccessKeyOperator(task_id="k")._sink()
    monkeypatch.setenv("AIRFLOW_CONN_CLARITYQ_AIRFLOW_API", json.dumps({**api, "extra": {"allow_insecure_http": True}}))
    assert isinstance(ClarityQAccessKeyOperator(task_id="k")._sink(), AirflowApiConnectionSink)


def test_grace_period_parsing() -> None:
    assert _grace_period(None) == timedelta(days=7)
    assert _grace_period("3600.0") == _grace_period(3600) == timedelta(hours=1)
    assert _grace_period(timedelta(minutes=5)) == timedelta(minutes=5)
    for bad in ("soon", "-1", "nan"):
        with pytest.raises(ConfigurationError, match="grace_period"):
            _grace_period(bad)


def test_sink_selection(tmp_path: Path) -> None:
    sink = CallableSink(lambda c, f: None, lambda c: None)
    assert ClarityQAccessKeyOperator(task_id="k", sink=sink)._sink() is sink
    chosen = ClarityQAccessKeyOperator(task_id="k", connections_file=str(tmp_path / "c.yaml"))._sink()
    assert isinstance(chosen, ConnectionFileSink) and chosen.format == "yaml"
    with pytest.raises(ConfigurationError, match="2 ways"):
        ClarityQAccessKeyOperator(task_id="k", sink=sink, connections_file="/x.json")._sink()


def test_refusals_fail_without_retry_before_any_request(tmp_path: Path) -> None:
    same = ClarityQAccessKeyOperator(task_id="k", maxcompute_conn_id="c", sink_conn_id="c", connections_file="/x.json")
    with pytest.raises(AirflowFailException, match="admin connection"):
        same.execute(CONTEXT)
    with pytest.raises(AirflowFailException, match="on_key_limit"):
        ClarityQAccessKeyOperator(task_id="k", on_key_limit="yolo", connections_file="/x.json").execute(CONTEXT)
    with pytest.raises(AirflowFailException, match="mode"):
        ClarityQAccessKeyOperator(task_id="k", mode="force", connections_file="/x.json").execute(CONTEXT)


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
    ram.create_user(ram_models.CreateUserRequest(user_name="clarityq", comments=MANAGED_MARKER))
    return clarityq_emulator


@pytest.mark.integration
def test_execute_returns_key_ids_only_and_refuses_the_key_limit(
    emu: RunningEmulator, airflow_connections_file: Path
) -> None:
    path = airflow_connections_file
    path.unlink()
    # The user is not a project member: the new key authenticates but has no project access.
    op = ClarityQAccessKeyOperator(task_id="k", maxcompute_conn_id=ADMIN, connections_file=str(path), verify_attempts=1)
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
    refused = ClarityQAccessKeyRotationOperator(
        task_id="r", maxcompute_conn_id=ADMIN, connections_file=str(path), on_key_limit="refuse"
    )
    with pytest.raises(AirflowFailException, match="already has 2 AccessKeys"):
        refused.execute(CONTEXT)

    plan = ClarityQAccessKeyRotationOperator(
        task_id="p", maxcompute_conn_id=ADMIN, sink=CallableSink(_no, _none), mode="plan"
    )
    with pytest.raises(AirflowFailException, match="both keys are Active"):
        plan.execute(CONTEXT)


def _no(conn_id: str, fields: dict[str, Any]) -> None:
    raise AssertionError("plan mode must not deliver")


def _none(conn_id: str) -> None:
    return None

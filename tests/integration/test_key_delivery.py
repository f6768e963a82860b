"""The reader's AccessKey lands where Airflow resolves the reader connection, in the three deployments users have.

For each: the metadata DB (written through Airflow's REST API over real HTTP), the LocalFilesystemBackend file
(the demo), and any other store (a custom secrets backend written by a factory sink). With the example DAGs and
no DAG edit, only ``[clarityq]`` configuration:

1. provisioning delivers the key, and a health DAG run - Airflow's own lookup, in a task - works with it;
2. rotation moves what Airflow resolves to a new, working key and retires the old one;
3. a rotation pointed at a store Airflow does not read fails, naming both places, and leaves the old key Active
   and the reader working.

Real RAM/STS SDKs, pyodps and the emulator throughout; secrets are searched for in every artefact at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from clarityq_emulator import RunningEmulator
from json_vault import VAULT_ENV
from support import (
    ADMIN_CONN_ID,
    READER_CONN_ID,
    admin_connection,
    provision_user_without_key,
    run_dag,
    secret_hits,
    user_keys,
)

pytestmark = pytest.mark.integration

PROVISION, ROTATE, HEALTH = "clarityq_provision_access", "clarityq_rotate_access_key", "clarityq_connection_health"
MUTATING = ("Create", "Update", "Delete")


@dataclass
class Deployment:
    """Where the reader connection lives: how to read what is stored there, and how to misconfigure the sink."""

    name: str
    stored: Callable[[], dict[str, Any] | None]  # the reader entry as stored (with its secret)
    misconfigure: Callable[[], None]  # point the key step at a store Airflow does not read


def _forget_backends() -> None:
    from airflow.sdk.configuration import clear_secrets_backends_cache

    clear_secrets_backends_cache()


@pytest.fixture
def admin(clarityq_emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> RunningEmulator:
    monkeypatch.setenv(f"AIRFLOW_CONN_{ADMIN_CONN_ID.upper()}", json.dumps(admin_connection(clarityq_emulator)))
    monkeypatch.delenv(f"AIRFLOW_CONN_{READER_CONN_ID.upper()}", raising=False)
    for option in ("SECRET_SINK", "CONNECTIONS_FILE", "AIRFLOW_API_CONN_ID"):
        monkeypatch.delenv(f"AIRFLOW__CLARITYQ__{option}", raising=False)
    provision_user_without_key(clarityq_emulator)
    return clarityq_emulator


def _metadata_db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Deployment:
    request.getfixturevalue("airflow_api_server")  # connection clarityq_airflow_api -> a real API server
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND", raising=False)
    _forget_backends()

    def stored() -> dict[str, Any] | None:
        from airflow.models import Connection
        from airflow.utils.session import create_session

        with create_session() as session:
            conn = session.query(Connection).filter_by(conn_id=READER_CONN_ID).one_or_none()
            return None if conn is None else {"login": conn.login, "password": conn.password}

    def forget() -> None:  # the metadata DB outlives the test: leave no reader for the next one
        from airflow.models import Connection
        from airflow.utils.session import create_session

        with create_session() as session:
            session.query(Connection).filter_by(conn_id=READER_CONN_ID).delete()

    request.addfinalizer(forget)

    def misconfigure() -> None:
        monkeypatch.setenv("AIRFLOW__CLARITYQ__SECRET_SINK", "connections_file")
        monkeypatch.setenv("AIRFLOW__CLARITYQ__CONNECTIONS_FILE", str(tmp_path / "not-read-by-airflow.json"))

    return Deployment("metadata DB", stored, misconfigure)


def _local_file(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Deployment:
    path: Path = request.getfixturevalue("airflow_connections_file")

    def stored() -> dict[str, Any] | None:
        entry = json.loads(path.read_text()).get(READER_CONN_ID)
        return None if entry is None else dict(entry)

    def misconfigure() -> None:
        monkeypatch.setenv("AIRFLOW__CLARITYQ__CONNECTIONS_FILE", str(tmp_path / "a-copy-nobody-reads.json"))

    return Deployment("LocalFilesystemBackend file", stored, misconfigure)


def _factory(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Deployment:
    vault = tmp_path / "vault.json"
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "json_vault.JsonVaultBackend")
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps({"path": str(vault)}))
    monkeypatch.setenv("AIRFLOW__CLARITYQ__SECRET_SINK", "json_vault:vault_sink")
    monkeypatch.setenv(VAULT_ENV, str(vault))
    _forget_backends()
    request.addfinalizer(_forget_backends)

    def stored() -> dict[str, Any] | None:
        if not vault.exists():
            return None
        entry = json.loads(vault.read_text())["connections"].get(READER_CONN_ID)
        return None if entry is None else dict(entry)

    def misconfigure() -> None:
        monkeypatch.setenv(VAULT_ENV, str(tmp_path / "another-vault.json"))

    return Deployment("custom backend + factory sink", stored, misconfigure)


@pytest.fixture(params=[_metadata_db, _local_file, _factory], ids=["metadata-db", "local-file", "factory"])
def deployment(
    request: pytest.FixtureRequest, admin: RunningEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Deployment:
    setup: Callable[..., Deployment] = request.param
    return setup(request, monkeypatch, tmp_path)


def test_the_key_lands_where_airflow_resolves_the_reader(
    deployment: Deployment,
    admin: RunningEmulator,
    airflow_db: None,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu = admin
    secrets: list[str] = []

    # 1. Provisioning delivers a key; Airflow's own lookup in a task (the health DAG) works with it.
    state, _ = run_dag(PROVISION)
    assert state == "success", deployment.name
    first = deployment.stored()
    assert first is not None and user_keys(emu) == {first["login"]: "Active"}
    secrets.append(first["password"])
    assert run_dag(HEALTH)[0] == "success"

    # 2. Rotation: what Airflow resolves moves to a new, working key; the old one is retired.
    state, rotated = run_dag(ROTATE, "rotate_access_key")
    assert state == "success" and rotated is not None and rotated["action"] == "rotated"
    second = deployment.stored()
    assert second is not None and second["login"] == rotated["access_key_id"] != first["login"]
    secrets.append(second["password"])
    assert user_keys(emu) == {first["login"]: "Inactive", second["login"]: "Active"}
    assert rotated["resolved_from"]  # the place Airflow answered from is reported (key IDs only otherwise)
    assert run_dag(HEALTH)[0] == "success"

    # 3. A rotation pointed at a store Airflow does not read: it fails and retires nothing.
    deployment.misconfigure()
    emu.clear_requests()
    state, failed = run_dag(ROTATE, "rotate_access_key")
    assert state == "failed" and failed is None
    assert user_keys(emu) == {first["login"]: "Inactive", second["login"]: "Active"}
    changed = [r["action"] for r in emu.requests() if r["service"] == "ram" and r["action"].startswith(MUTATING)]
    assert changed == []
    assert deployment.stored() == second
    assert run_dag(HEALTH)[0] == "success"
    console = capfd.readouterr()
    said = (caplog.text + console.out + console.err).lower()
    assert "nothing was created or retired" in said  # refused before any change

    assert secret_hits(emu, secrets, ("stdout", console.out), ("stderr", console.err)) == []

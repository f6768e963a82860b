"""Airflow's own connection lookup, walked backend by backend: the first backend that has the connection
answers, and the answer names it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from airflow_provider_clarityq.utils.connection_lookup import resolve_connection

READER = {"conn_type": "clarityq_maxcompute", "login": "LTAIenv", "password": "env-secret-value", "host": "h"}


@pytest.fixture
def local_file(monkeypatch: pytest.MonkeyPatch) -> Path:
    """A LocalFilesystemBackend file (one path per process: Airflow builds the backend once)."""
    path = Path(os.environ["AIRFLOW_HOME"]) / "clarityq-lookup" / "connections.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text("{}")
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "airflow.secrets.local_filesystem.LocalFilesystemBackend")
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps({"connections_file_path": str(path)}))
    return path


def test_environment_variable_is_found_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CLARITYQ_LOOKUP", json.dumps(READER))
    found = resolve_connection("clarityq_lookup")
    assert found is not None and found.login == "LTAIenv" and found.fields["password"] == "env-secret-value"
    assert found.place == "the environment variable AIRFLOW_CONN_CLARITYQ_LOOKUP"
    assert "env-secret-value" not in repr(found)
    assert resolve_connection("clarityq_nowhere") is None


def test_the_tasks_secrets_backend_shadows_the_environment(monkeypatch: pytest.MonkeyPatch, local_file: Path) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CLARITYQ_LOOKUP", json.dumps(READER))
    local_file.write_text(json.dumps({"clarityq_lookup": {**READER, "login": "LTAIfile", "password": "file-secret"}}))
    found = resolve_connection("clarityq_lookup")
    assert found is not None and found.login == "LTAIfile"
    assert found.place == f"the LocalFilesystemBackend file {local_file}"
    local_file.write_text("{}")  # edits are seen at once: no cache
    found = resolve_connection("clarityq_lookup")
    assert found is not None and found.login == "LTAIenv"

"""Airflow's own connection lookup, walked backend by backend: the first backend that has the connection
answers, and the answer names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_clarityq.utils.connection_lookup import resolve_connection

READER = {"conn_type": "clarityq_maxcompute", "login": "LTAIenv", "password": "env-secret-value", "host": "h"}


def test_environment_variable_is_found_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CLARITYQ_LOOKUP", json.dumps(READER))
    found = resolve_connection("clarityq_lookup")
    assert found is not None and found.login == "LTAIenv" and found.fields["password"] == "env-secret-value"
    assert found.place == "the environment variable AIRFLOW_CONN_CLARITYQ_LOOKUP"
    assert "env-secret-value" not in repr(found)
    assert resolve_connection("clarityq_nowhere") is None


def test_the_tasks_secrets_backend_shadows_the_environment(
    monkeypatch: pytest.MonkeyPatch, airflow_connections_file: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CLARITYQ_LOOKUP", json.dumps(READER))
    airflow_connections_file.write_text(
        json.dumps({"clarityq_lookup": {**READER, "login": "LTAIfile", "password": "file-secret"}})
    )
    found = resolve_connection("clarityq_lookup")
    assert found is not None and found.login == "LTAIfile"
    assert found.place == f"the LocalFilesystemBackend file {airflow_connections_file}"
    airflow_connections_file.write_text("{}")  # edits are seen at once: no cache
    found = resolve_connection("clarityq_lookup")
    assert found is not None and found.login == "LTAIenv"

"""Test session set-up: an isolated Airflow home and a clean process environment.

Airflow reads its configuration at import time, so the environment is prepared in
``pytest_configure``, before any test module imports Airflow.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parent.parent
_HOME: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _HOME
    _HOME = tempfile.mkdtemp(prefix="clarityq-airflow-home-")
    os.environ.update(
        {
            "AIRFLOW_HOME": _HOME,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # As in any real deployment: connection passwords are encrypted in the metadata DB.
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        }
    )
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "ODPS_REGION_NAME",
        "ODPS_ENDPOINT",
        "ODPS_PROJECT_NAME",
        "ODPS_TUNNEL_ENDPOINT",
    ):
        os.environ.pop(name, None)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _HOME:
        shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh SQLite metadata database, created once per session when a test asks for it."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture(autouse=True)
def _pyodps_options_restored() -> Iterator[None]:
    """pyodps keeps its options in one global; whatever a test sets there is undone after it."""
    from odps.config import option_context

    with option_context():
        yield


def _forget_secrets_backends() -> None:
    """Airflow memoises a configured secrets backend per process; tests that configure one start afresh."""
    from airflow.sdk.configuration import clear_secrets_backends_cache

    clear_secrets_backends_cache()


@pytest.fixture
def airflow_connections_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The demo's deployment: Airflow reads connections from this LocalFilesystemBackend file, and the key
    step writes the reader's AccessKey into it."""
    path = tmp_path / "airflow-connections.json"
    path.write_text("{}")
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "airflow.secrets.local_filesystem.LocalFilesystemBackend")
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps({"connections_file_path": str(path)}))
    monkeypatch.delenv("AIRFLOW__CLARITYQ__CONNECTIONS_FILE", raising=False)
    _forget_secrets_backends()
    yield path
    monkeypatch.undo()
    _forget_secrets_backends()

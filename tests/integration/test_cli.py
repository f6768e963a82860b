"""The installed provider as a user meets it through the ``airflow`` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A user's set-up: its own AIRFLOW_HOME with a migrated database, no unit-test mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"AIRFLOW_HOME": str(tmp_path_factory.mktemp("airflow-home")), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    migrated = _airflow(env, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    return env


def _airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )


def _json(stdout: str) -> Any:
    """The JSON document in the CLI's output (log lines may precede it)."""
    start = min(i for i in (stdout.find("["), stdout.find("{")) if i >= 0)
    return json.loads(stdout[start:])


def test_providers_list_shows_the_provider(airflow_env: dict[str, str]) -> None:
    result = _airflow(airflow_env, "providers", "list", "--output", "json")
    assert result.returncode == 0, result.stderr
    packages = {p["package_name"]: p for p in _json(result.stdout)}
    assert "airflow-provider-clarityq" in packages


def test_connections_add_and_get_round_trip(airflow_env: dict[str, str]) -> None:
    secret = "cli-secret-value-123"
    added = _airflow(
        airflow_env,
        "connections",
        "add",
        "clarityq_cli",
        "--conn-type",
        "clarityq_maxcompute",
        "--conn-login",
        "LTAIcliKey000000",
        "--conn-password",
        secret,
        "--conn-host",
        "https://service.cn-shanghai.maxcompute.aliyun.com/api",
        "--conn-schema",
        "my_analytics_project",
        "--conn-extra",
        '{"region": "cn-shanghai"}',
    )
    assert added.returncode == 0, added.stderr
    got = _airflow(airflow_env, "connections", "get", "clarityq_cli", "--output", "json")
    assert got.returncode == 0, got.stderr
    (conn,) = _json(got.stdout)
    assert conn["conn_type"] == "clarityq_maxcompute"
    assert conn["login"] == "LTAIcliKey000000"
    assert conn["host"] == "https://service.cn-shanghai.maxcompute.aliyun.com/api"
    assert conn["schema"] == "my_analytics_project"
    assert secret not in added.stdout + added.stderr

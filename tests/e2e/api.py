"""A small client for Airflow 3's public REST API (``/api/v2``), as an operator of the deployment uses it."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import requests

TERMINAL_RUN_STATES = frozenset({"success", "failed"})


class ApiError(Exception):
    """An unexpected answer from the API server (method, path, status and the start of the body)."""


class AirflowApi:
    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: no proxies
        response = self.session.post(
            f"{self.base_url}/auth/token", json={"username": username, "password": password}, timeout=30
        )
        if response.status_code not in (200, 201):
            raise ApiError(f"POST /auth/token -> {response.status_code}: {response.text[:300]}")
        self.token = response.json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def request(self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}{path}", timeout=60, **kwargs)
        if response.status_code not in expect:
            raise ApiError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.base_url}{path}", timeout=60, **kwargs)

    # -- connections ----------------------------------------------------------------------------------

    def put_connection(self, body: dict[str, Any]) -> None:
        """Create the connection, or replace its fields when it exists."""
        conn_id = body["connection_id"]
        response = self.raw("POST", "/api/v2/connections", json=body)
        if response.status_code == 409:
            self.request("PATCH", f"/api/v2/connections/{quote(conn_id)}", json=body)
        elif response.status_code != 201:
            raise ApiError(f"POST /api/v2/connections -> {response.status_code}: {response.text[:300]}")

    def connection(self, conn_id: str) -> dict[str, Any] | None:
        response = self.raw("GET", f"/api/v2/connections/{quote(conn_id)}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ApiError(f"GET connection {conn_id} -> {response.status_code}: {response.text[:300]}")
        result: dict[str, Any] = response.json()
        return result

    def test_connection(self, body: dict[str, Any]) -> requests.Response:
        return self.raw("POST", "/api/v2/connections/test", json=body)

    # -- DAGs and runs --------------------------------------------------------------------------------

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.request("GET", "/api/v2/dags", params={"limit": 100})["dags"]}

    def import_errors(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/api/v2/importErrors")["import_errors"]
        return result

    def wait_for_dags(self, dag_ids: set[str], timeout: float = 240) -> set[str]:
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while time.monotonic() < deadline:
            seen = self.dag_ids()
            if dag_ids <= seen or self.import_errors():
                break
            time.sleep(2)
        return seen

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        body = {"logical_date": None, "conf": conf or {}}
        run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        return str(run["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"order_by": "-run_after", "limit": 100}
        )["dag_runs"]
        return result

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}")
        return result

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        run = self.run(dag_id, run_id)
        while run["state"] not in TERMINAL_RUN_STATES and time.monotonic() < deadline:
            time.sleep(2)
            run = self.run(dag_id, run_id)
        return run

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        items = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti for ti in items}

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return {task: ti["state"] for task, ti in self.task_instances(dag_id, run_id).items()}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        entry = self.request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": "true", "stringify": "false"},
        )
        return entry["value"]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        content = self.request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true"},
            headers={"Accept": "application/json"},
        )
        if isinstance(content, dict):
            parts = content.get("content", [])
            if isinstance(parts, list):
                return "\n".join(p.get("event", str(p)) if isinstance(p, dict) else str(p) for p in parts)
            return str(parts)
        return str(content)

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/api/v2/monitor/health")
        return result

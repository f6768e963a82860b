"""A stand-in for "any other secrets backend" (Vault, a cloud secret manager): Airflow reads connections from a
JSON document ``{"connections": {conn_id: {fields}}}``, and the provider writes it through a factory sink.

Configured as a deployment would be::

    [secrets] backend = json_vault.JsonVaultBackend
    [secrets] backend_kwargs = {"path": "/.../vault.json"}
    [clarityq] secret_sink = json_vault:vault_sink        # reads $CLARITYQ_TEST_VAULT
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow.secrets import BaseSecretsBackend

from airflow_provider_clarityq.core.secret_sinks.custom import CallableSink

VAULT_ENV = "CLARITYQ_TEST_VAULT"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {"connections": {}}


class JsonVaultBackend(BaseSecretsBackend):
    """Connections as JSON values under ``connections`` in one document."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)

    def get_conn_value(self, conn_id: str) -> str | None:
        entry = _load(self.path)["connections"].get(conn_id)
        return None if entry is None else json.dumps(entry)


def vault_sink() -> CallableSink:
    """The factory ``[clarityq] secret_sink`` names: a SecretSink writing the vault document."""
    path = Path(os.environ[VAULT_ENV])

    def read(conn_id: str) -> Mapping[str, Any] | None:
        entry = _load(path)["connections"].get(conn_id)
        return None if entry is None else {k: v for k, v in entry.items() if k != "password"}

    def deliver(conn_id: str, fields: dict[str, Any]) -> None:
        data = _load(path)
        data["connections"][conn_id] = {**data["connections"].get(conn_id, {}), **fields}
        path.write_text(json.dumps(data))

    def remove(conn_id: str) -> None:
        data = _load(path)
        data["connections"].pop(conn_id, None)
        path.write_text(json.dumps(data))

    return CallableSink(deliver, read, remove, name="json vault")

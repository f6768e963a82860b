"""An Airflow connection as the core reads it, and its secrets masked before anything parses it.

One home for the field mapping and the masking, shared by the hook (sync and async), the trigger and the
connection lookup of the AccessKey operators.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["connection_fields", "connection_secrets", "mask_fields", "mask_secret_value"]


def connection_fields(conn: Any) -> dict[str, Any]:
    """The fields :func:`~airflow_provider_clarityq.core.connection.parse_connection` reads, plus the type."""
    return {
        "conn_type": conn.conn_type,
        "login": conn.login,
        "password": conn.password,
        "host": conn.host,
        "schema": conn.schema,
        "port": conn.port,
        "extra": conn.extra,
    }


def connection_secrets(fields: Mapping[str, Any]) -> tuple[str, ...]:
    """The password and the STS token (plain or ``extra__<conn_type>__`` key, read from the raw extra)."""
    secrets: list[str] = []
    password = fields.get("password")
    if isinstance(password, str) and password:
        secrets.append(password)
    extra = fields.get("extra")
    try:
        values = json.loads(extra) if isinstance(extra, str) and extra else extra
    except ValueError:
        values = None
    if isinstance(values, Mapping):
        for key, value in values.items():
            if isinstance(key, str) and key.endswith("sts_token") and isinstance(value, str) and value.strip():
                secrets.append(value.strip())
    return tuple(secrets)


def mask_secret_value(value: object) -> None:
    """Register one secret with Airflow's secrets masker (task logs, UI, rendered fields)."""
    if isinstance(value, str) and value:
        from airflow.sdk.log import mask_secret

        mask_secret(value)


def mask_fields(fields: Mapping[str, Any]) -> tuple[str, ...]:
    """Mask the connection's secrets, so even a connection that fails validation cannot leak them."""
    secrets = connection_secrets(fields)
    for secret in secrets:
        mask_secret_value(secret)
    return secrets

"""Airflow's own connection lookup, with the cache bypassed and the place that answered named.

The AccessKey operators must only deactivate an old key once the reader's connection, *as Airflow
resolves it for a task*, holds the new key. Reading back the store that was written is not enough: a
connection defined in a higher-priority place (the tasks' secrets backend, an ``AIRFLOW_CONN_*``
variable) shadows it. So this module walks the same backends, in the same order, that
``Connection.get`` walks in this process (worker: custom backend -> environment variables -> the API
server, which reads the metadata DB) and reports which one answered. The parse-time ``SecretCache`` is
skipped, so what was written a moment ago is what is seen.
"""

from __future__ import annotations

import logging

from airflow_provider_clarityq.core.secret_sinks.base import ResolvedConnection
from airflow_provider_clarityq.utils.connection_fields import connection_fields, mask_fields

__all__ = ["ResolvedConnection", "describe_backend", "resolve_connection"]

log = logging.getLogger(__name__)


def describe_backend(backend: object, conn_id: str) -> str:
    """A person's name for a secrets backend ("the environment variable AIRFLOW_CONN_X", ...)."""
    name = type(backend).__name__
    if name == "EnvironmentVariablesBackend":
        return f"the environment variable AIRFLOW_CONN_{conn_id.upper()}"
    if name == "LocalFilesystemBackend":
        path = getattr(backend, "connections_file", None)
        return f"the LocalFilesystemBackend file {path}" if path else "the LocalFilesystemBackend"
    if name == "ExecutionAPISecretsBackend":
        return "the API server (its secrets backend, else the metadata DB)"
    if name == "MetastoreBackend":
        return "the metadata DB"
    return f"the secrets backend {type(backend).__module__}.{name}"


def resolve_connection(conn_id: str) -> ResolvedConnection | None:
    """The connection ``conn_id`` from the first backend that has it, in Airflow's order; None if none has it.

    Falls back to the public ``BaseHook.get_connection`` (place unknown) if Airflow's backend list cannot be
    reached. A backend that refuses access stops the search, as it does for Airflow.
    """
    try:
        from airflow.sdk.execution_time.supervisor import ensure_secrets_backend_loaded

        backends = ensure_secrets_backend_loaded()
    except Exception:  # another Airflow layout: use the public lookup, the place stays unnamed
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            return None
        return ResolvedConnection(conn_id, "Airflow's connection lookup", connection_fields(conn))
    from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

    for backend in backends:
        try:
            conn = backend.get_connection(conn_id=conn_id)
        except AirflowSecretsBackendAccessDenied:
            raise
        except Exception as exc:  # Airflow too moves on to the next backend
            log.debug("Secrets backend %s failed for %s: %s", type(backend).__name__, conn_id, type(exc).__name__)
            continue
        if conn:
            fields = connection_fields(conn)
            mask_fields(fields)  # as Airflow's own lookup does
            return ResolvedConnection(
                conn_id, describe_backend(backend, conn_id), fields, backend=type(backend).__name__
            )
    return None

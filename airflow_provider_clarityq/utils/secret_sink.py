"""Airflow side of choosing a secret sink: read the deployment's configuration, build the sink.

The decision itself is pure (:func:`~airflow_provider_clarityq.core.secret_sinks.choose_sink`); this
module only gathers its inputs from Airflow: the ``[clarityq]`` options declared in the provider info,
the secrets backend tasks use, and the connection to Airflow's REST API.

Options (``airflow.cfg`` or ``AIRFLOW__CLARITYQ__<OPTION>``):

* ``secret_sink`` - ``auto`` (default), ``airflow_api``, ``connections_file`` or ``package.module:callable``;
* ``airflow_api_conn_id`` - connection to the REST API (default ``clarityq_airflow_api``): host = the API
  server's base URL, login + password of a user allowed to edit connections (or an empty login and a
  JWT as password), extra ``{"allow_insecure_http": true}`` to accept plain HTTP to a non-loopback host;
* ``connections_file`` - the LocalFilesystemBackend file, when it is not the backend's
  ``connections_file_path``.
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.secret_sinks.api import AirflowApiConnectionSink
from airflow_provider_clarityq.core.secret_sinks.base import ResolvedConnection, SecretSink
from airflow_provider_clarityq.core.secret_sinks.choice import (
    LOCAL_FILESYSTEM_BACKEND,
    SinkChoice,
    choose_sink,
    parse_sink_setting,
)
from airflow_provider_clarityq.core.secret_sinks.files import ConnectionFileSink

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DEFAULT_AIRFLOW_API_CONN_ID",
    "SECTION",
    "api_sink_from_connection",
    "check_reaches_airflow",
    "configured_sink",
    "configured_sink_choice",
    "configured_sink_setting",
    "tasks_secrets_backend",
]

SECTION = "clarityq"
DEFAULT_AIRFLOW_API_CONN_ID = "clarityq_airflow_api"


def _option(key: str, fallback: str = "") -> str:
    from airflow.sdk import conf

    value = conf.get(SECTION, key, fallback=fallback)
    return (value or "").strip() or fallback


def configured_sink_setting() -> str:
    """``[clarityq] secret_sink``, validated (a bad value fails while the DAG file is parsed)."""
    return parse_sink_setting(_option("secret_sink", "auto"))


def tasks_secrets_backend() -> tuple[str | None, dict[str, Any]]:
    """The secrets backend a task consults first and its kwargs: ``[workers] secrets_backend`` if set,
    else ``[secrets] backend`` (Airflow's own rule for worker processes)."""
    from airflow.sdk import conf

    for section, key, kwargs_key in (
        ("workers", "secrets_backend", "secrets_backend_kwargs"),
        ("secrets", "backend", "backend_kwargs"),
    ):
        backend = (conf.get(section, key, fallback="") or "").strip()
        if backend:
            raw = conf.get(section, kwargs_key, fallback="") or ""
            try:
                kwargs = json.loads(raw) if raw.strip() else {}
            except ValueError:
                kwargs = {}
            return backend, kwargs if isinstance(kwargs, dict) else {}
    return None, {}


def configured_sink_choice() -> SinkChoice:
    """Where ``[clarityq]`` and the secrets backend say a reader connection must be written."""
    backend, kwargs = tasks_secrets_backend()
    return choose_sink(
        configured_sink_setting(),
        backend=backend,
        backend_kwargs=kwargs,
        connections_file=_option("connections_file"),
    )


def api_sink_from_connection(conn_id: str, *, mask: Callable[[str | None], None]) -> AirflowApiConnectionSink:
    """An :class:`AirflowApiConnectionSink` from the Airflow connection ``conn_id``."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConfigurationError(
            "airflow_api_conn_id",
            f"names the connection {conn_id!r}, which does not exist",
            "create it (host = the API server's base URL, login/password of a user allowed to edit connections) "
            "as in docs/deploying.md, or set [clarityq] secret_sink for another store",
            context="Airflow configuration option",
            label="[clarityq] airflow_api_conn_id",
        ) from None
    mask(conn.password)
    context = f"Connection {conn_id!r} field"
    host = (conn.host or "").strip()
    if not host:
        raise ConfigurationError(
            "host", "is empty", "set the API server's base URL, e.g. https://airflow.example.com", context=context
        )
    base = host if "://" in host else f"{conn.schema or 'https'}://{host}{f':{conn.port}' if conn.port else ''}"
    extra = conn.extra_dejson if conn.extra else {}
    insecure = extra.get("allow_insecure_http", False)
    if not isinstance(insecure, bool):
        raise ConfigurationError("allow_insecure_http", f"is {insecure!r}", "use true or false", context=context)
    if conn.login:
        return AirflowApiConnectionSink(base, username=conn.login, password=conn.password, allow_insecure_http=insecure)
    return AirflowApiConnectionSink(base, token=conn.password or None, allow_insecure_http=insecure)


def configured_sink(*, mask: Callable[[str | None], None]) -> tuple[SecretSink, str]:
    """The sink the deployment's configuration selects, and why (one line for the task log)."""
    choice = configured_sink_choice()
    if choice.kind == "connections_file":
        assert choice.path is not None
        return ConnectionFileSink(choice.path), choice.reason
    if choice.kind == "airflow_api":
        conn_id = _option("airflow_api_conn_id", DEFAULT_AIRFLOW_API_CONN_ID)
        return api_sink_from_connection(conn_id, mask=mask), f"{choice.reason}, connection {conn_id!r}"
    assert choice.factory is not None
    module_name, _, attr = choice.factory.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
        sink = factory()
    except Exception as exc:
        raise ConfigurationError(
            "secret_sink",
            f"names {choice.factory}, which failed ({type(exc).__name__})",
            "make it importable on the workers and callable without arguments",
            context="Airflow configuration option",
            label="[clarityq] secret_sink",
        ) from None
    if not isinstance(sink, SecretSink):
        raise ConfigurationError(
            "secret_sink",
            f"names {choice.factory}, which returned no SecretSink",
            "return an object with read(conn_id) and deliver(conn_id, fields), e.g. a CallableSink",
            context="Airflow configuration option",
            label="[clarityq] secret_sink",
        )
    return sink, choice.reason


#: Backends through which a task reaches the metadata DB (the worker's API client, the server's own reader).
_METADATA_DB_BACKENDS = frozenset({"ExecutionAPISecretsBackend", "MetastoreBackend"})


def check_reaches_airflow(sink: SecretSink, resolved: ResolvedConnection | None) -> Literal[True] | str | None:
    """Whether a write to ``sink`` is what a task will resolve: True, a reason why not, or None (cannot tell).

    A connections file is read only if it is the tasks' LocalFilesystemBackend file, which then comes first.
    The metadata DB (REST API) is read last: any connection found earlier, in the tasks' secrets backend or an
    ``AIRFLOW_CONN_*`` variable, shadows it. Any other sink is confirmed after delivery only.
    """
    import os

    if isinstance(sink, ConnectionFileSink):
        backend, kwargs = tasks_secrets_backend()
        configured = kwargs.get("connections_file_path") if backend == LOCAL_FILESYSTEM_BACKEND else None
        if not isinstance(configured, str) or os.path.realpath(configured) != os.path.realpath(sink.path):
            reads = f"the secrets backend {backend}" if backend else "the metadata DB (no secrets backend)"
            return f"Airflow does not read {sink.path}: tasks read connections from {reads}"
        return True
    if isinstance(sink, AirflowApiConnectionSink):
        if resolved is None or not resolved.backend or resolved.backend in _METADATA_DB_BACKENDS:
            return True if resolved is None or resolved.backend else None
        return f"Airflow resolves the connection from {resolved.place}, which comes before the metadata DB"
    return None

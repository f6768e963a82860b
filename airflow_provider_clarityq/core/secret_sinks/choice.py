"""Which sink: the place Airflow itself reads the reader's connection from (``[clarityq] secret_sink``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_clarityq.core.errors import ConfigurationError

# --------------------------------------------------------------------------------------------------
# Which sink: the place Airflow itself reads the reader's connection from

#: Values of the ``[clarityq] secret_sink`` option besides ``<module>:<factory>``.
SINK_KINDS = ("auto", "airflow_api", "connections_file")
LOCAL_FILESYSTEM_BACKEND = "airflow.secrets.local_filesystem.LocalFilesystemBackend"
_SETTING = "[clarityq] secret_sink"
_FACTORY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class SinkChoice:
    """Where the key step writes: ``kind`` is ``connections_file`` (with ``path``), ``airflow_api`` (the
    metadata DB through the REST API) or ``factory`` (``module:callable`` returning a :class:`SecretSink`);
    ``reason`` says why, for the task log."""

    kind: str
    reason: str
    path: str | None = None
    factory: str | None = None


def parse_sink_setting(value: str | None) -> str:
    """Validate ``[clarityq] secret_sink``: one of :data:`SINK_KINDS` or ``package.module:callable``.

    Cheap and free of I/O, so operators call it while the DAG file is parsed.
    """
    text = (value or "").strip() or "auto"
    if text in SINK_KINDS or _FACTORY.fullmatch(text):
        return text
    raise ConfigurationError(
        "secret_sink",
        f"is {text[:60]!r}",
        f"use one of {', '.join(SINK_KINDS)}, or package.module:callable for a factory returning a SecretSink",
        context="Airflow configuration option",
        label=_SETTING,
    )


def choose_sink(
    setting: str | None,
    *,
    backend: str | None,
    backend_kwargs: Mapping[str, Any] | None = None,
    connections_file: str | None = None,
) -> SinkChoice:
    """Decide where a connection must be written so that Airflow's own lookup returns it.

    A task resolves a connection from the configured secrets backend first, then ``AIRFLOW_CONN_*``
    variables, then the metadata DB (through the API server). ``auto`` therefore writes the
    LocalFilesystemBackend file when that backend is configured (or ``connections_file`` names a file), the
    metadata DB (REST API) when no backend is, and refuses to guess for any other backend. Whether Airflow
    really returns what was written is checked after delivery, before any old key is touched.

    :param setting: ``[clarityq] secret_sink`` (validated with :func:`parse_sink_setting`).
    :param backend: the class path of the secrets backend tasks use (``[workers] secrets_backend``, else
        ``[secrets] backend``), or None.
    :param backend_kwargs: that backend's kwargs.
    :param connections_file: ``[clarityq] connections_file``, which overrides the backend's file path.
    """
    kind = parse_sink_setting(setting)
    backend = (backend or "").strip() or None
    file_path = (connections_file or "").strip() or None
    if file_path is None and backend == LOCAL_FILESYSTEM_BACKEND:
        configured = (backend_kwargs or {}).get("connections_file_path")
        file_path = configured.strip() if isinstance(configured, str) and configured.strip() else None
    wants_file = kind == "auto" and (backend == LOCAL_FILESYSTEM_BACKEND or bool((connections_file or "").strip()))
    if kind == "connections_file" or wants_file:
        if file_path is None:
            raise ConfigurationError(
                "connections_file",
                "is not set",
                "set [clarityq] connections_file, or connections_file_path in [secrets] backend_kwargs of the "
                "LocalFilesystemBackend",
                context="Airflow configuration option",
                label="[clarityq] connections_file",
            )
        return SinkChoice("connections_file", f"Airflow reads connections from the file {file_path}", path=file_path)
    if kind == "airflow_api" or (kind == "auto" and backend is None):
        return SinkChoice("airflow_api", "Airflow reads connections from its metadata DB (written via the REST API)")
    if kind == "auto":
        raise ConfigurationError(
            "secret_sink",
            f"is auto, but tasks read connections from the secrets backend {backend}, which this provider cannot write",
            "set [clarityq] secret_sink = package.module:callable, a factory returning a SecretSink that writes "
            "that backend (see docs/deploying.md)",
            context="Airflow configuration option",
            label=_SETTING,
        )
    return SinkChoice("factory", f"[clarityq] secret_sink names the factory {kind}", factory=kind)

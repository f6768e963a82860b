"""What every sink is: the :class:`SecretSink` interface, its error, and a connection as Airflow resolves it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from airflow_provider_clarityq.core.errors import ClarityQError

#: Keys an Airflow connection entry may have (what ``LocalFilesystemBackend`` and the REST API accept).
CONNECTION_FIELDS = frozenset({"conn_type", "description", "host", "login", "password", "schema", "port", "extra"})
REDACTED = "***"
MAX_DETAIL = 200


class SinkError(ClarityQError):
    """A sink could not read or store an entry; the message names the sink and never holds a secret."""


@runtime_checkable
class SecretSink(Protocol):
    """Where AccessKey secrets are delivered (see the module docstring for the contract)."""

    def read(self, conn_id: str) -> dict[str, Any] | None: ...

    def deliver(self, conn_id: str, fields: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class ResolvedConnection:
    """A connection as the consumer (Airflow) resolves it: its fields and the place that answered.

    Writing a sink is not the same as what a task will read: a higher-priority place may shadow it. The
    AccessKey manager therefore asks a resolver for this after delivering, before touching the old key.
    """

    conn_id: str
    place: str
    fields: dict[str, Any] = field(repr=False)
    backend: str = ""  # the class name of the secrets backend that answered, when known

    @property
    def login(self) -> str | None:
        login = self.fields.get("login")
        return login if isinstance(login, str) and login else None


def sink_resolver(sink: SecretSink) -> Callable[[str], ResolvedConnection | None]:
    """A resolver for when the sink *is* what the consumer reads (tests, or a store read by nothing else)."""

    def resolve(conn_id: str) -> ResolvedConnection | None:
        entry = sink.read(conn_id)
        return None if entry is None else ResolvedConnection(conn_id, repr(sink), dict(entry))

    return resolve


def check_fields(fields: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(fields) - CONNECTION_FIELDS)
    if unknown:
        raise SinkError(f"{where}: fields {unknown} are not Airflow connection fields ({sorted(CONNECTION_FIELDS)})")


def extra_as_mapping(extra: object) -> object:
    """``extra`` as a mapping when it is a JSON object string (the REST API and some files store text)."""
    if isinstance(extra, str) and extra.strip().startswith("{"):
        try:
            loaded = json.loads(extra)
        except ValueError:
            return extra
        return loaded if isinstance(loaded, dict) else extra
    return extra

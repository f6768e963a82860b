"""Any other secret manager as a sink: two or three plain functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_clarityq.core.secret_sinks.base import (
    SinkError,
    check_fields,
    extra_as_mapping,
)

# --------------------------------------------------------------------------------------------------
# Any other secret manager


class CallableSink:
    """A sink made of plain functions, for secret managers this package does not know.

    The documented interface (all arguments positional):

    * ``deliver(conn_id: str, fields: dict) -> None`` - store ``fields`` (the keys of an Airflow
      connection: ``login`` is the AccessKey ID, ``password`` the secret) as entry ``conn_id``; when it
      exists, replace only the given fields. Raise any exception on failure; its message is not shown
      (it might quote the secret), only its type.
    * ``read(conn_id: str) -> dict | None`` - the stored fields or ``None``. Leave ``password`` out when
      the manager cannot give the secret back; the stored key is then trusted by its ID.
    * ``remove(conn_id: str) -> None`` - optional.

    Never log ``fields``: it holds the secret.
    """

    def __init__(
        self,
        deliver: Callable[[str, dict[str, Any]], object],
        read: Callable[[str], Mapping[str, Any] | None],
        remove: Callable[[str], object] | None = None,
        *,
        name: str = "callable sink",
    ) -> None:
        self._deliver = deliver
        self._read = read
        self._remove = remove
        self.name = name

    def __repr__(self) -> str:
        return f"CallableSink(name={self.name!r})"

    def read(self, conn_id: str) -> dict[str, Any] | None:
        try:
            entry = self._read(conn_id)
        except Exception as exc:
            raise SinkError(f"{self.name}: reading {conn_id!r} failed ({type(exc).__name__})") from None
        if entry is None:
            return None
        if not isinstance(entry, Mapping):
            raise SinkError(f"{self.name}: read({conn_id!r}) returned {type(entry).__name__}, not a mapping or None")
        result = dict(entry)
        if "extra" in result:
            result["extra"] = extra_as_mapping(result["extra"])
        return result

    def deliver(self, conn_id: str, fields: Mapping[str, Any]) -> None:
        check_fields(fields, self.name)
        try:
            self._deliver(conn_id, dict(fields))
        except Exception as exc:
            raise SinkError(f"{self.name}: delivering {conn_id!r} failed ({type(exc).__name__})") from None

    def remove(self, conn_id: str) -> None:
        if self._remove is None:
            raise SinkError(f"{self.name} has no remove function")
        try:
            self._remove(conn_id)
        except Exception as exc:
            raise SinkError(f"{self.name}: removing {conn_id!r} failed ({type(exc).__name__})") from None

"""The connections file of Airflow's ``LocalFilesystemBackend`` as a sink (atomic, locked, mode 0600)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from airflow_provider_clarityq.core.secret_sinks.base import (
    SinkError,
    check_fields,
    extra_as_mapping,
)

# --------------------------------------------------------------------------------------------------
# LocalFilesystemBackend connections file


class ConnectionFileSink:
    """Connections in the JSON or YAML file read by Airflow's ``LocalFilesystemBackend``.

    The file maps connection ids to field mappings (``extra`` as a mapping); an entry written as a URI
    string is refused rather than rewritten. The file's directory must exist. Each write takes an
    exclusive ``flock`` on ``.<name>.lock`` next to the file, so two tasks updating different
    connections of the same file do not lose each other's update.

    :param path: the ``connections_file_path`` (``.json``, ``.yaml`` or ``.yml``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".json", ".yaml", ".yml"):
            raise SinkError(
                f"connections file {self.path}: use a .json, .yaml or .yml file (the .env format keeps "
                "connections as URIs, which this sink does not rewrite)"
            )
        self.format = "json" if suffix == ".json" else "yaml"

    def __repr__(self) -> str:
        return f"ConnectionFileSink({str(self.path)!r})"

    # -- file I/O ----------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SinkError(f"cannot read connections file {self.path}: {type(exc).__name__}") from None
        if not text.strip():
            return {}
        try:
            if self.format == "json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:  # JSONDecodeError, yaml.YAMLError; never echo the text, it holds secrets
            where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise SinkError(f"connections file {self.path} is not valid {self.format.upper()}{where}") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise SinkError(f"connections file {self.path} must map connection ids to connections")
        return data

    def _dump(self, data: Mapping[str, Any]) -> str:
        if self.format == "json":
            return json.dumps(data, indent=2) + "\n"
        import yaml

        text: str = yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=False, allow_unicode=True)
        return text

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SinkError(f"cannot write next to connections file {self.path}: {type(exc).__name__}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write(self, data: Mapping[str, Any]) -> None:
        """Atomic replace: temp file in the same directory, fsync, 0600, ``os.replace``, fsync the directory."""
        text = self._dump(data)
        directory = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise SinkError(f"cannot write connections file {self.path}: {type(exc).__name__}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise SinkError(f"cannot write connections file {self.path}: {type(exc).__name__}") from None
        with contextlib.suppress(OSError):  # durability of the rename; not all filesystems allow it
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _entry(self, data: Mapping[str, Any], conn_id: str) -> dict[str, Any] | None:
        entry = data.get(conn_id)
        if entry is None:
            return None
        if isinstance(entry, str):
            raise SinkError(
                f"connection {conn_id!r} in {self.path} is written as a URI; rewrite it as a mapping "
                "(conn_type, login, password, host, schema, extra) so its key can be replaced"
            )
        if not isinstance(entry, dict):
            raise SinkError(f"connection {conn_id!r} in {self.path} is not a mapping")
        return dict(entry)

    # -- SecretSink ---------------------------------------------------------------------------------

    def read(self, conn_id: str) -> dict[str, Any] | None:
        entry = self._entry(self._load(), conn_id)
        if entry is None:
            return None
        if "extra" in entry:
            entry["extra"] = extra_as_mapping(entry["extra"])
        return entry

    def deliver(self, conn_id: str, fields: Mapping[str, Any]) -> None:
        check_fields(fields, f"connections file {self.path}")
        with self._locked():
            data = self._load()
            entry = self._entry(data, conn_id) or {}
            entry.update(fields)
            data[conn_id] = entry
            self._write(data)

    def remove(self, conn_id: str) -> None:
        with self._locked():
            data = self._load()
            if conn_id in data:
                del data[conn_id]
                self._write(data)

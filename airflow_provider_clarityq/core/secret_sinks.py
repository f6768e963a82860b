"""Secret sinks: where a new AccessKey secret is delivered, straight from the CreateAccessKey answer.

No Airflow import. A sink stores Airflow *connections* (``conn_type``, ``login``, ``password``,
``host``, ``schema``, ``port``, ``extra``, ``description``) under a connection id; the AccessKey ID goes
to ``login`` and its secret to ``password``, the one field Airflow always encrypts and masks.

The :class:`SecretSink` interface (any object with these two methods is a sink):

* ``read(conn_id) -> dict | None``: the stored fields, or ``None`` when there is no such entry. A sink
  that cannot reveal secrets (Airflow's REST API answers ``"***"``) leaves ``password`` out; the caller
  then cannot test the stored key and trusts the key ID.
* ``deliver(conn_id, fields) -> None``: create the entry with ``fields``, or, when it exists, replace
  only the fields given and keep the others (so a sink entry's endpoint or description edited by hand
  survives a key rotation). Either the whole write happens or none of it; raise on failure.
* ``remove(conn_id) -> None`` (optional): delete the entry; a missing entry is not an error.

Implementations here:

* :class:`ConnectionFileSink` - the connections file of Airflow's ``LocalFilesystemBackend`` (JSON or
  YAML by extension): read-modify-write under an exclusive lock, written to a temporary file in the
  same directory, fsynced, made mode 0600 and swapped in with ``os.replace``; other connections are
  kept as they were (YAML comments are not, as PyYAML drops them).
* :class:`CallableSink` - two or three plain functions, the adapter for any other secret manager
  (Vault, Alibaba KMS Secrets Manager, ...).
* :class:`AirflowApiConnectionSink` - Airflow 3's REST API (``/api/v2/connections``); in Airflow 3
  tasks do not write to the metadata DB themselves.

Sinks never log and never put a secret into an exception message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from airflow_provider_clarityq.core.defaults import CONN_TYPE
from airflow_provider_clarityq.core.errors import ClarityQError, ConfigurationError, one_line, redact

__all__ = [
    "CONNECTION_FIELDS",
    "LOCAL_FILESYSTEM_BACKEND",
    "SINK_KINDS",
    "AirflowApiConnectionSink",
    "CallableSink",
    "ConnectionFileSink",
    "ResolvedConnection",
    "SecretSink",
    "SinkChoice",
    "SinkError",
    "choose_sink",
    "parse_sink_setting",
    "sink_resolver",
]

#: Keys an Airflow connection entry may have (what ``LocalFilesystemBackend`` and the REST API accept).
CONNECTION_FIELDS = frozenset({"conn_type", "description", "host", "login", "password", "schema", "port", "extra"})
_REDACTED = "***"
_MAX_DETAIL = 200


class SinkError(ClarityQError):
    """A sink could not read or store an entry; the message names the sink and never holds a secret."""


@runtime_checkable
class SecretSink(Protocol):
    """Where AccessKey secrets are delivered (see the module docstring for the contract)."""

    def read(self, conn_id: str) -> dict[str, Any] | None: ...

    def deliver(self, conn_id: str, fields: Mapping[str, Any]) -> None: ...


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


def _check_fields(fields: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(fields) - CONNECTION_FIELDS)
    if unknown:
        raise SinkError(f"{where}: fields {unknown} are not Airflow connection fields ({sorted(CONNECTION_FIELDS)})")


def _extra_as_mapping(extra: object) -> object:
    """``extra`` as a mapping when it is a JSON object string (the REST API and some files store text)."""
    if isinstance(extra, str) and extra.strip().startswith("{"):
        try:
            loaded = json.loads(extra)
        except ValueError:
            return extra
        return loaded if isinstance(loaded, dict) else extra
    return extra


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
            entry["extra"] = _extra_as_mapping(entry["extra"])
        return entry

    def deliver(self, conn_id: str, fields: Mapping[str, Any]) -> None:
        _check_fields(fields, f"connections file {self.path}")
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
            result["extra"] = _extra_as_mapping(result["extra"])
        return result

    def deliver(self, conn_id: str, fields: Mapping[str, Any]) -> None:
        _check_fields(fields, self.name)
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


# --------------------------------------------------------------------------------------------------
# Airflow REST API


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_base_url(base_url: str, *, allow_insecure_http: bool = False) -> None:
    """Refuse an API base URL that is not ``https://`` unless it is loopback or explicitly allowed."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(base_url.strip())
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise SinkError(f"Airflow API base URL {base_url[:80]!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise SinkError("Airflow API base URL must not hold credentials: put them in the connection's login/password")
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(host):
        raise SinkError(
            f"Airflow API {parts.scheme}://{host}: plain HTTP to a remote host would send the AccessKey secret "
            "unencrypted; use https://, or set allow_insecure_http: true in the API connection's extra if the "
            "network path is private"
        )


class AirflowApiConnectionSink:
    """Connections stored through Airflow 3's REST API (``/api/v2/connections``).

    ``GET`` answers ``"***"`` for the password, so :meth:`read` leaves ``password`` out and the stored key
    is trusted by its ID. An existing entry is updated with ``PATCH ...?update_mask=<field>`` for exactly
    the fields given (so an ``extra`` Airflow redacts on read is never written back as ``***``); a new
    one is created with ``POST``.

    :param base_url: the API server, e.g. ``http://airflow-apiserver:8080`` (no ``/api/v2``).
    :param token: a JWT for ``Authorization: Bearer``; or give ``username``/``password`` and the sink
        gets one from ``POST /auth/token`` on first use.
    :param session: anything with ``requests.Session.request``'s signature (``request(method, url, *,
        params=, json=, headers=, timeout=)`` returning an object with ``status_code``, ``json()`` and
        ``text``): a ``requests.Session`` by default; ``fastapi.testclient.TestClient`` works in tests
        (with ``timeout_s=None``, which it does not take).
    :param allow_insecure_http: accept ``http://`` for a host other than loopback. The sink sends the
        AccessKey secret and the API password, so plain HTTP is refused unless the network path is
        private (a cluster-internal service) and this is set on purpose.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        session: Any = None,
        timeout_s: float | None = 30.0,
        allow_insecure_http: bool = False,
    ) -> None:
        check_api_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._username = username
        self._password = password
        self._session = session
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"AirflowApiConnectionSink({self.base_url!r})"

    @property
    def session(self) -> Any:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def _secrets(self, extra: Mapping[str, Any] | None = None) -> list[str | None]:
        values: list[str | None] = [self._token, self._password]
        if extra is not None:
            password = extra.get("password")
            values.append(password if isinstance(password, str) else None)
        return values

    def _fail(self, what: str, response: Any, secrets: list[str | None]) -> SinkError:
        detail: Any = ""
        with contextlib.suppress(Exception):
            body = response.json()
            detail = body.get("detail") if isinstance(body, dict) else body
            # FastAPI's 422 answers echo the request input: keep only what the API said, never inputs.
            if isinstance(detail, list):
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg', '')}"
                    for item in detail
                    if isinstance(item, dict)
                )
            elif isinstance(detail, dict):
                detail = detail.get("reason") or detail.get("message") or ""
        text = redact(one_line(str(detail or "")), secrets)[:_MAX_DETAIL]
        suffix = f": {text}" if text else ""
        return SinkError(f"Airflow API {self.base_url}: {what} answered HTTP {response.status_code}{suffix}")

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self._token or self._login()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _login(self) -> str | None:
        if not self._username:
            return None
        response = self._send("POST", "/auth/token", json={"username": self._username, "password": self._password})
        if response.status_code not in (200, 201):
            raise self._fail("POST /auth/token", response, self._secrets())
        token = response.json().get("access_token")
        if not isinstance(token, str) or not token:
            raise SinkError(f"Airflow API {self.base_url}: POST /auth/token returned no access_token")
        self._token = token
        return token

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            if self.timeout_s is not None:
                kwargs["timeout"] = self.timeout_s
            return self.session.request(method, f"{self.base_url}{path}", **kwargs)
        except Exception as exc:
            raise SinkError(f"Airflow API {self.base_url}: {method} {path} failed ({type(exc).__name__})") from None

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, headers=self._headers(), **kwargs)

    @staticmethod
    def _path(conn_id: str) -> str:
        return f"/api/v2/connections/{quote(conn_id, safe='')}"

    def read(self, conn_id: str) -> dict[str, Any] | None:
        response = self._request("GET", self._path(conn_id))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(f"GET connection {conn_id!r}", response, self._secrets())
        body = response.json()
        entry = {key: body.get(key) for key in CONNECTION_FIELDS if body.get(key) is not None}
        if entry.get("password") == _REDACTED:
            del entry["password"]
        if "extra" in entry:
            entry["extra"] = _extra_as_mapping(entry["extra"])
        return entry

    def _body(self, conn_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"connection_id": conn_id, **fields}
        if isinstance(body.get("extra"), Mapping):
            body["extra"] = json.dumps(body["extra"])
        return body

    def deliver(self, conn_id: str, fields: Mapping[str, Any]) -> None:
        _check_fields(fields, f"Airflow API {self.base_url}")
        secrets = self._secrets(fields)
        current = self._request("GET", self._path(conn_id))
        if current.status_code == 404:
            body = self._body(conn_id, {"conn_type": CONN_TYPE, **fields})
            created = self._request("POST", "/api/v2/connections", json=body)
            if created.status_code in (200, 201):
                return
            if created.status_code != 409:  # 409: created meanwhile - update it instead
                raise self._fail(f"POST connection {conn_id!r}", created, secrets)
            current = self._request("GET", self._path(conn_id))
        if current.status_code != 200:
            raise self._fail(f"GET connection {conn_id!r}", current, secrets)
        conn_type = current.json().get("conn_type") or fields.get("conn_type") or CONN_TYPE
        body = self._body(conn_id, {"conn_type": conn_type, **fields})
        response = self._request("PATCH", self._path(conn_id), params={"update_mask": sorted(fields)}, json=body)
        if response.status_code != 200:
            raise self._fail(f"PATCH connection {conn_id!r}", response, secrets)

    def remove(self, conn_id: str) -> None:
        response = self._request("DELETE", self._path(conn_id))
        if response.status_code not in (200, 204, 404):
            raise self._fail(f"DELETE connection {conn_id!r}", response, self._secrets())

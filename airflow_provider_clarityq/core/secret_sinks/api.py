"""Airflow 3's REST API (``/api/v2/connections``) as a sink; refuses clear-text HTTP off loopback."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from airflow_provider_clarityq.core.defaults import CONN_TYPE
from airflow_provider_clarityq.core.errors import one_line, redact
from airflow_provider_clarityq.core.secret_sinks.base import (
    CONNECTION_FIELDS,
    MAX_DETAIL,
    REDACTED,
    SinkError,
    check_fields,
    extra_as_mapping,
)

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
        text = redact(one_line(str(detail or "")), secrets)[:MAX_DETAIL]
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
        if entry.get("password") == REDACTED:
            del entry["password"]
        if "extra" in entry:
            entry["extra"] = extra_as_mapping(entry["extra"])
        return entry

    def _body(self, conn_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"connection_id": conn_id, **fields}
        if isinstance(body.get("extra"), Mapping):
            body["extra"] = json.dumps(body["extra"])
        return body

    def deliver(self, conn_id: str, fields: Mapping[str, Any]) -> None:
        check_fields(fields, f"Airflow API {self.base_url}")
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

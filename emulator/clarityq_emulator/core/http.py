"""Transport-neutral request and response records shared by every emulated service.

The HTTP handler turns each wire request into a :class:`Request` (keeping the raw request
target, because both signature schemes sign bytes exactly as the client sent them) and writes
back whatever :class:`Response` a service returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote


@dataclass(frozen=True)
class Request:
    """One HTTP request as received, plus decoded views of it."""

    method: str
    raw_target: str
    headers: dict[str, str]
    body: bytes
    client_host: str = "127.0.0.1"

    @property
    def raw_path(self) -> str:
        return self.raw_target.split("?", 1)[0]

    @property
    def raw_query(self) -> str:
        return self.raw_target.split("?", 1)[1] if "?" in self.raw_target else ""

    @property
    def path(self) -> str:
        """The percent-decoded path (``/api/projects/p/users/RAM$acct:u``)."""
        return unquote(self.raw_path)

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, blank values kept (``?taskstatus`` -> ``{"taskstatus": ""}``)."""
        return dict(parse_qsl(self.raw_query, keep_blank_values=True))

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    """What a service answers; the handler adds ``Content-Length`` and the request id."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/xml"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def xml(cls, text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status=status, body=text.encode("utf-8"), content_type="application/xml", headers=dict(headers or {})
        )

    @classmethod
    def json(cls, payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status=status,
            body=json.dumps(payload).encode("utf-8"),
            content_type="application/json",
            headers=dict(headers or {}),
        )

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status=status, body=text.encode("utf-8"), content_type="text/plain")

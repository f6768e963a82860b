"""Limits on what one client may send and hold: request head, body size, time to send them.

The HTTP parser (h11 under uvicorn) enforces the head size and refuses malformed framing (a chunk
size of ``-1`` is a 400 at once); :func:`read_body` enforces the body size before reading (a
declared ``Content-Length`` over the limit is refused without reading a byte) and while reading
(a chunked body is cut off at the limit), and the time a client may take to send it.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from starlette.types import Receive, Scope

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Every bound the server applies; the defaults are what the CLI and the fixtures use."""

    #: Largest request head (request line and headers).
    head_bytes: int = 64 * 1024
    #: Largest body of a REST, RAM or STS request.
    body_bytes: int = 8 * MiB
    #: Largest body of a table tunnel block upload (``PUT ...?uploadid=..&blockid=..``).
    upload_block_bytes: int = 256 * MiB
    #: Largest body of a test-support API request.
    support_body_bytes: int = 64 * 1024
    #: Time a client has to send a request head, from connecting or from the end of the last response.
    head_timeout_s: float = 10.0
    #: Time a client has to send a whole body once its head has arrived.
    body_timeout_s: float = 60.0
    #: An idle keep-alive connection is closed after this long.
    idle_timeout_s: int = 30
    #: Open connections; over it new requests get 503 until some close.
    max_connections: int = 1024
    #: Worker threads that run requests (SQL, security statements, RAM/STS); others wait their turn.
    workers: int = 16


class BodyError(Exception):
    """The body was refused: ``status`` is 400 (malformed), 408 (too slow) or 413 (too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, None when absent; :class:`BodyError` when malformed."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            if not text.isdigit() or len(text) > 18:
                raise BodyError(400, f"invalid Content-Length {text!r}")
            return int(text)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int, timeout_s: float) -> bytes:
    """The whole body, refused with :class:`BodyError` past ``limit`` bytes or ``timeout_s`` seconds."""
    length = declared_length(scope)
    if length is not None and length > limit:
        raise BodyError(413, f"request body of {length} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise BodyError(400, "the client went away before sending its body")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BodyError(413, f"request body exceeds the limit of {limit} bytes")
                if chunk:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise BodyError(408, f"the request body did not arrive within {timeout_s:g} s") from None

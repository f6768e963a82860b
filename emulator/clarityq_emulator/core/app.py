"""The ASGI application: the test-support API under ``/_emulator`` and every service on one port.

Bodies are read on the event loop (so a slow client holds no worker), then each request is served
on a bounded pool of worker threads (SQL and security statements block). Faults are applied here:
latency is an ``await``, a reset aborts the connection with an RST.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import uuid
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from clarityq_emulator.acs import protocol as acs
from clarityq_emulator.core.dispatch import SUPPORT_PREFIX, Emulator, fault_response
from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.limits import BodyError, Limits, read_body
from clarityq_emulator.core.support import support_routes
from clarityq_emulator.maxcompute.common import TUNNEL_PREFIX
from clarityq_emulator.maxcompute.errors import OdpsError

#: Scope extension under which the server puts the connection's transport (for injected resets).
TRANSPORT_EXTENSION = "clarityq.transport"
SERVER_HEADER = b"ClarityQEmulator/1"
#: Methods any emulated service uses; others are answered 501 before authentication.
SERVICE_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def _is_block_upload(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    return (
        scope["method"] == "PUT"
        and scope["path"].startswith(TUNNEL_PREFIX + "/")
        and b"uploadid=" in query
        and b"blockid=" in query
    )


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def _refusal(scope: Scope, status: int, message: str) -> Response:
    """A refused body in the envelope of the service the request was for."""
    headers = _headers(scope)
    if "x-acs-action" in headers or (scope["path"] == "/" and scope["method"] == "POST"):
        response = acs.error_response("ram", "InvalidParameter", message, status, request_id=uuid.uuid4().hex.upper())
    else:
        code = "InvalidArgument" if status != 408 else "RequestTimeout"
        response = OdpsError(status, code, message).to_response(uuid.uuid4().hex.upper())
    response.headers["Connection"] = "close"
    return response


async def send_response(send: Send, response: Response, *, head: bool = False) -> None:
    headers = [
        (b"server", SERVER_HEADER),
        (b"content-type", response.content_type.encode("latin-1")),
        (b"content-length", str(len(response.body)).encode("latin-1")),
    ]
    headers += [(k.lower().encode("latin-1"), str(v).encode("latin-1", "replace")) for k, v in response.headers.items()]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else response.body})


async def _abort(scope: Scope) -> None:
    """Reset the connection (RST, not FIN), as an injected ``reset`` fault asks."""
    transport: Any = scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
    if transport is None:
        raise RuntimeError("the server does not expose the connection's transport")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await anyio.sleep(0.05)  # let the server see the connection go before the app returns


class ServiceEndpoint:
    """Raw ASGI endpoint for MaxCompute (REST and tunnel), RAM and STS: any method, any path."""

    def __init__(self, emulator: Emulator, limits: Limits) -> None:
        self.emulator = emulator
        self.limits = limits
        self.limiter = anyio.CapacityLimiter(limits.workers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = scope["method"] == "HEAD"
        if scope["method"] not in SERVICE_METHODS:
            error = OdpsError(501, "NotImplemented", f"Method {scope['method']} is not implemented")
            await send_response(send, error.to_response(uuid.uuid4().hex.upper()))
            return
        limit = self.limits.upload_block_bytes if _is_block_upload(scope) else self.limits.body_bytes
        try:
            body = await read_body(scope, receive, limit, self.limits.body_timeout_s)
        except BodyError as exc:
            await send_response(send, _refusal(scope, exc.status, exc.message), head=head)
            return
        query = scope.get("query_string", b"")
        raw_target = scope["raw_path"].decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        client = scope.get("client")
        req = Request(
            method=scope["method"],
            raw_target=raw_target,
            headers=_headers(scope),
            body=body,
            client_host=client[0] if client else "",
        )
        emulator = self.emulator
        intake = emulator.intake(req)
        try:
            fault = intake.fault
            response: Response | None = None
            if fault is not None:
                if fault.delay:
                    await anyio.sleep(fault.delay)
                if fault.reset:
                    intake.entry["status"] = 0
                    await _abort(scope)
                    return
                if fault.status is not None:
                    response = fault_response(intake.service, fault)
            if response is None:
                response = await anyio.to_thread.run_sync(emulator.dispatch, req, intake.service, limiter=self.limiter)
            intake.entry["status"] = response.status
        finally:
            emulator.requests.add(intake.entry)
        await send_response(send, response, head=head)


class AbsoluteFormTargets:
    """Accept ``GET http://host/path`` request lines (RFC 9112 3.2.2: a server must), as HTTP proxy clients
    send them: the path is taken from the URL and the host becomes the ``Host`` header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].lower().startswith(("http://", "https://")):
            from urllib.parse import unquote, urlsplit

            target = urlsplit(scope["raw_path"].decode("latin-1"))
            raw_path = (target.path or "/").encode("latin-1")
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"]
            headers.append((b"host", target.netloc.encode("latin-1")))
            scope = {**scope, "path": unquote(target.path or "/"), "raw_path": raw_path, "headers": headers}
        await self.app(scope, receive, send)


def create_app(emulator: Emulator, limits: Limits | None = None) -> Starlette:
    """The emulator's ASGI app; the server in :mod:`.server` adds the connection-level limits."""
    limits = limits or Limits()
    return Starlette(
        routes=[
            Mount(SUPPORT_PREFIX, routes=support_routes(emulator, limits)),
            Route("/{path:path}", ServiceEndpoint(emulator, limits)),
        ],
        middleware=[Middleware(AbsoluteFormTargets)],
    )

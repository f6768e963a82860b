"""The test-support API under ``/_emulator`` (loopback clients only), moto's ``/moto-api`` for this emulator.

| route | effect |
| --- | --- |
| ``GET /_emulator/requests`` / ``DELETE`` | the request log (a ring buffer) / clear it |
| ``POST /_emulator/faults`` / ``DELETE`` | queue a :class:`~.faults.Fault` / drop queued faults |
| ``POST /_emulator/clock`` | ``{"advance": seconds}`` moves the clock (finite numbers only) |
| ``POST /_emulator/reset`` | back to the seed: state, log, faults, clock |
| ``POST /_emulator/oidc/token`` | an OIDC token the provider's issuer signed: ``{"token": ...}`` |
| ``GET /_emulator/oidc/<provider>/jwks.json`` | the provider issuer's public keys |

Bodies are JSON objects validated before anything changes: a bad one is a 400 whose ``error``
names the field. Every answer is JSON.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar

from annotated_types import Ge, Le
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from clarityq_emulator.core.clock import MAX_OFFSET_S
from clarityq_emulator.core.dispatch import Emulator
from clarityq_emulator.core.faults import Fault
from clarityq_emulator.core.limits import BodyError, Limits, read_body


@dataclass(frozen=True)
class ClockChange:
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid", "allow_inf_nan": False}

    advance: Annotated[float, Ge(-MAX_OFFSET_S), Le(MAX_OFFSET_S)] = 0.0


@dataclass(frozen=True)
class TokenRequest:
    """``POST /_emulator/oidc/token``: what the issuer of OIDC provider ``provider`` should sign
    (``foreign_key``: sign with another key, as a token of a different issuer would be)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    provider: str
    subject: str
    audience: str | None = None
    ttl_seconds: Annotated[int, Ge(-86400), Le(86400)] = 3600
    issuer: str | None = None
    foreign_key: bool = False


@dataclass(frozen=True)
class ResetRequest:
    """``POST /_emulator/reset`` takes no fields; an empty object (or no body) is the request."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}


T = TypeVar("T")


def _validated(kind: type[T], data: dict[str, Any]) -> T:
    """``data`` as a ``kind``; ValueError naming each bad field. pydantic is imported on first use only."""
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(kind).validate_python(data)
    except ValidationError as exc:
        raise ValueError(_validation_message(exc)) from None


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _is_loopback(request: StarletteRequest) -> bool:
    host = (request.client.host if request.client else "").split("%", 1)[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validation_message(exc: Any) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def support_routes(emulator: Emulator, limits: Limits) -> list[BaseRoute]:
    """Starlette routes of the test-support API, bound to one emulator."""

    async def body_json(request: StarletteRequest) -> dict[str, Any]:
        raw = await read_body(request.scope, request.receive, limits.support_body_bytes, limits.body_timeout_s)
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise ValueError("the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data

    def guarded(handler: Any) -> Any:
        async def endpoint(request: StarletteRequest) -> JSONResponse:
            if not _is_loopback(request):
                return _error("the test-support API only answers loopback clients", 403)
            try:
                result: JSONResponse = await handler(request)
                return result
            except BodyError as exc:
                return JSONResponse({"error": exc.message}, status_code=exc.status, headers={"Connection": "close"})
            except ValueError as exc:
                return _error(str(exc))

        return endpoint

    async def get_requests(request: StarletteRequest) -> JSONResponse:
        return JSONResponse(emulator.requests.snapshot())

    async def clear_requests(request: StarletteRequest) -> JSONResponse:
        emulator.requests.clear()
        return JSONResponse({"cleared": True})

    async def add_fault(request: StarletteRequest) -> JSONResponse:
        fault = _validated(Fault, await body_json(request))
        pending = emulator.faults.add(fault)
        return JSONResponse({"queued": True, "pending": pending}, status_code=201)

    async def clear_faults(request: StarletteRequest) -> JSONResponse:
        emulator.faults.clear()
        return JSONResponse({"cleared": True})

    async def move_clock(request: StarletteRequest) -> JSONResponse:
        change = _validated(ClockChange, await body_json(request))
        try:
            offset = emulator.state.advance_clock(change.advance)
        except ValueError as exc:
            raise ValueError(f"advance: {exc}") from None
        return JSONResponse({"offset": offset})

    async def reset(request: StarletteRequest) -> JSONResponse:
        _validated(ResetRequest, await body_json(request))
        emulator.reset()
        return JSONResponse({"reset": True})

    async def mint_token(request: StarletteRequest) -> JSONResponse:
        wanted = _validated(TokenRequest, await body_json(request))
        identity = emulator.state.identity
        if wanted.provider.lower() not in identity.federation.providers:
            raise ValueError(f"provider: no OIDC provider {wanted.provider!r} in the seed")
        token = identity.federation.mint_token(
            wanted.provider,
            subject=wanted.subject,
            now=identity.now(),
            audience=wanted.audience,
            ttl_seconds=wanted.ttl_seconds,
            issuer=wanted.issuer,
            foreign_key=wanted.foreign_key,
        )
        return JSONResponse({"token": token})

    async def jwks(request: StarletteRequest) -> JSONResponse:
        found = emulator.state.identity.federation.providers.get(request.path_params["provider"].lower())
        if found is None:
            return _error("no such OIDC provider", 404)
        return JSONResponse(found.jwks())

    async def not_found(request: StarletteRequest) -> JSONResponse:
        return _error(f"no test-support route {request.method} {request.url.path}", 404)

    table = [
        ("/requests", get_requests, "GET"),
        ("/requests", clear_requests, "DELETE"),
        ("/faults", add_fault, "POST"),
        ("/faults", clear_faults, "DELETE"),
        ("/clock", move_clock, "POST"),
        ("/reset", reset, "POST"),
        ("/oidc/token", mint_token, "POST"),
        ("/oidc/{provider}/jwks.json", jwks, "GET"),
    ]
    routes: list[BaseRoute] = [Route(path, guarded(fn), methods=[method]) for path, fn, method in table]
    routes.append(Route("/{rest:path}", guarded(not_found), methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]))
    return routes

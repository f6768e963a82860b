"""Serve an emulator with uvicorn: in this process (tests, the demo) or as the CLI service.

uvicorn (h11) parses HTTP and bounds the request head; :class:`GuardedH11Protocol` adds what it
lacks, a deadline for the head itself, so a client trickling bytes cannot hold a connection
open forever. :func:`start_emulator` is a context manager yielding a started
:class:`RunningEmulator`, whose ``info`` is exactly the JSON line the CLI prints when ready.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from clarityq_emulator.core.app import TRANSPORT_EXTENSION, create_app
from clarityq_emulator.core.dispatch import Emulator
from clarityq_emulator.core.limits import Limits
from clarityq_emulator.core.state import EmulatorState, load_seed_file

#: How long :meth:`RunningEmulator.start` waits for the server to listen.
START_TIMEOUT_S = 30.0


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a request-head deadline and the transport in the ASGI scope."""

    head_timeout_s: float = Limits().head_timeout_s

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})[TRANSPORT_EXTENSION] = self.transport
            await inner(scope, receive, send)

        self.app = app

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        if (cycle is None or cycle.response_complete) and self._head_deadline is None:
            self._arm_head_deadline()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.cycle is not cycle:
            self._cancel_head_deadline()  # a request head arrived in full

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        cycle = self.cycle
        if (cycle is None or cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()


@dataclass(frozen=True)
class EmulatorInfo:
    """What a client needs: endpoints, the main account's credentials and the default project."""

    maxcompute_endpoint: str
    ram_endpoint: str
    sts_endpoint: str
    account_id: str
    access_key_id: str
    access_key_secret: str
    project: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket; port 0 picks a free one.

    The protocol is named explicitly: asyncio sets TCP_NODELAY only on sockets whose ``proto`` is
    TCP, and without it every response (head and body leave in two writes) waits ~40 ms for the
    client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class RunningEmulator:
    """A served emulator: its state, its info and a tiny client for the test-support API."""

    def __init__(self, emulator: Emulator, sock: socket.socket, limits: Limits | None = None) -> None:
        self.emulator = emulator
        self.limits = limits or Limits()
        self.socket = sock
        host, port = sock.getsockname()[:2]
        self.host = f"[{host}]" if ":" in host else host
        self.port = int(port)
        self.base_url = f"http://{self.host}:{self.port}"
        protocol = type(
            "BoundGuardedH11Protocol", (GuardedH11Protocol,), {"head_timeout_s": self.limits.head_timeout_s}
        )
        config = uvicorn.Config(
            create_app(emulator, self.limits),
            http=protocol,
            lifespan="off",
            ws="none",
            log_config=None,
            access_log=False,
            proxy_headers=False,  # the loopback check of the test-support API trusts the peer address only
            server_header=False,
            timeout_keep_alive=self.limits.idle_timeout_s,
            timeout_graceful_shutdown=5,
            limit_concurrency=self.limits.max_connections,
            h11_max_incomplete_event_size=self.limits.head_bytes,
            backlog=1024,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="clarityq-emulator", daemon=True)
        self._error: BaseException | None = None

    @property
    def state(self) -> EmulatorState:
        return self.emulator.state

    def _serve(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        except BaseException as exc:  # reported by start()
            self._error = exc

    def start(self) -> RunningEmulator:
        """Serve in a background thread; returns once the socket accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start: {self._error!r}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.socket.close()

    @property
    def info(self) -> EmulatorInfo:
        identity = self.state.identity
        return EmulatorInfo(
            maxcompute_endpoint=f"{self.base_url}/api",
            ram_endpoint=f"{self.host}:{self.port}",
            sts_endpoint=f"{self.host}:{self.port}",
            account_id=identity.account_id,
            access_key_id=identity.owner_access_key_id,
            access_key_secret=identity.owner_access_key_secret,
            project=self.state.default_project,
        )

    # --- test-support API over HTTP (the same calls another process would make) ----------------

    def _support(self, method: str, route: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        # Always http://<loopback or bound host>: built from the server's own address.
        request = urllib.request.Request(  # noqa: S310
            f"{self.base_url}/_emulator{route}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._support("GET", "/requests")
        return result

    def clear_requests(self) -> None:
        self._support("DELETE", "/requests")

    def add_fault(self, **fault: Any) -> None:
        self._support("POST", "/faults", fault)

    def clear_faults(self) -> None:
        self._support("DELETE", "/faults")

    def advance_clock(self, seconds: float) -> None:
        self._support("POST", "/clock", {"advance": seconds})

    def reset(self) -> None:
        self._support("POST", "/reset", {})

    def mint_oidc_token(self, provider: str, subject: str, **claims: Any) -> str:
        """An OIDC token signed by the seed's ``provider`` (``audience``, ``ttl_seconds``, ``issuer``,
        ``foreign_key`` as ``POST /_emulator/oidc/token`` takes them)."""
        answer: dict[str, str] = self._support(
            "POST", "/oidc/token", {"provider": provider, "subject": subject, **claims}
        )
        return answer["token"]


def build_emulator(
    *, seed: dict[str, Any] | str | Path | None = None, state_file: str | Path | None = None
) -> Emulator:
    seed_data = load_seed_file(seed) if isinstance(seed, (str, Path)) else seed
    return Emulator(EmulatorState(seed=seed_data, state_file=state_file))


def serve(
    emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0, limits: Limits | None = None
) -> RunningEmulator:
    """Bind ``host:port`` and serve ``emulator`` in a background thread (stop it with ``.stop()``)."""
    return RunningEmulator(emulator, bind_socket(host, port), limits).start()


@contextmanager
def start_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: dict[str, Any] | str | Path | None = None,
    state_file: str | Path | None = None,
    limits: Limits | None = None,
) -> Iterator[RunningEmulator]:
    """Serve an emulator on ``host:port`` (0 = any free port) for the duration of the block."""
    running = serve(build_emulator(seed=seed, state_file=state_file), host=host, port=port, limits=limits)
    try:
        yield running
    finally:
        running.stop()

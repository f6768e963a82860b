"""Start the emulator in this process (tests, the demo) or as a CLI service.

:func:`start_emulator` is a context manager yielding :class:`RunningEmulator`, whose
``info`` is exactly the JSON line the CLI prints when it is ready.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow_provider_clarityq.emulator.server import Emulator, EmulatorHTTPServer
from airflow_provider_clarityq.emulator.state import EmulatorState, load_seed_file


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


class RunningEmulator:
    """A served emulator: its state, its info and a tiny client for the test-support API."""

    def __init__(self, server: EmulatorHTTPServer, emulator: Emulator) -> None:
        self.server = server
        self.emulator = emulator
        self.state = emulator.state
        address = server.server_address
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        port = address[1]
        self.host = f"[{host}]" if ":" in host else host
        self.port = int(port)
        self.base_url = f"http://{self.host}:{self.port}"
        self.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="clarityq-emulator", daemon=True
        )

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

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def build_emulator(
    *, seed: dict[str, Any] | str | Path | None = None, state_file: str | Path | None = None
) -> Emulator:
    from airflow_provider_clarityq.emulator.security_statements import handle_security_request

    seed_data = load_seed_file(seed) if isinstance(seed, (str, Path)) else seed
    return Emulator(EmulatorState(seed=seed_data, state_file=state_file), handle_security_request)


@contextmanager
def start_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: dict[str, Any] | str | Path | None = None,
    state_file: str | Path | None = None,
) -> Iterator[RunningEmulator]:
    """Serve an emulator on ``host:port`` (0 = any free port) for the duration of the block."""
    emulator = build_emulator(seed=seed, state_file=state_file)
    server = EmulatorHTTPServer((host, port), emulator)
    running = RunningEmulator(server, emulator)
    running.thread.start()
    try:
        yield running
    finally:
        running.stop()

"""Hostile input on loopback: slow and half-sent clients, bad framing, huge bodies, unsigned floods.

Every test is bounded in time; the emulator must keep answering real clients throughout.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clarityq_emulator import RunningEmulator, start_emulator
from clarityq_emulator.core.limits import Limits
from odps import ODPS, options

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


def _odps(emu: RunningEmulator) -> ODPS:
    options.retry_times = 0
    info = emu.info
    return ODPS(info.access_key_id, info.access_key_secret, info.project, endpoint=info.maxcompute_endpoint)


def _read_response(sock: socket.socket, deadline_s: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection or the deadline passes."""
    sock.settimeout(deadline_s)
    data = b""
    started = time.monotonic()
    try:
        while time.monotonic() - started < deadline_s:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and b"content-length:" in data.lower():
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(
                    next(line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:"))[15:]
                )
                if len(body) >= length:
                    break
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def test_half_sent_connections_do_not_block_real_clients(clarityq_emulator: RunningEmulator) -> None:
    emu = clarityq_emulator
    stalled = []
    try:
        for _ in range(100):
            sock = socket.create_connection((emu.host, emu.port), timeout=5)
            sock.sendall(b"POST /api/projects/clarityq_demo/instances HTTP/1.1\r\nHost: x\r\nContent-Le")
            stalled.append(sock)
        started = time.monotonic()
        odps = _odps(emu)
        assert odps.exist_project("clarityq_demo")
        with odps.execute_sql("SELECT 1 AS one").open_reader() as reader:
            assert [list(r.values) for r in reader] == [[1]]
        assert time.monotonic() - started < 5.0
    finally:
        for sock in stalled:
            sock.close()


def test_a_trickling_client_is_cut_off_at_the_head_deadline() -> None:
    with start_emulator(limits=Limits(head_timeout_s=1.0)) as emu:
        sock = socket.create_connection((emu.host, emu.port), timeout=5)
        started = time.monotonic()
        closed_after = None
        try:
            for byte in b"GET /api/projects/clarityq_demo HTTP/1.1\r\nHost: x\r\n":
                sock.sendall(bytes([byte]))
                time.sleep(0.2)
                if time.monotonic() - started > 4:
                    break
        except OSError:
            closed_after = time.monotonic() - started
        if closed_after is None:
            sock.settimeout(3)
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1) == b""
            closed_after = time.monotonic() - started
        sock.close()
        assert closed_after < 4.5
        assert _odps(emu).exist_project("clarityq_demo")


def test_chunk_size_minus_one_is_refused_at_once(clarityq_emulator: RunningEmulator) -> None:
    emu = clarityq_emulator
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /api/projects/clarityq_demo/instances HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n-1\r\n"
        )
        data = _read_response(sock)
    assert _status(data) == 400
    assert time.monotonic() - started < 2.0
    assert _odps(emu).exist_project("clarityq_demo")


@pytest.mark.parametrize(
    "target",
    [
        "/api/projects/clarityq_demo/instances",  # MaxCompute REST
        "/projects/clarityq_demo/tables/customers?uploadid=u&blockid=1",  # a tunnel block (larger limit)
        "/",  # RAM / STS
    ],
)
def test_a_declared_terabyte_is_refused_before_any_body(clarityq_emulator: RunningEmulator, target: str) -> None:
    emu = clarityq_emulator
    method = "PUT" if "blockid" in target else "POST"
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {10**12}\r\n\r\n".encode())
        data = _read_response(sock)
    assert _status(data) == 413
    assert b"connection: close" in data.lower()
    assert time.monotonic() - started < 2.0


def test_a_chunked_body_is_cut_off_at_the_limit() -> None:
    with start_emulator(limits=Limits(body_bytes=1 * MiB)) as emu:
        sock = socket.create_connection((emu.host, emu.port), timeout=5)
        sock.sendall(
            b"POST /api/projects/clarityq_demo/instances HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < 4 * MiB:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed while the rest was on its way
        data = _read_response(sock)
        sock.close()
        assert _status(data) == 413
        assert _odps(emu).exist_project("clarityq_demo")


def _sign_v2(secret: str, canonical: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), canonical.encode(), hashlib.sha1).digest()).decode()


def test_a_signed_request_without_date_is_refused(clarityq_emulator: RunningEmulator) -> None:
    info = clarityq_emulator.info
    # Correctly signed over an empty Date line: without the rule it could be replayed forever.
    canonical = "GET\n\n\n\n/projects/clarityq_demo"
    auth = f"ODPS {info.access_key_id}:{_sign_v2(info.access_key_secret, canonical)}"
    conn = http.client.HTTPConnection(clarityq_emulator.host, clarityq_emulator.port, timeout=5)
    conn.request("GET", "/api/projects/clarityq_demo", headers={"Authorization": auth})
    response = conn.getresponse()
    body = response.read().decode()
    assert response.status == 401
    assert "<Code>AuthorizationRequired</Code>" in body and "Date header" in body
    # The same request with its Date signed and sent is served.
    date = email.utils.formatdate(usegmt=True)
    canonical = f"GET\n\n\n{date}\n/projects/clarityq_demo"
    auth = f"ODPS {info.access_key_id}:{_sign_v2(info.access_key_secret, canonical)}"
    conn.request("GET", "/api/projects/clarityq_demo", headers={"Authorization": auth, "Date": date})
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    # A captured request from an hour ago is refused.
    old = email.utils.formatdate(time.time() - 3600, usegmt=True)
    canonical = f"GET\n\n\n{old}\n/projects/clarityq_demo"
    auth = f"ODPS {info.access_key_id}:{_sign_v2(info.access_key_secret, canonical)}"
    conn.request("GET", "/api/projects/clarityq_demo", headers={"Authorization": auth, "Date": old})
    response = conn.getresponse()
    assert response.status == 403 and b"RequestTimeTooSkewed" in response.read()
    conn.close()


@pytest.mark.parametrize("advance", ["NaN", "Infinity", "-Infinity", "1e309", '"soon"', "null", "1e300"])
def test_the_clock_takes_finite_numbers_only(clarityq_emulator: RunningEmulator, advance: str) -> None:
    conn = http.client.HTTPConnection(clarityq_emulator.host, clarityq_emulator.port, timeout=5)
    conn.request("POST", "/_emulator/clock", body=f'{{"advance": {advance}}}'.encode())
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    assert response.status == 400
    assert "advance" in payload["error"]
    assert clarityq_emulator.state.clock.offset == 0.0


@pytest.mark.parametrize("body", [b"[1]", b'"advance"', b"{", b"\xff\xfe", b'{"advance": 1, "colour": "red"}'])
def test_test_api_bodies_that_are_not_the_right_object_get_400(clarityq_emulator: RunningEmulator, body: bytes) -> None:
    for route in ("/_emulator/clock", "/_emulator/faults", "/_emulator/reset"):
        conn = http.client.HTTPConnection(clarityq_emulator.host, clarityq_emulator.port, timeout=5)
        conn.request("POST", route, body=body)
        response = conn.getresponse()
        payload = json.loads(response.read())
        conn.close()
        if route == "/_emulator/faults" and body.startswith(b'{"advance"'):
            assert response.status == 400 and "advance" in payload["error"]
        else:
            assert response.status == 400, (route, body)
            assert payload["error"]


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def emulator_process() -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "clarityq_emulator", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    try:
        yield proc, info
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def _flood(port: int, count: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(count):
        conn.request("GET", f"/api/projects/clarityq_demo/tables/t{i % 997}?curr_project=clarityq_demo")
        response = conn.getresponse()
        response.read()
        assert response.status == 401
    conn.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
def test_twenty_thousand_unsigned_requests_do_not_grow_memory(
    emulator_process: tuple[subprocess.Popen[str], dict[str, Any]],
) -> None:
    proc, info = emulator_process
    port = int(info["ram_endpoint"].rsplit(":", 1)[1])
    _flood(port, 2000)  # warm-up: allocator pools, caches, the first ring-buffer fill
    before = _rss_bytes(proc.pid)
    threads = [threading.Thread(target=_flood, args=(port, 5000)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(t.is_alive() for t in threads)
    grown = _rss_bytes(proc.pid) - before
    assert grown < 40 * MiB, f"RSS grew by {grown / MiB:.1f} MiB"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/_emulator/requests")
    log = json.loads(conn.getresponse().read())
    conn.close()
    assert len(log) == 10_000  # the ring buffer's size: the oldest entries went

"""The emulator's HTTP layer: bad input, the test-support API, faults and concurrency."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from typing import Any

import pytest
import requests
from clarityq_emulator import RunningEmulator
from odps import ODPS, errors, options

pytestmark = pytest.mark.integration


def _odps(emu: RunningEmulator, **kwargs: Any) -> ODPS:
    options.retry_times = 0
    info = emu.info
    return ODPS(info.access_key_id, info.access_key_secret, info.project, endpoint=info.maxcompute_endpoint, **kwargs)


def _raw(
    emu: RunningEmulator, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _assert_xml_error(body: bytes, code: str | None = None) -> None:
    text = body.decode()
    assert text.startswith("<?xml") and "<Error>" in text and "<RequestId>" in text and "<HostId>" in text
    assert "Traceback" not in text
    if code:
        assert f"<Code>{code}</Code>" in text


def test_unsigned_requests_are_never_served(clarityq_emulator: RunningEmulator) -> None:
    status, body = _raw(clarityq_emulator, "GET", "/api/projects/clarityq_demo")
    assert status == 401
    _assert_xml_error(body, "AuthorizationRequired")
    status, body = _raw(
        clarityq_emulator, "GET", "/api/projects/clarityq_demo", headers={"Authorization": "ODPS garbage"}
    )
    assert status == 401
    _assert_xml_error(body, "AuthorizationRequired")


def test_unknown_paths_and_methods_get_xml_errors(clarityq_emulator: RunningEmulator) -> None:
    status, body = _raw(clarityq_emulator, "GET", "/nothing/here")
    assert status == 404
    _assert_xml_error(body, "NoSuchObject")
    status, body = _raw(clarityq_emulator, "BREW", "/api/projects")
    assert status == 501
    _assert_xml_error(body)


def test_oversized_body_is_refused_and_the_server_keeps_serving(clarityq_emulator: RunningEmulator) -> None:
    # The limit is checked on the declared length, before any of the body is read.
    with socket.create_connection((clarityq_emulator.host, clarityq_emulator.port), timeout=5) as sock:
        sock.sendall(
            b"POST /api/projects/clarityq_demo/instances HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/xml\r\nContent-Length: 8388609\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):  # the server closes the connection after the error
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    _assert_xml_error(body)
    assert _odps(clarityq_emulator).exist_project("clarityq_demo")


def test_malformed_instance_xml_is_an_invalid_argument(clarityq_emulator: RunningEmulator) -> None:
    odps = _odps(clarityq_emulator)
    resource = odps.get_project().instances.resource()
    with pytest.raises(errors.InvalidArgument):
        odps.rest.post(resource, b"<Instance><Job>", headers={"Content-Type": "application/xml"})
    assert odps.exist_project("clarityq_demo")


def test_garbage_on_the_socket_gets_an_error_not_a_hang(clarityq_emulator: RunningEmulator) -> None:
    with socket.create_connection((clarityq_emulator.host, clarityq_emulator.port), timeout=5) as sock:
        sock.sendall(b"\x00\x01 not http at all\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    # The HTTP parser refuses it before any service sees it, and closes the connection.
    assert data.startswith(b"HTTP/1.1 400 ")
    assert _odps(clarityq_emulator).exist_project("clarityq_demo")


def test_request_log_records_service_statement_and_status(clarityq_emulator: RunningEmulator) -> None:
    clarityq_emulator.clear_requests()
    odps = _odps(clarityq_emulator)
    odps.execute_sql("SELECT COUNT(*) FROM customers")
    log = clarityq_emulator.requests()
    submits = [e for e in log if e["method"] == "POST" and e["path"].endswith("/instances")]
    assert len(submits) == 1
    assert submits[0]["service"] == "maxcompute" and submits[0]["status"] == 201
    assert "SELECT COUNT(*) FROM customers" in submits[0]["statement"]
    assert all(set(e) == {"service", "method", "path", "action", "statement", "status"} for e in log)
    clarityq_emulator.clear_requests()
    assert clarityq_emulator.requests() == []


def test_injected_503_is_retried_by_pyodps_for_get(clarityq_emulator: RunningEmulator) -> None:
    clarityq_emulator.add_fault(service="maxcompute", path="/projects/clarityq_demo", method="GET", status=503, count=1)
    options.retry_times = 2
    info = clarityq_emulator.info
    odps = ODPS(info.access_key_id, info.access_key_secret, info.project, endpoint=info.maxcompute_endpoint)
    try:
        assert odps.exist_project("clarityq_demo")
    finally:
        options.retry_times = 0
    statuses = [e["status"] for e in clarityq_emulator.requests() if e["path"] == "/api/projects/clarityq_demo"]
    assert statuses[:2] == [503, 200]


def test_injected_fault_matches_statement_and_reset(clarityq_emulator: RunningEmulator) -> None:
    clarityq_emulator.add_fault(statement="from products", status=500, code="InternalServerError")
    odps = _odps(clarityq_emulator)
    with pytest.raises(errors.InternalServerError):
        odps.execute_sql("SELECT * FROM products")
    odps.execute_sql("SELECT * FROM products")  # the fault was used up
    clarityq_emulator.add_fault(path="/api/projects/clarityq_demo", reset=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        odps.get_project("clarityq_demo").reload()
    assert [e["status"] for e in clarityq_emulator.requests() if e["status"] == 0] == [0]


def test_fault_spec_is_validated(clarityq_emulator: RunningEmulator) -> None:
    status, body = _raw(clarityq_emulator, "POST", "/_emulator/faults", json.dumps({"colour": "red"}).encode())
    assert status == 400 and b"colour" in body
    status, _ = _raw(clarityq_emulator, "GET", "/_emulator/nothing")
    assert status == 404


def test_fifty_concurrent_clients_all_succeed(clarityq_emulator: RunningEmulator) -> None:
    results: list[Any] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        try:
            odps = _odps(clarityq_emulator)
            with odps.execute_sql(f"SELECT {i} AS n, COUNT(*) AS c FROM orders").open_reader() as reader:
                rows = [list(r.values) for r in reader]
            with lock:
                results.append(rows)
        except BaseException as exc:  # collected and asserted below
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert failures == []
    assert sorted(r[0][0] for r in results) == list(range(50))
    assert all(r[0][1] == 6 for r in results)


def test_keep_alive_round_trips_are_not_held_by_delayed_acks(clarityq_emulator: RunningEmulator) -> None:
    # Head and body leave in two writes: without TCP_NODELAY each answer waits ~40 ms for an ACK.
    conn = http.client.HTTPConnection(clarityq_emulator.host, clarityq_emulator.port, timeout=10)
    timings = []
    for _ in range(30):
        started = time.perf_counter()
        conn.request("GET", "/api/projects/clarityq_demo")
        conn.getresponse().read()
        timings.append(time.perf_counter() - started)
    conn.close()
    assert sorted(timings)[15] < 0.02

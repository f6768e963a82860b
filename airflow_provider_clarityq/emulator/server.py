"""One HTTP port for everything: MaxCompute REST (``/api``), its tunnel (``/projects``), RAM and
STS (``POST /`` with ``x-acs-action``) and the test-support API (``/_emulator``, loopback only).

The server is the standard library's, with a bounded worker pool instead of a thread per
connection, a body-size limit, XML/JSON error bodies for every failure, a request log and a
fault injector that tests use to simulate throttling, 5xx answers, latency and resets.
"""

from __future__ import annotations

import contextlib
import http.server
import ipaddress
import json
import logging
import socket
import struct
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from airflow_provider_clarityq.emulator import acs, odps_errors
from airflow_provider_clarityq.emulator.http import Request, Response
from airflow_provider_clarityq.emulator.maxcompute import REST_PREFIX, MaxComputeService, SecurityHandler
from airflow_provider_clarityq.emulator.odps_errors import OdpsError
from airflow_provider_clarityq.emulator.state import EmulatorState

log = logging.getLogger("clarityq.emulator")

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_WORKERS = 64
IDLE_TIMEOUT_S = 30.0
SUPPORT_PREFIX = "/_emulator"


@dataclass
class Fault:
    """A scripted failure for the next ``count`` requests that match every given filter."""

    count: int = 1
    service: str | None = None
    action: str | None = None
    path: str | None = None
    statement: str | None = None
    method: str | None = None
    status: int | None = None
    code: str | None = None
    delay: float = 0.0
    reset: bool = False
    retry_after_ms: int = 1000

    def matches(self, service: str, method: str, path: str, action: str | None, statement: str | None) -> bool:
        return (
            (self.service is None or self.service == service)
            and (self.method is None or self.method.upper() == method)
            and (self.path is None or self.path in path)
            and (self.action is None or (action is not None and self.action.lower() in action.lower()))
            and (self.statement is None or (statement is not None and self.statement.lower() in statement.lower()))
        )


@dataclass
class RequestLog:
    entries: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.entries.append(entry)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.entries)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


def _describe(req: Request) -> tuple[str, str | None, str | None]:
    """(service, action, statement) of a request, read before it is processed."""
    if acs.is_acs_request(req):
        version = req.header("x-acs-version") or req.query.get("Version", "")
        service = "sts" if version == "2015-04-01" else "ram"
        return service, req.header("x-acs-action") or req.query.get("Action"), None
    statement = None
    if req.method == "POST" and req.body and (req.path.endswith("/instances") or req.path.endswith("/authorization")):
        try:
            root = ET.fromstring(req.body)
            node = root.find("Job/Tasks/SQL/Query") if root.tag == "Instance" else root.find("Query")
            statement = node.text if node is not None else None
        except ET.ParseError:
            statement = None
    return "maxcompute", None, statement


class Emulator:
    """Request routing over one :class:`EmulatorState`; independent of the socket layer."""

    def __init__(self, state: EmulatorState, security_handler: SecurityHandler | None = None) -> None:
        self.state = state
        self.maxcompute = MaxComputeService(state, security_handler)
        self.requests = RequestLog()
        self.faults: list[Fault] = []
        self.faults_lock = threading.Lock()

    def _take_fault(
        self, service: str, method: str, path: str, action: str | None, statement: str | None
    ) -> Fault | None:
        with self.faults_lock:
            for fault in self.faults:
                if fault.matches(service, method, path, action, statement):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def handle(self, req: Request) -> Response | None:
        """Answer one request; ``None`` means: reset the connection."""
        if req.path.startswith(SUPPORT_PREFIX):
            return self._support(req)
        service, action, statement = _describe(req)
        fault = self._take_fault(service, req.method, req.path, action, statement)
        entry: dict[str, Any] = {
            "service": service,
            "method": req.method,
            "path": req.path,
            "action": action,
            "statement": statement,
            "status": None,
        }
        try:
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.reset:
                    entry["status"] = 0
                    return None
                if fault.status is not None:
                    response = self._fault_response(service, fault)
                    entry["status"] = response.status
                    return response
            response = self._dispatch(req, service)
            entry["status"] = response.status
            return response
        finally:
            self.requests.add(entry)

    def _dispatch(self, req: Request, service: str) -> Response:
        request_id = uuid.uuid4().hex.upper()
        try:
            if service in ("ram", "sts"):
                result = acs.handle(req, self.state.identity)
                if result.mutated:
                    self.state.save()
                return result.response
            if req.path.startswith(REST_PREFIX + "/") or req.path == REST_PREFIX:
                outcome = self.maxcompute.handle(req, tunnel_path=False)
            elif req.path.startswith("/projects/"):
                outcome = self.maxcompute.handle(req, tunnel_path=True)
            else:
                raise odps_errors.no_such_object(req.path)
            if outcome.mutated:
                self.state.save()
            response = outcome.response
        except OdpsError as exc:
            response = exc.to_response(request_id)
        except Exception as exc:  # a bug must still produce a well-formed answer
            log.exception("internal error on %s %s", req.method, req.path)
            response = OdpsError(
                500, "InternalServerError", f"emulator internal error: {type(exc).__name__}"
            ).to_response(request_id)
        response.headers.setdefault("x-odps-request-id", request_id)
        return response

    @staticmethod
    def _fault_response(service: str, fault: Fault) -> Response:
        status = fault.status or 503
        if service in ("ram", "sts"):
            if status in (400, 429) and (fault.code or "Throttling").startswith("Throttling"):
                return acs.throttling_response(service, fault.retry_after_ms)
            code = fault.code or ("ServiceUnavailable" if status >= 500 else "InvalidParameter")
            return Response.json(
                {
                    "RequestId": uuid.uuid4().hex.upper(),
                    "HostId": f"{service}.emulator",
                    "Code": code,
                    "Message": f"Injected fault: {code}",
                },
                status=status,
            )
        code = fault.code or (
            "ServiceUnavailable"
            if status == 503
            else "InternalServerError"
            if status >= 500
            else "RequestQuotaExceeded"
        )
        return OdpsError(status, code, f"Injected fault: {code}").to_response(uuid.uuid4().hex.upper())

    # --- test-support API ---------------------------------------------------------------------------

    def _support(self, req: Request) -> Response:
        host = req.client_host.split("%", 1)[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return Response.json({"error": "the test-support API only answers loopback clients"}, status=403)
        route = req.path[len(SUPPORT_PREFIX) :].rstrip("/")
        try:
            if route == "/requests" and req.method == "GET":
                return Response.json(self.requests.snapshot())
            if route == "/requests" and req.method == "DELETE":
                self.requests.clear()
                return Response.json({"cleared": True})
            if route == "/faults" and req.method == "POST":
                spec = json.loads(req.body or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("a fault is a JSON object")
                allowed = set(Fault.__dataclass_fields__)
                unknown = set(spec) - allowed
                if unknown:
                    raise ValueError(f"unknown fault fields {sorted(unknown)}; allowed: {sorted(allowed)}")
                fault = Fault(**spec)
                if fault.count < 1:
                    raise ValueError("count must be >= 1")
                with self.faults_lock:
                    self.faults.append(fault)
                return Response.json({"queued": True, "pending": len(self.faults)}, status=201)
            if route == "/faults" and req.method == "DELETE":
                with self.faults_lock:
                    self.faults.clear()
                return Response.json({"cleared": True})
            if route == "/clock" and req.method == "POST":
                spec = json.loads(req.body or b"{}")
                self.state.clock.offset += float(spec.get("advance", 0))
                self.state.save()
                return Response.json({"offset": self.state.clock.offset})
        except (ValueError, TypeError) as exc:
            return Response.json({"error": str(exc)}, status=400)
        return Response.json({"error": f"no test-support route {req.method} {req.path}"}, status=404)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ClarityQEmulator/1"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    # Headers and body leave in separate writes; without TCP_NODELAY every response would wait
    # for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    emulator: Emulator  # set on a subclass per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests get the XML error envelope too, never an HTML page."""
        error = OdpsError(code, "InvalidArgument" if code < 500 else "InternalServerError", message or "bad request")
        self._write(error.to_response(uuid.uuid4().hex.upper()), close=True)

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(2)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.send_error(400, "malformed request body")
            return
        if body is None:
            self._write(
                OdpsError(413, "InvalidArgument", f"request body exceeds {MAX_BODY_BYTES} bytes").to_response(
                    uuid.uuid4().hex.upper()
                ),
                close=True,
            )
            return
        req = Request(
            method=self.command,
            raw_target=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client_host=self.client_address[0],
        )
        response = self.emulator.handle(req)
        if response is None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self._write(response)

    def _write(self, response: Response, close: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


class EmulatorHTTPServer(http.server.HTTPServer):
    """``HTTPServer`` whose connections are served by a bounded thread pool."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator, max_workers: int = MAX_WORKERS) -> None:
        handler = type("BoundHandler", (_Handler,), {"emulator": emulator})
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self.emulator = emulator
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="emulator")
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        self._pool.submit(self._serve, request, client_address)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def server_close(self) -> None:
        """Stop listening and end idle keep-alive connections, so shutdown does not wait for them."""
        super().server_close()
        with self._open_lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._pool.shutdown(wait=True, cancel_futures=True)

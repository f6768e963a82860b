"""Which service answers a request, and the bookkeeping around it: request log and faults.

:class:`Emulator` is independent of the socket layer: the HTTP app (:mod:`.app`) turns wire
requests into :class:`~.http.Request` records and calls :meth:`Emulator.intake` (fast, on the
event loop) and :meth:`Emulator.dispatch` (blocking, on a worker thread); :meth:`Emulator.handle`
does both in one call for in-process use.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from clarityq_emulator.acs import protocol as acs
from clarityq_emulator.core.faults import Fault, FaultQueue
from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.requestlog import RequestLog
from clarityq_emulator.core.state import EmulatorState
from clarityq_emulator.ecs.metadata import METADATA_PREFIX, MetadataService
from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.common import REST_PREFIX, TUNNEL_PREFIX
from clarityq_emulator.maxcompute.errors import OdpsError
from clarityq_emulator.maxcompute.rest import MaxComputeService, SecurityHandler

log = logging.getLogger("clarityq.emulator")

#: Path prefix of the test-support API (never under ``/api``).
SUPPORT_PREFIX = "/_emulator"


@dataclass
class Intake:
    """A request as the log and the fault queue see it, before it is served."""

    service: str
    entry: dict[str, Any]
    fault: Fault | None


def describe(req: Request) -> tuple[str, str | None, str | None]:
    """(service, action, statement) of a request, read before it is processed."""
    if acs.is_acs_request(req):
        version = req.header("x-acs-version") or req.query.get("Version", "")
        service = "sts" if version == "2015-04-01" else "ram"
        return service, req.header("x-acs-action") or req.query.get("Action"), None
    if req.path.startswith(METADATA_PREFIX):
        return "ecs", None, None
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
    """Request routing over one :class:`EmulatorState`, with its request log and fault queue."""

    def __init__(self, state: EmulatorState, security_handler: SecurityHandler | None = None) -> None:
        self.state = state
        self.maxcompute = MaxComputeService(state, security_handler)
        self.metadata = MetadataService(lambda: state.identity)
        self.requests = RequestLog()
        self.faults = FaultQueue()

    # --- the two halves of serving a request ---------------------------------------------------------

    def intake(self, req: Request) -> Intake:
        service, action, statement = describe(req)
        entry: dict[str, Any] = {
            "service": service,
            "method": req.method,
            "path": req.path,
            "action": action,
            "statement": statement,
            "status": None,
        }
        return Intake(service, entry, self.faults.take(service, req.method, req.path, action, statement))

    def dispatch(self, req: Request, service: str) -> Response:
        """Serve a request (blocking); every failure becomes the service's own error envelope."""
        request_id = uuid.uuid4().hex.upper()
        try:
            if service in ("ram", "sts"):
                result = acs.handle(req, self.state.identity)
                if result.mutated:
                    self.state.save()
                return result.response
            if service == "ecs":
                return self.metadata.handle(req)
            if req.path.startswith(REST_PREFIX + "/") or req.path == REST_PREFIX:
                outcome = self.maxcompute.handle(req, tunnel_path=False)
            elif req.path.startswith(TUNNEL_PREFIX + "/"):
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

    def handle(self, req: Request) -> Response | None:
        """Intake and dispatch in one blocking call; ``None`` means: reset the connection."""
        intake = self.intake(req)
        try:
            fault = intake.fault
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.reset:
                    intake.entry["status"] = 0
                    return None
                if fault.status is not None:
                    response = fault_response(intake.service, fault)
                    intake.entry["status"] = response.status
                    return response
            response = self.dispatch(req, intake.service)
            intake.entry["status"] = response.status
            return response
        finally:
            self.requests.add(intake.entry)

    def reset(self) -> None:
        """Back to the seed: state, request log, faults and clock (the account's keys are kept)."""
        self.faults.clear()
        self.state.reset()
        self.requests.clear()


def fault_response(service: str, fault: Fault) -> Response:
    """The injected answer, in the envelope the service's SDK parses."""
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
        "ServiceUnavailable" if status == 503 else "InternalServerError" if status >= 500 else "RequestQuotaExceeded"
    )
    return OdpsError(status, code, f"Injected fault: {code}").to_response(uuid.uuid4().hex.upper())

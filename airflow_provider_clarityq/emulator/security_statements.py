"""Security statements (``POST /projects/{p}/authorization``) and the users/roles REST API."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from airflow_provider_clarityq.emulator import odps_errors
from airflow_provider_clarityq.emulator.http import Request, Response
from airflow_provider_clarityq.emulator.identity import Caller
from airflow_provider_clarityq.emulator.maxcompute import ServiceResult
from airflow_provider_clarityq.emulator.security import display_name
from airflow_provider_clarityq.emulator.state import EmulatorState


def _result(payload: object) -> Response:
    text = json.dumps(payload)
    return Response.xml(f"<Authorization><Result>{escape(text)}</Result></Authorization>")


def handle_security_request(state: EmulatorState, caller: Caller, project: str, req: Request,
                            rest: list[str]) -> ServiceResult:
    if rest == ["authorization"] and req.method == "POST":
        try:
            root = ET.fromstring(req.body)
        except ET.ParseError:
            raise odps_errors.invalid_argument("ODPS-0420411:Invalid argument - malformed authorization XML") from None
        query = (root.findtext("Query") or "").strip().rstrip(";").strip()
        state.security.require_member(caller, project)
        if query.lower() == "whoami":
            return ServiceResult(_result({"ID": caller.user_id, "DisplayName": display_name(caller)}),
                                 statement=query)
        raise odps_errors.not_implemented(f"the security statement {query.split()[0] if query else ''!r}")
    raise odps_errors.not_implemented("the users/roles REST API")

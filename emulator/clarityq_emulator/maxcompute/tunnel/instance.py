"""The instance tunnel: SELECT results of an instance read through download sessions.

Reading another user's instance needs ``Read`` on it (seed 002). A statement without rows answers
``InstanceTypeNotSupported``, which pyodps takes as "not a SELECT" and falls back to the result.
With download control on, a full download also needs ``Download`` on the instance; without it the
caller may still open a limited session (``instance_tunnel_limit_enabled``) of at most
:data:`LIMITED_ROWS` rows -- what pyodps falls back to, with its "10000 records will be limited" warning.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.state import EmulatorState
from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.authorization.network import download_control
from clarityq_emulator.maxcompute.common import ServiceResult
from clarityq_emulator.maxcompute.errors import OdpsError
from clarityq_emulator.maxcompute.instances import get_instance
from clarityq_emulator.maxcompute.models import Instance
from clarityq_emulator.maxcompute.tunnel import codec
from clarityq_emulator.ram.models import Caller

#: Rows a limited instance download session serves.
LIMITED_ROWS = 10000


def route(state: EmulatorState, req: Request, caller: Caller, project: str, instance_id: str) -> ServiceResult:
    instance = get_instance(state, caller, project, instance_id)
    query = req.query
    if req.method == "POST" and "downloads" in query:
        result = instance.result
        if result is None or result.columns is None:
            return ServiceResult(
                OdpsError(
                    400, "InstanceTypeNotSupported", "Only SELECT results can be downloaded through the tunnel"
                ).to_response("")
            )
        limited = "instance_tunnel_limit_enabled" in query
        info = state.security.require_member(caller, project)
        if not limited and download_control(info.properties) and not info.is_super_admin(caller):
            state.security.check(caller, project, "Download", "instance", instance_id)
        download_id = secrets.token_hex(12)
        with state.lock:
            instance.downloads.add(download_id)
            if limited:
                instance.limited_downloads.add(download_id)
        return ServiceResult(Response.json(_session(instance, download_id), status=201))
    download_id = query.get("downloadid", "")
    if req.method == "GET" and download_id:
        if download_id not in instance.downloads:
            raise odps_errors.no_such_object(f"download session {download_id}")
        if "data" not in query:
            return ServiceResult(Response.json(_session(instance, download_id)))
        result = instance.result
        assert result is not None and result.columns is not None
        return ServiceResult(data_response(result.columns, _rows(instance, download_id), query))
    raise odps_errors.no_such_object(f"tunnel route {req.method} {req.path}")


def _rows(instance: Instance, download_id: str) -> list[tuple[object, ...]]:
    assert instance.result is not None
    rows = instance.result.rows
    return rows[:LIMITED_ROWS] if download_id in instance.limited_downloads else rows


def _session(instance: Instance, download_id: str) -> dict[str, object]:
    result = instance.result
    assert result is not None and result.columns is not None
    return codec.session_json(download_id, result.columns, [], len(_rows(instance, download_id)))


def data_response(
    columns: Sequence[codec.ColumnLike], rows: Sequence[Sequence[object]], query: dict[str, str]
) -> Response:
    """The record stream of ``rows[rowrange]``, projected onto ``columns=`` when asked."""
    start, count = 0, len(rows)
    rowrange = query.get("rowrange")
    if rowrange:
        try:
            start, count = (int(x) for x in rowrange.strip("()").split(","))
        except ValueError:
            raise odps_errors.invalid_argument(f"invalid rowrange {rowrange!r}") from None
        if start < 0 or count < 0:
            raise odps_errors.invalid_argument(f"invalid rowrange {rowrange!r}")
    selected = [list(r) for r in rows[start : start + count]]
    wanted = query.get("columns")
    if wanted:
        try:
            columns, selected = codec.project_rows(columns, selected, wanted.split(","))
        except ValueError as exc:
            raise odps_errors.invalid_argument(str(exc)) from None
    return Response(status=200, body=codec.encode_stream(columns, selected), content_type="application/octet-stream")

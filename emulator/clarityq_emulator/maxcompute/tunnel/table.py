"""The table tunnel: download and upload sessions on ``/projects/{p}/tables/{t}`` (tunnel host).

Downloading needs ``Select`` on the table, plus ``Download`` when the project has download control
on (``odps.security.enabledownloadprivilege=true``); the columns a data request reads are then
checked against the caller's label clearance (:mod:`..reads`). Uploading needs ``Update``. A partitioned
table is read and written one complete partition at a time; an upload into a partition that does
not exist needs ``create_partition=true``. A download session snapshots its rows when it is
created; an upload session stages each block (decoded and checked at once) and publishes them, in
block-id order, when it is committed (``overwrite=true`` replaces the partition or table).
"""

from __future__ import annotations

import zlib

from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.state import EmulatorState
from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.authorization.network import download_control
from clarityq_emulator.maxcompute.common import ServiceResult
from clarityq_emulator.maxcompute.errors import OdpsError
from clarityq_emulator.maxcompute.reads import authorize_read
from clarityq_emulator.maxcompute.sql.catalog import TableMeta
from clarityq_emulator.maxcompute.sql.errors import SqlError
from clarityq_emulator.maxcompute.tables import table_meta
from clarityq_emulator.maxcompute.tunnel import codec
from clarityq_emulator.maxcompute.tunnel.instance import data_response
from clarityq_emulator.maxcompute.tunnel.sessions import (
    MAX_STAGED_BYTES,
    DownloadSession,
    TunnelSessions,
    UploadSession,
)
from clarityq_emulator.ram.models import Caller

#: Largest decompressed block; a compressed block may not expand past it.
MAX_BLOCK_BYTES = 256 * 1024 * 1024


def route(state: EmulatorState, req: Request, caller: Caller, project: str, table: str) -> ServiceResult:
    query, method = req.query, req.method
    state.security.require_member(caller, project)
    meta = table_meta(state, project, table)
    if meta.is_view:
        raise odps_errors.invalid_argument(f"ODPS-0420111:Invalid argument - {project}.{meta.name} is a view")
    try:
        if method == "POST" and "downloads" in query:
            return _create_download(state, req, caller, meta)
        if method == "GET" and "downloadid" in query:
            download = state.tunnel.download(query["downloadid"], project, meta.name)
            if download is None:
                raise odps_errors.no_such_object(f"download session {query['downloadid']}")
            if "data" in query:
                wanted = query.get("columns")
                authorize_read(state, caller, project, meta, wanted.split(",") if wanted else None)
                return ServiceResult(data_response(download.columns, download.rows, query))
            return ServiceResult(Response.json(_download_json(download)))
        if method == "POST" and "uploads" in query:
            return _create_upload(state, req, caller, meta)
        if "uploadid" in query:
            session = state.tunnel.upload(query["uploadid"], project, meta.name)
            if session is None:
                raise odps_errors.no_such_object(f"upload session {query['uploadid']}")
            if method == "PUT" and "blockid" in query:
                return _put_block(state, req, session)
            if method == "GET":
                return ServiceResult(Response.json(_upload_json(session)))
            if method == "POST":
                return _commit(state, session)
    except SqlError as exc:
        raise odps_errors.invalid_argument(exc.message) from None
    raise odps_errors.no_such_object(f"tunnel route {method} {req.path}")


def _partition(state: EmulatorState, req: Request, meta: TableMeta) -> dict[str, str]:
    """The request's ``partition=`` as a complete spec in key order ({} for an unpartitioned table)."""
    try:
        spec = codec.parse_partition_spec(req.query.get("partition"))
    except ValueError as exc:
        raise odps_errors.invalid_argument(str(exc)) from None
    if not meta.partition_keys:
        if spec:
            raise odps_errors.invalid_argument(f"table {meta.project}.{meta.name} is not partitioned")
        return {}
    if not spec:
        raise OdpsError(400, "InvalidPartitionSpec", f"table {meta.project}.{meta.name} is partitioned: name one")
    return state.engine.partition_spec(meta.project, meta.name, spec)


def _create_download(state: EmulatorState, req: Request, caller: Caller, meta: TableMeta) -> ServiceResult:
    authorize_read(state, caller, meta.project, meta, ())
    info = state.security.require_member(caller, meta.project)
    if download_control(info.properties) and not info.is_super_admin(caller):
        state.security.check(caller, meta.project, "Download", "table", meta.name, creator=meta.owner)
    partition = _partition(state, req, meta)
    if partition and not state.engine.has_partition(meta.project, meta.name, partition):
        raise odps_errors.no_such_partition(meta.project, meta.name, meta.spec_key(partition))
    columns, rows = state.engine.read_rows(meta.project, meta.name, partition or None)
    session = DownloadSession(
        TunnelSessions.new_id(), meta.project, meta.name, partition, columns, list(meta.partition_keys), rows
    )
    state.tunnel.add(session)
    return ServiceResult(Response.json(_download_json(session), status=201))


def _download_json(session: DownloadSession) -> dict[str, object]:
    return codec.session_json(session.id, session.columns, session.partition_keys, len(session.rows))


def _create_upload(state: EmulatorState, req: Request, caller: Caller, meta: TableMeta) -> ServiceResult:
    state.security.check(caller, meta.project, "Update", "table", meta.name, creator=meta.owner)
    partition = _partition(state, req, meta)
    mutated = False
    if partition and not state.engine.has_partition(meta.project, meta.name, partition):
        if req.query.get("create_partition", "false").lower() not in ("true", ""):
            raise odps_errors.no_such_partition(meta.project, meta.name, meta.spec_key(partition))
        mutated = state.engine.add_partition(meta.project, meta.name, partition)
    session = UploadSession(
        TunnelSessions.new_id(),
        meta.project,
        meta.name,
        partition,
        list(meta.columns),
        list(meta.partition_keys),
        overwrite=req.query.get("overwrite", "").lower() == "true",
    )
    state.tunnel.add(session)
    return ServiceResult(Response.json(_upload_json(session), status=201), mutated=mutated)


def _upload_json(session: UploadSession) -> dict[str, object]:
    document = codec.upload_session_json(session.id, session.columns, session.partition_keys, session.blocks)
    document["Status"] = session.status
    return document


def _body(req: Request) -> bytes:
    encoding = req.header("content-encoding").lower()
    if encoding in ("", "identity"):
        return req.body
    if encoding != "deflate":
        raise odps_errors.invalid_argument(f"Content-Encoding {encoding} is not supported (deflate is)")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(req.body, MAX_BLOCK_BYTES)
    except zlib.error as exc:
        raise odps_errors.invalid_argument(f"the block is not deflate data: {exc}") from None
    if inflater.unconsumed_tail:
        raise OdpsError(413, "InvalidArgument", f"a block expands past {MAX_BLOCK_BYTES} bytes")
    return data


def _put_block(state: EmulatorState, req: Request, session: UploadSession) -> ServiceResult:
    if session.status != "normal":
        raise odps_errors.invalid_argument(f"upload session {session.id} is {session.status}")
    try:
        block_id = int(req.query["blockid"])
    except ValueError:
        raise odps_errors.invalid_argument(f"blockid {req.query['blockid']!r} is not a number") from None
    if not 0 <= block_id <= 20000:
        raise odps_errors.invalid_argument("blockid must be 0-20000")
    body = _body(req)
    with state.tunnel.lock:
        if state.tunnel.staged_bytes() - session.sizes.get(block_id, 0) + len(body) > MAX_STAGED_BYTES:
            raise OdpsError(413, "InvalidArgument", f"staged uploads are limited to {MAX_STAGED_BYTES} bytes")
        try:
            rows = codec.decode_stream(session.columns, body)
        except (ValueError, TypeError) as exc:
            raise OdpsError(400, "InvalidArgument", f"block {block_id}: {exc}") from None
        session.blocks[block_id] = rows
        session.sizes[block_id] = len(body)
    return ServiceResult(Response(status=200, content_type="text/plain"))


def _commit(state: EmulatorState, session: UploadSession) -> ServiceResult:
    with state.tunnel.lock:
        if session.status != "normal":
            raise odps_errors.invalid_argument(f"upload session {session.id} is {session.status}")
        rows = [row for block_id in sorted(session.blocks) for row in session.blocks[block_id]]
        state.engine.write_rows(
            session.project, session.table, rows, session.partition or None, overwrite=session.overwrite
        )
        session.status = "closed"
        session.blocks, session.sizes = {block: [] for block in session.blocks}, {}
    return ServiceResult(Response.json(_upload_json(session)), mutated=True)

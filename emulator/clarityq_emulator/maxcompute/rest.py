"""The MaxCompute REST API and instance tunnel, as unmodified pyodps speaks them.

Every request is authenticated (ODPS v2 or v4 signature, optional STS token) before it is
routed; every data-plane call is then authorised through :mod:`.security` in the documented
order (member -> project state -> permission). SQL runs on the DuckDB-backed
:class:`~.sql.SqlEngine`; each instance is executed when it is submitted and answered
asynchronously (``201`` + ``Location``), so pyodps follows its normal polling path.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from xml.sax.saxutils import escape

from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.state import EmulatorState, Instance
from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.auth import authenticate
from clarityq_emulator.maxcompute.authorization.model import display_name
from clarityq_emulator.maxcompute.common import REST_PREFIX, ServiceResult, cdata, http_date
from clarityq_emulator.maxcompute.errors import OdpsError
from clarityq_emulator.maxcompute.security.rest import handle_security_request
from clarityq_emulator.maxcompute.sql.catalog import StatementAccess, TableMeta
from clarityq_emulator.maxcompute.sql.errors import SqlError
from clarityq_emulator.maxcompute.sql.values import result_descriptor, result_to_csv
from clarityq_emulator.maxcompute.tunnel import codec as tunnel
from clarityq_emulator.ram.models import Caller

log = logging.getLogger(__name__)

TABLES_PAGE_SIZE = 100
READ_ONLY_KINDS = frozenset({"select", "desc", "show_tables", "show_partitions", "set"})

SecurityHandler = Callable[[EmulatorState, Caller, str, Request, list[str]], ServiceResult]


class MaxComputeService:
    """Routes ``/api/...`` (REST) and ``/projects/...`` (tunnel) requests."""

    def __init__(self, state: EmulatorState, security_handler: SecurityHandler | None = None) -> None:
        self.state = state
        self.security_handler = security_handler or handle_security_request

    # --- entry point --------------------------------------------------------------------------------

    def handle(self, req: Request, *, tunnel_path: bool) -> ServiceResult:
        caller = authenticate(req, self.state.identity, "" if tunnel_path else REST_PREFIX, self.state.clock())
        path = req.path[len(REST_PREFIX) :] if not tunnel_path else req.path
        parts = [p for p in path.split("/") if p]
        if tunnel_path:
            return self._tunnel(req, caller, parts)
        return self._rest(req, caller, parts)

    def _rest(self, req: Request, caller: Caller, parts: list[str]) -> ServiceResult:
        method, query = req.method, req.query
        if parts == ["logview", "host"] and method == "GET":
            return ServiceResult(Response.text(f"http://{req.header('host')}/logview"))
        if parts == ["webconsole", "host"]:
            raise odps_errors.no_such_object("webconsole host")
        if parts == ["tenants"] and method == "GET":
            return ServiceResult(Response.json({"Tenant": {"Name": "emulator", "TenantId": "1", "Parameters": {}}}))
        if len(parts) < 2 or parts[0] != "projects":
            raise odps_errors.no_such_object(req.path)
        project = parts[1].lower()
        rest = parts[2:]
        if not rest:
            if method != "GET" or "policy" in query:
                return self._security(req, caller, project, rest)
            return self._project(caller, project)
        head = rest[0]
        if head == "tables" and method == "GET":
            if len(rest) == 1:
                return self._list_tables(req, caller, project)
            if len(rest) == 2:
                return self._get_table(caller, project, rest[1])
        if head == "instances":
            if len(rest) == 1 and method == "POST":
                return self._submit(req, caller, project)
            if len(rest) == 2:
                return self._instance(req, caller, project, rest[1])
        if head == "tunnel" and method == "GET":
            self.state.security.require_member(caller, project)
            return ServiceResult(Response.text(req.header("host")))
        if head == "logs" and method == "PUT":
            return ServiceResult(Response.text(""))
        if head in ("authorization", "users", "roles"):
            return self._security(req, caller, project, rest)
        raise odps_errors.no_such_object(req.path)

    def _security(self, req: Request, caller: Caller, project: str, rest: list[str]) -> ServiceResult:
        if rest == ["authorization"] and "sign_bearer_token" in req.query:
            self.state.security.require_member(caller, project)
            token = secrets.token_urlsafe(24)
            return ServiceResult(Response.xml(f"<Authorization><Result>{token}</Result></Authorization>"))
        return self.security_handler(self.state, caller, project, req, rest)

    # --- projects and tables --------------------------------------------------------------------

    def _project(self, caller: Caller, project: str) -> ServiceResult:
        info = self.state.security.require_member(caller, project)
        created = http_date(info.created)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Project>'
            f"<Name>{escape(info.name)}</Name><Type>managed</Type><Comment>{escape(info.comment)}</Comment>"
            f"<State>{info.state}</State><Owner>{escape(info.owner_display)}</Owner>"
            "<Properties><Property><Name>odps.sql.type.system.odps2</Name><Value>true</Value></Property>"
            "</Properties></Project>"
        )
        headers = {"x-odps-owner": info.owner_display, "x-odps-creation-time": created, "Last-Modified": created}
        return ServiceResult(Response.xml(body, headers=headers))

    def _list_tables(self, req: Request, caller: Caller, project: str) -> ServiceResult:
        self.state.security.check(caller, project, "List")
        query = req.query
        tables = self.state.engine.list_tables(project, query.get("name") or None)
        marker = query.get("marker") or ""
        if marker:
            tables = [t for t in tables if t.name > marker]
        try:
            page_size = max(1, min(int(query.get("maxitems") or TABLES_PAGE_SIZE), 1000))
        except ValueError:
            raise odps_errors.invalid_argument("maxitems must be an integer") from None
        page, more = tables[:page_size], len(tables) > page_size
        items = "".join(
            f"<Table><Name>{escape(t.name)}</Name><Owner>{escape(t.owner)}</Owner><Type>MANAGED_TABLE</Type></Table>"
            for t in page
        )
        next_marker = escape(page[-1].name) if more and page else ""
        body = f"<Tables>{items}<Marker>{next_marker}</Marker><MaxItems>{page_size}</MaxItems></Tables>"
        return ServiceResult(Response.xml(body))

    def _table_meta(self, project: str, name: str) -> TableMeta:
        meta = self.state.engine.get_table(project, name)
        if meta is None:
            raise odps_errors.no_such_table(project, name.lower())
        return meta

    def _get_table(self, caller: Caller, project: str, name: str) -> ServiceResult:
        self.state.security.require_member(caller, project)
        meta = self._table_meta(project, name)
        self.state.security.check(caller, project, "Describe", "table", meta.name, creator=meta.owner)
        schema = {
            "comment": meta.comment,
            "owner": meta.owner,
            "createTime": meta.create_time,
            "lastDDLTime": meta.last_ddl_time,
            "lastModifiedTime": meta.last_modified_time,
            "lifecycle": meta.lifecycle if meta.lifecycle is not None else -1,
            "isVirtualView": False,
            "isMaterializedView": False,
            "size": 0,
            "recordNum": self.state.engine.record_count(project, meta.name),
            "columns": [
                {"name": c.name, "type": c.type, "comment": c.comment, "isNullable": True} for c in meta.columns
            ],
            "partitionKeys": [{"name": c.name, "type": c.type, "comment": c.comment} for c in meta.partition_keys],
            "Reserved": json.dumps({"Transactional": "false"}),
            "tableLabel": "0",
        }
        table_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{project}.{meta.name}").hex
        body = (
            f"<Table><Name>{escape(meta.name)}</Name><TableId>{table_id}</TableId>"
            f"<Owner>{escape(meta.owner)}</Owner><Type>MANAGED_TABLE</Type>"
            f'<Schema format="json">{cdata(json.dumps(schema))}</Schema></Table>'
        )
        return ServiceResult(Response.xml(body))

    # --- SQL instances ----------------------------------------------------------------------------

    def _submit(self, req: Request, caller: Caller, project: str) -> ServiceResult:
        self.state.security.check(caller, project, "CreateInstance")
        try:
            root = ET.fromstring(req.body)
        except ET.ParseError as exc:
            raise odps_errors.invalid_argument(
                f"ODPS-0420411:Invalid argument - malformed instance XML: {exc}"
            ) from None
        job = root.find("Job")
        sql_task = root.find("Job/Tasks/SQL")
        query_el = root.find("Job/Tasks/SQL/Query")
        if job is None or sql_task is None or query_el is None or not (query_el.text or "").strip():
            raise odps_errors.invalid_argument(
                "ODPS-0420411:Invalid argument - only SQL tasks with a query are supported"
            )
        sql = query_el.text or ""
        instance_id = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(8)
        start = self.state.clock()
        instance = Instance(
            id=instance_id,
            project=project,
            owner=display_name(caller),
            sql=sql,
            job_xml=ET.tostring(job, encoding="unicode"),
            start_time=start,
            end_time=start,
        )
        mutated = False
        try:
            accesses = self.state.engine.analyze(sql, project)
            self._authorize_sql(caller, accesses)
            mutated = any(a.kind not in READ_ONLY_KINDS for a in accesses)
            instance.result = self.state.engine.execute(sql, project, owner=instance.owner)
            self._forget_dropped(accesses)
        except SqlError as exc:
            instance.error = exc.message
        except OdpsError as exc:
            instance.error = exc.message.replace(
                "ODPS-0420095: Access Denied - ", "ODPS-0130013:Authorization exception - ", 1
            )
        instance.end_time = self.state.clock()
        with self.state.lock:
            self.state.instances[instance_id] = instance
        location = f"http://{req.header('host')}{REST_PREFIX}/projects/{project}/instances/{instance_id}"
        return ServiceResult(Response(status=201, headers={"Location": location}), statement=sql, mutated=mutated)

    def _forget_dropped(self, accesses: list[StatementAccess]) -> None:
        """Grants are a sub-resource of their object (seed 002): they go when the table goes."""
        for access in accesses:
            for ref in access.drops:
                if self.state.engine.get_table(ref.project, ref.name) is None:
                    self.state.security.forget_object(ref.project, "table", ref.name)

    def _authorize_sql(self, caller: Caller, accesses: list[StatementAccess]) -> None:
        """Table-level checks of a script, in statement order; missing tables are left to the engine."""
        security, engine = self.state.security, self.state.engine
        for access in accesses:
            for ref in access.reads:
                meta = engine.get_table(ref.project, ref.name)
                security.require_member(caller, ref.project)
                if meta is not None:
                    security.check(caller, ref.project, "Select", "table", meta.name, creator=meta.owner)
            for ref in access.writes:
                meta = engine.get_table(ref.project, ref.name)
                if meta is not None:
                    security.check(caller, ref.project, "Update", "table", meta.name, creator=meta.owner)
            for ref in access.creates:
                security.check(caller, ref.project, "CreateTable")
            for ref in access.drops:
                meta = engine.get_table(ref.project, ref.name)
                if meta is not None:
                    security.check(caller, ref.project, "Drop", "table", meta.name, creator=meta.owner)
            for ref in access.describes:
                meta = engine.get_table(ref.project, ref.name)
                if meta is not None:
                    security.check(caller, ref.project, "Describe", "table", meta.name, creator=meta.owner)
            for listed in access.lists:
                security.check(caller, listed, "List")

    def _get_instance(self, caller: Caller, project: str, instance_id: str) -> Instance:
        self.state.security.require_member(caller, project)
        instance = self.state.instances.get(instance_id)
        if instance is None or instance.project != project:
            raise odps_errors.no_such_object(f"instance {instance_id}")
        if instance.owner != display_name(caller):
            self.state.security.check(caller, project, "Read", "instance", instance_id)
        return instance

    def _instance(self, req: Request, caller: Caller, project: str, instance_id: str) -> ServiceResult:
        instance = self._get_instance(caller, project, instance_id)
        query = req.query
        status_headers = {
            "x-odps-owner": instance.owner,
            "x-odps-start-time": http_date(instance.start_time),
            "x-odps-end-time": http_date(instance.end_time),
        }
        if req.method == "PUT":
            if instance.owner != display_name(caller):
                self.state.security.check(caller, project, "Write", "instance", instance_id)
            return ServiceResult(Response.xml("<Instance><Status>Terminated</Status></Instance>"))
        if req.method != "GET":
            raise odps_errors.method_not_allowed(req.method, req.path)
        task_status = "Success" if instance.succeeded else "Failed"
        if "taskstatus" in query:
            body = (
                '<Instance><Status>Terminated</Status><Tasks><Task Type="SQL"><Name>AnonymousSQLTask</Name>'
                f"<StartTime>{http_date(instance.start_time)}</StartTime><EndTime>{http_date(instance.end_time)}"
                f"</EndTime><Status>{task_status}</Status><Histories/></Task></Tasks></Instance>"
            )
            return ServiceResult(Response.xml(body, headers=status_headers))
        if "result" in query:
            return ServiceResult(Response.xml(self._result_xml(instance)))
        if "source" in query:
            return ServiceResult(Response.xml(instance.job_xml))
        if "instanceprogress" in query:
            return ServiceResult(Response.xml("<Progress></Progress>"))
        if "instancesummary" in query:
            rows = len(instance.result.rows) if instance.result is not None else 0
            summary = {
                "Instance": {
                    "JsonSummary": json.dumps({"records": rows}),
                    "Summary": f"resource cost: emulator\nrecords: {rows}",
                }
            }
            return ServiceResult(Response.json(summary, headers={"x-odps-task-finalized": "true"}))
        if "instancedetail" in query:
            return ServiceResult(Response.json({"Instance": {"Status": "Terminated"}}))
        return ServiceResult(Response.xml("<Instance><Status>Terminated</Status></Instance>", headers=status_headers))

    @staticmethod
    def _result_xml(instance: Instance) -> str:
        if instance.error is not None:
            return (
                '<Instance><Tasks><Task Type="SQL"><Name>AnonymousSQLTask</Name><Status>Failed</Status>'
                f'<Result Transform="false" Format="text">{cdata(instance.error)}</Result></Task></Tasks></Instance>'
            )
        result = instance.result
        assert result is not None
        if result.columns is None:
            text = result.text or "OK"
            return (
                '<Instance><Tasks><Task Type="SQL"><Name>AnonymousSQLTask</Name><Status>Success</Status>'
                f'<Result Transform="false" Format="text">{cdata(text)}</Result></Task></Tasks></Instance>'
            )
        return (
            '<Instance><Tasks><Task Type="SQL"><Name>AnonymousSQLTask</Name><Status>Success</Status>'
            f'<Result Transform="false" Format="csv">{cdata(result_to_csv(result))}</Result>'
            f"<ResultDescriptor>{cdata(result_descriptor(result))}</ResultDescriptor>"
            "</Task></Tasks></Instance>"
        )

    # --- instance tunnel --------------------------------------------------------------------------

    def _tunnel(self, req: Request, caller: Caller, parts: list[str]) -> ServiceResult:
        if len(parts) == 4 and parts[0] == "projects" and parts[2] == "instances":
            project, instance_id = parts[1].lower(), parts[3]
            instance = self._get_instance(caller, project, instance_id)
            query = req.query
            if req.method == "POST" and "downloads" in query:
                result = instance.result
                if result is None or result.columns is None:
                    return ServiceResult(
                        OdpsError(
                            400, "InstanceTypeNotSupported", "Only SELECT results can be downloaded through the tunnel"
                        ).to_response("")
                    )
                download_id = secrets.token_hex(12)
                with self.state.lock:
                    instance.downloads.add(download_id)
                return ServiceResult(Response.json(self._session(instance, download_id), status=201))
            download_id = query.get("downloadid", "")
            if req.method == "GET" and download_id:
                if download_id not in instance.downloads:
                    raise odps_errors.no_such_object(f"download session {download_id}")
                if "data" not in query:
                    return ServiceResult(Response.json(self._session(instance, download_id)))
                return ServiceResult(self._download(instance, query))
        raise OdpsError(404, "NoSuchObject", f"The tunnel does not serve {req.path}")

    @staticmethod
    def _session(instance: Instance, download_id: str) -> dict[str, object]:
        result = instance.result
        assert result is not None and result.columns is not None
        return tunnel.session_json(download_id, result.columns, [], len(result.rows))

    @staticmethod
    def _download(instance: Instance, query: dict[str, str]) -> Response:
        result = instance.result
        assert result is not None and result.columns is not None
        start, count = 0, len(result.rows)
        rowrange = query.get("rowrange")
        if rowrange:
            try:
                start, count = (int(x) for x in rowrange.strip("()").split(","))
            except ValueError:
                raise odps_errors.invalid_argument(f"invalid rowrange {rowrange!r}") from None
        columns = result.columns
        rows = [list(r) for r in result.rows[start : start + count]]
        wanted = query.get("columns")
        if wanted:
            names = [c.lower() for c in wanted.split(",")]
            index = {c.name.lower(): i for i, c in enumerate(columns)}
            if any(n not in index for n in names):
                raise odps_errors.invalid_argument(f"unknown column in {wanted!r}")
            columns = [columns[index[n]] for n in names]
            rows = [[r[index[n]] for n in names] for r in rows]
        body = tunnel.encode_stream(columns, rows)
        return Response(status=200, body=body, content_type="application/octet-stream")

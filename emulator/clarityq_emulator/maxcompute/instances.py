"""SQL instances on the REST API: submit, status, results, listing, queueing info, stop.

Submitting needs ``CreateInstance`` on the project; each statement's tables are then checked in
order (``Select``, ``Update``, ``CreateTable``, ``Drop``, ``Describe``, ``Alter``, ``List``) and a
denial fails the instance with the SQL-form text (``ODPS-0130013``), as at compile time. An
instance runs to completion when it is submitted, so it is always ``Terminated`` when read, and
stopping it is refused with ``InvalidStateSetting``.
"""

from __future__ import annotations

import json
import secrets
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.state import EmulatorState
from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.authorization.model import display_name
from clarityq_emulator.maxcompute.common import REST_PREFIX, ServiceResult, cdata, http_date
from clarityq_emulator.maxcompute.errors import OdpsError
from clarityq_emulator.maxcompute.models import Instance
from clarityq_emulator.maxcompute.reads import authorize_read
from clarityq_emulator.maxcompute.sql.catalog import StatementAccess, TableRef
from clarityq_emulator.maxcompute.sql.errors import SqlError
from clarityq_emulator.maxcompute.sql.values import result_descriptor, result_to_csv
from clarityq_emulator.maxcompute.tables import page_size
from clarityq_emulator.ram.models import Caller

READ_ONLY_KINDS = frozenset({"select", "desc", "show_tables", "show_partitions", "set"})


def submit(state: EmulatorState, req: Request, caller: Caller, project: str) -> ServiceResult:
    state.security.check(caller, project, "CreateInstance")
    try:
        root = ET.fromstring(req.body)
    except ET.ParseError as exc:
        raise odps_errors.invalid_argument(f"ODPS-0420411:Invalid argument - malformed instance XML: {exc}") from None
    job = root.find("Job")
    sql_task = root.find("Job/Tasks/SQL")
    query_el = root.find("Job/Tasks/SQL/Query")
    if job is None or sql_task is None or query_el is None or not (query_el.text or "").strip():
        raise odps_errors.invalid_argument("ODPS-0420411:Invalid argument - only SQL tasks with a query are supported")
    sql = query_el.text or ""
    instance_id = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(8)
    start = state.clock()
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
        accesses = state.engine.analyze(sql, project)
        authorize_sql(state, caller, accesses, project)
        mutated = any(a.kind not in READ_ONLY_KINDS for a in accesses)
        instance.result = state.engine.execute(sql, project, owner=instance.owner)
        _follow_objects(state, accesses)
    except SqlError as exc:
        instance.error = exc.message
    except OdpsError as exc:
        instance.error = exc.message.replace(
            "ODPS-0420095: Access Denied - ", "ODPS-0130013:Authorization exception - ", 1
        )
    instance.end_time = state.clock()
    state.instances.add(instance)
    location = f"http://{req.header('host')}{REST_PREFIX}/projects/{project}/instances/{instance_id}"
    return ServiceResult(Response(status=201, headers={"Location": location}), statement=sql, mutated=mutated)


def _follow_objects(state: EmulatorState, accesses: list[StatementAccess]) -> None:
    """Grants are a sub-resource of their object (seed 002): they go when it goes, move when it moves."""
    for access in accesses:
        for ref in access.drops:
            if state.engine.get_table(ref.project, ref.name) is None:
                state.security.forget_object(ref.project, "table", ref.name)
        for old, new in access.renames:
            if state.engine.get_table(new.project, new.name) is not None:
                state.security.rename_object(old.project, "table", old.name, new.name)


def authorize_sql(state: EmulatorState, caller: Caller, accesses: list[StatementAccess], project: str) -> None:
    """Checks of a script, in statement order: reads column by column (:mod:`.reads`, packages
    included), the rest table by table; missing tables are left to the engine."""
    security, engine = state.security, state.engine

    def check(refs: tuple[TableRef, ...], action: str) -> None:
        for ref in refs:
            meta = engine.get_table(ref.project, ref.name)
            if meta is not None:
                security.check(caller, ref.project, action, "table", meta.name, creator=meta.owner)

    for access in accesses:
        read_columns = dict(_columns_by_table(access))
        for ref in access.reads:
            meta = engine.get_table(ref.project, ref.name)
            if meta is None:
                security.require_member(caller, ref.project)
                continue
            authorize_read(state, caller, project, meta, read_columns.get(ref, ()))
        check(access.writes, "Update")
        for ref in access.creates:
            security.check(caller, ref.project, "CreateTable")
        check(access.drops, "Drop")
        check(access.describes, "Describe")
        check(access.alters, "Alter")
        for listed in access.lists:
            security.check(caller, listed, "List")


def _columns_by_table(access: StatementAccess) -> dict[TableRef, tuple[str, ...] | None]:
    """Columns read per table across its occurrences (None once any occurrence reads all)."""
    merged: dict[TableRef, tuple[str, ...] | None] = {}
    for ref, columns in access.columns:
        if ref in merged and merged[ref] is None:
            continue
        merged[ref] = None if columns is None else tuple(sorted({*(merged.get(ref) or ()), *columns}))
    return merged


def get_instance(state: EmulatorState, caller: Caller, project: str, instance_id: str) -> Instance:
    state.security.require_member(caller, project)
    instance = state.instances.get(instance_id)
    if instance is None or instance.project != project:
        raise odps_errors.no_such_object(f"instance {instance_id}")
    if instance.owner != display_name(caller):
        state.security.check(caller, project, "Read", "instance", instance_id)
    return instance


def _instance_xml(instance: Instance) -> str:
    return (
        f"<Instance><Name>{instance.id}</Name><Owner>{escape(instance.owner)}</Owner>"
        f"<StartTime>{http_date(instance.start_time)}</StartTime><EndTime>{http_date(instance.end_time)}</EndTime>"
        f"<Status>{instance.status}</Status></Instance>"
    )


def _filtered(state: EmulatorState, req: Request, caller: Caller, project: str) -> list[Instance]:
    query = req.query
    instances = state.instances.of_project(project)
    status = query.get("status", "")
    if status:
        instances = [i for i in instances if i.status.lower() == status.lower()]
    if query.get("onlyowner", "").lower() == "yes":
        instances = [i for i in instances if i.owner == display_name(caller)]
    if query.get("daterange"):
        low, _, high = query["daterange"].partition(":")
        try:
            lo, hi = (float(low) if low else None), (float(high) if high else None)
        except ValueError:
            raise odps_errors.invalid_argument(f"daterange {query['daterange']!r} is not start:end seconds") from None
        instances = [i for i in instances if (lo is None or i.start_time >= lo) and (hi is None or i.start_time <= hi)]
    return instances


def list_instances(state: EmulatorState, req: Request, caller: Caller, project: str) -> ServiceResult:
    """``GET /projects/{p}/instances``: needs ``List`` on the project; newest first, paged by ``marker``."""
    state.security.check(caller, project, "List")
    instances = sorted(_filtered(state, req, caller, project), key=lambda i: (i.start_time, i.id), reverse=True)
    marker = req.query.get("marker") or ""
    ids = [i.id for i in instances]
    start = ids.index(marker) + 1 if marker in ids else 0
    size = page_size(req.query)
    page = instances[start : start + size]
    next_marker = page[-1].id if page and start + size < len(instances) else ""
    items = "".join(_instance_xml(i) for i in page)
    body = f"<Instances>{items}<Marker>{next_marker}</Marker><MaxItems>{size}</MaxItems></Instances>"
    return ServiceResult(Response.xml(body))


def _queueing_info(instance: Instance) -> dict[str, object]:
    return {
        "instanceId": instance.id,
        "instancePriority": 9,
        "instanceProcess": 1.0,
        "jobName": "",
        "projectName": instance.project,
        "skynetId": "",
        "startTime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(instance.start_time)),
        "taskType": "SQL",
        "taskName": "AnonymousSQLTask",
        "userAccount": instance.owner,
        "status": instance.status,
    }


def cached_instances(state: EmulatorState, req: Request, caller: Caller, project: str) -> ServiceResult:
    """``GET /projects/{p}/cachedinstances``: queueing information; by default the unfinished ones (none)."""
    state.security.check(caller, project, "List")
    instances = _filtered(state, req, caller, project)
    if not req.query.get("status"):
        instances = [i for i in instances if i.status != "Terminated"]
    content = json.dumps([_queueing_info(i) for i in instances])
    body = f"<Instances><Content>{cdata(content)}</Content><Marker></Marker><MaxItems>1000</MaxItems></Instances>"
    return ServiceResult(Response.xml(body))


def instance(state: EmulatorState, req: Request, caller: Caller, project: str, instance_id: str) -> ServiceResult:
    found = get_instance(state, caller, project, instance_id)
    query = req.query
    status_headers = {
        "x-odps-owner": found.owner,
        "x-odps-start-time": http_date(found.start_time),
        "x-odps-end-time": http_date(found.end_time),
    }
    if req.method == "PUT":
        if found.owner != display_name(caller):
            state.security.check(caller, project, "Write", "instance", instance_id)
        raise odps_errors.invalid_state(instance_id, found.status)
    if req.method != "GET":
        raise odps_errors.method_not_allowed(req.method, req.path)
    task_status = "Success" if found.succeeded else "Failed"
    if "taskstatus" in query:
        body = (
            '<Instance><Status>Terminated</Status><Tasks><Task Type="SQL"><Name>AnonymousSQLTask</Name>'
            f"<StartTime>{http_date(found.start_time)}</StartTime><EndTime>{http_date(found.end_time)}"
            f"</EndTime><Status>{task_status}</Status><Histories/></Task></Tasks></Instance>"
        )
        return ServiceResult(Response.xml(body, headers=status_headers))
    if "result" in query:
        return ServiceResult(Response.xml(_result_xml(found)))
    if "source" in query:
        return ServiceResult(Response.xml(found.job_xml))
    if "instanceprogress" in query:
        return ServiceResult(Response.xml("<Progress></Progress>"))
    if "cached" in query:
        return ServiceResult(Response.json(_queueing_info(found)))
    if "instancesummary" in query:
        rows = len(found.result.rows) if found.result is not None else 0
        summary = {
            "Instance": {
                "JsonSummary": json.dumps({"records": rows}),
                "Summary": f"resource cost: emulator\nrecords: {rows}",
            }
        }
        return ServiceResult(Response.json(summary, headers={"x-odps-task-finalized": "true"}))
    if "instancedetail" in query:
        return ServiceResult(Response.json({"Instance": {"Status": "Terminated"}}))
    return ServiceResult(Response.xml(_instance_xml(found), headers=status_headers))


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

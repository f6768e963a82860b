"""Tables, views and partitions on the REST API: list, describe, list and describe partitions.

Describing needs ``Describe`` on the table, listing ``List`` on the project (seed 002). The schema
JSON is what pyodps' ``Table`` model reads; clustering and storage go in its ``Reserved`` object.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from xml.sax.saxutils import escape

from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.state import EmulatorState
from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.common import ServiceResult, cdata
from clarityq_emulator.maxcompute.sql.catalog import Column, PartitionInfo, TableMeta
from clarityq_emulator.maxcompute.tunnel.codec import parse_partition_spec
from clarityq_emulator.ram.models import Caller

PAGE_SIZE = 100


def page_size(query: dict[str, str]) -> int:
    try:
        return max(1, min(int(query.get("maxitems") or PAGE_SIZE), 1000))
    except ValueError:
        raise odps_errors.invalid_argument("maxitems must be an integer") from None


def table_meta(state: EmulatorState, project: str, name: str) -> TableMeta:
    meta = state.engine.get_table(project, name)
    if meta is None:
        raise odps_errors.no_such_table(project, name.lower())
    return meta


def _type(meta: TableMeta) -> str:
    return "VIRTUAL_VIEW" if meta.is_view else "MANAGED_TABLE"


def list_tables(state: EmulatorState, req: Request, caller: Caller, project: str) -> ServiceResult:
    state.security.check(caller, project, "List")
    query = req.query
    tables = state.engine.list_tables(project, query.get("name") or None)
    if query.get("owner"):
        tables = [t for t in tables if t.owner == query["owner"]]
    if query.get("type"):
        tables = [t for t in tables if _type(t) == query["type"].upper()]
    marker = query.get("marker") or ""
    if marker:
        tables = [t for t in tables if t.name > marker]
    size = page_size(query)
    page, more = tables[:size], len(tables) > size
    items = "".join(
        f"<Table><Name>{escape(t.name)}</Name><Owner>{escape(t.owner)}</Owner><Type>{_type(t)}</Type></Table>"
        for t in page
    )
    next_marker = escape(page[-1].name) if more and page else ""
    body = f"<Tables>{items}<Marker>{next_marker}</Marker><MaxItems>{size}</MaxItems></Tables>"
    return ServiceResult(Response.xml(body))


def _column_json(column: Column, labels: dict[str, int]) -> dict[str, Any]:
    """A column; ``label`` only when the column carries its own sensitivity label."""
    out: dict[str, Any] = {
        "name": column.name,
        "type": column.type,
        "comment": column.comment,
        "isNullable": not column.not_null,
    }
    if column.name.lower() in labels:
        out["label"] = str(labels[column.name.lower()])
    return out


def _schema(state: EmulatorState, meta: TableMeta) -> dict[str, Any]:
    security = state.security.get(meta.project)
    column_labels = security.labels.columns.get(meta.name.lower(), {}) if security is not None else {}
    table_label = security.labels.tables.get(meta.name.lower(), 0) if security is not None else 0
    reserved: dict[str, Any] = {"Transactional": "false"}
    if meta.cluster is not None:
        reserved.update(meta.cluster)
    if meta.stored_as is not None:
        reserved["StoredAs"] = meta.stored_as
    schema: dict[str, Any] = {
        "comment": meta.comment,
        "owner": meta.owner,
        "createTime": meta.create_time,
        "lastDDLTime": meta.last_ddl_time,
        "lastModifiedTime": meta.last_modified_time,
        "lifecycle": meta.lifecycle if meta.lifecycle is not None else -1,
        "isVirtualView": meta.is_view,
        "isMaterializedView": False,
        "size": 0,
        "recordNum": state.engine.record_count(meta.project, meta.name),
        "columns": [_column_json(c, column_labels) for c in meta.columns],
        "partitionKeys": [{"name": c.name, "type": c.type, "comment": c.comment} for c in meta.partition_keys],
        "Reserved": json.dumps(reserved),
        "tableLabel": str(table_label),
    }
    if meta.view_text is not None:
        schema["viewText"] = meta.view_text
    if meta.properties:
        schema["tableProperties"] = json.dumps(meta.properties)
    return schema


def get_table(state: EmulatorState, req: Request, caller: Caller, project: str, name: str) -> ServiceResult:
    state.security.require_member(caller, project)
    meta = table_meta(state, project, name)
    state.security.check(caller, project, "Describe", "table", meta.name, creator=meta.owner)
    if "partitions" in req.query:
        return _list_partitions(state, req, meta)
    if "partition" in req.query:
        return _get_partition(state, req, meta)
    table_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{project}.{meta.name}").hex
    body = (
        f"<Table><Name>{escape(meta.name)}</Name><TableId>{table_id}</TableId>"
        f"<Owner>{escape(meta.owner)}</Owner><Type>{_type(meta)}</Type>"
        f'<Schema format="json">{cdata(json.dumps(_schema(state, meta)))}</Schema></Table>'
    )
    return ServiceResult(Response.xml(body))


def _partition_times(meta: TableMeta, spec: dict[str, str]) -> PartitionInfo:
    return meta.partition_info.get(
        meta.spec_key(spec), PartitionInfo(meta.create_time, meta.last_ddl_time, meta.last_modified_time)
    )


def _partition_xml(state: EmulatorState, meta: TableMeta, spec: dict[str, str], *, columns: bool) -> str:
    info = _partition_times(meta, spec)
    records = state.engine.record_count(meta.project, meta.name, spec)
    schema = {
        "createTime": info.create_time,
        "lastDDLTime": info.last_ddl_time,
        "lastModifiedTime": info.last_modified_time,
        "partitionSize": 0,
        "partitionRecordNum": records,
    }
    cols = "".join(f'<Column Name="{escape(k)}" Value="{escape(v)}"/>' for k, v in spec.items()) if columns else ""
    return f"<Partition>{cols}<Schema>{cdata(json.dumps(schema))}</Schema></Partition>"


def _partition_of(state: EmulatorState, meta: TableMeta, text: str) -> dict[str, str]:
    try:
        wanted = parse_partition_spec(text)
    except ValueError as exc:
        raise odps_errors.invalid_argument(str(exc)) from None
    if not meta.partition_keys:
        raise odps_errors.invalid_argument(f"table {meta.project}.{meta.name} is not partitioned")
    return wanted


def _list_partitions(state: EmulatorState, req: Request, meta: TableMeta) -> ServiceResult:
    query = req.query
    specs = state.engine.partitions(meta.project, meta.name)
    if query.get("partition"):
        prefix = _partition_of(state, meta, query["partition"])
        specs = [s for s in specs if all(s.get(k) == v for k, v in prefix.items())]
    if "reverse" in query:
        specs.reverse()
    keys = [meta.spec_key(s) for s in specs]
    marker = query.get("marker") or ""
    start = keys.index(marker) + 1 if marker in keys else 0
    size = page_size(query)
    page = specs[start : start + size]
    more = start + size < len(specs)
    items = "".join(_partition_xml(state, meta, spec, columns=True) for spec in page)
    next_marker = escape(meta.spec_key(page[-1])) if more and page else ""
    body = f"<Partitions>{items}<Marker>{next_marker}</Marker><MaxItems>{size}</MaxItems></Partitions>"
    return ServiceResult(Response.xml(body))


def _get_partition(state: EmulatorState, req: Request, meta: TableMeta) -> ServiceResult:
    spec = _partition_of(state, meta, req.query["partition"])
    if len(spec) != len(meta.partition_keys) or not state.engine.has_partition(meta.project, meta.name, spec):
        raise odps_errors.no_such_partition(meta.project, meta.name, req.query["partition"])
    spec = state.engine.partition_spec(meta.project, meta.name, spec)
    return ServiceResult(Response.xml(_partition_xml(state, meta, spec, columns=True)))

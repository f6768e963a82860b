"""Resources on the REST API: list, create, read (content and meta), update and delete.

Permissions per seed 002: listing needs ``List`` and creating ``CreateResource`` on the project;
reading needs ``Read``, updating ``Write`` and deleting ``Delete`` on the resource (its creator has
them all). File resources keep their content; a table resource records the table it names.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.state import EmulatorState
from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.authorization.model import display_name
from clarityq_emulator.maxcompute.common import ServiceResult, http_date
from clarityq_emulator.maxcompute.models import RESOURCE_TYPES, Resource
from clarityq_emulator.maxcompute.tables import page_size
from clarityq_emulator.ram.models import Caller

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


def route(state: EmulatorState, req: Request, caller: Caller, project: str, rest: list[str]) -> ServiceResult:
    state.security.require_member(caller, project)
    if len(rest) == 1:
        if req.method == "GET":
            return _list(state, req, caller, project)
        if req.method == "POST":
            return _create(state, req, caller, project, None)
    elif len(rest) == 2:
        name = rest[1]
        if req.method == "PUT":
            return _create(state, req, caller, project, name)
        existing = state.resources.get(project, name)
        if existing is None:
            raise odps_errors.no_such_resource(project, name)
        if req.method in ("GET", "HEAD"):
            state.security.check(caller, project, "Read", "resource", existing.name, creator=existing.owner)
            return _read(req, existing)
        if req.method == "DELETE":
            state.security.check(caller, project, "Delete", "resource", existing.name, creator=existing.owner)
            state.resources.delete(project, name)
            state.security.forget_object(project, "resource", existing.name)
            return ServiceResult(Response(status=204), mutated=True)
    raise odps_errors.method_not_allowed(req.method, req.path)


def _xml(resource: Resource) -> str:
    table = f"<TableName>{escape(resource.source_table)}</TableName>" if resource.source_table else ""
    return (
        f"<Resource><Name>{escape(resource.name)}</Name><Owner>{escape(resource.owner)}</Owner>"
        f"<Comment>{escape(resource.comment)}</Comment><ResourceType>{resource.type}</ResourceType>"
        f"<CreationTime>{http_date(resource.created)}</CreationTime>"
        f"<LastModifiedTime>{http_date(resource.modified)}</LastModifiedTime>"
        f"<LastUpdator>{escape(resource.updator or resource.owner)}</LastUpdator>"
        f"<ResourceSize>{len(resource.content)}</ResourceSize>{table}</Resource>"
    )


def _list(state: EmulatorState, req: Request, caller: Caller, project: str) -> ServiceResult:
    state.security.check(caller, project, "List")
    query = req.query
    resources = state.resources.list(project)
    if query.get("name"):
        resources = [r for r in resources if r.name.lower().startswith(query["name"].lower())]
    if query.get("owner"):
        resources = [r for r in resources if r.owner == query["owner"]]
    marker = (query.get("marker") or "").lower()
    if marker:
        resources = [r for r in resources if r.name.lower() > marker]
    size = page_size(query)
    page = resources[:size]
    next_marker = escape(page[-1].name) if page and len(resources) > size else ""
    body = (
        f"<Resources>{''.join(_xml(r) for r in page)}<Marker>{next_marker}</Marker>"
        f"<MaxItems>{size}</MaxItems></Resources>"
    )
    return ServiceResult(Response.xml(body))


def _create(
    state: EmulatorState, req: Request, caller: Caller, project: str, name_in_path: str | None
) -> ServiceResult:
    name = req.header("x-odps-resource-name") or (name_in_path or "")
    kind = req.header("x-odps-resource-type").lower()
    if not _NAME.match(name):
        raise odps_errors.invalid_argument(f"ODPS-0420111:Invalid argument - resource name {name!r}")
    if kind not in RESOURCE_TYPES:
        raise odps_errors.invalid_argument(
            f"ODPS-0420111:Invalid argument - resource type {kind!r}; one of {', '.join(RESOURCE_TYPES)}"
        )
    if name_in_path is not None and name.lower() != name_in_path.lower():
        raise odps_errors.invalid_argument("the resource name in the path and in x-odps-resource-name differ")
    existing = state.resources.get(project, name)
    me = display_name(caller)
    now = state.clock()
    if name_in_path is None:
        state.security.check(caller, project, "CreateResource")
        if existing is not None:
            raise odps_errors.already_exists(f"resource {project}/resources/{name}")
    else:
        if existing is None:
            raise odps_errors.no_such_resource(project, name)
        state.security.check(caller, project, "Write", "resource", existing.name, creator=existing.owner)
    source_table = None
    if kind == "table":
        source_table = req.header("x-odps-copy-table-source")
        table_project, _, table = source_table.partition(".")
        table = table.split(" ", 1)[0].split("/", 1)[0]
        if not table or state.engine.get_table(table_project.lower(), table) is None:
            raise odps_errors.no_such_table(table_project.lower(), table.lower())
    resource = Resource(
        name=existing.name if existing else name,
        type=kind,
        owner=existing.owner if existing else me,
        created=existing.created if existing else now,
        modified=now,
        comment=req.header("x-odps-comment", existing.comment if existing else ""),
        content=b"" if kind == "table" else req.body,
        source_table=source_table,
        updator=me,
    )
    try:
        state.resources.put(project, resource)
    except ValueError as exc:
        raise odps_errors.invalid_argument(str(exc)) from None
    state.security.register_objects(project, resources=[resource.name])
    return ServiceResult(Response(status=201 if existing is None else 200), mutated=True)


def _read(req: Request, resource: Resource) -> ServiceResult:
    headers = {
        "x-odps-owner": resource.owner,
        "x-odps-resource-type": resource.type,
        "x-odps-comment": resource.comment,
        "x-odps-updator": resource.updator or resource.owner,
        "x-odps-resource-size": str(len(resource.content)),
        "x-odps-creation-time": http_date(resource.created),
        "Last-Modified": http_date(resource.modified),
        "Content-MD5": resource.md5,
    }
    if resource.source_table:
        headers["x-odps-copy-table-source"] = resource.source_table
    if "meta" in req.query:
        return ServiceResult(Response(status=200, headers=headers))
    try:
        offset = int(req.query.get("rOffset") or 0)
        size = int(req.query.get("rSize") or len(resource.content))
    except ValueError:
        raise odps_errors.invalid_argument("rOffset and rSize are byte counts") from None
    if offset < 0 or size < 0:
        raise odps_errors.invalid_argument("rOffset and rSize are byte counts")
    body = resource.content[offset : offset + size]
    headers["x-odps-resource-has-remaining"] = "true" if offset + size < len(resource.content) else "false"
    return ServiceResult(Response(status=200, body=body, content_type="application/octet-stream", headers=headers))

"""Projects on the REST API: the project (properties, extended properties) and the project list.

Reading a project needs membership (a decision: the real service may also want ``Read``); the
list shows the projects the caller is a member of. Extended properties are the emulator's own
counts (the real keys are not documented).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.state import EmulatorState
from clarityq_emulator.maxcompute.authorization.model import ProjectSecurity
from clarityq_emulator.maxcompute.common import ServiceResult, http_date
from clarityq_emulator.maxcompute.tables import page_size
from clarityq_emulator.ram.models import Caller

_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _properties(tag: str, values: dict[str, str]) -> str:
    items = "".join(
        f"<Property><Name>{escape(k)}</Name><Value>{escape(v)}</Value></Property>" for k, v in sorted(values.items())
    )
    return f"<{tag}>{items}</{tag}>"


def _project_xml(info: ProjectSecurity, extra: str = "") -> str:
    created = http_date(info.created)
    return (
        f"<Project><Name>{escape(info.name)}</Name><Type>managed</Type><Comment>{escape(info.comment)}</Comment>"
        f"<State>{info.state}</State><Owner>{escape(info.owner_display)}</Owner>"
        f"<CreationTime>{created}</CreationTime><LastModifiedTime>{created}</LastModifiedTime>"
        f"{_properties('Properties', info.properties)}{extra}</Project>"
    )


def get_project(state: EmulatorState, req: Request, caller: Caller, project: str) -> ServiceResult:
    info = state.security.require_member(caller, project)
    extra = ""
    if "extended" in req.query:
        tables = state.engine.list_tables(project)
        extended = {
            "tableCount": str(sum(not t.is_view for t in tables)),
            "viewCount": str(sum(t.is_view for t in tables)),
            "resourceCount": str(len(state.resources.list(project))),
            "instanceCount": str(len(state.instances.of_project(project))),
        }
        extra = _properties("ExtendedProperties", extended)
    created = http_date(info.created)
    headers = {"x-odps-owner": info.owner_display, "x-odps-creation-time": created, "Last-Modified": created}
    return ServiceResult(Response.xml(_XML_HEAD + _project_xml(info, extra), headers=headers))


def list_projects(state: EmulatorState, req: Request, caller: Caller) -> ServiceResult:
    query = req.query
    names = sorted(state.security.projects)
    visible = [state.security.projects[n] for n in names if state.security.projects[n].is_member(caller)]
    if query.get("name"):
        visible = [p for p in visible if p.name.startswith(query["name"].lower())]
    if query.get("owner"):
        visible = [p for p in visible if p.owner_display == query["owner"]]
    marker = query.get("marker") or ""
    if marker:
        visible = [p for p in visible if p.name > marker]
    size = page_size(query)
    page = visible[:size]
    next_marker = escape(page[-1].name) if page and len(visible) > size else ""
    items = "".join(_project_xml(p) for p in page)
    body = f"{_XML_HEAD}<Projects>{items}<Marker>{next_marker}</Marker><MaxItems>{size}</MaxItems></Projects>"
    return ServiceResult(Response.xml(body))

"""Parsers for the answers MaxCompute gives: user and role lists, ``SHOW GRANTS``, ``DESCRIBE ROLE``, ``SHOW ACL``.

The one place that reads these answers (odpscmd text, or the JSON pyodps asks for) into the typed
:class:`~.state.GrantsReport`, for the grants planner and the health audit alike. A result whose shape is not
recognised raises :class:`StateParseError` instead of reading as "no grants".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_clarityq.core.errors import ClarityQError, ConfigurationError, one_line
from airflow_provider_clarityq.core.grants.model import ACTIONS_BY_TYPE, Action, Grant, Grantee, ObjectRef, ObjectType
from airflow_provider_clarityq.core.grants.state import ACS_PREFIX_RE, GrantLine, GrantsReport

__all__ = [
    "StateParseError",
    "parse_describe_role",
    "parse_list_roles",
    "parse_list_users",
    "parse_show_acl",
    "parse_show_grants",
    "parse_show_label_grants",
    "parse_show_packages",
    "role_download_and_package_reads",
]

_MAX_SHOWN = 300


class StateParseError(ClarityQError):
    """A read-back result has a shape this provider does not understand."""

    def __init__(self, what: str, problem: str) -> None:
        super().__init__(one_line(f"Cannot read the {what} result: {problem}"))


# --------------------------------------------------------------------------------------------------
# Lists


def parse_list_users(result: object) -> tuple[str, ...]:
    """Project members from ``LIST USERS`` text (one per line), JSON, or a list of names/records.

    Records may carry ``DisplayName``/``Name``/``ID`` (the REST ``<User>`` fields). Members are kept
    exactly as listed - including residual entries such as ``p4_...`` that are not principals.
    """
    return tuple(_names(result, "LIST USERS", ("users",), ("DisplayName", "Name", "ID")))


def parse_list_roles(result: object) -> frozenset[str]:
    """Role names (lower-cased) from ``LIST ROLES`` text, JSON, or a list of names/records (``Name``)."""
    return frozenset(n.lower() for n in _names(result, "LIST ROLES", ("roles",), ("Name", "DisplayName")))


def _names(result: object, what: str, keys: Sequence[str], fields: Sequence[str]) -> list[str]:
    if isinstance(result, str):
        text = result.strip()
        if text.startswith(("[", "{")):
            return _names(_load_json(text, what), what, keys, fields)
        return [line.strip() for line in text.splitlines() if line.strip()]
    if isinstance(result, Mapping):
        for key, value in result.items():
            if str(key).lower() in keys:
                return _names(value, what, keys, fields)
        raise StateParseError(what, f"a JSON object without a {'/'.join(keys)} key ({_show(result)})")
    if isinstance(result, (list, tuple)):
        return [_record_name(item, what, fields) for item in result]
    raise StateParseError(what, f"unexpected {type(result).__name__} ({_show(result)})")


def _record_name(item: object, what: str, fields: Sequence[str]) -> str:
    if isinstance(item, str):
        return item.strip()
    if isinstance(item, Mapping):
        for name in fields:
            value = item.get(name)
            if isinstance(value, str) and value:
                return value.strip()
    raise StateParseError(what, f"an entry without {'/'.join(fields)} ({_show(item)})")


# --------------------------------------------------------------------------------------------------
# SHOW GRANTS / DESCRIBE ROLE / SHOW ACL


def parse_show_grants(result: object, grantee: Grantee | str | None, *, project: str) -> GrantsReport:
    """Parse ``SHOW GRANTS [FOR ROLE <r> | FOR <principal>]``, text or JSON.

    ``grantee`` (a role name or a :class:`Grantee`; None when unknown) owns entries printed without a
    ``[role/...]`` or ``[user/...]`` header; ``project`` is the project the statement ran in, whose
    spelling is used for resources printed with another case.
    """
    owner = Grantee.role(grantee) if isinstance(grantee, str) else grantee
    return _parse(result, "SHOW GRANTS", project=project, grantee=owner, obj=None)


def parse_describe_role(result: object, role: str, *, project: str) -> GrantsReport:
    """Parse ``DESCRIBE ROLE <r>``: ``[users]`` members, then the role's ACL without headers."""
    return _parse(result, "DESCRIBE ROLE", project=project, grantee=Grantee.role(role), obj=None)


def parse_show_acl(result: object, obj: ObjectRef) -> GrantsReport:
    """Parse ``SHOW ACL FOR <object>`` (text) or ``SHOW GRANTS ON <object>`` (dbt-maxcompute's JSON form)."""
    return _parse(result, "SHOW ACL", project=obj.project, grantee=None, obj=obj)


@dataclass
class _Context:
    what: str
    project: str
    grantee: Grantee | None
    obj: ObjectRef | None
    grants: set[Grant] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    members: list[str] = field(default_factory=list)
    out_of_band: list[str] = field(default_factory=list)
    lines: list[GrantLine] = field(default_factory=list)

    def report(self) -> GrantsReport:
        return GrantsReport(
            frozenset(self.grants),
            frozenset(self.roles),
            tuple(self.members),
            tuple(self.out_of_band),
            tuple(self.lines),
        )

    def add(
        self,
        grantee: Grantee | None,
        resource: str | None,
        actions: Sequence[str],
        source: str,
        *,
        section: str = "acl",
        effect: str = "Allow",
    ) -> None:
        """Record an entry; plain ACL grants become typed grants, the rest (another section, a Deny, an unknown
        object, grantee or action) is out of band: reported, never managed."""
        names = tuple(a.split(":", 1)[-1] for a in actions)
        where = resource if resource is not None else (self.obj.path if self.obj is not None else "")
        self.lines.append(GrantLine(section, grantee, where, names, effect))
        obj = _object_from_resource(resource, self.project) if resource is not None else self.obj
        if section != "acl" or effect != "Allow" or grantee is None or obj is None:
            self.out_of_band.append(source)
            return
        unknown = []
        for name in names:
            found = _find_actions(obj.type, name)
            unknown += [] if found else [name]
            self.grants.update(Grant(grantee, obj, action) for action in found)
        if unknown:
            self.out_of_band.append(f"{source} (unrecognised action(s): {', '.join(unknown)})")


def _parse(result: object, what: str, *, project: str, grantee: Grantee | None, obj: ObjectRef | None) -> GrantsReport:
    ctx = _Context(what, project, grantee, obj)
    result = _answer(result, what)
    if isinstance(result, Mapping):
        _parse_json(result, ctx)
    elif isinstance(result, str):
        _parse_text(result, ctx)
    else:
        raise StateParseError(what, f"expected text or a JSON object, got {type(result).__name__}")
    return ctx.report()


# ---- text


_SECTION_RE = re.compile(r"authorization\s+type\s*:\s*(?P<name>\S+)", re.IGNORECASE)
_ENTRY_RE = re.compile(r"(?P<flags>[A-Z]{1,4})\s+(?P<body>\S.*)")
_EXPIRES_RE = re.compile(r"\s+Expires:\S*$")
_INLINE_GRANTEE_RE = re.compile(r"(?P<kind>[a-z_]+)/(?P<name>[^()]+)\((?P<resource>[^()]+)\)")


def _parse_text(text: str, ctx: _Context) -> None:
    section: str | None = None
    block: str | None = None
    grantee = ctx.grantee
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        section_match = _SECTION_RE.fullmatch(line)
        if section_match:
            section, block, grantee = section_match["name"].lower(), None, ctx.grantee
        elif line.lower() in ("[roles]", "[users]"):
            block = line[1:-1].lower()
        elif line.startswith("[") and line.endswith("]"):
            block, grantee = None, _header_grantee(line[1:-1])
        elif block is not None:
            _block_line(ctx, block, line)
        elif section is None and not _ENTRY_RE.fullmatch(line):
            raise StateParseError(
                ctx.what, f"unrecognised text before any 'Authorization Type:' section ({_show(line)})"
            )
        else:  # an entry before any "Authorization Type:" line is an ACL entry of the statement's own grantee
            _entry_line(ctx, section or "acl", grantee, line)


def _block_line(ctx: _Context, block: str, line: str) -> None:
    if block == "roles":
        ctx.roles.add(line.lower())
    else:
        ctx.members.append(line)


def _header_grantee(header: str) -> Grantee | None:
    """``role/x`` -> role; ``user/<principal>`` or a bare principal -> user; anything else -> None."""
    kind, slash, name = header.partition("/")
    try:
        if slash and kind.lower() == "role":
            return Grantee.role(name)
        return Grantee.user(name if slash and kind.lower() == "user" else header)
    except ConfigurationError:
        return None


def _entry_line(ctx: _Context, section: str, grantee: Grantee | None, line: str) -> None:
    """``A  projects/p/tables/t: Describe | Select`` (flags: A allow, D deny, C/G conditional or grantable)."""
    entry = _ENTRY_RE.fullmatch(line)
    body = _EXPIRES_RE.sub("", entry["body"]) if entry else ""
    resource, sep, actions = body.rpartition(": ")
    if entry is None or not sep:  # a layout this parser does not know: reported, never managed
        ctx.out_of_band.append(f"{section}: {line}")
        return
    inline = _INLINE_GRANTEE_RE.fullmatch(resource)
    if inline:  # SHOW ACL layout: role/<r>(<resource>) or user/<principal>(<resource>)
        grantee = _header_grantee(f"{inline['kind']}/{inline['name']}") if inline["kind"] in ("role", "user") else None
        resource = inline["resource"]
    flags = entry["flags"]  # A allow, D deny, C with a condition, G grantable
    conditional = section == "acl" and "C" in flags
    ctx.add(
        grantee,
        resource,
        [a.strip() for a in actions.split("|") if a.strip()],
        f"{section}: {line}",
        section="acl-conditional" if conditional else section,
        effect="Deny" if "D" in flags else "Allow",
    )


# ---- JSON


_JSON_SECTIONS = ("acl", "policy", "objectcreator", "implicit", "installedobjectacl", "installedobjecacl")
#: Keys that describe the object the answer is about (``DESCRIBE ROLE`` names the role and its
#: type); they carry no grant, so they are neither managed nor reported.
_JSON_DESCRIPTIVE = ("name", "type", "comment", "id", "displayname", "createtime")


def _parse_json(doc: Mapping[str, Any], ctx: _Context) -> None:
    keys = {str(k).lower(): k for k in doc}
    recognised = set(keys) & {*_JSON_SECTIONS, "roles", "users"}
    if doc and not recognised:
        raise StateParseError(ctx.what, f"a JSON object without ACL/Policy/Roles/Users keys ({_show(doc)})")
    for lower, key in keys.items():
        value = doc[key]
        if lower == "acl":
            _json_section(ctx, value, "acl")
        elif lower in _JSON_SECTIONS and value:
            _json_other_section(ctx, key, value, lower)
        elif lower == "roles":
            ctx.roles.update(n.lower() for n in _names(value, ctx.what, ("roles",), ("Name",)))
        elif lower == "users":
            ctx.members.extend(_names(value, ctx.what, ("users",), ("DisplayName", "Name", "ID")))
        elif lower in _JSON_DESCRIPTIVE:
            continue
        elif value:
            ctx.out_of_band.append(f"{key}: {_show(value)}")


def _json_section(ctx: _Context, value: object, section: str) -> None:
    """``{"<condition>": [entry, ...]}`` (dbt-maxcompute) or a bare list; only the ``""`` condition is plain."""
    groups = value if isinstance(value, Mapping) else {"": value}
    for condition, entries in groups.items():
        if not isinstance(entries, list):
            raise StateParseError(ctx.what, f"{section} entries are not a list ({_show(entries)})")
        for entry in entries:
            _json_entry(ctx, entry, section if not condition else f"{section}-conditional", condition)


def _json_other_section(ctx: _Context, key: str, value: object, section: str) -> None:
    """Policy, implicit and creator grants: read into lines when they have the ACL shape, else kept whole."""
    probe = _Context(ctx.what, ctx.project, ctx.grantee, ctx.obj)
    try:
        _json_section(probe, value, section)
    except StateParseError:
        ctx.out_of_band.append(f"{key}: {_show(value)}")
        return
    ctx.lines.extend(probe.lines)
    ctx.out_of_band.extend(probe.out_of_band)


def _json_entry(ctx: _Context, entry: object, section: str, condition: str = "") -> None:
    if not isinstance(entry, Mapping) or "Action" not in entry:
        raise StateParseError(ctx.what, f"an entry without 'Action' ({_show(entry)})")
    actions = _strings(entry["Action"], ctx.what)
    resources: list[str | None] = list(_strings(entry["Resource"], ctx.what)) if "Resource" in entry else [None]
    label = section.upper().replace("-CONDITIONAL", "") + (f"[{condition}]" if condition else "")
    source = f"{label}: {_show(entry)}"
    effect = str(entry.get("Effect") or "Allow")
    if "Principal" not in entry:
        for resource in resources:
            ctx.add(ctx.grantee, resource, actions, source, section=section, effect=effect)
        return
    for principal in _strings(entry["Principal"], ctx.what):
        inline = _INLINE_GRANTEE_RE.fullmatch(principal)
        text, resource_list = (
            (f"{inline['kind']}/{inline['name']}", [inline["resource"]]) if inline else (principal, resources)
        )
        grantee = _header_grantee(text) if text.split("/", 1)[0].lower() in ("role", "user") else None
        for resource in resource_list:
            ctx.add(grantee, resource, actions, source, section=section, effect=effect)


def _strings(value: object, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise StateParseError(what, f"expected a string or a list of strings ({_show(value)})")


# --------------------------------------------------------------------------------------------------
# Restrictions beyond ACL grants: labels, packages, Download


def parse_show_label_grants(result: object) -> tuple[int | None, frozenset[tuple[str, str, int]]]:
    """``SHOW LABEL GRANTS FOR USER <u>``: the user's own level and the unexpired explicit grants.

    JSON (``{"UserLabel": n, "Grants": [{"Table", "Column", "GrantedLabel", "Expired"}]}``) or the documented text
    (``User Label: n`` then a ``Column | GrantedLabel | Expires`` table, optionally led by Principal and Table).
    """
    what = "SHOW LABEL GRANTS"
    doc = _answer(result, what)
    if isinstance(doc, Mapping):
        grants = set()
        for row in _rows(doc, what, "Grants", "GrantedLabel"):
            if not row.get("Expired"):
                grants.add((str(row.get("Table", "")).lower(), str(row.get("Column") or "").lower(), _level(row)))
        level = doc.get("UserLabel")
        return (_level({"GrantedLabel": level}) if level is not None else None), frozenset(grants)
    if isinstance(doc, str):
        return _label_text(doc)
    raise StateParseError(what, f"unexpected answer ({_show(doc)})")


def _answer(result: object, what: str) -> object:
    """A security query's answer: JSON text decoded, anything else as it came."""
    return _load_json(result.strip(), what) if isinstance(result, str) and result.strip().startswith("{") else result


def _rows(doc: Mapping[str, Any], what: str, key: str, required: str) -> list[Mapping[str, Any]]:
    """The list under ``key`` of a JSON answer, each row an object carrying ``required``."""
    rows = doc.get(key) or []
    if not isinstance(rows, list):
        raise StateParseError(what, f"{key!r} is not a list ({_show(rows)})")
    for row in rows:
        if not isinstance(row, Mapping) or required not in row:
            raise StateParseError(what, f"a row without {required!r} ({_show(row)})")
    return rows


def _level(row: Mapping[str, Any]) -> int:
    value = row.get("GrantedLabel")
    try:
        level = int(str(value))
    except ValueError:
        raise StateParseError("SHOW LABEL GRANTS", f"label {value!r} is not a number") from None
    return level


_USER_LABEL_RE = re.compile(r"User Label:\s*(\d+)", re.IGNORECASE)


def _label_text(text: str) -> tuple[int | None, frozenset[tuple[str, str, int]]]:
    match = _USER_LABEL_RE.search(text)
    header: list[str] = []
    grants = set()
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not header:
            header = [c.lower() for c in cells]
            continue
        row = dict(zip(header, cells, strict=False))
        grants.add(
            (
                row.get("table", "").lower(),
                row.get("column", "").lower(),
                _level({"GrantedLabel": row.get("grantedlabel")}),
            )
        )
    return (int(match[1]) if match else None), frozenset(grants)


def parse_show_packages(result: object) -> frozenset[str]:
    """``SHOW PACKAGES``: the installed packages as ``<source>.<package>`` (lower-case).

    JSON (``{"installedPackages": [{"name", "sourceProject"}]}``) or text (an ``Installed Packages:`` section,
    one ``<source>.<package>`` per line).
    """
    what = "SHOW PACKAGES"
    doc = _answer(result, what)
    if isinstance(doc, Mapping):
        found = set()
        for row in _rows(doc, what, "installedPackages", "name"):
            name = str(row["name"]).lower()
            source = str(row.get("sourceProject") or "").lower()
            found.add(name if "." in name or not source else f"{source}.{name}")
        return frozenset(found)
    if isinstance(doc, str):
        _, _, installed = doc.partition("Installed Packages:")
        return frozenset(line.split()[0].lower() for line in installed.splitlines() if line.strip())
    raise StateParseError(what, f"unexpected answer ({_show(doc)})")


def role_download_and_package_reads(report: GrantsReport, role: str) -> tuple[frozenset[str], frozenset[str]]:
    """From a role's read-back lines: the tables it may Download, and the packages it may Read (lower-case)."""
    downloads, packages = set(), set()
    for line in report.lines:
        if line.section != "acl" or line.effect != "Allow" or line.grantee is None:
            continue
        if line.grantee.kind != "role" or line.grantee.name != role.lower():
            continue
        actions = {a.lower() for a in line.actions}
        if line.object_type == "table" and actions & {"download", "all"}:
            downloads.add(line.object_name.lower())
        if line.object_type == "package" and actions & {"read", "all"}:
            packages.add(line.object_name.lower())
    return frozenset(downloads), frozenset(packages)


# ---- shared


_RESOURCE_RE = re.compile(r"projects/(?P<project>[^/]+)(?:/tables/(?P<table>[^/]+))?")


def _object_from_resource(resource: str, project: str) -> ObjectRef | None:
    """``[acs:odps:*:]projects/<p>[/tables/<t>]`` -> ObjectRef; other objects (functions, columns...) -> None."""
    match = _RESOURCE_RE.fullmatch(ACS_PREFIX_RE.sub("", resource.strip(), count=1))
    if match is None:
        return None
    name = match["project"]
    name = project if name.lower() == project.lower() else name
    try:
        if match["table"] is None:
            return ObjectRef.for_project(name)
        return ObjectRef.for_table(name, match["table"])
    except ConfigurationError:
        return None


def _find_actions(object_type: ObjectType, name: str) -> tuple[Action, ...]:
    valid = ACTIONS_BY_TYPE[object_type]
    if name.lower() == "all":
        return valid
    return tuple(a for a in valid if a.value.lower() == name.lower())


def _load_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateParseError(what, f"invalid JSON ({exc.msg} at position {exc.pos})") from None


def _show(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."

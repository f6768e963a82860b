"""What a project's access looks like now, and parsers for the answers MaxCompute gives.

The state reader (I/O, written elsewhere) makes a fixed number of requests per project - list users,
list roles, ``DESCRIBE ROLE``/``SHOW GRANTS FOR ROLE`` of the managed role, ``SHOW GRANTS FOR`` the
managed user - so the cost does not grow with the number of tables: one ``SHOW GRANTS`` answer lists
every table ACL of the role. The parsers here turn those answers (odpscmd text, or the JSON pyodps
asks for) into the typed identities of :mod:`.model`.

Only plain allow ACL grants on projects and tables become :class:`~.model.Grant` values. Policy,
ObjectCreator, Implicit and conditional entries, and objects of other types, are kept verbatim in
``out_of_band``: reported to the user, never managed (reference section 8, audit rule 4). A result
whose shape is not recognised raises :class:`StateParseError` instead of reading as "no grants",
because an empty reading would make the planner re-grant (or, in sync mode, miss) everything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_clarityq.core.errors import ClarityQError, ConfigurationError, one_line
from airflow_provider_clarityq.core.grants.model import (
    ACTIONS_BY_TYPE,
    Action,
    Grant,
    Grantee,
    ObjectRef,
    ObjectType,
)
from airflow_provider_clarityq.core.identifiers import (
    Principal,
    parse_principal,
    validate_account,
    validate_ram_user_name,
    validate_uid,
)

__all__ = [
    "GrantLine",
    "GrantsReport",
    "LiveState",
    "ProjectState",
    "ResolvedPrincipal",
    "StateParseError",
    "parse_describe_role",
    "parse_list_roles",
    "parse_list_users",
    "parse_show_acl",
    "parse_show_grants",
    "principal_key",
    "resource_object",
]

_MAX_SHOWN = 300


class StateParseError(ClarityQError):
    """A read-back result has a shape this provider does not understand."""

    def __init__(self, what: str, problem: str) -> None:
        super().__init__(one_line(f"Cannot read the {what} result: {problem}"))


# --------------------------------------------------------------------------------------------------
# Principals


@dataclass(frozen=True)
class ResolvedPrincipal:
    """The managed RAM user with both spellings known, so ``RAM$<acct>:<uid>`` and ``RAM$<acct>:<name>`` match.

    ``account_id`` comes from STS GetCallerIdentity, ``user_uid`` from RAM GetUser (``None`` while
    the RAM user does not exist yet). ``account_aliases`` lists other spellings of the account part
    (e.g. the account's login e-mail, as older ``SHOW GRANTS`` output prints it).
    """

    account_id: str
    user_name: str
    user_uid: str | None = None
    account_aliases: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "account_id", validate_uid(self.account_id, field="account_id"))
        object.__setattr__(self, "user_name", validate_ram_user_name(self.user_name, field="ram_user"))
        if self.user_uid is not None:
            object.__setattr__(self, "user_uid", validate_uid(self.user_uid, field="user_uid"))
        aliases = frozenset(validate_account(a, field="account_aliases").lower() for a in self.account_aliases)
        object.__setattr__(self, "account_aliases", aliases)

    @property
    def exists(self) -> bool:
        """False while the RAM user has not been created (GetUser said EntityNotExist)."""
        return self.user_uid is not None

    def principal(self) -> Principal:
        """The spelling statements use: seed 000's ``RAM$<account>:<uid>``, or the name form before creation."""
        return Principal("ram_user", self.account_id, self.user_uid or self.user_name)

    def matches(self, value: Principal | str) -> bool:
        """True when ``value`` names this user in any form (UID or name; account UID or alias; ``RAM$<name>``)."""
        if isinstance(value, str) and value[:4].lower() == "ram$" and ":" not in value:
            return self._names(value[4:])
        principal = value if isinstance(value, Principal) else _parse_or_none(value)
        if principal is None or principal.kind != "ram_user":
            return False
        accounts = {self.account_id.lower(), *self.account_aliases}
        return principal.account.lower() in accounts and self._names(principal.name or "")

    def _names(self, name: str) -> bool:
        return name.lower() == self.user_name.lower() or (self.user_uid is not None and name == self.user_uid)


def principal_key(value: Principal | str, known: Iterable[ResolvedPrincipal] = ()) -> str:
    """A comparison key: the resolved spelling for a known user, else the canonical text (lower-cased)."""
    for resolved in known:
        if resolved.matches(value):
            return str(resolved.principal()).lower()
    principal = value if isinstance(value, Principal) else _parse_or_none(value)
    return str(principal if principal is not None else value).lower()


def _parse_or_none(text: str) -> Principal | None:
    try:
        return parse_principal(text)
    except ConfigurationError:
        return None


# --------------------------------------------------------------------------------------------------
# State


@dataclass(frozen=True)
class GrantLine:
    """One entry of a read-back answer as the service printed it, whatever its section: what the health audit
    reads (the planner uses the typed :attr:`GrantsReport.grants` of plain ACL lines)."""

    section: str  # acl, policy, implicit, objectcreator, ... (lower-case)
    grantee: Grantee | None
    resource: str
    actions: tuple[str, ...]
    effect: str = "Allow"  # or Deny

    @property
    def object_type(self) -> str:
        return resource_object(self.resource)[0]

    @property
    def object_name(self) -> str:
        return resource_object(self.resource)[1]

    @property
    def project(self) -> str | None:
        """The project in the resource (``projects/<p>/...``), if any."""
        parts = _ACS_PREFIX_RE.sub("", self.resource.strip(), count=1).split("/")
        return parts[1] if len(parts) >= 2 and parts[0] == "projects" and parts[1] else None

    def to_dict(self) -> dict[str, Any]:
        grantee = f"{self.grantee.kind}/{self.grantee.name}" if self.grantee else None
        return {
            "section": self.section,
            "grantee": grantee,
            "object_type": self.object_type,
            "object": self.object_name,
            "actions": list(self.actions),
            "effect": self.effect,
        }


def resource_object(resource: str) -> tuple[str, str]:
    """``projects/p`` -> (project, p); ``projects/p/tables/t`` -> (table, t); functions, resources, instances,
    packages by their segment; anything else -> (other, the rest)."""
    parts = _ACS_PREFIX_RE.sub("", resource.strip(), count=1).split("/")
    if len(parts) >= 2 and parts[0] == "projects":
        rest = parts[2:]
        if len(rest) >= 2 and rest[0] == "schemas":  # three-tier model: projects/<p>/schemas/<s>/tables/<t>
            rest = rest[2:]
        if not rest:
            return "project", parts[1]
        if len(rest) == 3 and rest[:2] == ["registration", "functions"]:
            return "function", rest[2]
        if len(rest) == 2 and rest[0] in ("tables", "resources", "instances", "packages"):
            return rest[0][:-1], rest[1]
        return "other", "/".join(rest)
    return "other", "/".join(parts)


@dataclass(frozen=True)
class GrantsReport:
    """One parsed read-back answer."""

    grants: frozenset[Grant] = frozenset()
    roles: frozenset[str] = frozenset()  # "[roles]": roles the principal holds (SHOW GRANTS FOR <user>)
    members: tuple[str, ...] = ()  # "[users]": members of the role (DESCRIBE ROLE)
    out_of_band: tuple[str, ...] = ()  # reported, never managed
    lines: tuple[GrantLine, ...] = ()  # every entry, plain or not, as printed


@dataclass(frozen=True)
class ProjectState:
    """Access-relevant state of one project. Role names are lower-case; principals are kept as listed."""

    project: str
    members: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    role_members: Mapping[str, frozenset[str]] = field(default_factory=dict)
    user_roles: frozenset[str] = frozenset()
    grants: frozenset[Grant] = frozenset()
    tables: frozenset[str] | None = None  # only read when the spec uses table prefixes
    out_of_band: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", frozenset(r.lower() for r in self.roles))
        object.__setattr__(self, "user_roles", frozenset(r.lower() for r in self.user_roles))
        members = {role.lower(): frozenset(users) for role, users in self.role_members.items()}
        object.__setattr__(self, "role_members", members)
        if self.tables is not None:
            object.__setattr__(self, "tables", frozenset(t.lower() for t in self.tables))

    @classmethod
    def build(
        cls,
        project: str,
        *,
        users: Iterable[str] = (),
        roles: Iterable[str] = (),
        role_reports: Mapping[str, GrantsReport] | None = None,
        user_report: GrantsReport | None = None,
        tables: Iterable[str] | None = None,
    ) -> ProjectState:
        """Assemble the state from parsed answers: role reports give members and grants, the user report roles."""
        reports = dict(role_reports or {})
        all_reports = [*reports.values(), *([user_report] if user_report else [])]
        return cls(
            project=project,
            members=frozenset(users),
            roles=frozenset(roles),
            role_members={role: frozenset(r.members) for role, r in reports.items()},
            user_roles=user_report.roles if user_report else frozenset(),
            grants=frozenset().union(*(r.grants for r in all_reports)),
            tables=None if tables is None else frozenset(tables),
            out_of_band=tuple(line for r in all_reports for line in r.out_of_band),
        )

    def holds_role(self, role: str, principal: ResolvedPrincipal) -> bool:
        """True when the principal holds ``role`` per DESCRIBE ROLE members or its own ``[roles]`` list."""
        role = role.lower()
        members = self.role_members.get(role, frozenset())
        return role in self.user_roles or any(principal.matches(m) for m in members)

    def roles_of(self, principal: ResolvedPrincipal) -> frozenset[str]:
        held = {role for role, members in self.role_members.items() if any(principal.matches(m) for m in members)}
        return frozenset(held | self.user_roles)


@dataclass(frozen=True)
class LiveState:
    """State of every project the spec manages; a project not read counts as empty."""

    projects: Mapping[str, ProjectState] = field(default_factory=dict)

    @classmethod
    def of(cls, *states: ProjectState) -> LiveState:
        return cls({s.project: s for s in states})

    def project(self, name: str) -> ProjectState:
        found = self.projects.get(name)
        if found is None:
            found = next((s for p, s in self.projects.items() if p.lower() == name.lower()), None)
        return found if found is not None else ProjectState(project=name)

    def with_project(self, state: ProjectState) -> LiveState:
        return replace(self, projects={**self.projects, state.project: state})


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
    if isinstance(result, str) and result.strip().startswith("{"):
        result = _load_json(result.strip(), what)
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


# ---- shared


_ACS_PREFIX_RE = re.compile(r"acs:odps:[^:]*:", re.IGNORECASE)
_RESOURCE_RE = re.compile(r"projects/(?P<project>[^/]+)(?:/tables/(?P<table>[^/]+))?")


def _object_from_resource(resource: str, project: str) -> ObjectRef | None:
    """``[acs:odps:*:]projects/<p>[/tables/<t>]`` -> ObjectRef; other objects (functions, columns...) -> None."""
    match = _RESOURCE_RE.fullmatch(_ACS_PREFIX_RE.sub("", resource.strip(), count=1))
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

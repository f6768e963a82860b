"""What a project's access looks like now (the answers are read by :mod:`.parse`).

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

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants.model import Grant, Grantee
from airflow_provider_clarityq.core.identifiers import (
    Principal,
    parse_principal,
    validate_account,
    validate_ram_user_name,
    validate_uid,
)

__all__ = [
    "ACS_PREFIX_RE",
    "GrantLine",
    "GrantsReport",
    "LiveState",
    "ProjectState",
    "ResolvedPrincipal",
    "principal_key",
    "resource_object",
]

#: The ``acs:odps:<region>:`` prefix of a policy resource, which resource paths are read without.
ACS_PREFIX_RE = re.compile(r"acs:odps:[^:]*:", re.IGNORECASE)

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
        parts = ACS_PREFIX_RE.sub("", self.resource.strip(), count=1).split("/")
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
    parts = ACS_PREFIX_RE.sub("", resource.strip(), count=1).split("/")
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
class RestrictionState:
    """What the reader holds of the restrictions beyond ACL grants (reference sections 1-4), as read back.

    A field is ``None`` when it was not read (the spec does not manage it), so the planner never acts on it.
    """

    user_label: int | None = None  # SHOW LABEL GRANTS FOR USER: "User Label"
    label_grants: frozenset[tuple[str, str, int]] | None = None  # (table, column or "", level), unexpired
    download_tables: frozenset[str] | None = None  # tables (or "*") the role may Download
    installed_packages: frozenset[str] | None = None  # "<source>.<package>", lower-case
    package_reads: frozenset[str] | None = None  # packages the role may Read
    role_policy: Mapping[str, Any] | None = None


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
    restrictions: RestrictionState = field(default_factory=RestrictionState)

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
        restrictions: RestrictionState | None = None,
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
            restrictions=restrictions or RestrictionState(),
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

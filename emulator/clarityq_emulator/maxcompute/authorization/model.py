"""MaxCompute's project-level permission model, as the seeds describe it.

Every data-plane call is checked in the order the permission overview (seed 003) gives: the
caller is a project member (the owner, or added with ``ADD USER``), the project is in a usable
state, and only then the action is checked against the ACL (grants to the user and to the roles
it holds) and the role and project policies. Object actions per type follow the ACL table of the
authorization page (seed 002). The security statements that change this state live in
:mod:`..security.statements`; the action vocabulary is in :mod:`.actions`, policies in :mod:`.policy`;
this module only holds the state and answers questions about it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.authorization import network
from clarityq_emulator.maxcompute.authorization.actions import ACTION_ALIASES, ACTIONS
from clarityq_emulator.maxcompute.authorization.labels import LabelState
from clarityq_emulator.maxcompute.authorization.packages import PackageState
from clarityq_emulator.maxcompute.authorization.policy import (
    PolicyStatement,
    parse_policy,
)
from clarityq_emulator.ram.models import Caller

ObjectType = Literal["project", "table", "function", "resource", "instance", "package"]
OBJECT_TYPES: tuple[str, ...] = ("project", "table", "function", "resource", "instance", "package")

#: Management actions the built-in ``admin`` role lacks: it "cannot configure security policies
#: or modify the authentication model" (role planning page).
ADMIN_WITHHELD: frozenset[str] = frozenset({"SetSecurityConfiguration", "SetPolicy"})

#: Properties a project starts with.
DEFAULT_PROJECT_PROPERTIES = {"odps.sql.type.system.odps2": "true", "odps.sql.decimal.odps2": "true"}

#: Built-in roles that carry every object permission in the project.
ADMIN_ROLES = ("admin", "super_administrator")
SUPER_ADMIN = "super_administrator"


def principal_key(caller: Caller) -> str:
    """The identity a grant is attached to, independent of the name or UID form used."""
    if caller.kind == "account":
        return f"aliyun:{caller.account_id}"
    if caller.kind == "ram_user":
        return f"ram:{caller.account_id}:{caller.user_id}"
    return f"ramrole:{caller.account_id}:{caller.name.split('/', 1)[0].lower()}"


def display_name(caller: Caller) -> str:
    """How MaxCompute prints the caller (``ALIYUN$<uid>``, ``RAM$<uid>:<name>``)."""
    if caller.kind == "account":
        return f"ALIYUN${caller.account_id}"
    if caller.kind == "ram_user":
        return f"RAM${caller.account_id}:{caller.name}"
    return f"RAM${caller.account_id}:role/{caller.name.split('/', 1)[0]}"


def principal_forms(caller: Caller) -> set[str]:
    """Every written form that names the caller (lower-cased), for matching project-policy principals."""
    forms = {display_name(caller).lower()}
    if caller.kind == "ram_user":
        forms |= {f"ram${caller.account_id}:{caller.user_id}", f"ram${caller.name}".lower(), f"ram${caller.user_id}"}
    elif caller.kind == "assumed_role":
        forms.add(f"ram$role/{caller.name.split('/', 1)[0]}".lower())
    return forms


_PLURAL = {
    "table": "tables",
    "function": "registration/functions",
    "resource": "resources",
    "instance": "instances",
    "package": "packages",
}


def object_path(project: str, object_type: str, name: str | None) -> str:
    """``projects/<p>[/<kind>/<name>]``: how ACL lines print an object (no ``acs:`` prefix)."""
    if object_type == "project" or name is None:
        return f"projects/{project}"
    return f"projects/{project}/{_PLURAL[object_type]}/{name}"


def resource_name(project: str, object_type: str, name: str | None) -> str:
    """The ``acs:odps:*:...`` resource text used in denial messages and policies."""
    return "acs:odps:*:" + object_path(project, object_type, name)


def canonical_action(object_type: str, action: str) -> str | None:
    """The action's canonical spelling for the object type (``select`` -> ``Select``), or None if invalid."""
    for valid in (*ACTIONS[object_type], "All"):
        if valid.lower() == action.lower():
            return ACTION_ALIASES.get(valid, valid)
    return None


def ordered_actions(object_type: str, actions: Iterable[str]) -> list[str]:
    """Actions in the order of the seed's table (``All`` alone when granted), for stable output."""
    present = set(actions)
    if "All" in present:
        return ["All"]
    order = [a for a in ACTIONS[object_type] if a not in ACTION_ALIASES]
    return [a for a in order if a in present] + sorted(present - set(order))


# --- state ------------------------------------------------------------------------------------------


@dataclass
class AclEntry:
    """Allowed actions of one grantee on one object (name may be ``*`` or ``prefix*``)."""

    grantee_kind: Literal["user", "role"]
    grantee: str  # principal key for users, lower-case role name for roles
    object_type: str
    object_name: str
    actions: set[str]
    display: str = ""  # the user's written form at grant time, shown once the user is removed

    def covers(self, object_type: str, name: str) -> bool:
        if self.object_type != object_type:
            return False
        if self.object_name.endswith("*"):
            return name.startswith(self.object_name[:-1])
        return name == self.object_name

    def grants(self, action: str) -> bool:
        return "All" in self.actions or ACTION_ALIASES.get(action, action) in self.actions


@dataclass
class Member:
    """A project member: ``display`` echoes the form used at ``ADD USER``; ``id`` is the REST id (UID)."""

    key: str
    display: str
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = self.key.rsplit(":", 1)[-1]


@dataclass
class Role:
    name: str
    builtin: bool = False
    role_type: str = "resource"
    members: set[str] = field(default_factory=set)
    policy: str | None = None
    comment: str = ""


@dataclass
class ProjectSecurity:
    """Security state of one project."""

    name: str
    owner_account: str
    comment: str = ""
    state: str = "AVAILABLE"
    created: float = 0.0
    members: dict[str, Member] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    acl: list[AclEntry] = field(default_factory=list)
    policy: str | None = None
    #: Functions and resources that exist (the emulator has no UDFs; seeds and tests register names).
    functions: set[str] = field(default_factory=set)
    resources: set[str] = field(default_factory=set)
    #: Project properties (``project.properties``); the SQL type system is MaxCompute 2.0.
    properties: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PROJECT_PROPERTIES))
    labels: LabelState = field(default_factory=LabelState)
    packages: PackageState = field(default_factory=PackageState)

    @property
    def owner_display(self) -> str:
        return f"ALIYUN${self.owner_account}"

    @property
    def owner_key(self) -> str:
        return f"aliyun:{self.owner_account}"

    def is_owner(self, caller: Caller) -> bool:
        return caller.kind == "account" and caller.account_id == self.owner_account

    def is_member(self, caller: Caller) -> bool:
        return self.is_owner(caller) or principal_key(caller) in self.members

    def roles_of(self, key: str) -> list[Role]:
        return sorted((r for r in self.roles.values() if key in r.members), key=lambda r: r.name)

    def holds(self, caller: Caller, role: str) -> bool:
        found = self.roles.get(role)
        return found is not None and principal_key(caller) in found.members

    def is_super_admin(self, caller: Caller) -> bool:
        return self.is_owner(caller) or self.holds(caller, SUPER_ADMIN)

    def is_admin(self, caller: Caller) -> bool:
        key = principal_key(caller)
        return self.is_owner(caller) or any(r.name in ADMIN_ROLES for r in self.roles_of(key))

    def _policies(self, caller: Caller, role_type: str) -> list[PolicyStatement]:
        """Statements that apply to the caller: its roles' policies of one type, then the project's."""
        statements: list[PolicyStatement] = []
        for role in self.roles_of(principal_key(caller)):
            if role.policy and role.role_type == role_type:
                statements.extend(parse_policy(role.policy))
        if self.policy:
            forms = principal_forms(caller)
            statements.extend(s for s in parse_policy(self.policy, project_policy=True) if s.applies_to(forms))
        return statements

    def policy_decision(self, caller: Caller, action: str, resource: str, role_type: str = "resource") -> str | None:
        """``"Deny"`` beats ``"Allow"``; None when no policy statement matches."""
        decision = None
        for statement in self._policies(caller, role_type):
            if statement.matches(action, resource):
                if statement.effect == "Deny":
                    return "Deny"
                decision = "Allow"
        return decision

    def acl_allows(self, caller: Caller, object_type: str, name: str, action: str) -> bool:
        key = principal_key(caller)
        role_names = {r.name for r in self.roles_of(key)}
        for entry in self.acl:
            if entry.grantee_kind == "user" and entry.grantee != key:
                continue
            if entry.grantee_kind == "role" and entry.grantee not in role_names:
                continue
            if entry.covers(object_type, name) and entry.grants(action):
                return True
        return False

    def allows(self, caller: Caller, object_type: str, name: str, action: str) -> bool:
        """Owner and Super_Administrator always; otherwise no policy Deny, and an ACL or policy Allow."""
        if self.is_super_admin(caller):
            return True
        decision = self.policy_decision(caller, action, resource_name(self.name, object_type, name))
        if decision == "Deny":
            return False
        return self.is_admin(caller) or decision == "Allow" or self.acl_allows(caller, object_type, name, action)

    def may_manage(self, caller: Caller, action: str, resource: str | None = None) -> bool:
        """Project management permission: owner, Super_Administrator, Admin (minus its limits), or an
        admin-type role whose policy allows ``odps:<action>``."""
        if self.is_super_admin(caller):
            return True
        resource = resource or resource_name(self.name, "project", None)
        decision = self.policy_decision(caller, action, resource, role_type="admin")
        if decision == "Deny":
            return False
        if self.holds(caller, "admin") and action not in ADMIN_WITHHELD:
            return True
        return decision == "Allow"

    def object_exists(self, object_type: str, name: str) -> bool:
        if object_type == "function":
            return name in self.functions
        if object_type == "resource":
            return name in self.resources
        raise ValueError(object_type)


def builtin_roles() -> dict[str, Role]:
    return {
        "admin": Role(name="admin", builtin=True, role_type="admin"),
        "super_administrator": Role(name="super_administrator", builtin=True, role_type="admin"),
    }


class SecurityModel:
    """All projects' security state, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.projects: dict[str, ProjectSecurity] = {}

    def add_project(self, name: str, owner_account: str, *, comment: str = "", created: float = 0.0) -> ProjectSecurity:
        with self.lock:
            project = self.projects.get(name.lower())
            if project is None:
                project = ProjectSecurity(
                    name=name.lower(),
                    owner_account=owner_account,
                    comment=comment,
                    created=created,
                    roles=builtin_roles(),
                )
                self.projects[project.name] = project
            return project

    def get(self, name: str) -> ProjectSecurity | None:
        return self.projects.get(name.lower())

    def register_objects(
        self, project_name: str, *, functions: Iterable[str] = (), resources: Iterable[str] = ()
    ) -> None:
        """Make functions/resources exist for ACL purposes (seed hook; the emulator runs no UDFs)."""
        with self.lock:
            project = self.projects[project_name.lower()]
            project.functions |= {f.lower() for f in functions}
            project.resources |= {r.lower() for r in resources}

    def forget_object(self, project_name: str, object_type: str, name: str) -> bool:
        """Drop the ACL entries naming exactly this object (call when it is dropped: ACL is a
        sub-resource of the object, seed 002); wildcard entries stay. True if any were dropped."""
        with self.lock:
            project = self.get(project_name)
            if project is None:
                return False
            if object_type == "function":
                project.functions.discard(name.lower())
            elif object_type == "resource":
                project.resources.discard(name.lower())
            elif object_type == "table":
                project.labels.forget_table(name.lower())
            kept = [e for e in project.acl if not (e.object_type == object_type and e.object_name == name.lower())]
            dropped = len(kept) != len(project.acl)
            project.acl = kept
            return dropped

    def rename_object(self, project_name: str, object_type: str, old: str, new: str) -> None:
        """Move the ACL entries naming exactly ``old`` to ``new`` (the object was renamed)."""
        with self.lock:
            project = self.get(project_name)
            if project is None:
                return
            for entry in project.acl:
                if entry.object_type == object_type and entry.object_name == old.lower():
                    entry.object_name = new.lower()

    def require_member(self, caller: Caller, project_name: str) -> ProjectSecurity:
        """Membership and project state: steps 1 and 3 of the check order."""
        project = self.get(project_name)
        if project is None:
            raise odps_errors.no_such_project(project_name)
        if not project.is_member(caller):
            raise odps_errors.not_a_member(project.name, display_name(caller))
        self.require_reachable(project)
        return project

    def require_reachable(self, project: ProjectSecurity) -> None:
        """Steps 2 and 3 of the check order: the source address is whitelisted, the project is usable."""
        ip = network.client_ip.get()
        if not network.whitelist_allows(project.properties, ip):
            raise odps_errors.ip_not_whitelisted(project.name, ip)
        if project.state != "AVAILABLE":
            raise odps_errors.project_not_available(project.name, project.state)

    def check(
        self,
        caller: Caller,
        project_name: str,
        action: str,
        object_type: str = "project",
        object_name: str | None = None,
        *,
        creator: str | None = None,
    ) -> None:
        """Raise the real denial unless ``caller`` may do ``action`` on the object."""
        with self.lock:
            project = self.require_member(caller, project_name)
            name = project.name if object_type == "project" else (object_name or "").lower()
            resource = resource_name(project.name, object_type, object_name)
            if (
                not project.is_super_admin(caller)
                and project.policy_decision(caller, action, resource_name(project.name, object_type, name)) == "Deny"
            ):
                raise odps_errors.denied_by_policy(project.name, action, resource, display_name(caller))
            if creator is not None and creator == display_name(caller):
                return  # ObjectCreatorHasAccessPermission is on by default
            if not project.allows(caller, object_type, name, action):
                raise odps_errors.no_privilege(project.name, action, resource, display_name(caller))

    def check_all(self, caller: Caller, checks: Iterable[tuple[str, str, str, str | None, str | None]]) -> None:
        for project, action, object_type, object_name, creator in checks:
            self.check(caller, project, action, object_type, object_name, creator=creator)

    # --- persistence ------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {
                name: {
                    "owner_account": p.owner_account,
                    "comment": p.comment,
                    "state": p.state,
                    "created": p.created,
                    "policy": p.policy,
                    "members": [{"key": m.key, "display": m.display, "id": m.id} for m in p.members.values()],
                    "roles": [
                        {
                            "name": r.name,
                            "builtin": r.builtin,
                            "role_type": r.role_type,
                            "members": sorted(r.members),
                            "policy": r.policy,
                            "comment": r.comment,
                        }
                        for r in p.roles.values()
                    ],
                    "acl": [
                        {
                            "grantee_kind": e.grantee_kind,
                            "grantee": e.grantee,
                            "object_type": e.object_type,
                            "object_name": e.object_name,
                            "actions": sorted(e.actions),
                            "display": e.display,
                        }
                        for e in p.acl
                    ],
                    "functions": sorted(p.functions),
                    "resources": sorted(p.resources),
                    "properties": dict(p.properties),
                    "labels": p.labels.dump(),
                    "packages": p.packages.dump(),
                }
                for name, p in self.projects.items()
            }

    def load(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.projects = {}
            for name, raw in data.items():
                project = ProjectSecurity(
                    name=name,
                    owner_account=raw["owner_account"],
                    comment=raw.get("comment", ""),
                    state=raw.get("state", "AVAILABLE"),
                    created=raw.get("created", 0.0),
                    policy=raw.get("policy"),
                    functions=set(raw.get("functions", [])),
                    resources=set(raw.get("resources", [])),
                    properties=dict(raw.get("properties", DEFAULT_PROJECT_PROPERTIES)),
                    labels=LabelState.load(raw.get("labels")),
                    packages=PackageState.load(raw.get("packages")),
                )
                project.members = {
                    m["key"]: Member(m["key"], m["display"], m.get("id", "")) for m in raw.get("members", [])
                }
                project.roles = {
                    r["name"]: Role(
                        name=r["name"],
                        builtin=r["builtin"],
                        role_type=r.get("role_type", "resource"),
                        members=set(r["members"]),
                        policy=r.get("policy"),
                        comment=r.get("comment", ""),
                    )
                    for r in raw.get("roles", [])
                }
                project.acl = [
                    AclEntry(
                        e["grantee_kind"],
                        e["grantee"],
                        e["object_type"],
                        e["object_name"],
                        set(e["actions"]),
                        e.get("display", ""),
                    )
                    for e in raw.get("acl", [])
                ]
                self.projects[name] = project

"""MaxCompute's project-level permission model, as the seeds describe it.

Every data-plane call is checked in the order the permission overview gives: the caller is a
project member (the owner, or added with ``ADD USER``), the project is in a usable state, and
only then the action is checked against the ACL (grants to the user and to the roles it holds).
Object actions per type follow the ACL table of the authorization page.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_clarityq.emulator import odps_errors
from airflow_provider_clarityq.emulator.identity import Caller

ObjectType = Literal["project", "table", "function", "resource", "instance"]

#: Actions valid per object type (authorization page), plus ``Download`` on tables and
#: functions and ``Execute`` (an alias of ``Run``) from the newer permission list.
ACTIONS: dict[str, tuple[str, ...]] = {
    "project": ("Read", "Write", "List", "CreateTable", "CreateInstance", "CreateFunction", "CreateResource"),
    "table": ("Describe", "Select", "Alter", "Update", "Drop", "Download"),
    "function": ("Read", "Write", "Delete", "Run", "Execute", "Download"),
    "resource": ("Read", "Write", "Delete"),
    "instance": ("Read", "Write"),
}

#: Built-in roles that carry every object permission in the project.
ADMIN_ROLES = ("admin", "super_administrator")


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


def resource_name(project: str, object_type: str, name: str | None) -> str:
    """The ``acs:odps:*:...`` resource text used in denial messages."""
    if object_type == "project" or name is None:
        return f"acs:odps:*:projects/{project}"
    plural = {"table": "tables", "function": "registration/functions", "resource": "resources",
              "instance": "instances"}[object_type]
    return f"acs:odps:*:projects/{project}/{plural}/{name}"


@dataclass
class AclEntry:
    """Allowed actions of one grantee on one object (name may be ``*`` or ``prefix*``)."""

    grantee_kind: Literal["user", "role"]
    grantee: str  # principal key for users, lower-case role name for roles
    object_type: str
    object_name: str
    actions: set[str]

    def covers(self, object_type: str, name: str) -> bool:
        if self.object_type != object_type:
            return False
        if self.object_name.endswith("*"):
            return name.startswith(self.object_name[:-1])
        return name == self.object_name


@dataclass
class Member:
    key: str
    display: str


@dataclass
class Role:
    name: str
    builtin: bool = False
    role_type: str = "resource"
    members: set[str] = field(default_factory=set)
    policy: str | None = None


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

    @property
    def owner_display(self) -> str:
        return f"ALIYUN${self.owner_account}"

    def is_owner(self, caller: Caller) -> bool:
        return caller.kind == "account" and caller.account_id == self.owner_account

    def is_member(self, caller: Caller) -> bool:
        return self.is_owner(caller) or principal_key(caller) in self.members

    def roles_of(self, key: str) -> list[Role]:
        return [r for r in self.roles.values() if key in r.members]

    def is_admin(self, caller: Caller) -> bool:
        key = principal_key(caller)
        return self.is_owner(caller) or any(r.name in ADMIN_ROLES for r in self.roles_of(key))

    def allows(self, caller: Caller, object_type: str, name: str, action: str) -> bool:
        if self.is_admin(caller):
            return True
        key = principal_key(caller)
        role_names = {r.name for r in self.roles_of(key)}
        for entry in self.acl:
            if entry.grantee_kind == "user" and entry.grantee != key:
                continue
            if entry.grantee_kind == "role" and entry.grantee not in role_names:
                continue
            if entry.covers(object_type, name) and (action in entry.actions or "All" in entry.actions):
                return True
        return False


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
                project = ProjectSecurity(name=name.lower(), owner_account=owner_account, comment=comment,
                                          created=created, roles=builtin_roles())
                self.projects[project.name] = project
            return project

    def get(self, name: str) -> ProjectSecurity | None:
        return self.projects.get(name.lower())

    def require_member(self, caller: Caller, project_name: str) -> ProjectSecurity:
        """Membership and project state: steps 1 and 3 of the check order."""
        project = self.get(project_name)
        if project is None:
            raise odps_errors.no_such_project(project_name)
        if not project.is_member(caller):
            raise odps_errors.not_a_member(project.name, display_name(caller))
        if project.state != "AVAILABLE":
            raise odps_errors.project_not_available(project.name, project.state)
        return project

    def check(self, caller: Caller, project_name: str, action: str, object_type: str = "project",
              object_name: str | None = None, *, creator: str | None = None) -> None:
        """Raise the real denial unless ``caller`` may do ``action`` on the object."""
        with self.lock:
            project = self.require_member(caller, project_name)
            if creator is not None and creator == display_name(caller):
                return  # ObjectCreatorHasAccessPermission is on by default
            name = project.name if object_type == "project" else (object_name or "").lower()
            if not project.allows(caller, object_type, name, action):
                raise odps_errors.no_privilege(
                    project.name, action, resource_name(project.name, object_type, object_name),
                    display_name(caller),
                )

    def check_all(self, caller: Caller, checks: Iterable[tuple[str, str, str, str | None, str | None]]) -> None:
        for project, action, object_type, object_name, creator in checks:
            self.check(caller, project, action, object_type, object_name, creator=creator)

    # --- persistence ------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {
                name: {
                    "owner_account": p.owner_account, "comment": p.comment, "state": p.state,
                    "created": p.created, "policy": p.policy,
                    "members": [{"key": m.key, "display": m.display} for m in p.members.values()],
                    "roles": [{"name": r.name, "builtin": r.builtin, "role_type": r.role_type,
                               "members": sorted(r.members), "policy": r.policy} for r in p.roles.values()],
                    "acl": [{"grantee_kind": e.grantee_kind, "grantee": e.grantee, "object_type": e.object_type,
                             "object_name": e.object_name, "actions": sorted(e.actions)} for e in p.acl],
                }
                for name, p in self.projects.items()
            }

    def load(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.projects = {}
            for name, raw in data.items():
                project = ProjectSecurity(
                    name=name, owner_account=raw["owner_account"], comment=raw.get("comment", ""),
                    state=raw.get("state", "AVAILABLE"), created=raw.get("created", 0.0), policy=raw.get("policy"),
                )
                project.members = {m["key"]: Member(m["key"], m["display"]) for m in raw.get("members", [])}
                project.roles = {
                    r["name"]: Role(name=r["name"], builtin=r["builtin"], role_type=r.get("role_type", "resource"),
                                    members=set(r["members"]), policy=r.get("policy"))
                    for r in raw.get("roles", [])
                }
                project.acl = [
                    AclEntry(e["grantee_kind"], e["grantee"], e["object_type"], e["object_name"], set(e["actions"]))
                    for e in raw.get("acl", [])
                ]
                self.projects[name] = project

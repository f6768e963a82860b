"""Security statements (``POST /projects/{p}/authorization``): parsed, checked, then run.

A request is handled in the order seed 003 gives -- the caller is a member, the project is
usable, the statement parses, the caller holds the management permission it needs -- and then
validated completely before anything changes, all under the security lock: a failing statement
never leaves part of its change behind. ``docs/emulator-security.md`` lists every statement, both
output forms (:mod:`.output`) and the decisions taken where the sources are silent.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast
from xml.sax.saxutils import escape

from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.state import EmulatorState
from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.authorization.actions import ACTIONS
from clarityq_emulator.maxcompute.authorization.model import (
    SUPER_ADMIN,
    AclEntry,
    Member,
    ProjectSecurity,
    Role,
    canonical_action,
    display_name,
    object_path,
    ordered_actions,
    principal_forms,
    principal_key,
    resource_name,
)
from clarityq_emulator.maxcompute.authorization.policy import parse_policy
from clarityq_emulator.maxcompute.common import ServiceResult
from clarityq_emulator.maxcompute.errors import OdpsError
from clarityq_emulator.maxcompute.security import labels, packages
from clarityq_emulator.maxcompute.security import parser as ast
from clarityq_emulator.maxcompute.security.output import (
    Group,
    Output,
    Row,
    action_title,
    json_sections,
    object_acl_output,
    text_sections,
)
from clarityq_emulator.ram.models import Caller

#: Largest policy document accepted by ``PUT ...?policy``.
MAX_POLICY_BYTES = 65536
#: What a statement without output answers (a JSON string in the JSON form).
OK = "OK"
#: A role's policy before one is set (pyodps ``json.loads`` the body, so it must be a document).
EMPTY_ROLE_POLICY = '{"Version": "1", "Statement": []}'

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'

#: Label and package statements, run by their own modules.
EXTRA_HANDLERS = {**labels.HANDLERS, **packages.HANDLERS}


# --- the authorization endpoint ------------------------------------------------------------------------


def _read_authorization(body: bytes) -> tuple[str, bool]:
    """(query, JSON form wanted) from ``<Authorization><Query/><ResponseInJsonFormat/></Authorization>``."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        # No DTDs or entities: the body is a two-element document and nothing else is needed.
        raise odps_errors.invalid_argument("ODPS-0420411:Invalid argument - DTDs are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise odps_errors.invalid_argument("ODPS-0420411:Invalid argument - malformed authorization XML") from None
    query = root.findtext("Query") if root.tag == "Authorization" else None
    if query is None:
        raise odps_errors.invalid_argument("ODPS-0420411:Invalid argument - an Authorization element with a Query")
    flag = (root.findtext("ResponseInJsonFormat") or "true").strip().lower()
    return query, flag != "false"


def authorization(state: EmulatorState, caller: Caller, project: str, req: Request) -> ServiceResult:
    query, want_json = _read_authorization(req.body)
    security = state.security
    with security.lock:
        info = security.require_member(caller, project)
        try:
            statement = ast.parse_statement(query)
        except ast.StatementTooLong as exc:
            raise odps_errors.statement_too_long(exc.length, ast.MAX_STATEMENT_CHARS) from None
        except ast.SecurityParseError as exc:
            line, column = ast.line_col(query, exc.offset)
            raise odps_errors.security_parse_error(line, column, exc.message) from None
        except ast.NotSupported as exc:
            raise odps_errors.not_implemented(exc.what) from None
        output = Session(state, caller, info).run(statement)
    payload = json.dumps(output.value) if want_json else output.text
    body = f"{XML_HEAD}<Authorization><Result>{escape(payload)}</Result></Authorization>"
    return ServiceResult(Response.xml(body), statement=query, mutated=output.mutated)


@dataclass(frozen=True)
class Resolved:
    """A principal resolved against RAM: ``key`` is what grants attach to, ``display`` the form written."""

    key: str
    display: str
    id: str


# --- statements ------------------------------------------------------------------------------------------


class Session:
    """Runs one parsed statement for one caller in one project (the security lock is held)."""

    def __init__(self, state: EmulatorState, caller: Caller, project: ProjectSecurity) -> None:
        self.state = state
        self.caller = caller
        self.p = project

    def run(self, statement: ast.Statement) -> Output:
        extra = EXTRA_HANDLERS.get(type(statement))
        if extra is not None:
            return extra(self, statement)
        handler = cast(Callable[[Any], Output], getattr(self, f"_do_{type(statement).__name__}"))
        return handler(statement)

    # -- permissions --

    def require(self, action: str, resource: str | None = None) -> None:
        """The management permission a statement needs; the denial names it like a data-plane one."""
        resource = resource or resource_name(self.p.name, "project", None)
        if not self.p.may_manage(self.caller, action, resource):
            raise odps_errors.no_privilege(self.p.name, action, resource, display_name(self.caller))

    def forbid(self, message: str) -> OdpsError:
        return odps_errors.security_forbidden(self.p.name, message, display_name(self.caller))

    def role_resource(self, role: str) -> str:
        return f"{resource_name(self.p.name, 'project', None)}/roles/{role}"

    # -- lookups --

    def resolve(self, principal: ast.Principal) -> Resolved:
        """Resolve a written principal against RAM; only the owner account and its RAM identities exist."""
        text = principal.text
        account = self.state.identity.account_id
        upper = text.upper()
        if upper.startswith("ALIYUN$"):
            if text[7:] != account:
                raise odps_errors.invalid_account(text)
            return Resolved(f"aliyun:{account}", f"ALIYUN${account}", account)
        if not upper.startswith("RAM$"):
            raise odps_errors.invalid_account(text)
        rest = text[4:]
        owner, sep, name = rest.partition(":")
        if not sep:
            name = rest  # short form RAM$<name>: the owner account is implied
        elif owner != account:
            raise odps_errors.invalid_account(text)
        if name.lower().startswith("role/"):
            role = self.state.identity.get_role(name[5:]) if principal.quoted else None
            if role is None:
                raise odps_errors.invalid_account(text)
            return Resolved(f"ramrole:{account}:{role.role_name.lower()}", f"RAM${rest}", role.role_id)
        if not name or any(c in name for c in "$:/*"):
            raise odps_errors.invalid_account(text)
        user = self.state.identity.get_user(name)
        if user is None:
            raise odps_errors.invalid_account(text)
        return Resolved(f"ram:{account}:{user.user_id}", f"RAM${rest}", user.user_id)

    def resolve_known(self, principal: ast.Principal) -> Resolved:
        """Like :meth:`resolve`, but a member or ACL grantee whose RAM identity is gone (a residual
        user) is still found by the form it was added with, so it can be removed and revoked."""
        try:
            return self.resolve(principal)
        except OdpsError:
            wanted = principal.text.lower()
            for member in self.p.members.values():
                if member.display.lower() == wanted:
                    return Resolved(member.key, member.display, member.id)
            for entry in self.p.acl:
                if entry.grantee_kind == "user" and entry.display.lower() == wanted:
                    return Resolved(entry.grantee, entry.display, entry.grantee.rsplit(":", 1)[-1])
            raise

    def is_member_key(self, key: str) -> bool:
        return key == self.p.owner_key or key in self.p.members

    def role(self, name: str) -> Role:
        found = self.p.roles.get(name.lower())
        if found is None:
            raise odps_errors.no_such_role(self.p.name, name.lower())
        return found

    def user_display(self, key: str, fallback: str = "") -> str:
        if key == self.p.owner_key:
            return self.p.owner_display
        member = self.p.members.get(key)
        return member.display if member is not None else (fallback or key)

    def caller_member(self) -> tuple[str, str]:
        """(REST id, display) of the caller, as ``WHOAMI`` and ``/users`` show it."""
        member = self.p.members.get(principal_key(self.caller))
        if member is not None:
            return member.id, member.display
        return self.caller.user_id, display_name(self.caller)

    def check_role_assignment(self, role: Role, verb: str) -> None:
        """Built-in roles: only the owner assigns ``admin``; the owner or a Super_Administrator the other."""
        if role.name == "admin" and not self.p.is_owner(self.caller):
            raise self.forbid(f"only the project owner can {verb} the admin role.")
        if role.name == SUPER_ADMIN and not self.p.is_super_admin(self.caller):
            raise self.forbid(
                f"only the project owner or a Super_Administrator can {verb} the super_administrator role."
            )

    def target(self, ref: ast.ObjectRef, *, must_exist: bool = True) -> tuple[str, str]:
        """(object type, stored name) of a GRANT/REVOKE/SHOW object in this project; NoSuchObject if absent."""
        project = self.p.name
        if ref.object_type == "package":
            full = f"{(ref.project or project).lower()}.{ref.name.lower()}"
            if must_exist and full not in self.p.packages.installed:
                raise odps_errors.no_such_security_object(project, "package", full)
            return "package", full
        if ref.project is not None and ref.project.lower() != project:
            raise odps_errors.invalid_security_argument(
                f"{ref.project.lower()}.{ref.name} is not in the current project {project}; "
                "run the statement in that project"
            )
        name = ref.name.lower()
        if ref.object_type == "project":
            if name != project:
                if self.state.security.get(name) is None:
                    raise odps_errors.no_such_project(name)
                raise odps_errors.invalid_security_argument(
                    f"project {name} is not the current project {project}; run the statement in that project"
                )
            return "project", project
        if name.endswith("*") or not must_exist:
            return ref.object_type, name
        if ref.object_type == "table":
            meta = self.state.engine.get_table(project, name)
            if meta is None:
                raise odps_errors.no_such_table(project, name)
            return "table", meta.name.lower()
        if ref.object_type == "instance":
            instance = self.state.instances.get(ref.name)
            if instance is None or instance.project != project:
                raise odps_errors.no_such_security_object(project, "instance", ref.name)
            return "instance", ref.name.lower()
        if not self.p.object_exists(ref.object_type, name):
            raise odps_errors.no_such_security_object(project, ref.object_type, name)
        return ref.object_type, name

    def actions(self, object_type: str, written: tuple[str, ...]) -> set[str]:
        result = set()
        for action in written:
            canonical = canonical_action(object_type, action)
            if canonical is None:
                raise odps_errors.invalid_privilege(action, object_type)
            result.add(canonical)
        return result

    # -- users --

    def _do_AddUser(self, stmt: ast.AddUser) -> Output:
        self.require("AddUser")
        who = self.resolve(stmt.principal)
        if who.key == self.p.owner_key:
            raise odps_errors.security_object_exists(f"{who.display} is the owner of project {self.p.name}")
        if who.key in self.p.members:
            existing = self.p.members[who.key].display
            raise odps_errors.security_object_exists(f"User {existing} already exists in project {self.p.name}")
        self.p.members[who.key] = Member(who.key, who.display, who.id)
        return Output(OK, OK, mutated=True)

    def _do_RemoveUser(self, stmt: ast.RemoveUser) -> Output:
        self.require("RemoveUser")
        who = self.resolve_known(stmt.principal)
        if who.key == self.p.owner_key:
            raise self.forbid("the project owner cannot be removed from the project.")
        member = self.p.members.get(who.key)
        if member is None:
            raise odps_errors.principal_not_in_project(who.display, self.p.name)
        held = [r.name for r in self.p.roles_of(who.key)]
        if held:
            raise odps_errors.security_conflict(
                f"user {member.display} still holds role(s) {', '.join(held)}; revoke them first "
                f"(REVOKE <role> FROM {member.display})"
            )
        del self.p.members[who.key]  # ACL entries naming the user are kept (REMOVE USER page)
        return Output(OK, OK, mutated=True)

    def member_rows(self) -> list[tuple[str, str]]:
        rows = [(self.p.owner_account, self.p.owner_display)]
        rows += sorted(((m.id, m.display) for m in self.p.members.values()), key=lambda r: r[1].lower())
        return rows

    def _do_ListUsers(self, stmt: ast.ListUsers) -> Output:
        self.require("ListUsers")
        rows = self.member_rows()
        value = {"Users": [{"ID": uid, "DisplayName": display} for uid, display in rows]}
        return Output(value, "".join(f"{display}\n" for _, display in rows))

    def _do_WhoAmI(self, stmt: ast.WhoAmI) -> Output:
        uid, display = self.caller_member()
        return Output({"ID": uid, "DisplayName": display}, f"Name: {display}\nID: {uid}\n")

    # -- roles --

    def _do_CreateRole(self, stmt: ast.CreateRole) -> Output:
        self.require("CreateRole")
        name = stmt.role.lower()
        if name in self.p.roles:
            raise odps_errors.security_object_exists(f"Role {name} already exists in project {self.p.name}")
        self.p.roles[name] = Role(name=name, role_type=stmt.role_type)
        return Output(OK, OK, mutated=True)

    def _do_DropRole(self, stmt: ast.DropRole) -> Output:
        self.require("DropRole", self.role_resource(stmt.role.lower()))
        role = self.role(stmt.role)
        if role.builtin:
            raise self.forbid(f"built-in role {role.name} cannot be dropped.")
        if role.members:
            holders = ", ".join(sorted(self.user_display(k) for k in role.members))
            raise odps_errors.security_conflict(
                f"role {role.name} is still granted to {holders}; revoke it from every user first"
            )
        del self.p.roles[role.name]
        self.p.labels.forget_role(role.name)
        self.p.acl = [e for e in self.p.acl if not (e.grantee_kind == "role" and e.grantee == role.name)]
        return Output(OK, OK, mutated=True)

    def _do_ListRoles(self, stmt: ast.ListRoles) -> Output:
        self.require("ListRoles")
        roles = sorted(self.p.roles.values(), key=lambda r: r.name)
        value = {"Roles": [{"Name": r.name, "Type": r.role_type} for r in roles]}
        return Output(value, "".join(f"{r.name}\n" for r in roles))

    def _do_DescribeRole(self, stmt: ast.DescribeRole) -> Output:
        role = self.role(stmt.role)
        self.require("DescribeRole", self.role_resource(role.name))
        users = sorted((self.user_display(k) for k in role.members), key=str.lower)
        acl = [Group(f"role/{role.name}", self.grantee_rows("role", role.name))]
        policy = [Group(f"role/{role.name}", self.policy_rows(role.policy))]
        value = {"Name": role.name, "Type": role.role_type, "Users": users}
        value.update(json_sections(acl=acl, policy=policy))
        text = (
            "[users]\n" + "".join(f"{u}\n" for u in users) + "\n" + text_sections(acl=acl, policy=policy, headers=False)
        )
        return Output(value, text)

    def _do_GrantRoles(self, stmt: ast.GrantRoles) -> Output:
        roles = [self.role(name) for name in dict.fromkeys(n.lower() for n in stmt.roles)]
        for role in roles:
            self.require("GrantRole", self.role_resource(role.name))
        who = self.resolve(stmt.principal)
        if not self.is_member_key(who.key):
            raise odps_errors.principal_not_in_project(who.display, self.p.name)
        for role in roles:
            self.check_role_assignment(role, "grant")
        changed = False
        for role in roles:
            changed |= who.key not in role.members
            role.members.add(who.key)
        return Output(OK, OK, mutated=changed)

    def _do_RevokeRoles(self, stmt: ast.RevokeRoles) -> Output:
        roles = [self.role(name) for name in dict.fromkeys(n.lower() for n in stmt.roles)]
        for role in roles:
            self.require("RevokeRole", self.role_resource(role.name))
        who = self.resolve_known(stmt.principal)
        if not self.is_member_key(who.key) and not any(who.key in r.members for r in roles):
            raise odps_errors.principal_not_in_project(who.display, self.p.name)
        for role in roles:
            self.check_role_assignment(role, "revoke")
        changed = False
        for role in roles:
            changed |= who.key in role.members
            role.members.discard(who.key)
        return Output(OK, OK, mutated=changed)

    # -- object privileges --

    def grantee(self, grantee: ast.Grantee, *, granting: bool) -> tuple[Literal["user", "role"], str, str]:
        """(kind, stored key, display) of an ACL grantee; a GRANT needs a current member or custom role."""
        if grantee.kind == "role":
            role = self.role(grantee.role)
            if role.builtin:
                raise self.forbid(f"the privileges of built-in role {role.name} cannot be changed.")
            if role.role_type == "admin" and granting:
                raise odps_errors.invalid_security_argument(
                    f"role {role.name} is an admin role; admin roles take management permissions through a "
                    "policy, never object privileges"
                )
            return "role", role.name, role.name
        assert grantee.principal is not None
        if not granting:
            who = self.resolve_known(grantee.principal)
            return "user", who.key, who.display
        who = self.resolve(grantee.principal)
        if not self.is_member_key(who.key):
            raise odps_errors.principal_not_in_project(who.display, self.p.name)
        return "user", who.key, self.user_display(who.key)  # shown as added, whatever form the GRANT used

    def find_entry(self, kind: str, key: str, object_type: str, name: str) -> AclEntry | None:
        for entry in self.p.acl:
            if (entry.grantee_kind, entry.grantee, entry.object_type, entry.object_name) == (
                kind,
                key,
                object_type,
                name,
            ):
                return entry
        return None

    def _do_GrantActions(self, stmt: ast.GrantActions) -> Output:
        project = self.p.name
        self.require("Grant", resource_name(project, stmt.target.object_type, stmt.target.name.lower()))
        actions = self.actions(stmt.target.object_type, stmt.actions)
        object_type, name = self.target(stmt.target)
        kind, key, display = self.grantee(stmt.grantee, granting=True)
        entry = self.find_entry(kind, key, object_type, name)
        if entry is None:
            self.p.acl.append(AclEntry(kind, key, object_type, name, actions, display if kind == "user" else ""))
            return Output(OK, OK, mutated=True)
        changed = not actions <= entry.actions or (kind == "user" and entry.display != display)
        entry.actions |= actions
        if kind == "user":
            entry.display = display
        return Output(OK, OK, mutated=changed)

    def _do_RevokeActions(self, stmt: ast.RevokeActions) -> Output:
        project = self.p.name
        self.require("Revoke", resource_name(project, stmt.target.object_type, stmt.target.name.lower()))
        actions = self.actions(stmt.target.object_type, stmt.actions)
        object_type, name = self.target(stmt.target, must_exist=False)
        kind, key, _ = self.grantee(stmt.grantee, granting=False)
        entry = self.find_entry(kind, key, object_type, name)
        if entry is None:
            self.target(stmt.target)  # an unknown object is an error; a known one without the grant is a no-op
            return Output(OK, OK)
        before = set(entry.actions)
        if "All" in actions:
            remaining: set[str] = set()
        else:
            held = set(ACTIONS[object_type]) - {"Execute"} if "All" in entry.actions else set(entry.actions)
            remaining = held - actions
        if remaining == before:
            return Output(OK, OK)
        if remaining:
            entry.actions = remaining
        else:
            self.p.acl.remove(entry)
        return Output(OK, OK, mutated=True)

    # -- read-back --

    def grantee_rows(self, kind: str, key: str) -> list[Row]:
        """ACL lines of one grantee, project first, as ``projects/<p>/tables/<t>: Describe | Select``."""
        entries = sorted(
            (e for e in self.p.acl if e.grantee_kind == kind and e.grantee == key),
            key=lambda e: (e.object_type != "project", e.object_type, e.object_name),
        )
        return [
            Row("A", object_path(self.p.name, e.object_type, e.object_name), ordered_actions(e.object_type, e.actions))
            for e in entries
        ]

    def policy_rows(self, policy: str | None, *, project_policy: bool = False) -> list[Row]:
        if not policy:
            return []
        rows = []
        forms = principal_forms(self.caller)
        for statement in parse_policy(policy, project_policy=project_policy):
            if project_policy and not statement.applies_to(forms):
                continue
            actions = [action_title(a) for a in statement.actions]
            for resource in statement.resources:
                shown = resource.split(":", 3)[3] if resource.startswith("acs:odps:") else resource
                rows.append(Row("A" if statement.effect == "Allow" else "D", shown, actions))
        return rows

    def grants_of(self, key: str, display: str) -> tuple[list[str], list[Group], list[Group], list[Group]]:
        """(roles, implicit, ACL, policy) groups of one user principal."""
        roles = self.p.roles_of(key)
        implicit = []
        if key == self.p.owner_key:
            implicit.append(
                Group(self.p.owner_display, [Row("A", object_path(self.p.name, "project", None), ["Project Owner"])])
            )
        acl = [Group(f"user/{display}", self.grantee_rows("user", key))]
        acl += [Group(f"role/{r.name}", self.grantee_rows("role", r.name)) for r in roles]
        policy = [Group(f"role/{r.name}", self.policy_rows(r.policy)) for r in roles]
        if key == principal_key(self.caller):
            policy.append(Group(f"project/{self.p.name}", self.policy_rows(self.p.policy, project_policy=True)))
        return [r.name for r in roles], implicit, acl, policy

    def _do_ShowGrants(self, stmt: ast.ShowGrants) -> Output:
        if stmt.role is not None:
            role = self.role(stmt.role)
            self.require("DescribeRole", self.role_resource(role.name))
            acl = [Group(f"role/{role.name}", self.grantee_rows("role", role.name))]
            policy = [Group(f"role/{role.name}", self.policy_rows(role.policy))]
            return Output(json_sections(acl=acl, policy=policy), text_sections(acl=acl, policy=policy))
        if stmt.principal is None:
            key, display = principal_key(self.caller), self.caller_member()[1]
        else:
            who = self.resolve_known(stmt.principal)
            key, display = who.key, self.user_display(who.key, who.display)
            if key != principal_key(self.caller):
                self.require("ShowGrants")
            if not self.is_member_key(key) and not any(e.grantee == key for e in self.p.acl):
                raise odps_errors.principal_not_in_project(who.display, self.p.name)
        roles, implicit, acl, policy = self.grants_of(key, display)
        value = {"Roles": roles}
        value.update(json_sections(implicit=implicit, acl=acl, policy=policy))
        text = (
            "[roles]\n"
            + "".join(f"{r}\n" for r in roles)
            + "\n"
            + text_sections(implicit=implicit, acl=acl, policy=policy)
        )
        return Output(value, text)

    def object_acl(self, ref: ast.ObjectRef) -> tuple[list[Row], list[Row]]:
        """(implicit rows, ACL rows) on one object, principals in ``kind/name(resource)`` form."""
        self.require("ShowAcl", resource_name(self.p.name, ref.object_type, ref.name.lower()))
        object_type, name = self.target(ref)
        wildcard = name.endswith("*")
        implicit = [Row("AG", f"project_owner/{self.p.owner_display}", ["All"])]
        for role_name in ("super_administrator", "admin"):
            for key in sorted(self.p.roles[role_name].members):
                implicit.append(Row("AG", f"{role_name}/{self.user_display(key)}", ["All"]))
        if object_type == "table" and not wildcard:
            meta = self.state.engine.get_table(self.p.name, name)
            if meta is not None and meta.owner:
                implicit.append(Row("AG", f"object_creator/{meta.owner}", ["All"]))
        rows = []
        for entry in self.p.acl:
            if entry.object_type != object_type:
                continue
            if not (entry.object_name == name if wildcard else entry.covers(object_type, name)):
                continue
            who = self.user_display(entry.grantee, entry.display) if entry.grantee_kind == "user" else entry.grantee
            where = (
                object_path(self.p.name, "project", None)
                if object_type == "project"
                else resource_name(self.p.name, object_type, entry.object_name)
            )
            rows.append(Row("A", f"{entry.grantee_kind}/{who}({where})", ordered_actions(object_type, entry.actions)))
        rows.sort(key=lambda r: r.resource.lower())
        return implicit, rows

    def _do_ShowAcl(self, stmt: ast.ShowAcl) -> Output:
        implicit, rows = self.object_acl(stmt.target)
        return object_acl_output(implicit, rows)

    def _do_ShowGrantsOn(self, stmt: ast.ShowGrantsOn) -> Output:
        implicit, rows = self.object_acl(stmt.target)
        return object_acl_output(implicit, rows)

    def _do_GetPolicy(self, stmt: ast.GetPolicy) -> Output:
        if stmt.role is None:
            self.require("GetPolicy")
            text = self.p.policy or ""
            return Output(json.loads(text) if text else None, text)
        role = self.role(stmt.role)
        self.require("GetPolicy", self.role_resource(role.name))
        text = role.policy or EMPTY_ROLE_POLICY
        return Output(json.loads(text), text)

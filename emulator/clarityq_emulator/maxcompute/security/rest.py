"""The security endpoints: ``POST /projects/{p}/authorization`` and the users, roles and policy REST API.

Users and roles are read through REST (``GET .../users``, ``.../roles/{r}?users``); every change
goes through a statement (:mod:`.statements`), except role and project policies (``PUT ...?policy``).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.state import EmulatorState
from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.authorization.model import Role, principal_key
from clarityq_emulator.maxcompute.authorization.policy import PolicyError, parse_policy
from clarityq_emulator.maxcompute.common import ServiceResult
from clarityq_emulator.maxcompute.errors import OdpsError
from clarityq_emulator.maxcompute.security import parser as ast
from clarityq_emulator.maxcompute.security.statements import (
    EMPTY_ROLE_POLICY,
    MAX_POLICY_BYTES,
    XML_HEAD,
    Session,
    authorization,
)
from clarityq_emulator.ram.models import Caller


def handle_security_request(
    state: EmulatorState, caller: Caller, project: str, req: Request, rest: list[str]
) -> ServiceResult:
    """Entry point from :class:`~.maxcompute.MaxComputeService` for authorization, users, roles, policy."""
    if rest == ["authorization"] and req.method == "POST":
        return authorization(state, caller, project, req)
    if rest[:1] == ["authorization"] and len(rest) == 2:
        state.security.require_member(caller, project)
        raise odps_errors.no_such_object(f"authorization query {rest[1]} (the emulator runs none asynchronously)")
    if not rest:
        return _project_policy(state, caller, project, req)
    if rest[0] == "users":
        return _users(state, caller, project, req, rest)
    if rest[0] == "roles":
        return _roles(state, caller, project, req, rest)
    raise odps_errors.no_such_object(req.path)


# --- REST: users, roles, policies ------------------------------------------------------------------------


def _xml(body: str) -> ServiceResult:
    return ServiceResult(Response.xml(XML_HEAD + body))


def _user_xml(uid: str, display: str) -> str:
    return f"<User><ID>{escape(uid)}</ID><DisplayName>{escape(display)}</DisplayName><Comment></Comment></User>"


def _role_xml(role: Role) -> str:
    return f"<Role><Name>{escape(role.name)}</Name><Comment>{escape(role.comment)}</Comment></Role>"


def _session(state: EmulatorState, caller: Caller, project: str) -> Session:
    return Session(state, caller, state.security.require_member(caller, project))


def _find_user(session: Session, ident: str) -> tuple[str, str, str]:
    """(key, REST id, display) of a member named by display name (any principal form) or by REST id."""
    p = session.p
    if "$" in ident:
        try:
            key = session.resolve_known(ast.Principal(ident, True, 0)).key
        except OdpsError:
            key = ""
        if key == p.owner_key:
            return key, p.owner_account, p.owner_display
        if key in p.members:
            member = p.members[key]
            return key, member.id, member.display
    else:
        if ident == p.owner_account:
            return p.owner_key, p.owner_account, p.owner_display
        for member in p.members.values():
            if member.id == ident:
                return member.key, member.id, member.display
    raise odps_errors.no_such_object(f"user {ident} in project {p.name}")


def _users(state: EmulatorState, caller: Caller, project: str, req: Request, rest: list[str]) -> ServiceResult:
    if req.method != "GET":
        raise odps_errors.method_not_allowed(req.method, req.path)
    with state.security.lock:
        session = _session(state, caller, project)
        if len(rest) == 1:
            session.require("ListUsers")
            return _xml("<Users>" + "".join(_user_xml(i, d) for i, d in session.member_rows()) + "</Users>")
        key, uid, display = _find_user(session, "/".join(rest[1:]))
        is_self = key == principal_key(caller)
        if "roles" in req.query:
            if not is_self:
                session.require("ListUserRoles")
            return _xml("<Roles>" + "".join(_role_xml(r) for r in session.p.roles_of(key)) + "</Roles>")
        if not is_self:
            session.require("ListUsers")
        return _xml(_user_xml(uid, display))


def _roles(state: EmulatorState, caller: Caller, project: str, req: Request, rest: list[str]) -> ServiceResult:
    query = req.query
    with state.security.lock:
        session = _session(state, caller, project)
        p = session.p
        if len(rest) == 1 and req.method == "GET":
            session.require("ListRoles")
            prefix = query.get("name", "").lower()
            roles = sorted((r for r in p.roles.values() if r.name.startswith(prefix)), key=lambda r: r.name)
            return _xml("<Roles>" + "".join(_role_xml(r) for r in roles) + "</Roles>")
        if len(rest) != 2:
            raise odps_errors.no_such_object(req.path)
        role = session.role(rest[1])
        resource = session.role_resource(role.name)
        if "policy" in query:
            if req.method == "GET":
                session.require("GetPolicy", resource)
                text = role.policy or EMPTY_ROLE_POLICY
                return ServiceResult(Response(body=text.encode(), content_type="application/json"))
            if req.method == "PUT":
                session.require("AlterRole", resource)
                if role.builtin:
                    raise session.forbid(f"the policy of built-in role {role.name} cannot be changed.")
                role.policy = _policy_body(req.body, project_policy=False)
                return ServiceResult(Response(status=200), mutated=True)
            raise odps_errors.method_not_allowed(req.method, req.path)
        if req.method != "GET":
            raise odps_errors.method_not_allowed(req.method, req.path)
        if "users" in query:
            session.require("ListRolePrincipals", resource)
            users = sorted(
                ((p.members[k].id, p.members[k].display) for k in role.members if k in p.members),
                key=lambda u: u[1].lower(),
            )
            return _xml("<Users>" + "".join(_user_xml(i, d) for i, d in users) + "</Users>")
        if not p.holds(caller, role.name):
            session.require("DescribeRole", resource)
        return _xml(_role_xml(role))


def _policy_body(body: bytes, *, project_policy: bool) -> str | None:
    """Validate a policy document from a PUT body; an empty body (project policy only) clears it."""
    if len(body) > MAX_POLICY_BYTES:
        raise odps_errors.invalid_policy(f"policy is {len(body)} bytes, limit {MAX_POLICY_BYTES}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise odps_errors.invalid_policy("policy is not UTF-8") from None
    if not text.strip():
        if project_policy:
            return None
        raise odps_errors.invalid_policy("empty policy")
    try:
        parse_policy(text, project_policy=project_policy)
    except PolicyError as exc:
        raise odps_errors.invalid_policy(str(exc)) from None
    return text


def _project_policy(state: EmulatorState, caller: Caller, project: str, req: Request) -> ServiceResult:
    if "policy" not in req.query:
        state.security.require_member(caller, project)
        raise odps_errors.not_implemented(f"{req.method} on a project other than ?policy")
    with state.security.lock:
        session = _session(state, caller, project)
        if req.method == "GET":
            session.require("GetPolicy")
            return ServiceResult(Response(body=(session.p.policy or "").encode(), content_type="application/json"))
        if req.method == "PUT":
            session.require("SetPolicy")
            session.p.policy = _policy_body(req.body, project_policy=True)
            return ServiceResult(Response(status=200), mutated=True)
    raise odps_errors.method_not_allowed(req.method, req.path)

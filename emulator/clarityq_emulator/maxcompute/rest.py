"""The MaxCompute REST API (``/api/...``) and tunnel (``/projects/...``), as unmodified pyodps speaks them.

Every request is authenticated (:mod:`.auth`) before it is routed; every call is then authorised
through the security model in the documented order (member -> project state -> permission) by the
module that serves it: :mod:`.projects`, :mod:`.tables`, :mod:`.instances`, :mod:`.resources`,
the security endpoints (:mod:`.security.rest`) and the tunnels (:mod:`.tunnel`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.state import EmulatorState
from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute import instances, projects, resources, tables
from clarityq_emulator.maxcompute.auth import authenticate
from clarityq_emulator.maxcompute.authorization.network import client_ip
from clarityq_emulator.maxcompute.common import REST_PREFIX, ServiceResult
from clarityq_emulator.maxcompute.security import configuration
from clarityq_emulator.maxcompute.security.rest import handle_security_request
from clarityq_emulator.maxcompute.sql.errors import SqlError
from clarityq_emulator.maxcompute.tunnel import instance as instance_tunnel
from clarityq_emulator.maxcompute.tunnel import table as table_tunnel
from clarityq_emulator.ram.models import Caller

SecurityHandler = Callable[[EmulatorState, Caller, str, Request, list[str]], ServiceResult]

#: Path heads under ``/projects/{p}`` that the security endpoints serve.
_SECURITY_HEADS = frozenset({"authorization", "users", "roles"})


def _table_path(rest: list[str]) -> str | None:
    """The table of ``tables/{t}`` or ``schemas/default/tables/{t}`` (the only schema)."""
    if len(rest) == 2 and rest[0] == "tables":
        return rest[1]
    if len(rest) == 4 and rest[0] == "schemas" and rest[2] == "tables":
        if rest[1].lower() != "default":
            raise odps_errors.no_such_object(f"schema {rest[1]} (the emulator has only the default schema)")
        return rest[3]
    return None


class MaxComputeService:
    """Routes ``/api/...`` (REST) and ``/projects/...`` (tunnel) requests."""

    def __init__(self, state: EmulatorState, security_handler: SecurityHandler | None = None) -> None:
        self.state = state
        self.security_handler = security_handler or handle_security_request

    def handle(self, req: Request, *, tunnel_path: bool) -> ServiceResult:
        caller = authenticate(req, self.state.identity, "" if tunnel_path else REST_PREFIX, self.state.clock())
        path = req.path[len(REST_PREFIX) :] if not tunnel_path else req.path
        parts = [p for p in path.split("/") if p]
        token = client_ip.set(req.client_host)
        try:
            if tunnel_path:
                return self._tunnel(req, caller, parts)
            return self._rest(req, caller, parts)
        except SqlError as exc:  # catalog rules (partition specs, ...) broken outside a SQL instance
            raise odps_errors.invalid_argument(exc.message) from None
        finally:
            client_ip.reset(token)

    def _rest(self, req: Request, caller: Caller, parts: list[str]) -> ServiceResult:
        state, method, query = self.state, req.method, req.query
        if parts == ["logview", "host"] and method == "GET":
            return ServiceResult(Response.text(f"http://{req.header('host')}/logview"))
        if parts == ["webconsole", "host"]:
            raise odps_errors.no_such_object("webconsole host")
        if parts == ["tenants"] and method == "GET":
            return ServiceResult(Response.json({"Tenant": {"Name": "emulator", "TenantId": "1", "Parameters": {}}}))
        if parts == ["projects"] and method == "GET":
            return projects.list_projects(state, req, caller)
        if len(parts) < 2 or parts[0] != "projects":
            raise odps_errors.no_such_object(req.path)
        project, rest = parts[1].lower(), parts[2:]
        if not rest:
            if "security_configuration" in query:
                return configuration.security_configuration(state, caller, project, req)
            if method == "PUT" and "policy" not in query:
                return configuration.update_project(state, caller, project, req)
            if method != "GET" or "policy" in query:
                return self._security(req, caller, project, rest)
            return projects.get_project(state, req, caller, project)
        head = rest[0]
        table = _table_path(rest)
        if table is not None and method == "GET":
            return tables.get_table(state, req, caller, project, table)
        if rest in (["tables"], ["schemas", "default", "tables"]) and method == "GET":
            return tables.list_tables(state, req, caller, project)
        if head == "instances":
            if len(rest) == 1:
                if method == "POST":
                    return instances.submit(state, req, caller, project)
                if method == "GET":
                    return instances.list_instances(state, req, caller, project)
            if len(rest) == 2:
                return instances.instance(state, req, caller, project, rest[1])
        if rest == ["cachedinstances"] and method == "GET":
            return instances.cached_instances(state, req, caller, project)
        if head == "resources":
            return resources.route(state, req, caller, project, rest)
        if head == "tunnel" and method == "GET":
            state.security.require_member(caller, project)
            return ServiceResult(Response.text(req.header("host")))
        if head == "logs" and method == "PUT":
            return ServiceResult(Response.text(""))
        if head in _SECURITY_HEADS:
            return self._security(req, caller, project, rest)
        raise odps_errors.no_such_object(req.path)

    def _security(self, req: Request, caller: Caller, project: str, rest: list[str]) -> ServiceResult:
        if rest == ["authorization"] and "sign_bearer_token" in req.query:
            self.state.security.require_member(caller, project)
            token = secrets.token_urlsafe(24)
            return ServiceResult(Response.xml(f"<Authorization><Result>{token}</Result></Authorization>"))
        return self.security_handler(self.state, caller, project, req, rest)

    def _tunnel(self, req: Request, caller: Caller, parts: list[str]) -> ServiceResult:
        if len(parts) >= 2 and parts[0] == "projects":
            project, rest = parts[1].lower(), parts[2:]
            if len(rest) == 2 and rest[0] == "instances":
                return instance_tunnel.route(self.state, req, caller, project, rest[1])
            table = _table_path(rest)
            if table is not None:
                return table_tunnel.route(self.state, req, caller, project, table)
        raise odps_errors.no_such_object(f"tunnel route {req.method} {req.path}")

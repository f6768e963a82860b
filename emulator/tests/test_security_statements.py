"""Security statements and the users/roles REST API of the emulator.

Three layers: the parser on its own; statements run in-process through
``handle_security_request`` against a real :class:`EmulatorState` (fast, and the state can be
inspected directly); and a few end-to-end checks through unmodified pyodps over HTTP.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from clarityq_emulator import RunningEmulator, start_emulator
from clarityq_emulator.core.http import Request
from clarityq_emulator.core.state import EmulatorState, default_seed
from clarityq_emulator.maxcompute.common import ServiceResult
from clarityq_emulator.maxcompute.errors import OdpsError
from clarityq_emulator.maxcompute.security import parser as sp
from clarityq_emulator.maxcompute.security.rest import handle_security_request
from clarityq_emulator.maxcompute.sql.catalog import Column
from clarityq_emulator.ram.models import Caller
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odps import ODPS, errors, options

# --- parser ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("whoami", sp.WhoAmI()),
        ("  WhoAmI ;  ", sp.WhoAmI()),
        ("list users", sp.ListUsers()),
        ("LIST ROLES;", sp.ListRoles()),
        ("create role Worker", sp.CreateRole("Worker")),
        ('create role sa privilegeproperties("type"="admin")', sp.CreateRole("sa", "admin")),
        ("DROP ROLE worker;", sp.DropRole("worker")),
        ("desc role worker", sp.DescribeRole("worker")),
        ("ADD USER RAM$123:clarityq;", sp.AddUser(sp.Principal("RAM$123:clarityq", False, 9))),
        ("add user `RAM$123:role/etl`", sp.AddUser(sp.Principal("RAM$123:role/etl", True, 9))),
        ("remove user ram$bob", sp.RemoveUser(sp.Principal("ram$bob", False, 12))),
        (
            "grant a, B to RAM$1:2",
            sp.GrantRoles(("a", "B"), sp.Principal("RAM$1:2", False, 15)),
        ),
        ("revoke a from\nRAM$1:u", sp.RevokeRoles(("a",), sp.Principal("RAM$1:u", False, 14))),
        (
            "GRANT Describe,Select ON TABLE * TO ROLE r;",
            sp.GrantActions(("Describe", "Select"), sp.ObjectRef("table", "*"), sp.Grantee("role", role="r")),
        ),
        (
            "grant select on table p.default.t_* to user RAM$1:u",
            sp.GrantActions(
                ("select",),
                sp.ObjectRef("table", "t_*", "p"),
                sp.Grantee("user", principal=sp.Principal("RAM$1:u", False, 41)),
            ),
        ),
        (
            "revoke Read on resource udf.jar from role r",
            sp.RevokeActions(("Read",), sp.ObjectRef("resource", "udf.jar"), sp.Grantee("role", role="r")),
        ),
        ("show grants", sp.ShowGrants()),
        ("show grants for RAM$1:u", sp.ShowGrants(principal=sp.Principal("RAM$1:u", False, 16))),
        ("show grants for user RAM$1:u", sp.ShowGrants(principal=sp.Principal("RAM$1:u", False, 21))),
        ("show grants for role r", sp.ShowGrants(role="r")),
        ("show grants on p.t", sp.ShowGrantsOn(sp.ObjectRef("table", "t", "p"))),
        ("show acl for customers", sp.ShowAcl(sp.ObjectRef("table", "customers"))),
        ("show acl for p1 on type project", sp.ShowAcl(sp.ObjectRef("project", "p1"))),
        ("get policy", sp.GetPolicy()),
        ("get policy on role r", sp.GetPolicy("r")),
    ],
)
def test_parser_accepts_the_documented_grammar(text: str, expected: sp.Statement) -> None:
    assert sp.parse_statement(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty statement"),
        ("list users; drop role admin", "only one statement"),
        ("list users;;", "only one statement"),
        ("grant select on table 't' to role r", "single quotes"),
        ('grant select on table "t" to role r', "expected a table name"),
        ("grant select on table `t` to role r", "expected a table name"),
        ("add user `RAM$1:u;drop`", "backtick-quoted principal"),
        ("add user `RAM$1:u", "unterminated"),
        ("add user `RAM$1:\nu`", "multi-line"),
        ("add user RAM$1:clar\nityq", "unexpected text after the statement"),
        ("add user RAM$1:clärityq", "non-ASCII"),
        ("add user RAM$1:role/etl", "must be quoted with backticks"),
        ("add user clarityq", "expected a principal"),
        ("grant select on table t to role r with grant option", "WITH GRANT OPTION"),
        ("grant r to RAM$1:u with grant option", "WITH GRANT OPTION"),
        ("grant r to user RAM$1:u", "takes a principal"),
        ("grant select on table t to RAM$1:u", "expected USER or ROLE"),
        ("grant select on frobnicator t to role r", "expected an object type"),
        ("grant select on table a.b.c.d to role r", "invalid table name"),
        ("grant select on table t*x to role r", "invalid table name"),
        ("create role 9lives", "expected a role name"),
        ('create role r privilegeproperties("type"="god")', "PRIVILEGEPROPERTIES"),
        ("drop table t", "expected ROLE"),
        ("select 1", "expected a security statement"),
        ("-- comment\nwhoami", "expected a security statement"),
        ("whoami\x01", "control character"),
        ("show grants for", "expected a principal"),
    ],
)
def test_parser_rejects_malformed_and_tricky_statements(text: str, fragment: str) -> None:
    with pytest.raises(sp.SecurityParseError, match=None) as info:
        sp.parse_statement(text)
    assert fragment in info.value.message


def test_parser_limits_statement_length() -> None:
    sp.parse_statement("create role r" + " " * (sp.MAX_STATEMENT_CHARS - 13))
    with pytest.raises(sp.StatementTooLong):
        sp.parse_statement("create role r" + " " * (sp.MAX_STATEMENT_CHARS - 12))


@pytest.mark.parametrize(
    "text",
    [
        "grant select on table t (c1, c2) to role r",
        'grant select on table t to role r privilegeproperties("policy"="true")',
        "set ProjectProtection=true",
        "show securityconfiguration",
        "set label P2 to table t",
        "put policy /tmp/x.json",
        "list trustedprojects",
    ],
)
def test_parser_flags_real_but_unsupported_syntax(text: str) -> None:
    with pytest.raises(sp.NotSupported):
        sp.parse_statement(text)


def test_parse_error_positions_are_line_and_column() -> None:
    text = "grant select\non table 't'"
    with pytest.raises(sp.SecurityParseError) as info:
        sp.parse_statement(text)
    assert sp.line_col(text, info.value.offset) == (2, 10)


# --- in-process harness ---------------------------------------------------------------------------------


def _xml(body: bytes) -> ET.Element:
    """Parse a response the emulator itself produced."""
    return ET.fromstring(body)  # noqa: S314 - our own output, no DTDs


class Harness:
    """One emulator state; statements and REST calls go straight to the security handler."""

    def __init__(self, state: EmulatorState | None = None) -> None:
        self.state = state or EmulatorState(seed=default_seed())
        self.project = self.state.default_project
        identity = self.state.identity
        self.account = identity.account_id
        owner = identity.lookup_key(identity.owner_access_key_id)
        assert owner is not None
        self.owner = owner.caller

    def ram_user(self, name: str) -> tuple[str, Caller]:
        """Create a RAM user with a key; return (uid, the caller that key signs as)."""
        user = self.state.identity.create_user(name)
        key = self.state.identity.create_access_key(name)
        info = self.state.identity.lookup_key(key.access_key_id)
        assert info is not None
        return user.user_id, info.caller

    def raw(self, statement: str, caller: Caller | None = None, *, json_form: bool = True) -> ServiceResult:
        flag = "true" if json_form else "false"
        body = (
            f"<Authorization><Query>{escape(statement)}</Query>"
            f"<ResponseInJsonFormat>{flag}</ResponseInJsonFormat></Authorization>"
        ).encode()
        req = Request("POST", f"/api/projects/{self.project}/authorization", {}, body)
        return handle_security_request(self.state, caller or self.owner, self.project, req, ["authorization"])

    def run(self, statement: str, caller: Caller | None = None) -> Any:
        result = self.raw(statement, caller)
        assert result.response.status == 200
        return json.loads(_xml(result.response.body).findtext("Result") or "")

    def text(self, statement: str, caller: Caller | None = None) -> str:
        return _xml(self.raw(statement, caller, json_form=False).response.body).findtext("Result") or ""

    def fails(self, statement: str, caller: Caller | None = None) -> OdpsError:
        """Run a statement that must fail, and check it changed nothing."""
        before = self.state.security.dump()
        with pytest.raises(OdpsError) as info:
            self.raw(statement, caller)
        assert self.state.security.dump() == before
        return info.value

    def rest(
        self, method: str, rest: list[str], query: str = "", body: bytes = b"", caller: Caller | None = None
    ) -> ServiceResult:
        target = f"/api/projects/{self.project}/{'/'.join(rest)}" + (f"?{query}" if query else "")
        return handle_security_request(
            self.state, caller or self.owner, self.project, Request(method, target, {}, body), rest
        )

    def allowed(self, caller: Caller, action: str, object_type: str = "project", name: str | None = None) -> bool:
        try:
            self.state.security.check(caller, self.project, action, object_type, name)
        except OdpsError:
            return False
        return True


@pytest.fixture
def h() -> Harness:
    return Harness()


@pytest.fixture
def reader(h: Harness) -> tuple[str, Caller]:
    """Seed 000's set-up done by the owner: member clarityq holding clarityq_reader."""
    uid, caller = h.ram_user("clarityq")
    for statement in (
        f"ADD USER RAM${h.account}:{uid};",
        "CREATE ROLE clarityq_reader;",
        f"GRANT CreateInstance, List ON PROJECT {h.project} TO ROLE clarityq_reader;",
        "GRANT Describe, Select ON TABLE * TO ROLE clarityq_reader;",
        f"GRANT clarityq_reader TO RAM${h.account}:{uid};",
    ):
        assert h.run(statement) == "OK"
    return uid, caller


# --- users ----------------------------------------------------------------------------------------------


def test_add_user_by_uid_and_by_name_name_the_same_member(h: Harness) -> None:
    uid, caller = h.ram_user("clarityq")
    result = h.raw(f"add user RAM${h.account}:{uid}")
    assert result.mutated
    error = h.fails(f"ADD USER RAM${h.account}:ClarityQ")
    assert (error.status, error.code) == (409, "ObjectAlreadyExists")
    assert f"RAM${h.account}:{uid} already exists" in error.message
    users = h.run("list users")["Users"]
    assert {"ID": uid, "DisplayName": f"RAM${h.account}:{uid}"} in users
    assert h.run("whoami", caller) == {"ID": uid, "DisplayName": f"RAM${h.account}:{uid}"}


@pytest.mark.parametrize(
    "principal",
    [
        "RAM$<acct>:nobody",
        "RAM$9999999999999999:clarityq",
        "ALIYUN$someone@aliyun.com",
        "`RAM$<acct>:role/no-such-role`",
        "RAM$<acct>:",
        "RAM$nobody",
        "RAM$<acct>:clarityq:extra",
    ],
)
def test_unknown_principals_are_invalid_accounts(h: Harness, principal: str) -> None:
    h.ram_user("clarityq")
    error = h.fails("add user " + principal.replace("<acct>", h.account))
    assert (error.status, error.code) == (404, "NoSuchObject")
    assert "Invalid account Name" in error.message


def test_short_form_and_ram_role_principals(h: Harness) -> None:
    uid, caller = h.ram_user("clarityq")
    role = h.state.identity.add_role("etl-runner")
    h.run("add user ram$clarityq")
    h.run(f"add user `RAM${h.account}:role/ETL-Runner`")
    users = {u["DisplayName"]: u["ID"] for u in h.run("list users")["Users"]}
    assert users["RAM$clarityq"] == uid
    assert users[f"RAM${h.account}:role/ETL-Runner"] == role.role_id
    session = h.state.identity.assume_role("etl-runner", "job-1")
    key = h.state.identity.lookup_key(session.access_key_id)
    assert key is not None
    assert h.run("whoami", key.caller)["ID"] == role.role_id
    assert h.allowed(caller, "List") is False  # a member without grants
    ghost = Caller("ram_user", h.account, "1", "ghost", "key", "arn")
    with pytest.raises(OdpsError, match=r"\[4002\]"):
        h.state.security.check(ghost, h.project, "List")


def test_the_owner_is_always_a_member(h: Harness) -> None:
    error = h.fails(f"add user ALIYUN${h.account}")
    assert error.code == "ObjectAlreadyExists"
    error = h.fails(f"remove user ALIYUN${h.account}")
    assert error.status == 403
    assert h.run("list users")["Users"][0] == {"ID": h.account, "DisplayName": f"ALIYUN${h.account}"}


def test_remove_user_needs_roles_revoked_and_keeps_acl_entries(h: Harness, reader: tuple[str, Caller]) -> None:
    uid, caller = reader
    principal = f"RAM${h.account}:{uid}"
    h.run(f"grant Update on table orders to user RAM${h.account}:clarityq")
    error = h.fails(f"remove user {principal}")
    assert (error.status, error.code) == (409, "DeleteConflict")
    assert "clarityq_reader" in error.message
    h.run(f"revoke clarityq_reader from {principal}")
    assert h.raw(f"remove user {principal}").mutated
    with pytest.raises(OdpsError, match=r"\[4002\]"):
        h.state.security.check(caller, h.project, "Update", "table", "orders")
    # The residual entry stays visible and comes back with the user.
    acl = h.run("show acl for orders")["ACL"][""]
    assert {
        "Action": ["Update"],
        "Principal": [f"user/{principal}(acs:odps:*:projects/{h.project}/tables/orders)"],
    } in acl
    h.run(f"add user {principal}")
    assert h.allowed(caller, "Update", "table", "orders")
    assert not h.allowed(caller, "Select", "table", "orders")  # the role was not given back


def test_residual_grants_can_be_revoked_after_the_ram_user_is_deleted(h: Harness) -> None:
    uid, _ = h.ram_user("temp")
    h.run(f"add user RAM${h.account}:temp")
    h.run(f"grant Select on table orders to user RAM${h.account}:temp")
    h.run(f"remove user RAM${h.account}:temp")
    for key in h.state.identity.list_access_keys("temp"):
        h.state.identity.delete_access_key("temp", key.access_key_id)
    h.state.identity.delete_user("temp")
    h.run(f"revoke Select on table orders from user RAM${h.account}:temp")
    assert all(e.grantee != f"ram:{h.account}:{uid}" for e in h.state.security.get(h.project).acl)  # type: ignore[union-attr]


# --- roles ----------------------------------------------------------------------------------------------


def test_role_names_are_case_insensitive_and_shown_lower_case(h: Harness) -> None:
    h.run("CREATE ROLE Worker")
    assert {"Name": "worker", "Type": "resource"} in h.run("list roles")["Roles"]
    assert h.fails("create role WORKER").code == "ObjectAlreadyExists"
    assert h.fails("create role admin").code == "ObjectAlreadyExists"
    h.run(f"grant List on project {h.project.upper()} to role WORKER")
    assert h.run("show grants for role worker")["ACL"][""][0]["Action"] == ["List"]
    h.run("drop role wOrKeR")
    assert h.fails("describe role worker").code == "NoSuchObject"


def test_builtin_roles_cannot_be_dropped_or_changed(h: Harness) -> None:
    for statement in (
        "drop role admin",
        "drop role Super_Administrator",
        "grant Select on table * to role admin",
        "revoke List on project clarityq_demo from role super_administrator",
    ):
        error = h.fails(statement)
        assert (error.status, error.code) == (403, "NoPermission"), statement
    with pytest.raises(OdpsError) as info:
        h.rest("PUT", ["roles", "admin"], "policy", b'{"Version": "1", "Statement": []}')
    assert info.value.status == 403


def test_drop_role_refused_while_granted_and_takes_its_acl_along(h: Harness, reader: tuple[str, Caller]) -> None:
    uid, caller = reader
    error = h.fails("drop role clarityq_reader")
    assert (error.status, error.code) == (409, "DeleteConflict")
    h.run(f"revoke clarityq_reader from RAM${h.account}:clarityq")
    h.run("drop role clarityq_reader")
    h.run("create role clarityq_reader")
    h.run(f"grant clarityq_reader to RAM${h.account}:{uid}")
    assert not h.allowed(caller, "List")  # the old role's grants did not survive the drop


def test_admin_type_roles_take_no_object_privileges(h: Harness) -> None:
    h.run('create role secadmin privilegeproperties("type"="admin")')
    assert {"Name": "secadmin", "Type": "admin"} in h.run("list roles")["Roles"]
    error = h.fails("grant Select on table customers to role secadmin")
    assert error.code == "InvalidArgument"


def test_multi_role_grant_is_all_or_nothing(h: Harness, reader: tuple[str, Caller]) -> None:
    h.run("create role extra")
    error = h.fails(f"grant extra, missing to RAM${h.account}:clarityq")
    assert error.code == "NoSuchObject"
    assert "missing" in error.message
    assert h.run(f"show grants for RAM${h.account}:clarityq")["Roles"] == ["clarityq_reader"]


def test_role_grants_need_a_member_and_an_existing_role(h: Harness) -> None:
    h.ram_user("outsider")
    h.run("create role r")
    assert "run ADD USER first" in h.fails(f"grant r to RAM${h.account}:outsider").message
    h.run(f"add user RAM${h.account}:outsider")
    assert h.fails(f"grant nothing_here to RAM${h.account}:outsider").code == "NoSuchObject"
    assert not h.raw(f"revoke r from RAM${h.account}:outsider").mutated  # not held: a no-op


# --- object privileges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "status", "code", "fragment"),
    [
        (
            "grant Insert on table customers to role r",
            400,
            "InvalidArgument",
            "invalid privilege type Insert for TABLE",
        ),
        ("grant Select on project clarityq_demo to role r", 400, "InvalidArgument", "for PROJECT"),
        ("grant Describe on function f to role r", 400, "InvalidArgument", "for FUNCTION"),
        ("grant Select, Frobnicate on table * to role r", 400, "InvalidArgument", "Frobnicate"),
        ("grant Select on table no_such_table to role r", 404, "NoSuchTable", "no_such_table"),
        ("grant Read on function no_udf to role r", 404, "NoSuchObject", "no_udf"),
        ("grant Read on resource nothing.jar to role r", 404, "NoSuchObject", "nothing.jar"),
        ("grant Read on instance 2026000000000000abc to role r", 404, "NoSuchObject", "2026000000000000abc"),
        ("grant List on project other_project to role r", 404, "NoSuchProject", "other_project"),
        ("grant Select on table other_project.customers to role r", 400, "InvalidArgument", "current project"),
        ("grant Select on table customers to role nobody", 404, "NoSuchObject", "nobody"),
        ("grant Select on table customers to user RAM$<acct>:outsider", 404, "NoSuchObject", "ADD USER"),
        ("grant Select on table customers to user RAM$<acct>:ghost", 404, "NoSuchObject", "Invalid account"),
    ],
)
def test_grant_validation_errors_change_nothing(
    h: Harness, statement: str, status: int, code: str, fragment: str
) -> None:
    h.ram_user("outsider")
    h.run("create role r")
    error = h.fails(statement.replace("<acct>", h.account))
    assert (error.status, error.code) == (status, code)
    assert fragment in error.message


def test_grant_all_then_revoke_one_action(h: Harness) -> None:
    uid, caller = h.ram_user("u1")
    h.run(f"add user RAM${h.account}:{uid}")
    h.run(f"grant All on table customers to user RAM${h.account}:u1")
    assert h.allowed(caller, "Alter", "table", "customers")
    h.run(f"revoke Select on table customers from user RAM${h.account}:u1")
    assert not h.allowed(caller, "Select", "table", "customers")
    assert h.allowed(caller, "Drop", "table", "customers")
    assert h.run(f"show grants for RAM${h.account}:u1")["ACL"][""][0]["Action"] == [
        "Describe",
        "Alter",
        "Update",
        "Drop",
        "Download",
    ]
    h.run(f"revoke All on table customers from user RAM${h.account}:u1")
    assert h.run(f"show grants for RAM${h.account}:u1")["ACL"] == {}
    assert not h.raw(f"revoke Drop on table customers from user RAM${h.account}:u1").mutated


def test_wildcards_cover_present_and_future_tables(h: Harness) -> None:
    _, caller = h.ram_user("u1")
    h.run(f"add user RAM${h.account}:u1")
    h.run(f"grant Select on table CUST* to user RAM${h.account}:u1")
    assert h.allowed(caller, "Select", "table", "customers")
    assert not h.allowed(caller, "Select", "table", "orders")
    h.state.engine.create_table(h.project, "cust_archive", [Column("id", "bigint")], [], owner="x")
    assert h.allowed(caller, "Select", "table", "cust_archive")
    acl = h.run("show acl for cust_archive")["ACL"][""]
    assert acl == [
        {"Action": ["Select"], "Principal": [f"user/RAM${h.account}:u1(acs:odps:*:projects/{h.project}/tables/cust*)"]}
    ]


def test_function_and_resource_grants_need_registered_objects(h: Harness) -> None:
    _, caller = h.ram_user("u1")
    h.run(f"add user RAM${h.account}:u1")
    h.state.security.register_objects(h.project, functions=["My_UDF"], resources=["udf.jar"])
    h.run(f"grant Execute on function my_udf to user RAM${h.account}:u1")
    h.run(f"grant Read on resource UDF.jar to user RAM${h.account}:u1")
    assert h.allowed(caller, "Run", "function", "my_udf")
    assert h.allowed(caller, "Execute", "function", "my_udf")
    assert h.allowed(caller, "Read", "resource", "udf.jar")
    assert not h.allowed(caller, "Write", "resource", "udf.jar")
    assert h.state.security.forget_object(h.project, "resource", "udf.jar")
    assert not h.allowed(caller, "Read", "resource", "udf.jar")


# --- who may run what ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "action"),
    [
        ("add user RAM$<acct>:other", "AddUser"),
        ("remove user RAM$<acct>:other", "RemoveUser"),
        ("list users", "ListUsers"),
        ("list roles", "ListRoles"),
        ("create role r2", "CreateRole"),
        ("drop role clarityq_reader", "DropRole"),
        ("describe role clarityq_reader", "DescribeRole"),
        ("grant clarityq_reader to RAM$<acct>:other", "GrantRole"),
        ("revoke clarityq_reader from RAM$<acct>:clarityq", "RevokeRole"),
        ("grant Select on table orders to role clarityq_reader", "Grant"),
        ("revoke Select on table * from role clarityq_reader", "Revoke"),
        ("show grants for RAM$<acct>:other", "ShowGrants"),
        ("show grants for role clarityq_reader", "DescribeRole"),
        ("show acl for customers", "ShowAcl"),
        ("show grants on customers", "ShowAcl"),
        ("get policy", "GetPolicy"),
    ],
)
def test_plain_members_are_denied_management_statements(
    h: Harness, reader: tuple[str, Caller], statement: str, action: str
) -> None:
    h.ram_user("other")
    h.run(f"add user RAM${h.account}:other")
    error = h.fails(statement.replace("<acct>", h.account), reader[1])
    assert (error.status, error.code) == (403, "NoPermission")
    assert f"[4019], You have NO privilege 'odps:{action}' on {{acs:odps:*:projects/{h.project}" in error.message


def test_plain_members_may_ask_about_themselves(h: Harness, reader: tuple[str, Caller]) -> None:
    uid, caller = reader
    assert h.run("whoami", caller)["ID"] == uid
    assert h.run("show grants", caller)["Roles"] == ["clarityq_reader"]
    assert h.run(f"show grants for RAM${h.account}:clarityq", caller)["Roles"] == ["clarityq_reader"]


def test_non_members_get_4002_before_anything_else(h: Harness) -> None:
    _, caller = h.ram_user("stranger")
    for statement in ("whoami", "show grants", "this is not a statement"):
        error = h.fails(statement, caller)
        assert "[4002], You don't exist in project clarityq_demo" in error.message


def test_admin_role_manages_but_cannot_hand_out_admin(h: Harness) -> None:
    _, caller = h.ram_user("ops")
    h.ram_user("dev")
    h.run(f"add user RAM${h.account}:ops")
    h.run(f"grant admin to RAM${h.account}:ops")
    h.run(f"add user RAM${h.account}:dev", caller)
    h.run("create role analysts", caller)
    h.run(f"grant analysts to RAM${h.account}:dev", caller)
    assert "only the project owner" in h.fails(f"grant admin to RAM${h.account}:dev", caller).message
    assert "super_administrator" in h.fails(f"grant super_administrator to RAM${h.account}:dev", caller).message
    with pytest.raises(OdpsError, match="odps:SetPolicy"):
        h.rest("PUT", [], "policy", b'{"Version": "1", "Statement": []}', caller=caller)
    assert h.allowed(caller, "Drop", "table", "orders")  # admin holds every object permission


def test_super_administrator_may_grant_super_administrator(h: Harness) -> None:
    _, boss = h.ram_user("boss")
    h.ram_user("deputy")
    h.run(f"add user RAM${h.account}:boss")
    h.run(f"add user RAM${h.account}:deputy")
    h.run(f"grant super_administrator to RAM${h.account}:boss")
    h.run(f"grant super_administrator to RAM${h.account}:deputy", boss)
    assert "only the project owner" in h.fails(f"grant admin to RAM${h.account}:deputy", boss).message
    h.rest("PUT", [], "policy", b'{"Version": "1", "Statement": []}', caller=boss)


def test_custom_admin_role_gets_management_permissions_from_its_policy(h: Harness) -> None:
    _, caller = h.ram_user("roles_mgr")
    h.run(f"add user RAM${h.account}:roles_mgr")
    h.run('create role role_mgmt privilegeproperties("type"="admin")')
    policy = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["odps:CreateRole", "odps:List*"],
                "Resource": [f"acs:odps:*:projects/{h.project}"],
            },
        ],
    }
    h.rest("PUT", ["roles", "role_mgmt"], "policy", json.dumps(policy).encode())
    h.run(f"grant role_mgmt to RAM${h.account}:roles_mgr")
    h.run("create role made_by_mgr", caller)
    assert [r for r in h.run("list roles", caller)["Roles"] if r["Name"] == "made_by_mgr"]
    assert "odps:AddUser" in h.fails(f"add user RAM${h.account}:roles_mgr", caller).message
    assert not h.allowed(caller, "List")  # management policy grants no object permission


# --- policies --------------------------------------------------------------------------------------------


def test_project_policy_deny_beats_an_acl_allow(h: Harness, reader: tuple[str, Caller]) -> None:
    _, caller = reader
    policy = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": [f"RAM${h.account}:clarityq"],
                "Action": ["odps:Select"],
                "Resource": [f"acs:odps:*:projects/{h.project}/tables/orders"],
            }
        ],
    }
    assert h.rest("PUT", [], "policy", json.dumps(policy).encode()).mutated
    with pytest.raises(OdpsError, match=r"\[4011\].*Explicitly denied by policy"):
        h.state.security.check(caller, h.project, "Select", "table", "orders")
    assert h.allowed(caller, "Select", "table", "customers")
    assert h.allowed(h.owner, "Select", "table", "orders")
    text = h.text("show grants", caller)
    assert f"[project/{h.project}]\nD\tprojects/{h.project}/tables/orders: Select" in text
    assert h.rest("GET", [], "policy").response.body == json.dumps(policy).encode()
    h.rest("PUT", [], "policy", b"")
    assert h.rest("GET", [], "policy").response.body == b""
    assert h.run("get policy") is None


def test_role_policy_allows_matching_objects(h: Harness, reader: tuple[str, Caller]) -> None:
    _, caller = reader
    policy = (
        '{"Version": "1", "Statement": [{"Action": ["odps:Update"], "Effect": "Allow", '
        f'"Resource": ["acs:odps:*:projects/{h.project}/tables/ord*"]}}]}}'
    )
    h.rest("PUT", ["roles", "clarityq_reader"], "policy", policy.encode())
    assert h.allowed(caller, "Update", "table", "orders")
    assert not h.allowed(caller, "Update", "table", "customers")
    assert h.rest("GET", ["roles", "clarityq_reader"], "policy").response.body.decode() == policy
    assert h.run("get policy on role clarityq_reader") == json.loads(policy)
    described = h.text("describe role clarityq_reader")
    assert f"Authorization Type: Policy\nA\tprojects/{h.project}/tables/ord*: Update\n" in described


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (
            b'{"Statement": [{"Effect": "Allow", "Action": ["odps:Frobnicate"], '
            b'"Resource": ["acs:odps:*:projects/p"]}]}',
            "invalid Action value - odps:Frobnicate",
        ),
        (
            b'{"Statement": [{"Effect": "Maybe", "Action": ["odps:Select"], "Resource": ["acs:odps:*:projects/p"]}]}',
            "invalid Effect value",
        ),
        (
            b'{"Statement": [{"Effect": "Allow", "Principal": ["*"], "Action": ["odps:Select"], '
            b'"Resource": ["acs:odps:*:projects/p"]}]}',
            "no Principal",
        ),
        (
            b'{"Statement": [{"Effect": "Allow", "Action": ["odps:Select"], "Resource": ["projects/p"]}]}',
            "invalid Resource value",
        ),
        (b"", "empty policy"),
    ],
)
def test_bad_role_policies_are_refused(h: Harness, body: bytes, fragment: str) -> None:
    h.run("create role r")
    with pytest.raises(OdpsError) as info:
        h.rest("PUT", ["roles", "r"], "policy", body)
    assert info.value.code == "InvalidArgument"
    assert info.value.message.startswith("failed to check policy format:")
    assert fragment in info.value.message
    assert h.state.security.get(h.project).roles["r"].policy is None  # type: ignore[union-attr]


# --- output forms ---------------------------------------------------------------------------------------


def test_show_grants_for_a_user_in_both_forms(h: Harness, reader: tuple[str, Caller]) -> None:
    uid, _ = reader
    p = h.project
    h.run(f"grant Update on table orders to user RAM${h.account}:{uid}")
    principal = f"RAM${h.account}:{uid}"
    assert h.text(f"show grants for {principal}") == (
        "[roles]\nclarityq_reader\n\n"
        "Authorization Type: ACL\n"
        f"[user/{principal}]\n"
        f"A\tprojects/{p}/tables/orders: Update\n"
        "[role/clarityq_reader]\n"
        f"A\tprojects/{p}: List | CreateInstance\n"
        f"A\tprojects/{p}/tables/*: Describe | Select\n"
    )
    assert h.run(f"show grants for {principal}") == {
        "Roles": ["clarityq_reader"],
        "Implicit": [],
        "ACL": {
            "": [
                {
                    "Principal": [f"user/{principal}"],
                    "Resource": [f"projects/{p}/tables/orders"],
                    "Action": ["Update"],
                    "Effect": "Allow",
                },
                {
                    "Principal": ["role/clarityq_reader"],
                    "Resource": [f"projects/{p}"],
                    "Action": ["List", "CreateInstance"],
                    "Effect": "Allow",
                },
                {
                    "Principal": ["role/clarityq_reader"],
                    "Resource": [f"projects/{p}/tables/*"],
                    "Action": ["Describe", "Select"],
                    "Effect": "Allow",
                },
            ]
        },
        "Policy": {},
    }


def test_show_grants_for_the_owner(h: Harness) -> None:
    assert h.text("show grants") == (
        f"[roles]\n\nAuthorization Type: Implicit\n[ALIYUN${h.account}]\nA\tprojects/{h.project}: Project Owner\n"
    )


def test_describe_role_and_show_acl_text(h: Harness, reader: tuple[str, Caller]) -> None:
    uid, _ = reader
    p = h.project
    assert h.text("describe role CLARITYQ_READER") == (
        f"[users]\nRAM${h.account}:{uid}\n\n"
        "Authorization Type: ACL\n"
        f"A\tprojects/{p}: List | CreateInstance\n"
        f"A\tprojects/{p}/tables/*: Describe | Select\n"
    )
    described = h.run("desc role clarityq_reader")
    assert described["Users"] == [f"RAM${h.account}:{uid}"]
    assert described["Type"] == "resource"
    assert h.text("show acl for customers") == (
        "Authorization Type: Implicit\n"
        f"AG\tproject_owner/ALIYUN${h.account}: All\n"
        f"AG\tobject_creator/ALIYUN${h.account}: All\n"
        "\nAuthorization Type: ACL\n"
        f"A\trole/clarityq_reader(acs:odps:*:projects/{p}/tables/*): Describe | Select\n"
    )
    assert h.text(f"show acl for {p} on type project").endswith(
        f"A\trole/clarityq_reader(projects/{p}): List | CreateInstance\n"
    )


def test_show_grants_on_matches_the_dbt_adapter_shape(h: Harness, reader: tuple[str, Caller]) -> None:
    """dbt-maxcompute reads ``ACL[""][i]["Action"]`` and the principal between ``/`` and ``(``."""
    result = h.run(f"show grants on {h.project}.default.customers")
    seen = {
        (action, principal.split("/", 1)[1].split("(", 1)[0])
        for entry in result["ACL"][""]
        for action in entry["Action"]
        for principal in entry["Principal"]
    }
    assert seen == {("Describe", "clarityq_reader"), ("Select", "clarityq_reader")}


def test_list_users_roles_and_whoami_text(h: Harness, reader: tuple[str, Caller]) -> None:
    uid, caller = reader
    assert h.text("list users") == f"ALIYUN${h.account}\nRAM${h.account}:{uid}\n"
    assert h.text("list roles") == "admin\nclarityq_reader\nsuper_administrator\n"
    assert h.text("whoami", caller) == f"Name: RAM${h.account}:{uid}\nID: {uid}\n"
    assert h.text("create role r") == "OK"
    assert h.run("create role r2") == "OK"


def test_authorization_body_errors(h: Harness) -> None:
    def post(body: bytes) -> OdpsError:
        req = Request("POST", f"/api/projects/{h.project}/authorization", {}, body)
        with pytest.raises(OdpsError) as info:
            handle_security_request(h.state, h.owner, h.project, req, ["authorization"])
        return info.value

    assert post(b"<Authorization><Query>whoami").code == "InvalidArgument"
    assert post(b"<Other><Query>whoami</Query></Other>").code == "InvalidArgument"
    doctype = b'<!DOCTYPE a [<!ENTITY x "list users">]><Authorization><Query>&x;</Query></Authorization>'
    assert post(doctype).code == "InvalidArgument"
    too_long = h.fails("create role r" + " " * sp.MAX_STATEMENT_CHARS)
    assert (too_long.status, too_long.code) == (400, "InvalidArgument")
    error = h.fails("grant select on table 't' to role r")
    assert (error.status, error.code) == (400, "ParseError")
    assert error.message.startswith("ODPS-0130161:[1,23] Parse exception - single quotes")
    assert h.fails("show securityconfiguration").status == 501


# --- REST users/roles -------------------------------------------------------------------------------------


def test_rest_users_and_roles_agree_with_the_statements(h: Harness, reader: tuple[str, Caller]) -> None:
    uid, caller = reader
    display = f"RAM${h.account}:{uid}"
    users = _xml(h.rest("GET", ["users"]).response.body)
    assert [(u.findtext("ID"), u.findtext("DisplayName")) for u in users] == [
        (h.account, f"ALIYUN${h.account}"),
        (uid, display),
    ]
    one = _xml(h.rest("GET", ["users", f"RAM${h.account}:clarityq"], "type=displayname").response.body)
    assert (one.findtext("ID"), one.findtext("DisplayName")) == (uid, display)
    roles = _xml(h.rest("GET", ["users", uid], "roles=&type=displayname", caller=caller).response.body)
    assert [r.findtext("Name") for r in roles] == ["clarityq_reader"]
    listed = _xml(h.rest("GET", ["roles"]).response.body)
    assert [r.findtext("Name") for r in listed] == [r["Name"] for r in h.run("list roles")["Roles"]]
    members = _xml(h.rest("GET", ["roles", "clarityq_reader"], "users=").response.body)
    assert [u.findtext("DisplayName") for u in members] == h.run("describe role clarityq_reader")["Users"]
    with pytest.raises(OdpsError) as info:
        h.rest("GET", ["roles", "nope"])
    assert info.value.code == "NoSuchObject"
    with pytest.raises(OdpsError) as info:
        h.rest("GET", ["users", "RAM$nobody"], "type=displayname")
    assert info.value.code == "NoSuchObject"
    with pytest.raises(OdpsError) as info:
        h.rest("GET", ["users"], caller=caller)
    assert "odps:ListUsers" in info.value.message


# --- no partial change, ever ------------------------------------------------------------------------------

_FRAGMENTS = [
    "grant",
    "revoke",
    "add",
    "remove",
    "user",
    "role",
    "create",
    "drop",
    "on",
    "to",
    "from",
    "table",
    "project",
    "select",
    "describe",
    "all",
    "list",
    "*",
    "cust*",
    "customers",
    "clarityq_demo",
    "r",
    "admin",
    ",",
    ";",
    "RAM$1:x",
    "`RAM$1:role/x`",
    "'",
    '"',
    "\n",
    "show",
    "grants",
    "for",
    "acl",
    "with",
    "option",
    "é",
    "--",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=9))
def test_any_failing_statement_leaves_the_state_unchanged(h: Harness, words: list[str]) -> None:
    statement = " ".join(words)
    before = h.state.security.dump()
    error: OdpsError | None = None
    result: ServiceResult | None = None
    try:
        result = h.raw(statement)
    except OdpsError as exc:
        error = exc
    if error is not None:
        assert error.status in (400, 403, 404, 409, 501)
        assert h.state.security.dump() == before
    else:
        assert result is not None
        assert result.response.status == 200
        assert result.mutated or h.state.security.dump() == before


# --- end to end through pyodps ----------------------------------------------------------------------------


def _odps(emu: RunningEmulator, ak: str | None = None, sk: str | None = None) -> ODPS:
    options.retry_times = 0
    info = emu.info
    return ODPS(ak or info.access_key_id, sk or info.access_key_secret, info.project, endpoint=info.maxcompute_endpoint)


@pytest.mark.integration
def test_pyodps_user_and_role_helpers(clarityq_emulator: RunningEmulator) -> None:
    emu = clarityq_emulator
    identity = emu.state.identity
    identity.create_user("clarityq")
    key = identity.create_access_key("clarityq")
    owner = _odps(emu)
    display = f"RAM${emu.info.account_id}:clarityq"
    assert not owner.exist_user(display)
    owner.create_user(display)
    assert owner.exist_user(display)
    role = owner.create_role("Readers")
    assert owner.exist_role("readers")
    assert not owner.exist_role("writers")
    role.grant_to(display)
    assert [r.name for r in owner.list_user_roles(display)] == ["readers"]
    assert [u.display_name for u in owner.list_role_users("readers")] == [display]
    assert "readers" in [r.name for r in owner.list_roles()]
    assert display in [u.display_name for u in owner.list_users()]
    member = _odps(emu, key.access_key_id, key.secret)
    me = member.get_project().current_user
    assert me.display_name == display
    assert [r.name for r in me.roles] == ["readers"]
    with pytest.raises(errors.ObjectAlreadyExists):
        owner.create_role("READERS")
    with pytest.raises(errors.ODPSError, match="still granted"):
        owner.delete_role("readers")
    role.revoke_from(display)
    owner.delete_role("readers")
    owner.delete_user(display)
    assert not owner.exist_user(display)
    with pytest.raises(errors.NoPermission, match=r"\[4002\]"):
        member.execute_security_query("whoami")


@pytest.mark.integration
def test_pyodps_policies_round_trip(clarityq_emulator: RunningEmulator) -> None:
    owner = _odps(clarityq_emulator)
    project = clarityq_emulator.info.project
    owner.create_role("worker")
    policy = {
        "Version": "1",
        "Statement": [
            {"Action": ["odps:Read", "odps:List"], "Effect": "Allow", "Resource": [f"acs:odps:*:projects/{project}"]},
            {
                "Action": ["odps:Alter", "odps:Update", "odps:Drop"],
                "Effect": "Deny",
                "Resource": [f"acs:odps:*:projects/{project}/tables/*"],
            },
        ],
    }
    owner.set_role_policy("worker", policy)
    assert json.dumps(_odps(clarityq_emulator).get_role_policy("worker")) == json.dumps(policy)
    assert owner.get_project_policy() is None
    project_policy = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": ["*"],
                "Action": ["odps:Select"],
                "Resource": [f"acs:odps:*:projects/{project}/tables/customers"],
            },
        ],
    }
    owner.set_project_policy(project_policy)
    assert _odps(clarityq_emulator).get_project_policy() == project_policy
    with pytest.raises(errors.InvalidArgument, match="invalid Action value"):
        owner.set_role_policy(
            "worker",
            {
                "Version": "1",
                "Statement": [{"Action": ["odps:Nope"], "Effect": "Allow", "Resource": ["acs:odps:*:projects/x"]}],
            },
        )


@pytest.mark.integration
def test_pyodps_sees_the_real_exception_classes(clarityq_emulator: RunningEmulator) -> None:
    owner = _odps(clarityq_emulator)
    with pytest.raises(errors.ParseError):
        owner.execute_security_query("grant select on table customers to role r; drop role admin")
    with pytest.raises(errors.NoSuchObject):
        owner.execute_security_query("grant select on table customers to role nobody")
    with pytest.raises(errors.NoSuchTable):
        owner.execute_security_query("grant select on table nothing to role admin")
    owner.execute_security_query("create role r")
    with pytest.raises(errors.InvalidArgument):
        owner.execute_security_query("grant Insert on table customers to role r")
    with pytest.raises(errors.NoPermission):
        owner.execute_security_query("drop role admin")
    assert owner.run_security_query("list roles", output_json=False).startswith('{"Roles": ')
    assert owner.execute_security_query("drop role r") == "OK"


@pytest.mark.integration
def test_state_file_keeps_security_state_and_failures_leave_it_alone(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    options.retry_times = 0
    with start_emulator(state_file=state_file) as emu:
        emu.state.identity.create_user("clarityq")
        emu.state.save()
        owner = _odps(emu)
        for statement in (
            f"add user RAM${emu.info.account_id}:clarityq",
            "create role keep_me",
            "grant Select on table customers to role keep_me",
            f"grant keep_me to RAM${emu.info.account_id}:clarityq",
        ):
            owner.execute_security_query(statement)
        saved = state_file.read_bytes()
        with pytest.raises(errors.NoSuchObject):
            owner.execute_security_query("grant keep_me, missing to ALIYUN$" + emu.info.account_id)
        assert state_file.read_bytes() == saved
        info = emu.info
    with start_emulator(state_file=state_file) as emu:
        owner = ODPS(info.access_key_id, info.access_key_secret, info.project, endpoint=emu.info.maxcompute_endpoint)
        grants = owner.execute_security_query(f"show grants for RAM${info.account_id}:clarityq")
        assert grants["Roles"] == ["keep_me"]
        assert grants["ACL"][""][0]["Resource"] == [f"projects/{info.project}/tables/customers"]


@pytest.mark.integration
def test_every_call_lands_in_the_request_log(clarityq_emulator: RunningEmulator) -> None:
    owner = _odps(clarityq_emulator)
    owner.execute_security_query("create role logged")
    with pytest.raises(errors.ObjectAlreadyExists):
        owner.execute_security_query("create role logged")
    owner.exist_role("logged")
    log = clarityq_emulator.requests()
    statements = [(e["statement"], e["status"]) for e in log if e["path"].endswith("/authorization")]
    assert statements[-2:] == [("create role logged", 200), ("create role logged", 409)]
    assert any(e["method"] == "GET" and e["path"].endswith("/roles/logged") and e["status"] == 200 for e in log)


def test_concurrent_statements_are_atomic(h: Harness) -> None:
    """Racing CREATE ROLEs: exactly one wins per name, and every GRANT lands on a complete role."""
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        for name in (f"race{i % 4}", f"own{i}"):
            try:
                h.raw(f"create role {name}")
                h.raw(f"grant Select on table customers to role {name}")
                result = "ok"
            except OdpsError as exc:
                result = exc.code
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 4 + 16
    assert outcomes.count("ObjectAlreadyExists") == 12
    roles = {r["Name"] for r in h.run("list roles")["Roles"]}
    assert {f"race{i}" for i in range(4)} | {f"own{i}" for i in range(16)} <= roles
    entries = [e for e in h.state.security.get(h.project).acl if e.grantee.startswith(("race", "own"))]  # type: ignore[union-attr]
    assert len(entries) == 20

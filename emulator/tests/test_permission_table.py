"""One test per row of seed 002's object/action table: denied without the grant, allowed with it.

Where the emulator has a data-plane operation for the action (listing tables, describing, altering
and querying a table, creating, reading and deleting resources, reading another user's instance)
the probe is that operation through pyodps, so these tests also verify the server's enforcement.
Actions with no emulated operation (project Read/Write, functions) or whose operation needs a second
action too (updating a resource re-reads it; stopping an instance) are probed through
``SecurityModel.check`` -- the same call every data-plane route makes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from clarityq_emulator import RunningEmulator
from clarityq_emulator.maxcompute.authorization.actions import ACTIONS
from clarityq_emulator.maxcompute.errors import OdpsError
from clarityq_emulator.ram.models import Caller
from odps import ODPS, errors, options

pytestmark = pytest.mark.integration

_COUNTER = itertools.count(1)


@dataclass
class Ctx:
    """A fresh member (``tester``) and fresh objects in the shared emulator, for one row."""

    emu: RunningEmulator
    owner: ODPS
    tester: ODPS
    caller: Caller
    principal: str
    project: str
    table: str
    function: str
    resource: str
    instance: str
    siblings: dict[str, str]  # another object of each type, to show grants stay on their object

    def model(self, action: str, object_type: str = "project", name: str | None = None) -> None:
        self.emu.state.security.check(self.caller, self.project, action, object_type, name)

    def grant(self, actions: str, object_type: str, name: str) -> None:
        self.owner.execute_security_query(f"grant {actions} on {object_type} {name} to user {self.principal}")

    def sql(self, statement: str) -> None:
        self.tester.execute_sql(statement)


@pytest.fixture
def ctx(clarityq_emulator_module: RunningEmulator) -> Ctx:
    options.retry_times = 0
    emu = clarityq_emulator_module
    info = emu.info
    n = next(_COUNTER)
    identity = emu.state.identity
    identity.create_user(f"tester{n}")
    key = identity.create_access_key(f"tester{n}")
    key_info = identity.lookup_key(key.access_key_id)
    assert key_info is not None
    owner = ODPS(info.access_key_id, info.access_key_secret, info.project, endpoint=info.maxcompute_endpoint)
    tester = ODPS(key.access_key_id, key.secret, info.project, endpoint=info.maxcompute_endpoint)
    principal = f"RAM${info.account_id}:tester{n}"
    owner.execute_security_query(f"add user {principal}")
    table = f"perm_t{n}"
    owner.execute_sql(f"create table {table} (a bigint)")
    owner.execute_sql(f"insert into {table} values (1)")
    owner.execute_sql(f"create table {table}_sibling (a bigint)")
    emu.state.security.register_objects(info.project, functions=[f"udf{n}", f"udf{n}_sibling"])
    for resource in (f"res{n}.jar", f"res{n}_sibling.jar"):
        owner.create_resource(resource, "jar", fileobj=b"jar")
    instance, sibling_instance = owner.run_sql("select 1").id, owner.run_sql("select 2").id
    siblings = {
        "table": f"{table}_sibling",
        "function": f"udf{n}_sibling",
        "resource": f"res{n}_sibling.jar",
        "instance": sibling_instance,
    }
    return Ctx(
        emu,
        owner,
        tester,
        key_info.caller,
        principal,
        info.project,
        table,
        f"udf{n}",
        f"res{n}.jar",
        instance,
        siblings,
    )


@dataclass(frozen=True)
class Row:
    object_type: str
    action: str
    probe: Callable[[Ctx], None]
    denied_action: str  # the action the denial must name
    baseline: tuple[str, ...] = ("CreateInstance",)  # project actions every SQL probe needs (seed 002)


def _name(c: Ctx, object_type: str) -> str:
    return {
        "project": c.project,
        "table": c.table,
        "function": c.function,
        "resource": c.resource,
        "instance": c.instance,
    }[object_type]


def _model(object_type: str, *actions: str) -> Callable[[Ctx], None]:
    def probe(c: Ctx) -> None:
        for action in actions:
            c.model(action, object_type, None if object_type == "project" else _name(c, object_type))

    return probe


def _list_tables(c: Ctx) -> None:
    assert c.table in {t.name for t in c.tester.list_tables()}


def _create_table(c: Ctx) -> None:
    c.sql(f"create table {c.table}_new (b string)")
    assert c.owner.exist_table(f"{c.table}_new")


def _select_constant(c: Ctx) -> None:
    with c.tester.execute_sql("select 1 as one").open_reader() as reader:
        assert [r["one"] for r in reader] == [1]


def _project_all(c: Ctx) -> None:
    _list_tables(c)
    _create_table(c)
    _model("project", "Read", "Write", "CreateFunction", "CreateResource")(c)


def _describe(c: Ctx) -> None:
    assert [col.name for col in c.tester.get_table(c.table).table_schema.columns] == ["a"]


def _select(c: Ctx) -> None:
    with c.tester.execute_sql(f"select a from {c.table}").open_reader() as reader:
        assert [r["a"] for r in reader] == [1]


def _update(c: Ctx) -> None:
    c.sql(f"insert into {c.table} values (2)")
    with c.owner.execute_sql(f"select count(*) as n from {c.table}").open_reader() as reader:
        assert [r["n"] for r in reader] == [2]


def _drop(c: Ctx) -> None:
    c.sql(f"drop table {c.table}")
    assert not c.owner.exist_table(c.table)


def _alter(c: Ctx) -> None:
    c.sql(f"alter table {c.table} set comment 'altered'")
    assert c.owner.get_table(c.table).comment == "altered"


def _create_resource(c: Ctx) -> None:
    c.tester.create_resource(f"{c.resource}.new", "file", fileobj="x")
    assert c.owner.exist_resource(f"{c.resource}.new")


def _read_resource(c: Ctx) -> None:
    with c.tester.open_resource(c.resource, mode="rb") as fp:
        assert fp.read() == b"jar"


def _delete_resource(c: Ctx) -> None:
    c.tester.delete_resource(c.resource)
    assert not c.owner.exist_resource(c.resource)


def _resource_all(c: Ctx) -> None:
    _read_resource(c)
    _model("resource", "Write")(c)
    _delete_resource(c)


def _table_all(c: Ctx) -> None:
    _select(c)
    _describe(c)
    _alter(c)
    _model("table", "Download")(c)
    _update(c)
    _drop(c)


def _read_instance(c: Ctx) -> None:
    assert c.tester.get_instance(c.instance).status.value == "Terminated"


def _instance_all(c: Ctx) -> None:
    _read_instance(c)
    _model("instance", "Write")(c)


ROWS = [
    Row("project", "Read", _model("project", "Read"), "Read", ()),
    Row("project", "Write", _model("project", "Write"), "Write", ()),
    Row("project", "List", _list_tables, "List", ()),
    Row("project", "CreateTable", _create_table, "CreateTable"),
    Row("project", "CreateInstance", _select_constant, "CreateInstance", ()),
    Row("project", "CreateFunction", _model("project", "CreateFunction"), "CreateFunction", ()),
    Row("project", "CreateResource", _create_resource, "CreateResource", ()),
    Row("project", "All", _project_all, "List", ()),
    Row("table", "Describe", _describe, "Describe", ()),
    Row("table", "Select", _select, "Select"),
    Row("table", "Alter", _alter, "Alter"),
    Row("table", "Update", _update, "Update"),
    Row("table", "Drop", _drop, "Drop"),
    Row("table", "All", _table_all, "Select"),
    Row("function", "Read", _model("function", "Read"), "Read", ()),
    Row("function", "Write", _model("function", "Write"), "Write", ()),
    Row("function", "Delete", _model("function", "Delete"), "Delete", ()),
    Row("function", "Run", _model("function", "Run", "Execute"), "Run", ()),
    Row("function", "All", _model("function", "Read", "Write", "Delete", "Run"), "Read", ()),
    Row("resource", "Read", _read_resource, "Read", ()),
    Row("resource", "Write", _model("resource", "Write"), "Write", ()),
    Row("resource", "Delete", _delete_resource, "Delete", ()),
    Row("resource", "All", _resource_all, "Read", ()),
    Row("instance", "Read", _read_instance, "Read", ()),
    Row("instance", "Write", _model("instance", "Write"), "Write", ()),
    Row("instance", "All", _instance_all, "Read", ()),
]


def test_the_table_is_covered_completely() -> None:
    """Every action of seed 002's table (plus ``All`` per type) has a row."""
    seed_002 = {
        "project": {
            "Read",
            "Write",
            "List",
            "CreateTable",
            "CreateInstance",
            "CreateFunction",
            "CreateResource",
            "All",
        },
        "table": {"Describe", "Select", "Alter", "Update", "Drop", "All"},
        "function": {"Read", "Write", "Delete", "Run", "All"},
        "resource": {"Read", "Write", "Delete", "All"},
        "instance": {"Read", "Write", "All"},
    }
    covered: dict[str, set[str]] = {}
    for row in ROWS:
        covered.setdefault(row.object_type, set()).add(row.action)
    assert covered == seed_002


def _neighbour(row: Row) -> str | None:
    """Another action on the same object, granted up front so a denial is about this action only."""
    if row.action == "All":
        return None
    same = {row.action, *(("Run", "Execute") if row.action == "Run" else ())}
    return next(a for a in ACTIONS[row.object_type] if a not in same and a not in row.baseline)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.object_type}-{r.action}" for r in ROWS])
def test_row_denied_without_the_grant_and_allowed_with_it(ctx: Ctx, row: Row) -> None:
    for action in row.baseline:
        ctx.grant(action, "project", ctx.project)
    neighbour = _neighbour(row)
    if neighbour is not None:
        ctx.grant(neighbour, row.object_type, _name(ctx, row.object_type))
    if row.object_type != "project":
        ctx.grant(row.action, row.object_type, ctx.siblings[row.object_type])
    with pytest.raises((errors.NoPermission, OdpsError)) as denied:
        row.probe(ctx)
    text = denied.value.message if isinstance(denied.value, OdpsError) else str(denied.value)
    assert "[4019]" in text
    assert f"NO privilege 'odps:{row.denied_action}'" in text

    ctx.grant(row.action, row.object_type, _name(ctx, row.object_type))
    row.probe(ctx)

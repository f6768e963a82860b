"""DataWorks roles in a workspace's dev / prod project pair (seed 003's table), and the role-assignment
rules of the built-in admin roles (seed 001), through unmodified pyodps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clarityq_emulator import RunningEmulator, start_emulator
from clarityq_emulator.core.state import EmulatorState, default_seed
from clarityq_emulator.maxcompute.authorization.dataworks import DATAWORKS_ROLES
from odps import ODPS, errors, options

pytestmark = pytest.mark.integration

TABLE = {"name": "events", "columns": [{"name": "id", "type": "bigint"}], "rows": [[1], [2]]}


def _seed() -> dict[str, object]:
    seed = default_seed()
    seed["projects"] += [
        {"name": "ws_dev", "dataworks": "dev", "tables": [TABLE]},
        {"name": "ws", "dataworks": "prod", "tables": [TABLE]},
    ]
    return seed


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    options.retry_times = 0
    with start_emulator(seed=_seed()) as running:
        yield running


def _client(emu: RunningEmulator, user: str, roles: list[str]) -> ODPS:
    """A RAM user added to both projects, holding ``roles`` in each."""
    info = emu.info
    owner = ODPS(info.access_key_id, info.access_key_secret, "ws_dev", endpoint=info.maxcompute_endpoint)
    emu.state.identity.create_user(user)
    key = emu.state.identity.create_access_key(user)
    principal = f"RAM${info.account_id}:{user}"
    for project in ("ws_dev", "ws"):
        owner.execute_security_query(f"add user {principal}", project=project)
        for role in roles:
            owner.execute_security_query(f"grant {role} to {principal}", project=project)
    return ODPS(key.access_key_id, key.secret, "ws_dev", endpoint=info.maxcompute_endpoint)


def _count(o: ODPS, project: str) -> int:
    with o.execute_sql("select id from events", project=project).open_reader(tunnel=True) as r:
        return len(list(r))


def test_every_dataworks_role_exists_in_both_projects(emu: RunningEmulator) -> None:
    info = emu.info
    owner = ODPS(info.access_key_id, info.access_key_secret, "ws", endpoint=info.maxcompute_endpoint)
    for project in ("ws_dev", "ws"):
        names = {r["Name"] for r in owner.execute_security_query("list roles", project=project)["Roles"]}
        assert set(DATAWORKS_ROLES) <= names
    roles = {r.name: r for r in owner.list_roles(project="ws_dev")}
    assert roles["role_project_dev"].comment == "DataWorks Development"
    dev = owner.execute_security_query("describe role role_project_dev", project="ws_dev")
    assert [(e["Resource"], e["Action"]) for e in dev["ACL"][""]] == [
        (["projects/ws_dev"], ["All"]),
        (["projects/ws_dev/registration/functions/*"], ["All"]),
        (["projects/ws_dev/instances/*"], ["All"]),
        (["projects/ws_dev/packages/*"], ["Read"]),
        (["projects/ws_dev/resources/*"], ["All"]),
        (["projects/ws_dev/tables/*"], ["All"]),
    ]
    assert owner.execute_security_query("describe role role_project_dev", project="ws")["ACL"] == {}


def test_development_role_has_everything_in_dev_and_nothing_in_prod(emu: RunningEmulator) -> None:
    dev = _client(emu, "developer", ["role_project_dev"])
    assert _count(dev, "ws_dev") == 2
    dev.execute_sql("create table scratch (x bigint)", project="ws_dev")
    with pytest.raises(errors.NoPermission, match=r"\[4019\], You have NO privilege 'odps:CreateInstance'"):
        _count(dev, "ws")


def test_scheduler_reads_prod_and_operations_role_has_no_select(emu: RunningEmulator) -> None:
    scheduler = _client(emu, "scheduler", ["role_project_scheduler"])
    assert _count(scheduler, "ws") == 2
    with pytest.raises(errors.NoPermission, match=r"\[4019\]"):
        _count(scheduler, "ws_dev")
    ops = _client(emu, "operator", ["role_project_pe"])
    assert ops.get_table("events", project="ws_dev").table_schema.names == ["id"]  # Describe
    with pytest.raises(errors.NoPermission, match=r"'odps:Select' on \{acs:odps:\*:projects/ws_dev/tables/events\}"):
        _count(ops, "ws_dev")
    guest = _client(emu, "visitor", ["role_project_guest"])
    with pytest.raises(errors.NoPermission, match="odps:CreateInstance"):
        _count(guest, "ws_dev")


def test_builtin_admin_roles_assignment_rules(emu: RunningEmulator) -> None:
    info = emu.info
    owner = ODPS(info.access_key_id, info.access_key_secret, "ws_dev", endpoint=info.maxcompute_endpoint)
    admin = _client(emu, "admin_user", ["admin"])
    superadmin = _client(emu, "super_user", ["super_administrator"])
    emu.state.identity.create_user("other")
    other = f"RAM${info.account_id}:other"
    owner.execute_security_query(f"add user {other}")
    with pytest.raises(errors.NoPermission, match="only the project owner can grant the admin role"):
        admin.execute_security_query(f"grant admin to {other}")
    with pytest.raises(errors.NoPermission, match="only the project owner can grant the admin role"):
        superadmin.execute_security_query(f"grant admin to {other}")
    with pytest.raises(errors.NoPermission):
        admin.execute_security_query(f"grant super_administrator to {other}")
    assert superadmin.execute_security_query(f"grant super_administrator to {other}") == "OK"
    assert owner.execute_security_query(f"grant admin to {other}") == "OK"


def test_a_bad_dataworks_environment_is_refused() -> None:
    seed = default_seed()
    seed["projects"][0]["dataworks"] = "staging"
    with pytest.raises(ValueError, match="use 'dev' or 'prod'"):
        EmulatorState(seed=seed)

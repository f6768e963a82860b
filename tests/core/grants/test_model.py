"""Grant identities: canonical spelling, one action per grant, and wildcard coverage."""

from __future__ import annotations

import pytest

from airflow_provider_clarityq.core.errors import ConfigurationError, InvalidIdentifierError
from airflow_provider_clarityq.core.grants.model import (
    WRITE_ACTIONS,
    Grant,
    Grantee,
    ObjectRef,
    ObjectType,
    ProjectAction,
    TableAction,
    covers,
    expand,
    is_privileged_role,
    parse_actions,
)

P = "my_project"
READER = Grantee.role("clarityq_reader")


def test_parse_actions_is_case_insensitive_and_keeps_spec_order() -> None:
    assert parse_actions(ObjectType.PROJECT, ["createinstance", "LIST"], field="a") == (
        ProjectAction.CREATE_INSTANCE,
        ProjectAction.LIST,
    )


def test_parse_actions_expands_all_and_drops_duplicates() -> None:
    actions = parse_actions(ObjectType.TABLE, ["Select", "all", "select"], field="a")
    assert actions[0] is TableAction.SELECT
    assert set(actions) == set(TableAction)
    assert len(actions) == len(TableAction)


def test_an_action_of_the_other_type_is_named_as_such() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_actions(ObjectType.PROJECT, ["List", "Select"], field="projects[0].project_actions")
    assert info.value.field == "projects[0].project_actions[1]"
    assert "is a table action, not a project action" in str(info.value)


@pytest.mark.parametrize("bad", ["Insert", "Select; DROP ROLE admin", "Select WITH GRANT OPTION", "", 3])
def test_unknown_actions_are_refused(bad: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_actions(ObjectType.TABLE, [bad], field="t")
    assert info.value.field == "t[0]"


def test_write_actions_are_exactly_the_changing_ones() -> None:
    assert TableAction.SELECT not in WRITE_ACTIONS
    assert ProjectAction.CREATE_INSTANCE not in WRITE_ACTIONS
    assert {TableAction.ALTER, TableAction.UPDATE, TableAction.DROP, ProjectAction.CREATE_TABLE} <= WRITE_ACTIONS


def test_object_ref_canonicalises_tables_but_keeps_project_case() -> None:
    ref = ObjectRef.for_table("MyProject", "Sales_2024")
    assert (ref.project, ref.name) == ("MyProject", "sales_2024")
    assert ref.path == "projects/MyProject/tables/sales_2024"
    assert ObjectRef.for_table("MyProject", "SALES_2024") == ref
    assert ObjectRef.for_project(P).path == "projects/my_project"


@pytest.mark.parametrize("name", ["a;b", "t`x", "t x", "ｔable", "t\u200bx", "1abc", ""])
def test_object_ref_refuses_bad_table_names(name: str) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        ObjectRef.for_table(P, name)
    assert info.value.field == "object.name"


def test_object_ref_refuses_a_name_on_a_project() -> None:
    with pytest.raises(ConfigurationError):
        ObjectRef(ObjectType.PROJECT, P, "t")


def test_wildcards_match_tables_of_their_project_only() -> None:
    star = ObjectRef.for_table(P, "*")
    sales = ObjectRef.for_table(P, "sales_*")
    assert star.is_pattern and sales.is_pattern
    assert star.matches(ObjectRef.for_table(P, "orders"))
    assert star.matches(sales)
    assert sales.matches(ObjectRef.for_table(P, "sales_eu"))
    assert not sales.matches(ObjectRef.for_table(P, "orders"))
    assert not sales.matches(star)
    assert not star.matches(ObjectRef.for_table("other_project", "orders"))
    assert not star.matches(ObjectRef.for_project(P))
    assert not ObjectRef.for_table(P, "orders").matches(star)


def test_covers_needs_same_grantee_and_action() -> None:
    star_select = Grant(READER, ObjectRef.for_table(P, "*"), TableAction.SELECT)
    wanted = Grant(READER, ObjectRef.for_table(P, "orders"), TableAction.SELECT)
    assert covers(star_select, wanted)
    assert not covers(Grant(READER, ObjectRef.for_table(P, "*"), TableAction.DESCRIBE), wanted)
    assert not covers(Grant(Grantee.role("analyst"), ObjectRef.for_table(P, "*"), TableAction.SELECT), wanted)


def test_grant_refuses_an_action_of_another_type_or_plain_text() -> None:
    with pytest.raises(ConfigurationError):
        Grant(READER, ObjectRef.for_project(P), TableAction.SELECT)
    with pytest.raises(ConfigurationError):
        Grant(READER, ObjectRef.for_table(P, "t"), "Select")  # type: ignore[arg-type]


def test_grants_from_different_spellings_are_one_set_element() -> None:
    a = Grant(Grantee.role("Worker"), ObjectRef.for_table(P, "Bank_Data"), TableAction.SELECT)
    b = Grant(Grantee.role("worker"), ObjectRef.for_table(P, "bank_data"), TableAction.SELECT)
    assert a == b
    assert len({a, b}) == 1


def test_expand_gives_one_grant_per_action() -> None:
    grants = expand(READER, ObjectRef.for_project(P), [ProjectAction.CREATE_INSTANCE, ProjectAction.LIST])
    assert {g.action for g in grants} == {ProjectAction.CREATE_INSTANCE, ProjectAction.LIST}


def test_grantee_validates_and_canonicalises() -> None:
    assert Grantee.role("CLARITYQ_Reader").name == "clarityq_reader"
    assert Grantee.user("ram$123:clarityq").name == "RAM$123:clarityq"
    assert str(Grantee.role("r")) == "role/r"
    with pytest.raises(InvalidIdentifierError):
        Grantee.role("r; DROP ROLE admin")
    with pytest.raises(InvalidIdentifierError):
        Grantee.user("RAM$123:clarity q")


@pytest.mark.parametrize(
    ("role", "privileged"),
    [
        ("admin", True),
        ("Super_Administrator", True),
        ("role_project_admin", True),
        ("role_project_dev", True),  # seed 003: Development, all permissions in dev
        ("role_project_pe", True),
        ("role_project_scheduler", True),
        ("role_project_data_analyst", True),  # CreateTable: write power
        ("role_project_some_new_role", True),  # unknown DataWorks roles: assume power
        ("Role_Project_Guest", False),  # Visitor: no MaxCompute permission by default
        ("role_project_deploy", False),
        ("role_project_security", False),
        ("role_project_erd", False),
        ("role_project_data_governance", False),
        ("clarityq_reader", False),
        ("administrator", False),
    ],
)
def test_privileged_roles(role: str, privileged: bool) -> None:
    assert is_privileged_role(role) is privileged

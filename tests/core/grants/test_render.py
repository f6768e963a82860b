"""Statement rendering: exact text from typed steps, identifiers re-validated at the last moment."""

from __future__ import annotations

import pytest

from airflow_provider_clarityq.core.errors import ConfigurationError, InvalidIdentifierError
from airflow_provider_clarityq.core.grants.model import Grantee, ObjectRef, ObjectType, ProjectAction, TableAction
from airflow_provider_clarityq.core.grants.render import render_actions, render_object, render_principal
from airflow_provider_clarityq.core.grants.steps import (
    AddUser,
    CreateRamUser,
    CreateRole,
    GrantActions,
    GrantRole,
    RevokeActions,
    RevokeRole,
)
from airflow_provider_clarityq.core.identifiers import Principal
from airflow_provider_clarityq.core.managed_user import MANAGED_MARKER

P = "my_project"
USER = Principal("ram_user", "1234567890123456", "2345678901234567")
READER = Grantee.role("clarityq_reader")


def test_seed_000_statements_exactly() -> None:
    assert AddUser(project=P, principal=USER, reason="r").statement == "ADD USER RAM$1234567890123456:2345678901234567"
    assert CreateRole(project=P, role="clarityq_reader", reason="r").statement == "CREATE ROLE clarityq_reader"
    project_grant = GrantActions(
        project=P,
        grantee=READER,
        object=ObjectRef.for_project(P),
        actions=(ProjectAction.CREATE_INSTANCE, ProjectAction.LIST),
        reason="r",
    )
    assert project_grant.statement == "GRANT CreateInstance, List ON PROJECT my_project TO ROLE clarityq_reader"
    table_grant = GrantActions(
        project=P,
        grantee=READER,
        object=ObjectRef.for_table(P, "*"),
        actions=(TableAction.DESCRIBE, TableAction.SELECT),
        reason="r",
    )
    assert table_grant.statement == "GRANT Describe, Select ON TABLE * TO ROLE clarityq_reader"
    bind = GrantRole(project=P, role="clarityq_reader", principal=USER, reason="r")
    assert bind.statement == "GRANT clarityq_reader TO RAM$1234567890123456:2345678901234567"


def test_explicit_table_and_revokes() -> None:
    grant = GrantActions(
        project=P,
        grantee=READER,
        object=ObjectRef.for_table(P, "Orders"),
        actions=(TableAction.DESCRIBE, TableAction.SELECT),
        reason="r",
    )
    assert grant.statement == "GRANT Describe, Select ON TABLE orders TO ROLE clarityq_reader"
    revoke = RevokeActions(
        project=P, grantee=READER, object=ObjectRef.for_table(P, "orders"), actions=(TableAction.ALTER,), reason="r"
    )
    assert revoke.statement == "REVOKE Alter ON TABLE orders FROM ROLE clarityq_reader"
    unbind = RevokeRole(project=P, role="role_project_admin", principal=USER, reason="r")
    assert unbind.statement == "REVOKE role_project_admin FROM RAM$1234567890123456:2345678901234567"


def test_user_grantee() -> None:
    revoke = RevokeActions(
        project=P,
        grantee=Grantee.user("ram$123:clarityq"),
        object=ObjectRef.for_project(P),
        actions=(ProjectAction.LIST,),
        reason="r",
    )
    assert revoke.statement == "REVOKE List ON PROJECT my_project FROM USER RAM$123:clarityq"


def test_ram_role_principals_are_backticked_and_others_are_not() -> None:
    assert render_principal("RAM$123:role/clarityq-reader") == "`RAM$123:role/clarityq-reader`"
    assert render_principal("aliyun$123") == "ALIYUN$123"
    step = GrantRole(project=P, role="clarityq_reader", principal=Principal("ram_role", "123", "etl"), reason="r")
    assert step.statement == "GRANT clarityq_reader TO `RAM$123:role/etl`"


def test_create_ram_user_is_an_api_call_not_a_statement() -> None:
    step = CreateRamUser(project=None, user_name="clarityq", reason="r")
    assert step.statement is None
    assert step.api_call == {
        "service": "ram",
        "action": "CreateUser",
        "params": {"UserName": "clarityq", "Comments": MANAGED_MARKER},
    }


def test_prefix_patterns_are_never_rendered() -> None:
    with pytest.raises(ConfigurationError, match="pattern"):
        render_object(ObjectRef.for_table(P, "sales_*"), project=P)


def test_objects_of_another_project_are_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        render_object(ObjectRef.for_table("other_project", "t"), project=P)
    assert info.value.field == "object.project"


def test_actions_must_be_enum_members_of_the_object_type() -> None:
    assert render_actions(ObjectType.PROJECT, [ProjectAction.LIST]) == "List"
    with pytest.raises(ConfigurationError):
        render_actions(ObjectType.PROJECT, [TableAction.SELECT])
    with pytest.raises(ConfigurationError):
        render_actions(ObjectType.PROJECT, ["List; DROP ROLE admin"])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError):
        render_actions(ObjectType.PROJECT, [])


@pytest.mark.parametrize("hostile", ["r; DROP ROLE admin", "r`x", "r'x", "r\nx", "ｒole", "r\u200bx"])
def test_tampered_identifiers_are_caught_at_render_time(hostile: str) -> None:
    """Objects validate on construction; render validates again in case a value was swapped afterwards."""
    step = CreateRole(project=P, role="clarityq_reader", reason="r")
    object.__setattr__(step, "role", hostile)
    with pytest.raises(InvalidIdentifierError) as info:
        _ = step.statement
    assert info.value.field == "role"
    grant = GrantActions(
        project=P, grantee=READER, object=ObjectRef.for_table(P, "t"), actions=(TableAction.SELECT,), reason="r"
    )
    object.__setattr__(grant.object, "name", hostile)
    with pytest.raises(InvalidIdentifierError) as info:
        _ = grant.statement
    assert info.value.field == "object.name"


def test_steps_validate_their_project() -> None:
    with pytest.raises(InvalidIdentifierError):
        CreateRole(project="p; DROP", role="r", reason="r")
    with pytest.raises(ConfigurationError):
        CreateRole(project=None, role="r", reason="r")  # type: ignore[arg-type]


def test_reasons_stay_on_one_line() -> None:
    assert CreateRole(project=P, role="r", reason="a\nb").reason == "a b"

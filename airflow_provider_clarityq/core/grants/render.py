"""Statements and API calls rendered only from typed, validated plan steps.

Every identifier is validated again here, at the last moment before it becomes text, so a step built
by hand (or read back from a tampered plan JSON) cannot smuggle a quote, ``;`` or newline into a
statement. Nothing is quoted except where MaxCompute requires it: a RAM role principal is written in
backticks (`` `RAM$<account>:role/<name>` ``, reference section 1). Statements carry no trailing
``;`` - pyodps sends a security statement without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants.model import ACTIONS_BY_TYPE, Action, Grantee, ObjectRef, ObjectType
from airflow_provider_clarityq.core.identifiers import (
    Principal,
    parse_principal,
    validate_project_name,
    validate_ram_user_name,
    validate_role_name,
    validate_table_name,
)

if TYPE_CHECKING:
    from airflow_provider_clarityq.core.grants.plan import (
        AddUser,
        CreateRamUser,
        CreateRole,
        GrantActions,
        GrantRole,
        RevokeActions,
        RevokeRole,
    )

__all__ = [
    "render_actions",
    "render_add_user",
    "render_create_ram_user",
    "render_create_role",
    "render_grant",
    "render_grant_role",
    "render_grantee",
    "render_object",
    "render_principal",
    "render_revoke",
    "render_revoke_role",
]


def render_principal(principal: Principal | str) -> str:
    """Canonical principal text; a RAM role principal in backticks, as MaxCompute requires."""
    parsed = parse_principal(str(principal), field="principal")
    text = str(parsed)
    return f"`{text}`" if parsed.kind == "ram_role" else text


def render_object(obj: ObjectRef, *, project: str) -> str:
    """``PROJECT <p>``, ``TABLE <t>`` or ``TABLE *``, for a statement that runs in ``project``.

    ACL statements name tables without a project, so the object must live in the project the
    statement runs in. Prefix patterns (``sales_*``) exist only as policies and are refused.
    """
    context = validate_project_name(project, field="project")
    if validate_project_name(obj.project, field="object.project") != context:
        raise ConfigurationError(
            "object.project",
            f"is {obj.project!r} but the statement runs in project {context!r}",
            "run the statement in the object's own project",
        )
    if obj.type is ObjectType.PROJECT:
        return f"PROJECT {context}"
    if obj.name == "*":
        return "TABLE *"
    if obj.name is None or obj.name.endswith("*"):
        raise ConfigurationError(
            "object.name",
            f"is the pattern {obj.name!r}, which MaxCompute ACL statements do not accept",
            "grant on '*' or on each existing table",
        )
    return f"TABLE {validate_table_name(obj.name, field='object.name')}"


def render_actions(object_type: ObjectType, actions: Sequence[Action]) -> str:
    """``Describe, Select``: only enum members valid for the object type, never ``All``."""
    if not actions:
        raise ConfigurationError("actions", "is empty", "give at least one action")
    for action in actions:
        if not isinstance(action, Enum) or action not in ACTIONS_BY_TYPE[object_type]:
            raise ConfigurationError(
                "actions", f"{action!r} is not a {object_type.value} action", "use the model's enums"
            )
    return ", ".join(action.value for action in actions)


def render_grantee(grantee: Grantee) -> str:
    """``ROLE <r>`` or ``USER <principal>``."""
    if grantee.kind == "role":
        return f"ROLE {validate_role_name(grantee.name, field='grantee.role')}"
    return f"USER {render_principal(grantee.name)}"


def render_grant(step: GrantActions) -> str:
    """``GRANT Describe, Select ON TABLE t TO ROLE r`` (several actions, one object)."""
    return (
        f"GRANT {render_actions(step.object.type, step.actions)} "
        f"ON {render_object(step.object, project=step.project)} TO {render_grantee(step.grantee)}"
    )


def render_revoke(step: RevokeActions) -> str:
    """``REVOKE Alter ON TABLE t FROM ROLE r``."""
    return (
        f"REVOKE {render_actions(step.object.type, step.actions)} "
        f"ON {render_object(step.object, project=step.project)} FROM {render_grantee(step.grantee)}"
    )


def render_add_user(step: AddUser) -> str:
    return f"ADD USER {render_principal(step.principal)}"


def render_create_role(step: CreateRole) -> str:
    return f"CREATE ROLE {validate_role_name(step.role, field='role')}"


def render_grant_role(step: GrantRole) -> str:
    return f"GRANT {validate_role_name(step.role, field='role')} TO {render_principal(step.principal)}"


def render_revoke_role(step: RevokeRole) -> str:
    return f"REVOKE {validate_role_name(step.role, field='role')} FROM {render_principal(step.principal)}"


def render_create_ram_user(step: CreateRamUser) -> dict[str, object]:
    """RAM ``CreateUser``, marked as the provider's in its Comments; the AccessKey is a separate concern."""
    from airflow_provider_clarityq.core.managed_user import MANAGED_MARKER

    name = validate_ram_user_name(step.user_name, field="ram_user")
    return {"service": "ram", "action": "CreateUser", "params": {"UserName": name, "Comments": MANAGED_MARKER}}

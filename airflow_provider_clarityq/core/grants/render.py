"""The one renderer of security statements and API calls, from typed, validated values.

Plan steps, health remediations and audits all render here, so a fix the health report prints is the
statement the grants operator would run.

Every identifier is validated again here, at the last moment before it becomes text, so a step built
by hand (or read back from a tampered plan JSON) cannot smuggle a quote, ``;`` or newline into a
statement. Nothing is quoted except where MaxCompute requires it: a RAM role principal is written in
backticks (`` `RAM$<account>:role/<name>` ``, reference section 1). Statements carry no trailing
``;`` - pyodps sends a security statement without one; :func:`as_sql` adds it for text shown to people.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants.model import ACTIONS_BY_TYPE, Action, Grantee, ObjectRef, ObjectType
from airflow_provider_clarityq.core.identifiers import (
    Principal,
    parse_principal,
    validate_package_name,
    validate_project_name,
    validate_ram_user_name,
    validate_role_name,
    validate_table_name,
)

__all__ = [
    "SHOW_PACKAGES_STATEMENT",
    "add_user_statement",
    "allow_install_statement",
    "as_sql",
    "create_ram_user_call",
    "create_role_statement",
    "grant_download_statement",
    "grant_label_statement",
    "grant_package_read_statement",
    "grant_role_statement",
    "grant_statement",
    "install_package_statement",
    "put_role_policy_call",
    "render_actions",
    "render_grantee",
    "render_object",
    "render_principal",
    "revoke_download_statement",
    "revoke_label_statement",
    "revoke_package_read_statement",
    "revoke_role_statement",
    "revoke_statement",
    "role_policy_document",
    "set_user_label_statement",
    "show_label_grants_statement",
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


def grant_statement(grantee: Grantee, obj: ObjectRef, actions: Sequence[Action], *, project: str) -> str:
    """``GRANT Describe, Select ON TABLE t TO ROLE r`` (several actions, one object)."""
    return (
        f"GRANT {render_actions(obj.type, actions)} "
        f"ON {render_object(obj, project=project)} TO {render_grantee(grantee)}"
    )


def revoke_statement(grantee: Grantee, obj: ObjectRef, actions: Sequence[Action], *, project: str) -> str:
    """``REVOKE Alter ON TABLE t FROM ROLE r``."""
    return (
        f"REVOKE {render_actions(obj.type, actions)} "
        f"ON {render_object(obj, project=project)} FROM {render_grantee(grantee)}"
    )


def add_user_statement(principal: Principal | str) -> str:
    return f"ADD USER {render_principal(principal)}"


def create_role_statement(role: str) -> str:
    return f"CREATE ROLE {validate_role_name(role, field='role')}"


def grant_role_statement(role: str, principal: Principal | str) -> str:
    return f"GRANT {validate_role_name(role, field='role')} TO {render_principal(principal)}"


def revoke_role_statement(role: str, principal: Principal | str) -> str:
    return f"REVOKE {validate_role_name(role, field='role')} FROM {render_principal(principal)}"


def create_ram_user_call(user_name: str) -> dict[str, object]:
    """RAM ``CreateUser``, marked as the provider's in its Comments; the AccessKey is a separate concern."""
    from airflow_provider_clarityq.core.managed_user import MANAGED_MARKER

    name = validate_ram_user_name(user_name, field="ram_user")
    return {"service": "ram", "action": "CreateUser", "params": {"UserName": name, "Comments": MANAGED_MARKER}}


def as_sql(statement: str) -> str:
    """A statement as a person types it in the SQL editor (seed 000's form): with one trailing ``;``.

    Statements sent through the API carry none (pyodps sends them bare); text shown to people always does.
    """
    return statement.rstrip().removesuffix(";") + ";"


# --------------------------------------------------------------------------------------------------
# Restrictions beyond ACL grants (reference sections 1-4)


def _label(level: int) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
        raise ConfigurationError("level", f"is {level!r}", "use a label level from 0 to 9")
    return level


def _table_with_columns(table: str, columns: Sequence[str]) -> str:
    name = validate_table_name(table, field="table")
    if not columns:
        return name
    cols = ", ".join(validate_table_name(c, field="columns") for c in columns)
    return f"{name}({cols})"


def show_label_grants_statement(principal: Principal | str) -> str:
    """``SHOW LABEL GRANTS FOR USER <principal>``: the user's level and explicit label grants."""
    return f"SHOW LABEL GRANTS FOR USER {render_principal(principal)}"


#: Installed and created packages of the project the statement runs in.
SHOW_PACKAGES_STATEMENT = "SHOW PACKAGES"


def set_user_label_statement(level: int, principal: Principal | str) -> str:
    """``SET LABEL 2 TO USER <principal>``: the reader's access level."""
    return f"SET LABEL {_label(level)} TO USER {render_principal(principal)}"


def grant_label_statement(level: int, table: str, columns: Sequence[str], grantee: Grantee, *, expiry_days: int) -> str:
    """``GRANT LABEL 3 ON TABLE t(c) TO USER <u> WITH EXP 180``."""
    if isinstance(expiry_days, bool) or not isinstance(expiry_days, int) or expiry_days < 1:
        raise ConfigurationError("expiry_days", f"is {expiry_days!r}", "use a whole number of days, at least 1")
    return (
        f"GRANT LABEL {_label(level)} ON TABLE {_table_with_columns(table, columns)} "
        f"TO {render_grantee(grantee)} WITH EXP {expiry_days}"
    )


def revoke_label_statement(table: str, columns: Sequence[str], grantee: Grantee) -> str:
    """``REVOKE LABEL ON TABLE t(c) FROM USER <u>`` (no level in REVOKE)."""
    return f"REVOKE LABEL ON TABLE {_table_with_columns(table, columns)} FROM {render_grantee(grantee)}"


def _download_object(table: str, grantee: Grantee) -> str:
    if table == "*":
        if grantee.kind != "role":
            raise ConfigurationError("table", "is '*' for a user", "grant Download on '*' only to a role")
        return "TABLE *"
    return f"TABLE {validate_table_name(table, field='table')}"


def grant_download_statement(table: str, grantee: Grantee) -> str:
    """``GRANT Download ON TABLE t TO ROLE r`` (``*`` only for a role)."""
    return f"GRANT Download ON {_download_object(table, grantee)} TO {render_grantee(grantee)}"


def revoke_download_statement(table: str, grantee: Grantee) -> str:
    return f"REVOKE Download ON {_download_object(table, grantee)} FROM {render_grantee(grantee)}"


def _package(source_project: str, package: str) -> str:
    return f"{validate_project_name(source_project, field='source_project')}.{validate_package_name(package)}"


def install_package_statement(source_project: str, package: str) -> str:
    """``INSTALL PACKAGE <source>.<pkg>``, run in the consumer project."""
    return f"INSTALL PACKAGE {_package(source_project, package)}"


def allow_install_statement(consumer_project: str, package: str) -> str:
    """``ALLOW PROJECT <consumer> TO INSTALL PACKAGE <pkg>``, run by the provider project's owner."""
    consumer = validate_project_name(consumer_project, field="consumer_project")
    return f"ALLOW PROJECT {consumer} TO INSTALL PACKAGE {validate_package_name(package)}"


def grant_package_read_statement(source_project: str, package: str, grantee: Grantee) -> str:
    """``GRANT Read ON PACKAGE <source>.<pkg> TO ROLE r``."""
    return f"GRANT Read ON PACKAGE {_package(source_project, package)} TO {render_grantee(grantee)}"


def revoke_package_read_statement(source_project: str, package: str, grantee: Grantee) -> str:
    return f"REVOKE Read ON PACKAGE {_package(source_project, package)} FROM {render_grantee(grantee)}"


def role_policy_document(project: str, statements: Sequence[tuple[Sequence[str], Sequence[str]]]) -> dict[str, object]:
    """The role policy JSON: one Allow statement per (actions, tables) pair, resources in ``project``."""
    context = validate_project_name(project, field="project")
    rendered: list[dict[str, object]] = []
    for actions, tables in statements:
        resources = []
        for table in tables:
            name = (
                "*"
                if table == "*"
                else (
                    validate_table_name(table[:-1], field="tables") + "*"
                    if table.endswith("*")
                    else validate_table_name(table, field="tables")
                )
            )
            resources.append(f"acs:odps:*:projects/{context}/tables/{name}")
        rendered.append({"Effect": "Allow", "Action": [f"odps:{a}" for a in actions], "Resource": resources})
    return {"Version": "1", "Statement": rendered}


def put_role_policy_call(project: str, role: str, policy: dict[str, object]) -> dict[str, object]:
    """``PUT /projects/<p>/roles/<r>?policy`` (pyodps ``set_role_policy``)."""
    return {
        "service": "maxcompute",
        "action": "PutRolePolicy",
        "params": {
            "project": validate_project_name(project, field="project"),
            "role": validate_role_name(role, field="role"),
            "policy": policy,
        },
    }

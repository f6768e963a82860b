"""Canonical, hashable identities of MaxCompute ACL grants (pure: no I/O, no Airflow).

A :class:`Grant` carries exactly one action, so "what the spec wants" and "what the project has"
are plain sets and every diff is set arithmetic. Names are validated and canonicalised when an
identity is built (roles and tables lower-case, as MaxCompute prints them), so a name parsed from
``SHOW GRANTS`` and the same name from the spec compare equal - the first condition for a second
run to plan nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Union

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.identifiers import (
    validate_principal,
    validate_project_name,
    validate_role_name,
    validate_table_name,
)

__all__ = [
    "ACL_ACTIONS",
    "ACTIONS_BY_TYPE",
    "ADMIN_ROLES",
    "DATAWORKS_ROLES",
    "NEEDS_CREATE_INSTANCE",
    "READ_ACTIONS",
    "WRITE_ACTIONS",
    "Action",
    "Grant",
    "Grantee",
    "ObjectRef",
    "ObjectType",
    "ProjectAction",
    "TableAction",
    "action_order",
    "canonical_action",
    "covers",
    "expand",
    "is_dataworks_role",
    "is_privileged_role",
    "parse_actions",
]


class ObjectType(str, Enum):
    """The object types this provider manages (seed 002's ACL table, first two rows)."""

    PROJECT = "project"
    TABLE = "table"


class ProjectAction(str, Enum):
    """Actions on a Project object (seed 002), in the seed's order."""

    READ = "Read"
    WRITE = "Write"
    LIST = "List"
    CREATE_TABLE = "CreateTable"
    CREATE_INSTANCE = "CreateInstance"
    CREATE_FUNCTION = "CreateFunction"
    CREATE_RESOURCE = "CreateResource"


class TableAction(str, Enum):
    """Actions on a Table object (seed 002, plus ``Download`` from the newer permission list)."""

    DESCRIBE = "Describe"
    SELECT = "Select"
    ALTER = "Alter"
    UPDATE = "Update"
    DROP = "Drop"
    DOWNLOAD = "Download"


Action = Union[ProjectAction, TableAction]  # noqa: UP007 - a runtime alias, kept valid on Python 3.10

ACTIONS_BY_TYPE: dict[ObjectType, tuple[Action, ...]] = {
    ObjectType.PROJECT: tuple(ProjectAction),
    ObjectType.TABLE: tuple(TableAction),
}

#: Actions that change data or metadata: refused for the reader unless the spec allows writes.
WRITE_ACTIONS: frozenset[Action] = frozenset(
    {
        ProjectAction.WRITE,
        ProjectAction.CREATE_TABLE,
        ProjectAction.CREATE_FUNCTION,
        ProjectAction.CREATE_RESOURCE,
        TableAction.ALTER,
        TableAction.UPDATE,
        TableAction.DROP,
    }
)

#: Actions that are useless without Project ``CreateInstance`` (seed 002: every SQL runs as an instance).
NEEDS_CREATE_INSTANCE: frozenset[Action] = frozenset(
    {ProjectAction.CREATE_TABLE, TableAction.SELECT, TableAction.ALTER, TableAction.UPDATE, TableAction.DROP}
)

#: Built-in roles that carry every permission in a project (seed 001, reference section 3).
ADMIN_ROLES: frozenset[str] = frozenset({"admin", "super_administrator"})

#: DataWorks roles and what they permit in MaxCompute (seed 003's table; dev, then prod). The ones with no
#: MaxCompute permission by default carry no excess privilege; every other ``role_project_*`` role does.
DATAWORKS_ROLES: dict[str, str] = {
    "role_project_admin": "Workspace Administrator: all permissions on the project and its tables, functions, "
    "resources, instances and jobs (dev); none by default (prod)",
    "role_project_dev": "Development: all permissions on the project and its tables, functions, resources, "
    "instances and jobs (dev); none by default (prod)",
    "role_project_pe": "O&M: all permissions on the project and its functions, resources, instances and jobs, Read "
    "and Describe on tables (dev); none by default (prod)",
    "role_project_scheduler": "the scheduling identity: all permissions on the project and its objects (prod)",
    "role_project_data_analyst": "Data Analyst: CreateInstance and CreateTable in the project (dev)",
    "role_project_deploy": "Deploy: no MaxCompute permission by default",
    "role_project_guest": "Visitor: no MaxCompute permission by default",
    "role_project_security": "Security Manager: no MaxCompute permission by default",
    "role_project_erd": "Model Designer: no MaxCompute permission by default",
    "role_project_data_governance": "Data Governance Administrator: no MaxCompute permission by default",
}
_DATAWORKS_WITHOUT_PERMISSIONS = frozenset(
    {
        "role_project_deploy",
        "role_project_guest",
        "role_project_security",
        "role_project_erd",
        "role_project_data_governance",
    }
)


def is_dataworks_role(name: str) -> bool:
    """A DataWorks workspace role (``role_project_*``): DataWorks manages it, this provider never does."""
    return name.lower().startswith("role_project_")


def is_privileged_role(name: str) -> bool:
    """A role that carries write or admin power (excess for a reader): the built-in admin roles, and the DataWorks
    roles with MaxCompute permissions (seed 003) - every ``role_project_*`` role except those with none by default
    (Visitor, Deploy, Security Manager, Model Designer, Data Governance), an unknown one included."""
    lowered = name.lower()
    return lowered in ADMIN_ROLES or (is_dataworks_role(lowered) and lowered not in _DATAWORKS_WITHOUT_PERMISSIONS)


#: Every ACL object type of seed 002 and its actions (``Execute`` is the newer name of ``Run``); the two this
#: provider manages come from their enums, so the vocabularies cannot drift apart.
ACL_ACTIONS: dict[str, tuple[str, ...]] = {
    "project": (*(a.value for a in ProjectAction), "All"),
    "table": (*(a.value for a in TableAction), "All"),
    "function": ("Read", "Write", "Delete", "Run", "Execute", "Download", "All"),
    "resource": ("Read", "Write", "Delete", "All"),
    "instance": ("Read", "Write", "All"),
}
_CANONICAL = {action.lower(): action for actions in ACL_ACTIONS.values() for action in actions}

#: What a reader may hold, per object type; anything else is excess privilege.
READ_ACTIONS: dict[str, frozenset[str]] = {
    "project": frozenset({"List", "CreateInstance", "Read"}),
    "table": frozenset({"Describe", "Select", "Download"}),
    "function": frozenset({"Read", "Run", "Execute", "Download"}),
    "resource": frozenset({"Read"}),
    "instance": frozenset({"Read"}),
    "package": frozenset({"Read"}),
}


def canonical_action(action: str, object_type: str | None = None) -> str | None:
    """The canonical spelling of an ACL action (``select`` -> ``Select``), None if unknown (for the type)."""
    canonical = _CANONICAL.get(action.split(":", 1)[-1].lower())
    if canonical is None or (object_type is not None and canonical not in ACL_ACTIONS.get(object_type, ())):
        return None
    return canonical


def parse_actions(object_type: ObjectType, names: Iterable[object], *, field: str) -> tuple[Action, ...]:
    """Canonical actions for ``names`` (case-insensitive, ``All`` expanded, duplicates dropped, order kept).

    An action of another object type gets a message saying which type it belongs to, e.g. ``Select``
    on a project - the usual confusion behind seed 000's "SELECT at the project level".
    """
    result: list[Action] = []
    for index, name in enumerate(names):
        for action in _parse_one(object_type, name, field=f"{field}[{index}]"):
            if action not in result:
                result.append(action)
    return tuple(result)


def _parse_one(object_type: ObjectType, name: object, *, field: str) -> tuple[Action, ...]:
    valid = ACTIONS_BY_TYPE[object_type]
    if not isinstance(name, str):
        raise ConfigurationError(field, f"must be an action name, got {type(name).__name__}", _actions_fix(valid))
    if name.lower() == "all":
        return valid
    for action in valid:
        if action.value.lower() == name.lower():
            return (action,)
    problem = f"is not a valid {object_type.value} action ({ascii(name)[:70]})"
    for other, actions in ACTIONS_BY_TYPE.items():
        if other is not object_type and any(a.value.lower() == name.lower() for a in actions):
            problem = f"is a {other.value} action, not a {object_type.value} action ({name})"
    raise ConfigurationError(field, problem, _actions_fix(valid))


def _actions_fix(valid: Sequence[Action]) -> str:
    return "use one of " + ", ".join(a.value for a in valid) + " or All"


def action_order(action: Action) -> int:
    """Position of the action in its type's declared order (stable output for revokes)."""
    return ACTIONS_BY_TYPE[_type_of(action)].index(action)


def _type_of(action: Action) -> ObjectType:
    return ObjectType.PROJECT if isinstance(action, ProjectAction) else ObjectType.TABLE


@dataclass(frozen=True)
class ObjectRef:
    """A project, or a table of a project: an exact name, ``*`` (every table) or ``prefix*``.

    Table names are lower-cased (MaxCompute is case-insensitive and prints lower case); the project
    name keeps its case (seed 000 calls it case-sensitive).
    """

    type: ObjectType
    project: str
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", ObjectType(self.type))
        object.__setattr__(self, "project", validate_project_name(self.project, field="object.project"))
        object.__setattr__(self, "name", _canonical_object_name(self.type, self.name))

    @classmethod
    def for_project(cls, project: str) -> ObjectRef:
        return cls(ObjectType.PROJECT, project)

    @classmethod
    def for_table(cls, project: str, name: str) -> ObjectRef:
        return cls(ObjectType.TABLE, project, name)

    @property
    def is_pattern(self) -> bool:
        """True for ``*`` and ``prefix*`` (a pattern, not one object)."""
        return self.name is not None and self.name.endswith("*")

    @property
    def path(self) -> str:
        """How ``SHOW GRANTS`` prints the object: ``projects/<p>`` or ``projects/<p>/tables/<t>``."""
        if self.type is ObjectType.PROJECT:
            return f"projects/{self.project}"
        return f"projects/{self.project}/tables/{self.name}"

    def matches(self, other: ObjectRef) -> bool:
        """True when this object (or pattern) includes ``other``: ``*`` includes every table."""
        if self == other:
            return True
        if not self.is_pattern or other.type is not self.type or other.project != self.project:
            return False
        prefix = (self.name or "")[:-1]
        return (other.name or "").startswith(prefix)

    def sort_key(self) -> tuple[str, str, str]:
        return (self.type.value, self.project, self.name or "")


def _canonical_object_name(object_type: ObjectType, name: str | None) -> str | None:
    if object_type is ObjectType.PROJECT:
        if name is not None:
            raise ConfigurationError("object.name", "must be empty for a project", "name the project only")
        return None
    if name == "*":
        return "*"
    if isinstance(name, str) and name.endswith("*"):
        return validate_table_name(name[:-1], field="object.name") + "*"
    return validate_table_name(name, field="object.name")


GranteeKind = Literal["role", "user"]


@dataclass(frozen=True, order=True)
class Grantee:
    """Who holds a grant: a project role (lower-cased) or a user principal (canonical spelling)."""

    kind: GranteeKind
    name: str

    def __post_init__(self) -> None:
        if self.kind == "role":
            object.__setattr__(self, "name", validate_role_name(self.name, field="grantee.role"))
        elif self.kind == "user":
            object.__setattr__(self, "name", validate_principal(self.name, field="grantee.principal"))
        else:
            raise ConfigurationError("grantee.kind", f"is {self.kind!r}", "use 'role' or 'user'")

    @classmethod
    def role(cls, name: str) -> Grantee:
        return cls("role", name)

    @classmethod
    def user(cls, principal: object) -> Grantee:
        return cls("user", str(principal))

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Grant:
    """One action on one object held by one grantee - the unit of every diff."""

    grantee: Grantee
    object: ObjectRef
    action: Action

    def __post_init__(self) -> None:
        if self.action not in ACTIONS_BY_TYPE[self.object.type] or not isinstance(self.action, Enum):
            raise ConfigurationError(
                "grant.action",
                f"{self.action!r} is not a {self.object.type.value} action",
                _actions_fix(ACTIONS_BY_TYPE[self.object.type]),
            )

    def sort_key(self) -> tuple[tuple[str, str], tuple[str, str, str], int]:
        return ((self.grantee.kind, self.grantee.name), self.object.sort_key(), action_order(self.action))


def expand(grantee: Grantee, obj: ObjectRef, actions: Iterable[Action]) -> frozenset[Grant]:
    """One :class:`Grant` per action."""
    return frozenset(Grant(grantee, obj, action) for action in actions)


def covers(held: Grant, wanted: Grant) -> bool:
    """True when ``held`` already gives ``wanted``: equal, or the same action via ``*``/``prefix*``.

    This is the equivalence that keeps a role with ``Describe, Select`` on ``tables/*`` from getting
    one statement per explicit table (Permifrost #125).
    """
    return held.grantee == wanted.grantee and held.action == wanted.action and held.object.matches(wanted.object)

"""The steps of an access plan: one typed, idempotent, mutating request each (pure: no I/O).

Each step knows its execution phase (Titan's additive-first, destructive-last order), renders its statement
or API call through :mod:`.render` from its typed fields, and round-trips through JSON (``args`` and
:func:`step_from_args`), so a plan passed between tasks can be re-rendered and checked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Literal

from airflow_provider_clarityq.core.errors import ConfigurationError, one_line
from airflow_provider_clarityq.core.grants import render
from airflow_provider_clarityq.core.grants.model import (
    ACTIONS_BY_TYPE,
    Action,
    Grant,
    Grantee,
    ObjectRef,
    ObjectType,
    expand,
)
from airflow_provider_clarityq.core.identifiers import Principal, parse_principal, validate_project_name

__all__ = [
    "BUILDERS",
    "MODES",
    "AddUser",
    "CreateRamUser",
    "CreateRole",
    "GrantActions",
    "GrantRole",
    "Mode",
    "Phase",
    "RevokeActions",
    "RevokeRole",
    "Step",
    "step_from_args",
]

Mode = Literal["plan", "apply", "sync"]
MODES: tuple[Mode, ...] = ("plan", "apply", "sync")


class Phase(IntEnum):
    """Execution order. Steps of one phase are independent and may run concurrently."""

    RAM_USER = 0
    ADD_USER = 1
    CREATE_ROLE = 2
    PROJECT_GRANTS = 3
    TABLE_GRANTS = 4
    INSTALL_PACKAGES = 5
    RESTRICTION_GRANTS = 6  # Download, labels, package Read, role policy
    ROLE_TO_USER = 7
    REVOKE_ROLES = 8
    REVOKE_RESTRICTION_GRANTS = 9
    REVOKE_TABLE_GRANTS = 10
    REVOKE_PROJECT_GRANTS = 11


# --------------------------------------------------------------------------------------------------
# Steps


@dataclass(frozen=True, kw_only=True)
class Step(ABC):
    """One mutating request. ``statement`` (a security statement run in ``project``) or ``api_call``."""

    kind: ClassVar[str] = "step"
    destructive: ClassVar[bool] = False
    mutating: ClassVar[bool] = True  # reads are never steps; a second run over converged state has none

    project: str | None
    reason: str

    #: Statements run in a project; an account-level API call (RAM) has none.
    in_project: ClassVar[bool] = True

    def __post_init__(self) -> None:
        """The project becomes a URL path for the executor, so it is validated like any identifier."""
        if self.project is not None:
            object.__setattr__(self, "project", validate_project_name(self.project, field="step.project"))
        elif self.in_project:
            raise ConfigurationError("step.project", "is empty", "give the project the statement runs in")
        object.__setattr__(self, "reason", one_line(self.reason))

    @property
    @abstractmethod
    def phase(self) -> Phase: ...

    @property
    def statement(self) -> str | None:
        """The security statement, rendered from the typed fields (no trailing ``;``)."""
        return None

    @property
    def api_call(self) -> dict[str, object] | None:
        """The account-level API call, for steps that are not statements."""
        return None

    @abstractmethod
    def args(self) -> dict[str, Any]:
        """The typed fields, as JSON; :func:`step_from_args` rebuilds the step from them."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "phase": int(self.phase),
            "project": self.project,
            "statement": self.statement,
            "api_call": self.api_call,
            "reason": self.reason,
            "destructive": self.destructive,
            "mutating": self.mutating,
            "args": self.args(),
        }


@dataclass(frozen=True, kw_only=True)
class CreateRamUser(Step):
    kind: ClassVar[str] = "create_ram_user"
    in_project: ClassVar[bool] = False
    user_name: str

    @property
    def phase(self) -> Phase:
        return Phase.RAM_USER

    @property
    def api_call(self) -> dict[str, object]:
        return render.create_ram_user_call(self.user_name)

    def args(self) -> dict[str, Any]:
        return {"user_name": self.user_name}


@dataclass(frozen=True, kw_only=True)
class AddUser(Step):
    kind: ClassVar[str] = "add_user"
    project: str
    principal: Principal

    @property
    def phase(self) -> Phase:
        return Phase.ADD_USER

    @property
    def statement(self) -> str:
        return render.add_user_statement(self.principal)

    def args(self) -> dict[str, Any]:
        return {"principal": str(self.principal)}


@dataclass(frozen=True, kw_only=True)
class CreateRole(Step):
    kind: ClassVar[str] = "create_role"
    project: str
    role: str

    @property
    def phase(self) -> Phase:
        return Phase.CREATE_ROLE

    @property
    def statement(self) -> str:
        return render.create_role_statement(self.role)

    def args(self) -> dict[str, Any]:
        return {"role": self.role}


@dataclass(frozen=True, kw_only=True)
class _ActionsStep(Step):
    """Actions of one grantee on one object; a grant and a revoke differ only in direction."""

    project: str
    grantee: Grantee
    object: ObjectRef
    actions: tuple[Action, ...]

    def args(self) -> dict[str, Any]:
        return _acl_args(self.grantee, self.object, self.actions)

    def grants(self) -> frozenset[Grant]:
        return expand(self.grantee, self.object, self.actions)


@dataclass(frozen=True, kw_only=True)
class GrantActions(_ActionsStep):
    """Several actions on one object in one statement (MaxCompute has no multi-object GRANT)."""

    kind: ClassVar[str] = "grant_actions"

    @property
    def phase(self) -> Phase:
        return Phase.PROJECT_GRANTS if self.object.type is ObjectType.PROJECT else Phase.TABLE_GRANTS

    @property
    def statement(self) -> str:
        return render.grant_statement(self.grantee, self.object, self.actions, project=self.project)


@dataclass(frozen=True, kw_only=True)
class GrantRole(Step):
    kind: ClassVar[str] = "grant_role"
    project: str
    role: str
    principal: Principal

    @property
    def phase(self) -> Phase:
        return Phase.ROLE_TO_USER

    @property
    def statement(self) -> str:
        return render.grant_role_statement(self.role, self.principal)

    def args(self) -> dict[str, Any]:
        return {"role": self.role, "principal": str(self.principal)}


@dataclass(frozen=True, kw_only=True)
class RevokeActions(_ActionsStep):
    kind: ClassVar[str] = "revoke_actions"
    destructive: ClassVar[bool] = True

    @property
    def phase(self) -> Phase:
        return Phase.REVOKE_PROJECT_GRANTS if self.object.type is ObjectType.PROJECT else Phase.REVOKE_TABLE_GRANTS

    @property
    def statement(self) -> str:
        return render.revoke_statement(self.grantee, self.object, self.actions, project=self.project)


@dataclass(frozen=True, kw_only=True)
class RevokeRole(Step):
    kind: ClassVar[str] = "revoke_role"
    destructive: ClassVar[bool] = True
    project: str
    role: str
    principal: Principal

    @property
    def phase(self) -> Phase:
        return Phase.REVOKE_ROLES

    @property
    def statement(self) -> str:
        return render.revoke_role_statement(self.role, self.principal)

    def args(self) -> dict[str, Any]:
        return {"role": self.role, "principal": str(self.principal)}


def _acl_args(grantee: Grantee, obj: ObjectRef, actions: Sequence[Action]) -> dict[str, Any]:
    return {
        "grantee": {"kind": grantee.kind, "name": grantee.name},
        "object": {"type": obj.type.value, "project": obj.project, "name": obj.name},
        "actions": [a.value for a in actions],
    }


# ---- rebuilding steps from JSON


def step_from_args(kind: str, project: str | None, reason: str, args: Mapping[str, Any]) -> Step:
    builder = BUILDERS.get(kind)
    if builder is None:
        raise ConfigurationError("kind", f"is the unknown step kind {kind!r}", f"use one of {', '.join(BUILDERS)}")
    return builder(project, reason, args)


def _acl_from_args(args: Mapping[str, Any]) -> dict[str, Any]:
    obj = ObjectRef(ObjectType(args["object"]["type"]), args["object"]["project"], args["object"]["name"])
    valid = {a.value: a for a in ACTIONS_BY_TYPE[obj.type]}
    unknown = [a for a in args["actions"] if a not in valid]
    if unknown:
        raise ConfigurationError("args.actions", f"has invalid action(s) {unknown}", "re-create the plan")
    grantee = Grantee(args["grantee"]["kind"], args["grantee"]["name"])
    return {"grantee": grantee, "object": obj, "actions": tuple(valid[a] for a in args["actions"])}


#: Rebuilds each step kind from its JSON ``args``; other step modules add their kinds.
BUILDERS: dict[str, Callable[[Any, str, Mapping[str, Any]], Step]] = {
    "create_ram_user": lambda p, r, a: CreateRamUser(project=p, reason=r, user_name=a["user_name"]),
    "add_user": lambda p, r, a: AddUser(project=p, reason=r, principal=parse_principal(a["principal"])),
    "create_role": lambda p, r, a: CreateRole(project=p, reason=r, role=a["role"]),
    "grant_actions": lambda p, r, a: GrantActions(project=p, reason=r, **_acl_from_args(a)),
    "grant_role": lambda p, r, a: GrantRole(
        project=p, reason=r, role=a["role"], principal=parse_principal(a["principal"])
    ),
    "revoke_actions": lambda p, r, a: RevokeActions(project=p, reason=r, **_acl_from_args(a)),
    "revoke_role": lambda p, r, a: RevokeRole(
        project=p, reason=r, role=a["role"], principal=parse_principal(a["principal"])
    ),
}

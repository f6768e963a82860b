"""The access spec: what ClarityQ's reader should hold, validated before any request is made.

Defaults are seed 000: RAM user ``clarityq``, role ``clarityq_reader``, ``CreateInstance, List`` on
the project and ``Describe, Select`` on every table (``*``). A spec may instead list tables, table
prefixes (``sales_*``) and several projects (seed 002's cross-project reading).

Every error is a :class:`~airflow_provider_clarityq.core.errors.ConfigurationError` (or its
:class:`~airflow_provider_clarityq.core.errors.InvalidIdentifierError` subclass for names) whose field
is the path inside the spec, e.g. ``projects[0].tables[3]``, so the user knows exactly what to edit.

Templating from DAG params happens before this module sees the spec: the operator declares the spec
as a template field, Airflow renders it, and :func:`load_spec` validates the rendered result - so a
hostile param is rejected here like any hand-written value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator, model_validator

from airflow_provider_clarityq.core.defaults import DEFAULT_RAM_USER, DEFAULT_ROLE
from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants.model import (
    NEEDS_CREATE_INSTANCE,
    WRITE_ACTIONS,
    Action,
    ObjectType,
    ProjectAction,
    TableAction,
    is_dataworks_role,
    is_privileged_role,
    parse_actions,
)
from airflow_provider_clarityq.core.grants.restrictions import LabelGrant, PackageInstall, RolePolicyEntry, table_entry
from airflow_provider_clarityq.core.identifiers import (
    validate_project_name,
    validate_ram_user_name,
    validate_role_name,
)
from airflow_provider_clarityq.core.validation import checked_by, to_configuration_error

__all__ = ["AccessSpec", "ProjectGrants", "default_spec", "load_spec"]

_CONTEXT = "Access spec field"
_SPEC_SUFFIXES = (".yaml", ".yml", ".json")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectGrants(_Model):
    """The grants the managed role gets in one project."""

    project: Annotated[str, checked_by(validate_project_name, named=False)]
    project_actions: tuple[ProjectAction, ...] = (ProjectAction.CREATE_INSTANCE, ProjectAction.LIST)
    tables: Literal["*"] | tuple[str, ...] = "*"
    table_actions: tuple[TableAction, ...] = (TableAction.DESCRIBE, TableAction.SELECT)
    with_grant_option: StrictBool = False
    #: ``SET LABEL n TO USER <reader>`` (0-9); None leaves the reader's level alone.
    label_access_level: Annotated[int, Field(ge=0, le=9, strict=True)] | None = None
    label_grants: tuple[LabelGrant, ...] = ()
    #: ``GRANT Download ON TABLE ...`` for the spec's tables, for projects with download control on.
    download: StrictBool = False
    packages: tuple[PackageInstall, ...] = ()
    role_policy: tuple[RolePolicyEntry, ...] = ()

    @field_validator("project_actions", mode="before")
    @classmethod
    def _project_actions(cls, value: object) -> tuple[Action, ...]:
        return parse_actions(ObjectType.PROJECT, _as_list(value), field="")

    @field_validator("table_actions", mode="before")
    @classmethod
    def _table_actions(cls, value: object) -> tuple[Action, ...]:
        return parse_actions(ObjectType.TABLE, _as_list(value), field="")

    @field_validator("tables", mode="before")
    @classmethod
    def _tables(cls, value: object) -> str | tuple[str, ...]:
        return _parse_tables(value)

    @field_validator("with_grant_option")
    @classmethod
    def _no_grant_option(cls, value: bool) -> bool:
        if value:
            raise ConfigurationError(
                "",
                "is true, but MaxCompute ACL grants cannot be delegated (there is no WITH GRANT OPTION)",
                "remove with_grant_option; only the owner, admins and object creators can grant",
            )
        return value

    @property
    def all_tables(self) -> bool:
        return self.tables == "*"

    @property
    def explicit_tables(self) -> tuple[str, ...]:
        """Exact table names (lower-case), in spec order."""
        return () if self.tables == "*" else tuple(t for t in self.tables if not t.endswith("*"))

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Table-name prefixes without the trailing ``*``."""
        return () if self.tables == "*" else tuple(t[:-1] for t in self.tables if t.endswith("*"))


class AccessSpec(_Model):
    """Desired access for one RAM user through one managed role, in one or more projects.

    ``exclusive_role``: the role is the provider's alone. Only then may ``sync`` revoke grants the role holds
    beyond the spec while other principals also hold the role; by default a shared role keeps them (the
    plan reports them and who else holds the role), since those members may rely on them.
    """

    ram_user: Annotated[str, checked_by(validate_ram_user_name, named=False)] = DEFAULT_RAM_USER
    role: str = DEFAULT_ROLE
    projects: tuple[ProjectGrants, ...] = Field(min_length=1)
    extra_roles: tuple[str, ...] = ()
    create_ram_user: StrictBool = True
    allow_write_actions: StrictBool = False
    allow_admin_roles: StrictBool = False
    exclusive_role: StrictBool = False

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, value: object) -> str:
        role = validate_role_name(value, field="")
        if is_privileged_role(role) or is_dataworks_role(role):
            raise ConfigurationError(
                "",
                f"names the built-in or DataWorks role {role!r}, which this provider must not create or manage",
                "use a dedicated role such as clarityq_reader (to also hand out an existing admin role, list "
                "it in extra_roles and set allow_admin_roles: true)",
            )
        return role

    @field_validator("extra_roles", mode="before")
    @classmethod
    def _extra_roles(cls, value: object) -> tuple[str, ...]:
        roles = [validate_role_name(v, field=f"[{i}]") for i, v in enumerate(_as_list(value))]
        return tuple(dict.fromkeys(roles))

    @model_validator(mode="after")
    def _cross_checks(self) -> AccessSpec:
        _check_unique_projects(self)
        _check_write_actions(self)
        _check_create_instance(self)
        _check_extra_roles(self)
        return self

    def project(self, name: str) -> ProjectGrants:
        """The grants for ``name`` (KeyError when the spec does not manage that project)."""
        for grants in self.projects:
            if grants.project == name:
                return grants
        raise KeyError(name)


def _as_list(value: object) -> list[Any]:
    """YAML gives lists; a single string is accepted as a one-element list ("Select")."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ConfigurationError("", f"must be a list, got {type(value).__name__}", "write it as a YAML/JSON list")


def _parse_tables(value: object) -> str | tuple[str, ...]:
    """``"*"``, or a list of table names and ``prefix*`` entries (lower-cased, duplicates dropped)."""
    if value == "*":
        return "*"
    entries = _as_list(value)
    if not entries:
        raise ConfigurationError("", "is an empty list", "list tables, or use '*' for every table")
    result: list[str] = []
    for index, entry in enumerate(entries):
        field = f"[{index}]"
        if entry == "*":
            if len(entries) > 1:
                raise ConfigurationError(field, "is '*' next to other entries", "use tables: '*' alone")
            return "*"
        name = table_entry(entry, field=field)
        if name not in result:
            result.append(name)
    return tuple(result)


def _check_unique_projects(spec: AccessSpec) -> None:
    seen: dict[str, int] = {}
    for index, grants in enumerate(spec.projects):
        key = grants.project.lower()
        if key in seen:
            raise ConfigurationError(
                f"projects[{index}].project",
                f"repeats project {grants.project!r} of projects[{seen[key]}]",
                "merge the two entries",
            )
        seen[key] = index


def _check_write_actions(spec: AccessSpec) -> None:
    if spec.allow_write_actions:
        return
    for index, grants in enumerate(spec.projects):
        for name, actions in (("project_actions", grants.project_actions), ("table_actions", grants.table_actions)):
            writes = [a.value for a in actions if a in WRITE_ACTIONS]
            if writes:
                raise ConfigurationError(
                    f"projects[{index}].{name}",
                    f"grants the write action(s) {', '.join(writes)} to a read-only reader",
                    "remove them (All includes them), or set allow_write_actions: true if writes are intended",
                )


def _check_create_instance(spec: AccessSpec) -> None:
    """Seed 002: Select (and CreateTable/Alter/Update/Drop) only work with Project CreateInstance.

    Cross-project reading runs the job in one project and reads tables of another, so one project
    of the spec holding CreateInstance is enough.
    """
    if any(ProjectAction.CREATE_INSTANCE in g.project_actions for g in spec.projects):
        return
    for index, grants in enumerate(spec.projects):
        actions: list[Action] = [*grants.project_actions, *grants.table_actions]
        needing = [a.value for a in actions if a in NEEDS_CREATE_INSTANCE]
        if needing:
            raise ConfigurationError(
                f"projects[{index}].project_actions",
                f"lacks CreateInstance, which {', '.join(needing)} needs (every query runs as an instance)",
                "add CreateInstance to project_actions (in this project, or in the project the queries run in)",
            )


def _check_extra_roles(spec: AccessSpec) -> None:
    for index, role in enumerate(spec.extra_roles):
        if role == spec.role:
            raise ConfigurationError(f"extra_roles[{index}]", f"repeats the managed role {role!r}", "remove it")
        if is_privileged_role(role) and not spec.allow_admin_roles:
            raise ConfigurationError(
                f"extra_roles[{index}]",
                f"is the built-in or DataWorks role {role!r}, which makes the reader over-privileged",
                "remove it, or set allow_admin_roles: true if this is intended",
            )


# --------------------------------------------------------------------------------------------------
# Loading


def load_spec(source: AccessSpec | str | Path | Mapping[str, Any]) -> AccessSpec:
    """Validate a spec given as a mapping, YAML/JSON text, or a path to a ``.yaml``/``.yml``/``.json`` file.

    A one-line string ending in one of those suffixes is read as a path; any other string is parsed
    as YAML (JSON is accepted too). Raises :class:`ConfigurationError` naming the field path.
    """
    if isinstance(source, AccessSpec):
        return source
    data: object = source
    if isinstance(source, Path) or (isinstance(source, str) and _looks_like_path(source)):
        path = Path(source)
        data = _parse_text(path.read_text(encoding="utf-8"), json_first=path.suffix.lower() == ".json")
    elif isinstance(source, str):
        data = _parse_text(source, json_first=source.lstrip().startswith("{"))
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            "spec",
            f"must be a mapping, got {type(data).__name__}",
            "start the spec with 'projects:'",
            context=_CONTEXT,
        )
    return _validate(data)


def default_spec(project: str) -> AccessSpec:
    """Seed 000's setup for one project."""
    return _validate({"projects": [{"project": project}]})


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and text.strip().lower().endswith(_SPEC_SUFFIXES)


def _parse_text(text: str, *, json_first: bool) -> object:
    try:
        return json.loads(text) if json_first else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if json_first else "YAML"
        detail = " ".join(str(exc).split())[:200]
        raise ConfigurationError(
            "spec", f"is not valid {kind} ({detail})", f"fix the {kind} syntax", context=_CONTEXT
        ) from None


def _validate(data: Mapping[str, Any]) -> AccessSpec:
    try:
        return AccessSpec.model_validate(dict(data))
    except ValidationError as exc:
        raise to_configuration_error(exc, context=_CONTEXT, root="spec", problems=_PROBLEMS, fixes=_FIXES) from None


_PROBLEMS = {"extra_forbidden": "is not a known spec field"}
_FIXES = {
    "extra_forbidden": "remove it or fix its spelling (fields: ram_user, role, projects, extra_roles, "
    "create_ram_user, allow_write_actions, allow_admin_roles, exclusive_role; per project: project, project_actions, "
    "tables, "
    "table_actions, label_access_level, label_grants, download, packages, role_policy)",
    "missing": "add it",
    "bool_type": "write true or false",
    "too_short": "list at least one project",
}

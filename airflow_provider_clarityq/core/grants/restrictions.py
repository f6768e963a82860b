"""Access-spec options beyond ACL grants (reference sections 1-4): labels, download, packages, role policy.

Each option is read-only by construction: a value that would give the reader write or admin power is refused
here, naming the field and the fix, before anything is planned. Names go through the identifier RULES.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.identifiers import (
    validate_package_name,
    validate_project_name,
    validate_table_name,
)
from airflow_provider_clarityq.core.validation import checked_by

__all__ = [
    "DEFAULT_LABEL_EXPIRY_DAYS",
    "POLICY_READ_ACTIONS",
    "LabelGrant",
    "PackageInstall",
    "RolePolicyEntry",
    "table_entry",
]

#: GRANT LABEL's default expiry (reference section 1).
DEFAULT_LABEL_EXPIRY_DAYS = 180

#: Actions a role-policy Allow may carry for a read-only reader; anything else writes or administers.
POLICY_READ_ACTIONS: tuple[str, ...] = ("Describe", "Select", "Download")

Level = Annotated[StrictInt, Field(ge=0, le=9)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelGrant(_Model):
    """``GRANT LABEL <level> ON TABLE <table>[(<columns>)] TO USER <reader> WITH EXP <expiry_days>``."""

    table: Annotated[str, checked_by(validate_table_name, named=False)]
    columns: tuple[str, ...] = ()
    level: Level
    expiry_days: Annotated[StrictInt, Field(ge=1, le=36500)] = DEFAULT_LABEL_EXPIRY_DAYS

    @field_validator("columns", mode="before")
    @classmethod
    def _columns(cls, value: object) -> tuple[str, ...]:
        if not isinstance(value, (list, tuple)):
            raise ConfigurationError("", "must be a list of column names", "write columns: [name, ...]")
        names = [validate_table_name(v, field=f"[{i}]") for i, v in enumerate(value)]
        return tuple(dict.fromkeys(names))


class PackageInstall(_Model):
    """Install ``<source_project>.<package>`` in the spec's project and give the role Read on it (seed 003 flow 5-6)."""

    source_project: Annotated[str, checked_by(validate_project_name, named=False)]
    package: Annotated[str, checked_by(validate_package_name, named=False)]
    grant_read: StrictBool = True


class RolePolicyEntry(_Model):
    """One Allow statement of the managed role's policy, on tables (names or ``prefix*``) of the spec's project."""

    effect: str = "Allow"
    actions: tuple[str, ...] = ("Describe", "Select")
    tables: tuple[str, ...] = Field(min_length=1)

    @field_validator("effect")
    @classmethod
    def _allow_only(cls, value: str) -> str:
        if value != "Allow":
            raise ConfigurationError(
                "",
                f"is {value!r}; the spec only adds Allow statements to the reader's role",
                "write effect: Allow (a Deny for the reader is the owner's decision, made by hand)",
            )
        return value

    @field_validator("actions", mode="before")
    @classmethod
    def _read_actions(cls, value: object) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not items:
            raise ConfigurationError("", "must be a non-empty list", f"use some of {', '.join(POLICY_READ_ACTIONS)}")
        by_lower = {a.lower(): a for a in POLICY_READ_ACTIONS}
        result: list[str] = []
        for index, item in enumerate(items):
            text = str(item).removeprefix("odps:")
            action = by_lower.get(text.lower())
            if action is None:
                raise ConfigurationError(
                    f"[{index}]",
                    f"is {item!r}, which would give the reader write or admin power (or is not an action)",
                    f"use only {', '.join(POLICY_READ_ACTIONS)}; write access is granted by hand, never by this spec",
                )
            if action not in result:
                result.append(action)
        return tuple(result)

    @field_validator("tables", mode="before")
    @classmethod
    def _tables(cls, value: object) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigurationError("", "must be a list", "write tables: [name, prefix_*]")
        names = ("*" if item == "*" else table_entry(item, field=f"[{index}]") for index, item in enumerate(items))
        return tuple(dict.fromkeys(names))


def table_entry(value: object, *, field: str) -> str:
    """A table name, or a ``prefix*`` pattern (the prefix validated as a table name), lower-cased."""
    if isinstance(value, str) and value.endswith("*"):
        return validate_table_name(value[:-1], field=field) + "*"
    return validate_table_name(value, field=field)

"""What a health run checks and how: :class:`HealthOptions` and custom :class:`ValidationQuery` items.

pydantic models (frozen, no unknown keys; their JSON Schema is generated with ``model_json_schema()``) whose
errors are :class:`~airflow_provider_clarityq.core.errors.ConfigurationError` naming the field. They travel as
JSON between a sensor and its trigger (``to_dict`` / ``from_dict``). No Airflow import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator, model_validator

from airflow_provider_clarityq.core.defaults import DEFAULT_ROLE
from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.health.protocol import QueryResult
from airflow_provider_clarityq.core.identifiers import validate_role_name, validate_table_name
from airflow_provider_clarityq.core.validation import StrictModel, checked_by

__all__ = ["CHECK_NAMES", "DEFAULT_ROLE", "SEED_CHECKS", "Expectation", "HealthOptions", "ValidationQuery"]

SEED_CHECKS: Final = ("authentication", "project_accessible", "metadata_discoverable", "query_works")
CHECK_NAMES: Final = (*SEED_CHECKS, "least_privilege", "key_hygiene")
_VALIDATION_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _positive(name: str, value: object, *, integer: bool) -> None:
    kinds = (int,) if integer else (int, float)
    if not isinstance(value, kinds) or isinstance(value, bool) or value < (1 if integer else 0) or value != value:
        what = "an integer >= 1" if integer else "a positive number of seconds"
        raise ConfigurationError(
            name, f"must be {what}", f"set {name} to {'a positive integer' if integer else 'e.g. 120'}"
        )


class HealthOptions(StrictModel):
    """What to check and how.

    :param role: the reader role named in GRANT/REVOKE fixes (seed 000: ``clarityq_reader``).
    :param table: table to describe and query; default: the first table listed.
    :param checks: which checks to run (their prerequisites are added automatically).
    :param list_limit: tables read from the listing (one page).
    :param max_key_age_days: key_hygiene warns when the AccessKey in use is older.
    :param timeout_s: time limit for the whole run; checks still running then fail as unreachable.
    :param max_workers: threads for independent checks.
    :param label_access_level: the label level the access spec gives the reader; the audit flags a higher one.
    """

    role: Annotated[str, checked_by(validate_role_name)] = DEFAULT_ROLE
    table: Annotated[str | None, checked_by(validate_table_name, optional=True)] = None
    checks: tuple[str, ...] = CHECK_NAMES
    list_limit: int = 100
    max_key_age_days: int = 90
    timeout_s: float = 120.0
    max_workers: int = 4
    label_access_level: Annotated[int, Field(ge=0, le=9, strict=True)] | None = None

    @field_validator("checks", mode="before")
    @classmethod
    def _checks(cls, value: object) -> tuple[str, ...]:
        checks = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, (list, tuple)) else None
        unknown = [c for c in checks or (value,) if c not in CHECK_NAMES]
        if checks is None or unknown:
            raise ConfigurationError("checks", f"names unknown checks {unknown}", f"choose from {list(CHECK_NAMES)}")
        return checks

    @field_validator("list_limit", "max_key_age_days", "max_workers", mode="before")
    @classmethod
    def _counts(cls, value: object, info: Any) -> object:
        _positive(info.field_name, value, integer=True)
        return value

    @field_validator("timeout_s", mode="before")
    @classmethod
    def _timeout(cls, value: object) -> object:
        _positive("timeout_s", value, integer=False)
        if not value:
            raise ConfigurationError("timeout_s", "must be a positive number of seconds", "set e.g. timeout_s=120")
        return value

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (trigger kwargs)."""
        data = self.model_dump(mode="json")
        data["checks"] = list(self.checks)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthOptions:
        return cls(**dict(data))


Expectation = Literal["not_empty", "row_count", "equals"]
_EXPECTATIONS: tuple[Expectation, ...] = ("not_empty", "row_count", "equals")


class ValidationQuery(StrictModel):
    """A custom validation: SQL plus an expectation on its result.

    * ``not_empty``: at least one row;
    * ``row_count``: exactly ``value`` rows;
    * ``equals``: the first column of the first row equals ``value`` (numbers compare numerically).

    The SQL is the caller's: on a real project, partitioned tables need a partition predicate.
    """

    name: str
    sql: str
    expect: Expectation = "not_empty"
    value: StrictBool | StrictInt | StrictFloat | StrictStr | None = None

    def __init__(self, name: str, sql: str, expect: Expectation = "not_empty", value: Any = None, **extra: Any) -> None:
        super().__init__(name=name, sql=sql, expect=expect, value=value, **extra)

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: object) -> str:
        if not isinstance(value, str) or not _VALIDATION_NAME_RE.fullmatch(value):
            raise ConfigurationError(
                "validations.name", f"{value!r} is not a valid name", "use 1-64 letters, digits, '_', '.', '-'"
            )
        return value

    @field_validator("sql", mode="before")
    @classmethod
    def _sql(cls, value: object, info: Any) -> str:
        sql = value.strip().rstrip(";").strip() if isinstance(value, str) else ""
        if not sql:
            name = info.data.get("name", "?")
            raise ConfigurationError(f"validations.{name}.sql", "is empty", "give one SELECT statement")
        return sql

    @field_validator("expect", mode="before")
    @classmethod
    def _expect(cls, value: object, info: Any) -> object:
        if value not in _EXPECTATIONS:
            name = info.data.get("name", "?")
            raise ConfigurationError(f"validations.{name}.expect", f"is {value!r}", f"use one of {list(_EXPECTATIONS)}")
        return value

    @model_validator(mode="after")
    def _value_fits(self) -> ValidationQuery:
        value = self.value
        if self.expect == "row_count" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ConfigurationError(
                f"validations.{self.name}.value", "must be a row count (integer >= 0)", "set value=<rows expected>"
            )
        if self.expect == "equals" and value is None:
            raise ConfigurationError(
                f"validations.{self.name}.value", "must be a string, number or boolean", "set value=<expected value>"
            )
        return self

    @property
    def check_name(self) -> str:
        return f"validation:{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sql": self.sql, "expect": self.expect, "value": self.value}

    @classmethod
    def from_value(cls, value: ValidationQuery | Mapping[str, Any]) -> ValidationQuery:
        if isinstance(value, ValidationQuery):
            return value
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                "validations", f"items must be mappings, got {type(value).__name__}", "pass {'name', 'sql', 'expect'}"
            )
        unknown = set(value) - {"name", "sql", "expect", "value"}
        if unknown:
            raise ConfigurationError(
                "validations", f"has unknown keys {sorted(unknown)}", "use only name, sql, expect and value"
            )
        return cls(**dict(value))

    def evaluate(self, result: QueryResult) -> tuple[bool, str]:
        """Whether the result meets the expectation, and a one-line account of it."""
        rows = len(result.rows)
        if self.expect == "not_empty":
            return rows > 0, f"returned {rows} row(s), expected at least one"
        if self.expect == "row_count":
            return rows == self.value, f"returned {rows} row(s), expected {self.value}"
        if rows == 0 or not result.rows[0]:
            return False, f"returned no rows, expected a first value equal to {self.value!r}"
        actual = result.rows[0][0]
        return _values_equal(actual, self.value), f"first value is {actual!r}, expected {self.value!r}"


def _values_equal(actual: str | None, expected: Any) -> bool:
    if actual is None:
        return False
    if isinstance(expected, bool):
        return actual.strip().lower() == str(expected).lower()
    if isinstance(expected, (int, float)):
        try:
            return Decimal(actual.strip()) == Decimal(str(expected))
        except InvalidOperation:
            return False
    return actual == str(expected)

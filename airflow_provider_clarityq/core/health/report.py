"""Health report: one record per check, the verdict, and a versioned JSON form (no Airflow import).

A report is what the validation operator returns as XCom, what the sensor's trigger sends back and what
``MaxComputeHook.test_connection()`` summarises, so all three speak the same language.

JSON schema, version ``"1"`` (the full JSON Schema document, :data:`JSON_SCHEMA`, is generated from the
pydantic models below)::

    {
      "schema_version": "1",
      "verdict": "HEALTHY" | "DEGRADED" | "CONFIG_ERROR" | "UNREACHABLE",
      "retryable": bool,                  # derived: verdict == "UNREACHABLE"
      "summary": str,                     # derived: one line, verdict + first problem + its fix
      "summary_table": str,               # derived: the fixed-width table of the task log
      "project": str | null,
      "endpoint": str | null,
      "principal": str | null,            # e.g. "RAM$<account-uid>:<user-uid>"; never a secret
      "started_at": str,                  # ISO 8601, UTC, e.g. "2026-11-23T19:51:42.123Z"
      "duration_ms": int,
      "checks": [
        {
          "name": str,                    # "authentication", "project_accessible", ..., "validation:<name>"
          "status": "pass" | "warn" | "fail" | "skipped",
          "code": str,                    # "OK", "BLOCKED", "MISSING_PRIVILEGE", "AUTH_SIGNATURE_MISMATCH", ...
          "category": null | "config" | "permission" | "unreachable" | "expectation" | "system",
          "message": str,                 # one line: what was found
          "remediation": str | null,      # one line: the exact fix (statement, field to edit)
          "retryable": bool,              # true only for transient (unreachable) failures
          "duration_ms": int,
          "details": object               # check-specific, JSON-safe, secret-free
        }
      ]
    }

Verdict rules (:func:`decide_verdict`): a failed check that is not transient (configuration, permission,
a failed expectation, or an unclassified error) makes ``CONFIG_ERROR``; otherwise a transient failure
(connection refused, timeout, 5xx, throttling) makes ``UNREACHABLE``; otherwise a warning makes
``DEGRADED``; otherwise ``HEALTHY``. Unclassified errors count as ``CONFIG_ERROR`` on purpose: a gate
should surface what it does not understand at once instead of waiting it out.

Compatibility: readers must ignore unknown keys; a new optional key keeps version ``"1"``; removing or
re-typing a key, or adding a status/verdict value, bumps the version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    computed_field,
    field_serializer,
    model_validator,
)

from airflow_provider_clarityq.core.errors import ClarityQError, one_line

__all__ = [
    "CATEGORIES",
    "JSON_SCHEMA",
    "SCHEMA_VERSION",
    "STATUSES",
    "VERDICTS",
    "Category",
    "CheckResult",
    "HealthReport",
    "ReportFormatError",
    "Status",
    "Verdict",
    "decide_verdict",
    "format_timestamp",
    "json_safe",
]

SCHEMA_VERSION: Final = "1"

Status = Literal["pass", "warn", "fail", "skipped"]
Verdict = Literal["HEALTHY", "DEGRADED", "CONFIG_ERROR", "UNREACHABLE"]
Category = Literal["config", "permission", "unreachable", "expectation", "system"]

STATUSES: tuple[Status, ...] = ("pass", "warn", "fail", "skipped")
VERDICTS: tuple[Verdict, ...] = ("HEALTHY", "DEGRADED", "CONFIG_ERROR", "UNREACHABLE")
CATEGORIES: tuple[Category, ...] = ("config", "permission", "unreachable", "expectation", "system")

_TABLE_MESSAGE_WIDTH = 90
_NonEmpty = Annotated[StrictStr, Field(min_length=1)]
_Millis = Annotated[StrictInt, Field(ge=0)]


class ReportFormatError(ClarityQError, ValueError):
    """A dict handed to :meth:`HealthReport.from_dict` does not follow the schema."""


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a ``Z`` suffix."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def json_safe(value: Any) -> Any:
    """A JSON-safe copy: datetimes as ISO 8601 UTC, tuples and sets as lists, anything else odd as a string."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [json_safe(v) for v in items]
    return str(value)


def _format_error(exc: ValidationError, what: str) -> ReportFormatError:
    """The first pydantic error as one line naming the key (``'checks.0.status' ...``)."""
    error = exc.errors()[0]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ReportFormatError):
        return cause
    where = ".".join(str(part) for part in error["loc"])
    return ReportFormatError(f"{what} '{where}' is invalid: {error['msg']} (got {error.get('input')!r:.60})")


class _Model(BaseModel):
    # Unknown keys are ignored: a new optional key keeps schema version "1".
    model_config = ConfigDict(frozen=True, extra="ignore")


class CheckResult(_Model):
    """The outcome of one check."""

    name: _NonEmpty
    status: Status
    code: _NonEmpty
    message: StrictStr
    remediation: StrictStr | None = None
    retryable: StrictBool = False
    duration_ms: _Millis = 0
    category: Category | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    def __init__(
        self,
        name: str,
        status: Status,
        code: str,
        message: str,
        remediation: str | None = None,
        retryable: bool = False,
        **fields: Any,
    ) -> None:
        # Positional order of the fields, as callers wrote it before the model was pydantic.
        given: dict[str, Any] = {
            "name": name,
            "status": status,
            "code": code,
            "message": message,
            "remediation": remediation,
            "retryable": retryable,
        }
        super().__init__(**given, **fields)

    @field_serializer("details")
    def _details(self, details: dict[str, Any]) -> Any:
        return json_safe(details)

    @property
    def problem(self) -> bool:
        """True for a failure or a warning: something a person should read."""
        return self.status in ("fail", "warn")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json")
        return data

    @classmethod
    def from_dict(cls, data: object) -> CheckResult:
        if not isinstance(data, Mapping):
            raise ReportFormatError(f"a check must be an object, got {type(data).__name__}")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise _format_error(exc, "check") from None


def decide_verdict(checks: Iterable[CheckResult]) -> Verdict:
    """Apply the verdict rules in the module docstring."""
    checks = list(checks)
    failed = [c for c in checks if c.status == "fail"]
    if any(c.category != "unreachable" for c in failed):
        return "CONFIG_ERROR"
    if failed:
        return "UNREACHABLE"
    if any(c.status == "warn" for c in checks):
        return "DEGRADED"
    return "HEALTHY"


class HealthReport(_Model):
    """Every check's result plus the verdict; build it with :meth:`build` so the verdict is consistent."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    verdict: Verdict
    project: StrictStr | None = None
    endpoint: StrictStr | None = None
    principal: StrictStr | None = None
    started_at: _NonEmpty
    duration_ms: _Millis
    checks: tuple[CheckResult, ...]

    @model_validator(mode="after")
    def _consistent(self) -> HealthReport:
        expected = decide_verdict(self.checks)
        if self.verdict != expected:
            raise ReportFormatError(f"verdict {self.verdict} contradicts the checks (they give {expected})")
        return self

    @classmethod
    def build(
        cls,
        checks: Sequence[CheckResult],
        *,
        started_at: datetime | str,
        duration_ms: int,
        project: str | None = None,
        endpoint: str | None = None,
        principal: str | None = None,
    ) -> HealthReport:
        started = started_at if isinstance(started_at, str) else format_timestamp(started_at)
        return cls(
            verdict=decide_verdict(checks),
            checks=tuple(checks),
            started_at=started,
            duration_ms=duration_ms,
            project=project,
            endpoint=endpoint,
            principal=principal,
        )

    # ----------------------------------------------------------------------------------------------
    # Reading

    @property
    def healthy(self) -> bool:
        return self.verdict == "HEALTHY"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def retryable(self) -> bool:
        """Only an unreachable service may get better by waiting."""
        return self.verdict == "UNREACHABLE"

    def gate(self, *, accept_degraded: bool = False) -> Literal["pass", "fail", "wait"]:
        """What a gate does with this report: let the work run, fail now, or wait and check again.

        HEALTHY passes (DEGRADED too when ``accept_degraded``); UNREACHABLE waits (it may get better);
        CONFIG_ERROR fails at once, and so does DEGRADED otherwise: a warning such as an excess
        privilege does not go away by waiting.
        """
        if self.verdict == "HEALTHY" or (self.verdict == "DEGRADED" and accept_degraded):
            return "pass"
        if self.verdict == "UNREACHABLE":
            return "wait"
        return "fail"

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name`` (KeyError if it was not part of the run)."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def first_problem(self) -> CheckResult | None:
        """The failure that decided the verdict (in check order), else the first warning, else None."""
        failed = [c for c in self.checks if c.status == "fail"]
        if self.verdict == "CONFIG_ERROR":
            return next(c for c in failed if c.category != "unreachable")
        if failed:
            return failed[0]
        return next((c for c in self.checks if c.status == "warn"), None)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        """:meth:`summary_line`, as the JSON form carries it."""
        return self.summary_line()

    def summary_line(self) -> str:
        """One line for the person on call: verdict, what broke, the exact fix."""
        problem = self.first_problem()
        where = f"project {self.project}" if self.project else "the connection"
        if problem is None:
            ran = sum(1 for c in self.checks if c.status == "pass")
            who = f" as {self.principal}" if self.principal else ""
            return f"HEALTHY: {ran} checks passed for {where}{who} ({self.duration_ms} ms)."
        line = f"{self.verdict}: {problem.message.rstrip('.')} [{problem.name}: {problem.code}]."
        if problem.remediation:
            line += f" Fix: {problem.remediation}"
        others = sum(1 for c in self.checks if c.problem) - 1
        if others > 0:
            line += f" (+{others} more: see the report)"
        return one_line(line)

    @computed_field(alias="summary_table")  # type: ignore[prop-decorator]
    @property
    def table(self) -> str:
        """:meth:`summary_table`, as the JSON form carries it."""
        return self.summary_table()

    def summary_table(self) -> str:
        """A fixed-width table of the checks, then every fix in full (for task logs)."""
        head = f"ClarityQ health: {self.verdict}"
        if self.project:
            head += f"  project={self.project}"
        if self.principal:
            head += f"  principal={self.principal}"
        head += f"  ({self.duration_ms} ms, schema v{self.schema_version})"
        name_w = max([len("CHECK"), *(len(c.name) for c in self.checks)])
        code_w = max([len("CODE"), *(len(c.code) for c in self.checks)])
        lines = [head, f"{'CHECK':<{name_w}}  {'STATUS':<7}  {'CODE':<{code_w}}  {'MS':>6}  MESSAGE"]
        for c in self.checks:
            message = c.message
            if len(message) > _TABLE_MESSAGE_WIDTH:
                message = message[: _TABLE_MESSAGE_WIDTH - 3] + "..."
            status = c.status.upper() if c.status == "fail" else c.status
            lines.append(f"{c.name:<{name_w}}  {status:<7}  {c.code:<{code_w}}  {c.duration_ms:>6}  {message}")
        for c in self.checks:
            if c.problem and c.remediation:
                lines.append(f"Fix ({c.name}): {c.remediation}")
        return "\n".join(lines)

    # ----------------------------------------------------------------------------------------------
    # JSON

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: object) -> HealthReport:
        """Rebuild a report; refuses other schema versions and a verdict that contradicts the checks."""
        if not isinstance(data, Mapping):
            raise ReportFormatError(f"a health report must be an object, got {type(data).__name__}")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ReportFormatError(
                f"unsupported health report schema_version {version!r} (expected {SCHEMA_VERSION!r})"
            )
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise _format_error(exc, "report") from None


#: The JSON Schema (draft 2020-12) of version "1", generated from the models.
JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/clarityq/airflow-provider-clarityq/schemas/health-report-1.json",
    **HealthReport.model_json_schema(mode="serialization", by_alias=True),
    "title": "ClarityQ MaxCompute health report",
}

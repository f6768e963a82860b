"""What a run did: per-step results and the run's result, JSON-safe (the grants task's XCom), secret-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_clarityq.core.alibaba.failures import Failure
from airflow_provider_clarityq.core.errors import ClarityQError
from airflow_provider_clarityq.core.grants.plan import Plan
from airflow_provider_clarityq.core.grants.steps import Mode, Step

__all__ = ["RESULT_FORMAT", "AccessNotConvergedError", "ApplyResult", "RamUserResult", "StepOutcome", "StepResult"]

RESULT_FORMAT = "clarityq.access-result/1"
StepOutcome = Literal["executed", "converged", "failed", "not_run"]


class AccessNotConvergedError(ClarityQError):
    """A run finished but the live state still differs from the spec (failed step or verification)."""


@dataclass(frozen=True)
class StepResult:
    """What happened to one planned step."""

    step: Step
    outcome: StepOutcome
    attempts: int = 0
    error: Failure | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.step.kind,
            "phase": int(self.step.phase),
            "project": self.step.project,
            "statement": self.step.statement,
            "api_call": self.step.api_call,
            "destructive": self.step.destructive,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "error": self.error.to_dict() if self.error else None,
            "seconds": round(self.seconds, 4),
        }


@dataclass(frozen=True)
class ApplyResult:
    """The run: the plan as printed, every step's outcome, retries, requests and the verification."""

    mode: Mode
    principal: str
    plan: Plan
    steps: tuple[StepResult, ...] = ()
    retries: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    verified: bool | None = None  # None: nothing was executed (plan mode, or nothing to do)
    remaining: tuple[str, ...] = ()  # what the verification plan still wanted
    caller: dict[str, str] | None = None
    user_uid: str | None = None

    def _with(self, outcome: StepOutcome) -> tuple[StepResult, ...]:
        return tuple(r for r in self.steps if r.outcome == outcome)

    @property
    def executed(self) -> tuple[StepResult, ...]:
        return self._with("executed")

    @property
    def converged(self) -> tuple[StepResult, ...]:
        return self._with("converged")

    @property
    def failed(self) -> tuple[StepResult, ...]:
        return self._with("failed")

    @property
    def not_run(self) -> tuple[StepResult, ...]:
        return self._with("not_run")

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_run and self.verified is not False

    @property
    def request_total(self) -> int:
        return sum(self.requests.values())

    def summary(self) -> dict[str, int]:
        return {
            "planned": len(self.plan.steps),
            "executed": len(self.executed),
            "converged": len(self.converged),
            "failed": len(self.failed),
            "not_run": len(self.not_run),
            "retries": self.retries,
            "requests": self.request_total,
            "warnings": len(self.plan.warnings),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (XCom): no secrets - statements, principals and counts only."""
        return {
            "format": RESULT_FORMAT,
            "mode": self.mode,
            "principal": self.principal,
            "user_uid": self.user_uid,
            "caller": self.caller,
            "ok": self.ok,
            "summary": self.summary(),
            "verified": self.verified,
            "remaining": list(self.remaining),
            "requests": {"total": self.request_total, "by_call": dict(self.requests)},
            "steps": [r.to_dict() for r in self.steps],
            "plan": self.plan.to_dict(),
        }

    def to_text(self) -> str:
        """One line per executed/failed step, then the counts."""
        lines = []
        for result in self.steps:
            what = result.step.statement or f"RAM CreateUser {getattr(result.step, 'user_name', '')}"
            suffix = f" ({result.error.describe()})" if result.error else ""
            tries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
            lines.append(f"  {result.outcome:>9}: {what}{tries}{suffix}")
        counts = ", ".join(f"{k} {v}" for k, v in self.summary().items())
        verified = {None: "not needed", True: "yes", False: "NO"}[self.verified]
        lines.append(f"Result ({self.mode}): {counts}; verified: {verified}.")
        lines.extend(f"  still planned: {s}" for s in self.remaining)
        return "\n".join(lines)


@dataclass(frozen=True)
class RamUserResult:
    """The managed RAM user: identifiers only, never an AccessKey or any other secret."""

    user_name: str
    user_uid: str | None  # None only in a dry run, when the user does not exist yet
    account_id: str
    created: bool
    caller: dict[str, str]
    adopted: bool = False
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.user_uid is not None

    @property
    def principal(self) -> str | None:
        """Seed 000's ``RAM$<main-account-uid>:<ram-user-uid>``."""
        return f"RAM${self.account_id}:{self.user_uid}" if self.user_uid else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_name": self.user_name,
            "user_uid": self.user_uid,
            "account_id": self.account_id,
            "principal": self.principal,
            "exists": self.exists,
            "created": self.created,
            "adopted": self.adopted,
            "caller": self.caller,
            "requests": {"total": sum(self.requests.values()), "by_call": dict(self.requests)},
        }

"""The access plan: ordered steps plus warnings, JSON-serialisable (the contract between tasks) and printable.

:meth:`Plan.from_dict` re-renders every step from its typed fields and refuses a plan whose stored statements
differ, so a plan passed between tasks (XCom, a file) cannot be edited into running something else.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants import (
    render,
    restriction_steps,  # noqa: F401 - registers its step kinds
)
from airflow_provider_clarityq.core.grants.steps import MODES, Mode, Phase, Step, step_from_args
from airflow_provider_clarityq.core.identifiers import validate_principal

__all__ = ["PLAN_FORMAT", "Plan"]

PLAN_FORMAT = "clarityq.access-plan/1"


@dataclass(frozen=True)
class Plan:
    """An ordered list of steps plus what the planner noticed but will not change (``warnings``)."""

    mode: Mode
    principal: str
    steps: tuple[Step, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.steps

    @property
    def executable(self) -> bool:
        """``plan`` mode is a dry run: an executor must refuse to run it."""
        return self.mode != "plan"

    @property
    def summary(self) -> dict[str, int]:
        kinds: dict[str, int] = defaultdict(int)
        for step in self.steps:
            kinds[step.kind] += 1
        destructive = sum(step.destructive for step in self.steps)
        return {
            "total": len(self.steps),
            "add": len(self.steps) - destructive,
            "revoke": destructive,
            "statements": sum(step.statement is not None for step in self.steps),
            "api_calls": sum(step.api_call is not None for step in self.steps),
            "warnings": len(self.warnings),
            **{f"kind.{kind}": n for kind, n in sorted(kinds.items())},
        }

    def phases(self) -> list[tuple[Phase, tuple[Step, ...]]]:
        """Steps grouped by phase, in order: run phases one after another, a phase's steps concurrently."""
        grouped: dict[Phase, list[Step]] = defaultdict(list)
        for step in self.steps:
            grouped[step.phase].append(step)
        return [(phase, tuple(grouped[phase])) for phase in sorted(grouped)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "mode": self.mode,
            "principal": self.principal,
            "summary": self.summary,
            "steps": [step.to_dict() for step in self.steps],
            "warnings": list(self.warnings),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Rebuild a plan from :meth:`to_dict` output, re-rendering every step from its typed ``args``.

        A stored ``statement``/``api_call`` that differs from the re-rendered one is refused, so a plan
        passed between tasks (XCom, a file) cannot be edited into running something else.
        """
        if data.get("format") != PLAN_FORMAT:
            raise ConfigurationError("plan.format", f"is {data.get('format')!r}", f"use a {PLAN_FORMAT} plan")
        mode = data.get("mode")
        if mode not in MODES:
            raise ConfigurationError("plan.mode", f"is {mode!r}", "use plan, apply or sync")
        steps = tuple(_checked_step(index, raw) for index, raw in enumerate(data["steps"]))
        principal = validate_principal(data.get("principal"), field="plan.principal")
        return cls(mode=mode, principal=principal, steps=steps, warnings=tuple(data.get("warnings", ())))

    def to_text(self) -> str:
        """Terraform-like summary: ``+`` adds, ``-`` revokes, each with its reason."""
        lines = [f"ClarityQ access plan ({self.mode}) for {self.principal}"]
        if self.is_empty:
            lines.append("No changes: live access already matches the spec.")
        for step in self.steps:
            sign = "-" if step.destructive else "+"
            where = f"[{step.project}]" if step.project else "[ram]"
            lines.append(f"  {sign} {where} {_describe(step)}")
            lines.append(f"      # {step.reason}")
        summary = self.summary
        lines.append(f"Plan: {summary['add']} to add, {summary['revoke']} to revoke.")
        lines.extend(f"  ! {warning}" for warning in self.warnings)
        return "\n".join(lines)


def _describe(step: Step) -> str:
    if step.statement is not None:
        return render.as_sql(step.statement)
    call = step.api_call or {}
    params = call.get("params")
    shown = " ".join(f"{k}={v}" for k, v in params.items()) if isinstance(params, dict) else ""
    return f"{call.get('service', '?')}:{call.get('action', '?')} {shown}".strip()


def _checked_step(index: int, raw: Mapping[str, Any]) -> Step:
    field = f"plan.steps[{index}]"
    try:
        step = step_from_args(str(raw["kind"]), raw.get("project"), str(raw["reason"]), raw["args"])
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigurationError):
            raise exc.for_field(f"{field}.{exc.field}") from None
        raise ConfigurationError(field, f"is malformed ({type(exc).__name__}: {exc})", "re-create the plan") from None
    for key in ("statement", "api_call", "destructive"):
        if raw.get(key) != getattr(step, key):
            raise ConfigurationError(
                f"{field}.{key}",
                "does not match what the step's typed fields render to",
                "re-create the plan instead of editing it",
            )
    return step

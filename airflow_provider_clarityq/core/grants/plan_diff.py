"""The access plan as a diff people read at a glance: ``+``/``-`` per grant, grouped by project and phase.

Reads the plan JSON (``clarityq.access-plan/1``, the contract the grants task returns in XCom under
``plan``) and renders it as text for the task log, Markdown (a ``diff`` block per project, for a pull
request or a ticket) and a self-contained HTML page. A step granting several actions in one statement
becomes one line per action, so each grant can be read, counted and searched on its own; the statement
that will run is shown under its lines.

Rendering only: nothing here validates a plan for execution (the executor re-renders every step from
its typed ``args``), and every value is escaped in HTML.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from airflow_provider_clarityq.core.errors import ConfigurationError

__all__ = ["DiffGroup", "DiffLine", "DiffStep", "PlanDiff", "plan_diff"]

PLAN_FORMAT: Final = "clarityq.access-plan/1"

#: How each phase of the plan reads in a heading (the phase numbers are those of the plan JSON).
PHASE_LABELS: Final = {
    0: "RAM user",
    1: "project membership",
    2: "role",
    3: "project grants",
    4: "table grants",
    5: "install packages",
    6: "download, label, package and policy grants",
    7: "role to user",
    8: "revoke roles",
    9: "revoke download, label and package grants",
    10: "revoke table grants",
    11: "revoke project grants",
}

Sign = Literal["+", "-"]


@dataclass(frozen=True)
class DiffLine:
    sign: Sign
    text: str


@dataclass(frozen=True)
class DiffStep:
    """One step of the plan: its lines (one per grant) and what it runs."""

    lines: tuple[DiffLine, ...]
    statement: str | None
    reason: str


@dataclass(frozen=True)
class DiffGroup:
    """The steps of one phase in one project (``project`` None: account-level RAM calls)."""

    project: str | None
    phase: int
    steps: tuple[DiffStep, ...]

    @property
    def label(self) -> str:
        return f"phase {self.phase}: {PHASE_LABELS.get(self.phase, 'other')}"


@dataclass(frozen=True)
class PlanDiff:
    mode: str
    principal: str
    groups: tuple[DiffGroup, ...]
    warnings: tuple[str, ...]

    @property
    def added(self) -> int:
        return sum(1 for line in self._lines() if line.sign == "+")

    @property
    def removed(self) -> int:
        return sum(1 for line in self._lines() if line.sign == "-")

    def _lines(self) -> list[DiffLine]:
        return [line for group in self.groups for step in group.steps for line in step.lines]

    def projects(self) -> list[str | None]:
        return list(dict.fromkeys(group.project for group in self.groups))

    def headline(self) -> str:
        if not self.groups:
            return "No changes: live access already matches the spec."
        return f"{self.added} to add, {self.removed} to revoke."

    # ------------------------------------------------------------------------------------------
    # Renderings

    def _diff_body(
        self, project: str | None, *, label: str, line: str, statement: str, safe: Callable[[str], str]
    ) -> list[str]:
        """One project's groups and steps in a line-based format (the log and the markdown ``diff`` block)."""
        out: list[str] = []
        for group in self._groups_of(project):
            out.append(label.format(group.label))
            for step in group.steps:
                out.extend(line.format(diff.sign, safe(diff.text)) for diff in step.lines)
                if step.statement:
                    out.append(statement.format(safe(step.statement)))
        return out

    def to_text(self) -> str:
        """For the task log."""
        lines = [f"ClarityQ access plan ({self.mode}) for {self.principal}: {self.headline()}"]
        for project in self.projects():
            lines.append(_project_title(project))
            lines += self._diff_body(project, label="  # {}", line="  {} {}", statement="      {}", safe=str)
        lines.extend(f"! {warning}" for warning in self.warnings)
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """A ``diff`` block per project (GitHub and GitLab colour the ``+``/``-`` lines)."""
        parts = [f"### ClarityQ access plan ({_md(self.mode)}) for `{_md(self.principal)}`", "", self.headline()]
        for project in self.projects():
            parts += ["", f"#### {_md(_project_title(project))}", "", "```diff"]
            parts += self._diff_body(project, label="# {}", line="{} {}", statement="#   {}", safe=_fence_safe)
            parts.append("```")
        if self.warnings:
            parts += ["", "Warnings (not changed by this plan):", ""]
            parts.extend(f"- {_md(warning)}" for warning in self.warnings)
        return "\n".join(parts) + "\n"

    def to_html(self) -> str:
        """One self-contained page (inline style, no script, nothing fetched)."""
        e = _html
        body = [
            f"<h1>ClarityQ access plan <small>({e(self.mode)})</small></h1>",
            f"<p>for <code>{e(self.principal)}</code>: <b>{e(self.headline())}</b></p>",
        ]
        for project in self.projects():
            body.append(f"<h2>{e(_project_title(project))}</h2>")
            for group in self._groups_of(project):
                body.append(f"<h3>{e(group.label)}</h3><div class=diff>")
                for step in group.steps:
                    for line in step.lines:
                        cls = "add" if line.sign == "+" else "del"
                        body.append(f'<div class={cls} title="{e(step.reason)}">{e(line.sign)} {e(line.text)}</div>')
                    if step.statement:
                        body.append(f"<div class=stmt>{e(step.statement)}</div>")
                body.append("</div>")
        if self.warnings:
            body.append("<h2>Warnings (not changed by this plan)</h2><ul>")
            body.extend(f"<li>{e(w)}</li>" for w in self.warnings)
            body.append("</ul>")
        return _PAGE.format(title=e(f"ClarityQ access plan ({self.mode})"), body="\n".join(body))

    def _groups_of(self, project: str | None) -> list[DiffGroup]:
        return [group for group in self.groups if group.project == project]


_PAGE: Final = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>
body{{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#212121;margin:0;
background:#fafafa}}main{{max-width:1000px;margin:0 auto;padding:24px}}h1{{font-size:22px}}
h1 small{{font-weight:normal;color:#616161}}h2{{font-size:17px;margin:24px 0 6px}}
h3{{font-size:13px;color:#616161;margin:12px 0 4px;font-weight:600}}
.diff{{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:6px 10px;
font:13px/1.6 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}}
.add{{color:#1b5e20;background:#e8f5e9}}.del{{color:#b71c1c;background:#ffebee}}
.stmt{{color:#757575;padding-left:2em;white-space:pre-wrap;word-break:break-word}}
code{{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}}
</style></head><body><main>
{body}
</main></body></html>
"""


def _html(value: object) -> str:
    return html.escape(str(value), quote=True)


def _md(value: object) -> str:
    """Markdown outside a code block: no HTML, no unintended emphasis or links."""
    text = html.escape(str(value), quote=False)
    for char in "\\`*_[]":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def _fence_safe(value: str) -> str:
    """Inside the diff block: one line, and never the fence that would end it."""
    return " ".join(value.split()).replace("```", "'''")


def _project_title(project: str | None) -> str:
    return f"project {project}" if project else "RAM (account)"


# --------------------------------------------------------------------------------------------------
# Reading the plan JSON


def _grantee(args: Mapping[str, Any]) -> str:
    grantee = args.get("grantee")
    if isinstance(grantee, Mapping):
        return f"{grantee.get('kind', '?')} {grantee.get('name', '?')}"
    return "?"


def _object(args: Mapping[str, Any]) -> str:
    obj = args.get("object")
    if not isinstance(obj, Mapping):
        return "?"
    if obj.get("type") == "project":
        return f"project {obj.get('project')}"
    name = obj.get("name")
    return "every table (*)" if name == "*" else f"table {name}"


def _lines(step: Mapping[str, Any]) -> tuple[DiffLine, ...]:
    kind = step.get("kind")
    raw_args = step.get("args")
    args: Mapping[str, Any] = raw_args if isinstance(raw_args, Mapping) else {}
    sign: Sign = "-" if step.get("destructive") else "+"
    if kind in ("grant_actions", "revoke_actions"):
        actions = args.get("actions")
        to = "from" if sign == "-" else "to"
        where, who = _object(args), _grantee(args)
        return tuple(
            DiffLine(sign, f"{a} on {where} {to} {who}") for a in (actions if isinstance(actions, list) else [])
        )
    if kind == "create_ram_user":
        return (DiffLine(sign, f"RAM user {args.get('user_name')}"),)
    if kind == "add_user":
        return (DiffLine(sign, f"member {args.get('principal')}"),)
    if kind == "create_role":
        return (DiffLine(sign, f"role {args.get('role')}"),)
    if kind in ("grant_role", "revoke_role"):
        to = "from" if sign == "-" else "to"
        return (DiffLine(sign, f"role {args.get('role')} {to} {args.get('principal')}"),)
    return (DiffLine(sign, str(step.get("statement") or kind or "unknown step")),)


def _statement(step: Mapping[str, Any]) -> str | None:
    statement = step.get("statement")
    if isinstance(statement, str) and statement:
        return statement.rstrip(";") + ";"
    call = step.get("api_call")
    if isinstance(call, Mapping):
        params = call.get("params")
        shown = " ".join(f"{k}={v}" for k, v in params.items()) if isinstance(params, Mapping) else ""
        return f"{call.get('service', '?')}:{call.get('action', '?')} {shown}".strip()
    return None


def plan_diff(plan: object) -> PlanDiff:
    """The diff of a plan JSON; refuses anything that is not an access plan of format 1."""
    if not isinstance(plan, Mapping) or plan.get("format") != PLAN_FORMAT:
        found = plan.get("format") if isinstance(plan, Mapping) else type(plan).__name__
        raise ConfigurationError("plan.format", f"is {found!r}", f"pass a {PLAN_FORMAT} plan (XCom 'plan')")
    steps = plan.get("steps")
    if not isinstance(steps, list):
        raise ConfigurationError("plan.steps", "is not a list", f"pass a {PLAN_FORMAT} plan")
    grouped: dict[tuple[str | None, int], list[DiffStep]] = {}
    for step in steps:
        if not isinstance(step, Mapping):
            raise ConfigurationError("plan.steps", "holds a step that is not an object", f"pass a {PLAN_FORMAT} plan")
        phase = step.get("phase")
        key = (step.get("project"), phase if isinstance(phase, int) else -1)
        grouped.setdefault(key, []).append(DiffStep(_lines(step), _statement(step), str(step.get("reason") or "")))
    projects = list(dict.fromkeys(project for project, _ in grouped))
    ordered = sorted(grouped, key=lambda key: (projects.index(key[0]) if key[0] else -1, key[1]))
    warnings = plan.get("warnings")
    return PlanDiff(
        mode=str(plan.get("mode", "?")),
        principal=str(plan.get("principal", "?")),
        groups=tuple(DiffGroup(project, phase, tuple(grouped[(project, phase)])) for project, phase in ordered),
        warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
    )

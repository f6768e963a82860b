"""What a security statement answers, in both forms: pyodps' JSON and odpscmd's text.

pyodps always sends ``ResponseInJsonFormat=true`` and ``json.loads`` the result, so with ``true``
the ``Result`` is a JSON value; with ``false`` (the Java SDK's plain form) it is the odpscmd text
rendering of the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clarityq_emulator.maxcompute.authorization.actions import ACTIONS


@dataclass
class Output:
    """One statement's answer in both forms, and whether it changed state."""

    value: Any
    text: str
    mutated: bool = False


@dataclass
class Row:
    flag: str
    resource: str
    actions: list[str]


@dataclass
class Group:
    header: str
    rows: list[Row]


def action_title(pattern: str) -> str:
    """``select`` -> ``Select`` for display (patterns such as ``create*`` keep their stem's case)."""
    for actions in ACTIONS.values():
        for action in actions:
            if action.lower() == pattern:
                return action
    return pattern if "*" in pattern else pattern[:1].upper() + pattern[1:]


def _entry_json(header: str, row: Row) -> dict[str, Any]:
    return {
        "Principal": [header],
        "Resource": [row.resource],
        "Action": row.actions,
        "Effect": "Allow" if row.flag.startswith("A") else "Deny",
    }


def json_sections(
    *, implicit: list[Group] | None = None, acl: list[Group] | None = None, policy: list[Group] | None = None
) -> dict[str, Any]:
    """The JSON form: ``{"Implicit": [...], "ACL": {"": [...]}, "Policy": {"": [...]}}``, one entry per text line."""
    value: dict[str, Any] = {}
    if implicit is not None:
        value["Implicit"] = [_entry_json(g.header, r) for g in implicit for r in g.rows]
    for key, groups in (("ACL", acl), ("Policy", policy)):
        if groups is not None:
            entries = [_entry_json(g.header, r) for g in groups for r in g.rows]
            value[key] = {"": entries} if entries else {}
    return value


def text_sections(
    *,
    implicit: list[Group] | None = None,
    acl: list[Group] | None = None,
    policy: list[Group] | None = None,
    headers: bool = True,
) -> str:
    """The odpscmd text form: ``Authorization Type: ...`` blocks of ``[header]`` and flag-tab-resource lines."""
    blocks = []
    for title, groups in (("Implicit", implicit), ("ACL", acl), ("Policy", policy)):
        lines = []
        for group in groups or []:
            if not group.rows:
                continue
            if headers:
                lines.append(f"[{group.header}]")
            lines += [f"{r.flag}\t{r.resource}: {' | '.join(r.actions)}" for r in group.rows]
        if lines:
            blocks.append(f"Authorization Type: {title}\n" + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def ascii_table(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """odpscmd's boxed table (``+----+`` rules) of ``rows``, one column per key in ``columns``."""
    cells = [[str(r[c]) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"

    def line(values: list[str]) -> str:
        return "|" + "|".join(f" {v.ljust(w)} " for v, w in zip(values, widths, strict=True)) + "|\n"

    return rule + line(columns) + rule + "".join(line(c) for c in cells) + rule


def object_acl_output(implicit: list[Row], rows: list[Row]) -> Output:
    """``SHOW ACL FOR`` / ``SHOW GRANTS ON``: the principal (with the object in brackets) is the line's subject."""
    value = {
        "Implicit": [{"Action": r.actions, "Principal": [r.resource], "GrantOption": True} for r in implicit],
        "ACL": {"": [{"Action": r.actions, "Principal": [r.resource]} for r in rows]} if rows else {},
    }
    text = "Authorization Type: Implicit\n" + "".join(
        f"{r.flag}\t{r.resource}: {' | '.join(r.actions)}\n" for r in implicit
    )
    if rows:
        text += "\nAuthorization Type: ACL\n" + "".join(
            f"{r.flag}\t{r.resource}: {' | '.join(r.actions)}\n" for r in rows
        )
    return Output(value, text)

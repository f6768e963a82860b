"""The least-privilege audit: what the reader holds beyond read access, each with the exact fix.

No Airflow import. It reads ``SHOW GRANTS`` through the grants model (one parser:
:func:`~airflow_provider_clarityq.core.grants.state.parse_show_grants`), judges roles with the one privileged-role
rule (:func:`~airflow_provider_clarityq.core.grants.model.is_privileged_role`, seed 003's DataWorks table) and
renders every fix with the one renderer (:mod:`airflow_provider_clarityq.core.grants.render`), so a REVOKE the
report prints is the statement the grants operator would run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants import render
from airflow_provider_clarityq.core.grants.model import (
    ACTIONS_BY_TYPE,
    DATAWORKS_ROLES,
    READ_ACTIONS,
    Grantee,
    ObjectRef,
    ObjectType,
    canonical_action,
    is_privileged_role,
)
from airflow_provider_clarityq.core.grants.state import GrantLine, GrantsReport

__all__ = [
    "PLACEHOLDER_PRINCIPAL",
    "Finding",
    "audit_grants",
    "audit_label_clearance",
    "explain_roles",
    "revoke_role_sql",
]

#: Seed 000's placeholder, used where the caller's principal is not known.
PLACEHOLDER_PRINCIPAL = "RAM$<main-account-uid>:<ram-user-uid>"


@dataclass(frozen=True)
class Finding:
    """One excess privilege and the statement (or change) that removes it."""

    what: str
    fix: str


def revoke_role_sql(role: str, principal: str | None) -> str | None:
    """``REVOKE <role> FROM <principal>;`` from validated parts, or None when either does not validate."""
    if not principal:
        return None
    try:
        return render.as_sql(render.revoke_role_statement(role, principal))
    except ConfigurationError:
        return None


def _revoke_actions_sql(actions: Sequence[str], line: GrantLine, project: str, fallback: Grantee) -> str | None:
    """``REVOKE <actions> ON <object> FROM ROLE <r>|USER <p>;`` for a plain project or table grant, else None."""
    try:
        object_type = ObjectType(line.object_type)
        in_project = line.project or project
        obj = (
            ObjectRef.for_project(line.object_name)
            if object_type is ObjectType.PROJECT
            else ObjectRef.for_table(in_project, line.object_name)
        )
        by_name = {a.value: a for a in ACTIONS_BY_TYPE[object_type]}
        typed = tuple(dict.fromkeys(by_name[a] for a in actions if a in by_name))
        if len(typed) != len(set(actions)):
            return None
        return render.as_sql(render.revoke_statement(line.grantee or fallback, obj, typed, project=obj.project))
    except (ConfigurationError, ValueError, KeyError):
        return None


def _explain_role(role: str) -> str:
    meaning = DATAWORKS_ROLES.get(role.lower())
    return f"holds role {role}" + (f" (DataWorks {meaning})" if meaning else " (a built-in admin role)")


def explain_roles(roles: Sequence[str], *, role: str) -> list[str]:
    """Every role the reader holds, in seed 003's words: what a DataWorks role permits in dev and prod, whether a
    built-in role is admin-type, and that any other role is a custom one whose grants the audit lists."""
    lines = []
    for held in sorted({r.lower() for r in roles}):
        if held == role.lower():
            lines.append(f"{held}: the managed reader role (read access from the access spec)")
        elif held in DATAWORKS_ROLES:
            power = "write/admin power" if is_privileged_role(held) else "no read access by itself"
            lines.append(f"{held}: DataWorks {DATAWORKS_ROLES[held]} - {power}")
        elif is_privileged_role(held):
            lines.append(f"{held}: built-in admin-type role with every object permission - write/admin power")
        else:
            lines.append(f"{held}: custom role; its grants are audited one by one")
    return lines


def audit_label_clearance(user_label: int | None, wanted: int | None, *, principal: str | None) -> Finding | None:
    """A label access level above what the spec asks reads columns labelled up to it: excess clearance.

    ``wanted`` None means the spec says nothing about labels: the clearance an owner gave by hand (the fix of
    ``LABEL_TOO_LOW``) is then theirs to choose, and flagging it would contradict that fix.
    """
    if user_label is None or wanted is None:
        return None
    target = wanted
    if user_label <= target:
        return None
    who = principal or PLACEHOLDER_PRINCIPAL
    try:
        fix = render.as_sql(render.set_user_label_statement(target, who))
    except ConfigurationError:
        fix = f"SET LABEL {target} TO USER {who};"
    return Finding(f"label access level {user_label}, above the {target} the access spec asks", fix)


def audit_grants(report: GrantsReport, *, role: str, principal: str | None, project: str) -> list[Finding]:
    """Excess privileges of the reader in a parsed ``SHOW GRANTS``, each with the exact fix."""
    role = role.lower()
    who = principal or PLACEHOLDER_PRINCIPAL
    findings: list[Finding] = []
    for held in sorted(report.roles):
        if is_privileged_role(held):
            fix = revoke_role_sql(held, principal) or f"REVOKE {held} FROM {who};"
            findings.append(Finding(_explain_role(held), fix))
    for line in report.lines:
        if line.effect != "Allow":
            continue
        allowed = READ_ACTIONS.get(line.object_type, frozenset())
        excess = [a for a in (canonical_action(x) or x for x in line.actions) if a not in allowed]
        if excess:
            findings.append(_finding(line, excess, role=role, principal=principal, project=project))
    seen: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        seen.setdefault((finding.what, finding.fix), finding)
    return list(seen.values())


def _finding(line: GrantLine, excess: list[str], *, role: str, principal: str | None, project: str) -> Finding:
    who = principal or PLACEHOLDER_PRINCIPAL
    target = f"{line.object_type.upper()} {line.object_name}"
    what = f"{', '.join(excess)} on {target}"
    holder = line.grantee
    if line.section in ("implicit", "objectcreator"):
        return Finding(
            f"{what} ({line.section})",
            f"{who} is the owner or creator of {target}: use a dedicated RAM user that owns nothing.",
        )
    if holder is not None and holder.kind == "role" and holder.name != role:
        fix = revoke_role_sql(holder.name, principal) or f"REVOKE {holder.name} FROM {who};"
        return Finding(f"{what} (through role {holder.name})", fix)
    if line.section.startswith("policy"):
        policy_role = holder.name if holder is not None and holder.kind == "role" else role
        return Finding(
            f"{what} (policy of {holder.kind + '/' + holder.name if holder else 'the project'})",
            f"remove the Allow for odps:{excess[0]} on {line.resource} from that policy (GET POLICY ON ROLE "
            f"{policy_role}; then PUT POLICY ... ON ROLE {policy_role};).",
        )
    statement = _revoke_actions_sql(excess, line, project, Grantee.role(role))
    grantee = f"{holder.kind}/{holder.name}" if holder is not None else f"role/{role}"
    return Finding(what, statement or f"revoke {', '.join(excess)} on {target} from {grantee}.")

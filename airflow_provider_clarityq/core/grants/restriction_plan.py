"""Planning the restrictions beyond ACL grants: label level and grants, Download, packages, role policy (pure).

Each desired item is compared with what was read back (:class:`~.state.RestrictionState`); only what is missing
becomes a step, so a converged project plans nothing. These steps only add access: label clearance is set to the
spec's level (never above), Download and package Read go to the managed role, the role policy holds Allow
statements for read actions only (the spec refuses anything else).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_clarityq.core.grants import render
from airflow_provider_clarityq.core.grants.model import Grantee
from airflow_provider_clarityq.core.grants.restriction_steps import (
    GrantDownload,
    GrantLabel,
    GrantPackageRead,
    InstallPackage,
    PutRolePolicy,
    RevokeDownload,
    RevokeLabel,
    RevokePackageRead,
    SetUserLabel,
)
from airflow_provider_clarityq.core.grants.spec import AccessSpec, ProjectGrants
from airflow_provider_clarityq.core.grants.state import RestrictionState
from airflow_provider_clarityq.core.grants.steps import Step
from airflow_provider_clarityq.core.identifiers import Principal

__all__ = ["desired_role_policy", "policy_key", "restriction_revokes", "restriction_steps"]


def restriction_steps(
    spec: AccessSpec,
    grants: ProjectGrants,
    live: RestrictionState,
    principal: Principal,
    download_tables: Sequence[str],
) -> list[Step]:
    """The steps that add what ``grants`` asks beyond ACL grants and ``live`` lacks, in one project."""
    project = grants.project
    role = Grantee.role(spec.role)
    user = Grantee.user(principal)
    steps: list[Step] = []
    level = grants.label_access_level
    if level is not None and live.user_label != level:
        steps.append(
            SetUserLabel(
                project=project,
                principal=principal,
                level=level,
                reason=f"the spec sets the reader's label access level to {level} (now {live.user_label})",
            )
        )
    held_labels = live.label_grants or frozenset()
    for entry in grants.label_grants:
        columns = entry.columns or ("",)
        if all((entry.table, column, entry.level) in held_labels for column in columns):
            continue
        steps.append(
            GrantLabel(
                project=project,
                grantee=user,
                table=entry.table,
                columns=entry.columns,
                level=entry.level,
                expiry_days=entry.expiry_days,
                reason=f"the spec grants label {entry.level} on {entry.table} to the reader",
            )
        )
    if grants.download:
        held = live.download_tables or frozenset()
        for table in download_tables:
            if "*" in held or table in held:
                continue
            steps.append(
                GrantDownload(
                    project=project,
                    grantee=role,
                    table=table,
                    reason=f"the spec gives role {spec.role} Download on {table} (download control)",
                )
            )
    steps += _package_steps(grants, live, role)
    if grants.role_policy:
        desired = desired_role_policy(grants)
        if live.role_policy is None or policy_key(live.role_policy) != policy_key(desired):
            steps.append(
                PutRolePolicy(
                    project=project,
                    role=spec.role,
                    policy=desired,
                    reason=f"role {spec.role}'s policy differs from the spec's Allow statements",
                )
            )
    return steps


def restriction_revokes(
    spec: AccessSpec,
    grants: ProjectGrants,
    live: RestrictionState,
    principal: Principal,
    download_tables: Sequence[str],
    *,
    trim_role: bool,
) -> list[Step]:
    """``sync``: what the reader holds of a managed option beyond the spec, revoked (destructive, so last).

    Only options the spec manages were read back, so only those are trimmed. Download and package Read sit on
    the role and follow the shared-role rule (``trim_role``); label grants sit on the managed user. Installed
    packages are left: other members of the project may read through them.
    """
    project = grants.project
    role = Grantee.role(spec.role)
    steps: list[Step] = []
    if live.label_grants:
        wanted = {(e.table, c, e.level) for e in grants.label_grants for c in (e.columns or ("",))}
        for table, column, level in sorted(live.label_grants - wanted):
            steps.append(
                RevokeLabel(
                    project=project,
                    grantee=Grantee.user(principal),
                    table=table,
                    columns=(column,) if column else (),
                    reason=f"the reader holds label {level} on {table}{f'({column})' if column else ''}, "
                    "which the spec does not grant",
                )
            )
    if trim_role and live.download_tables:
        for table in sorted(live.download_tables - {t.lower() for t in download_tables}):
            steps.append(
                RevokeDownload(
                    project=project,
                    grantee=role,
                    table=table,
                    reason=f"role {spec.role} may Download {table}, which the spec does not list",
                )
            )
    if trim_role and live.package_reads:
        wanted_packages = {f"{e.source_project}.{e.package}".lower() for e in grants.packages if e.grant_read}
        for full in sorted(r for r in live.package_reads - wanted_packages if "." in r):
            source, package = full.split(".", 1)
            steps.append(
                RevokePackageRead(
                    project=project,
                    grantee=role,
                    source_project=source,
                    package=package,
                    reason=f"role {spec.role} may Read package {full}, which the spec does not list",
                )
            )
    return steps


def _package_steps(grants: ProjectGrants, live: RestrictionState, role: Grantee) -> list[Step]:
    steps: list[Step] = []
    installed = live.installed_packages or frozenset()
    reads = live.package_reads or frozenset()
    for entry in grants.packages:
        full = f"{entry.source_project}.{entry.package}".lower()
        if full not in installed:
            steps.append(
                InstallPackage(
                    project=grants.project,
                    source_project=entry.source_project,
                    package=entry.package,
                    reason=f"package {full} is not installed in project {grants.project} (seed 003, packages)",
                )
            )
        if entry.grant_read and full not in reads and entry.package.lower() not in reads:
            steps.append(
                GrantPackageRead(
                    project=grants.project,
                    grantee=role,
                    source_project=entry.source_project,
                    package=entry.package,
                    reason=f"role {role.name} cannot Read package {full}",
                )
            )
    return steps


def desired_role_policy(grants: ProjectGrants) -> dict[str, object]:
    return render.role_policy_document(grants.project, [(e.actions, e.tables) for e in grants.role_policy])


def policy_key(policy: Mapping[str, Any]) -> frozenset[tuple[str, frozenset[str], frozenset[str]]]:
    """A policy document compared by meaning: statement effects, actions and resources, case-insensitive."""
    statements = policy.get("Statement") or []
    key = set()
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, Mapping):
            continue
        actions, resources = statement.get("Action") or [], statement.get("Resource") or []
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        key.add(
            (
                str(statement.get("Effect", "Allow")).lower(),
                frozenset(str(a).lower() for a in actions),
                frozenset(str(r).lower() for r in resources),
            )
        )
    return frozenset(key)

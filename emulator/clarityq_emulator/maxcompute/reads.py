"""Reading a table's data: ``Select`` on the table, then No-ReadUp column by column, directly or
through an installed package.

A member of the table's project needs ``Select`` (ACL or policy, no Deny) and, with LabelSecurity
on, clearance for every column it reads (owner and Super_Administrator are exempt). A job running
in project A may read ``B.t`` without being a member of B when A has installed a package of B that
holds ``t`` with ``Select``, A is still allowed to install it, and the caller holds ``Read`` on the
package in A; the package's ``USING LABEL`` level then caps what it may read. The table tunnel and
SQL share this module, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.authorization.model import (
    ProjectSecurity,
    display_name,
    principal_key,
    resource_name,
)
from clarityq_emulator.maxcompute.errors import OdpsError
from clarityq_emulator.maxcompute.sql.catalog import TableMeta
from clarityq_emulator.ram.models import Caller

if TYPE_CHECKING:
    from clarityq_emulator.core.state import EmulatorState


def _columns(meta: TableMeta, wanted: Iterable[str] | None) -> list[str]:
    """The data columns read, in table order (partition keys carry no label)."""
    names = [c.name.lower() for c in meta.columns]
    if wanted is None:
        return names
    chosen = {w.lower() for w in wanted}
    return [n for n in names if n in chosen]


def check_labels(
    state: EmulatorState,
    caller: Caller,
    source: ProjectSecurity,
    meta: TableMeta,
    columns: Iterable[str] | None,
    *,
    cap: int | None = None,
) -> None:
    """Raise the [4031] denial for the first column above the caller's clearance."""
    if cap is None and source.is_super_admin(caller):
        return
    key = principal_key(caller)
    roles = [r.name for r in source.roles_of(key)] if cap is None else []
    denial = source.labels.first_denied(key, roles, meta.name.lower(), _columns(meta, columns), state.clock(), cap=cap)
    if denial is not None:
        raise odps_errors.label_too_low(
            source.name,
            resource_name(source.name, "table", meta.name),
            denial.column,
            denial.sensitivity,
            denial.effective,
            display_name(caller),
        )


def _package_route(
    state: EmulatorState, caller: Caller, job_project: str, meta: TableMeta
) -> tuple[int | None, list[str]]:
    """(label cap of a usable package route or None, installed packages holding the table) from A to B.t."""
    security = state.security
    consumer, source = security.get(job_project), security.get(meta.project)
    if consumer is None or source is None:
        return None, []
    holding: list[str] = []
    for installed in consumer.packages.installed.values():
        if installed.source_project != source.name:
            continue
        package = source.packages.created.get(installed.name)
        if package is None or consumer.name not in package.allowed:
            continue
        privileges = package.privileges("table", meta.name)
        if privileges is None or "Select" not in privileges:
            continue
        holding.append(installed.full_name)
        if consumer.allows(caller, "package", installed.full_name, "Read"):
            return package.allowed[consumer.name], holding
    return None, holding


def authorize_read(
    state: EmulatorState, caller: Caller, job_project: str, meta: TableMeta, columns: Iterable[str] | None
) -> None:
    """Raise the real denial unless ``caller``, running in ``job_project``, may read these columns."""
    security = state.security
    with security.lock:
        source = security.get(meta.project)
        if source is None:
            raise odps_errors.no_such_project(meta.project)
        direct_error: OdpsError | None = None
        if source.is_member(caller):
            try:
                security.check(caller, source.name, "Select", "table", meta.name, creator=meta.owner)
            except OdpsError as exc:
                direct_error = exc
            else:
                check_labels(state, caller, source, meta, columns)
                return
        if meta.project == job_project.lower():
            if direct_error is not None:
                raise direct_error
            security.require_member(caller, source.name)
        cap, holding = _package_route(state, caller, job_project, meta)
        if cap is None:
            if direct_error is not None:
                raise direct_error
            if holding:
                raise odps_errors.package_read_missing(source.name, job_project, holding, display_name(caller))
            raise odps_errors.not_a_member(source.name, display_name(caller))
        if source.state != "AVAILABLE":
            raise odps_errors.project_not_available(source.name, source.state)
        check_labels(state, caller, source, meta, columns, cap=cap)

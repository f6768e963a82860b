"""Label statements: ``SET LabelSecurity``, ``SET LABEL``, ``GRANT/REVOKE LABEL``, ``SHOW LABEL GRANTS``,
``CLEAR EXPIRED GRANTS``.

``SET LabelSecurity`` takes the owner or a Super_Administrator (Admin may not change the security
configuration); the other changes take the owner or Admin (management actions ``Grant``/``Revoke``).
Anyone may read their own label grants; reading another user's or a table's takes ``ShowGrants``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.authorization.labels import DEFAULT_GRANT_DAYS, LabelGrant
from clarityq_emulator.maxcompute.authorization.model import principal_key
from clarityq_emulator.maxcompute.security import grammar
from clarityq_emulator.maxcompute.security.output import Output, ascii_table

if TYPE_CHECKING:
    from clarityq_emulator.maxcompute.security.parser import Principal
    from clarityq_emulator.maxcompute.security.statements import Session

OK = "OK"
SECONDS_PER_DAY = 86400


def expires_text(epoch: float) -> str:
    """``2021-12-31T19:56:18+0000`` (the sample's layout, in UTC); far-future grants print as 9999-12-31."""
    if epoch >= 253402300799:
        return "9999-12-31T23:59:59+0000"
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(epoch))


def _table_columns(session: Session, table: str, columns: tuple[str, ...]) -> str:
    """The stored table name, after checking the columns exist and are not partition keys."""
    meta = session.state.engine.get_table(session.p.name, table)
    if meta is None:
        raise odps_errors.no_such_table(session.p.name, table.lower())
    names = {c.name.lower() for c in meta.columns}
    keys = {c.name.lower() for c in meta.partition_keys}
    for column in columns:
        if column in keys:
            raise odps_errors.invalid_security_argument(f"partition key column {column} cannot be labelled")
        if column not in names:
            raise odps_errors.invalid_security_argument(f"column {column} does not exist in table {meta.name}")
    return meta.name.lower()


def _member_key(session: Session, principal: Principal) -> tuple[str, str]:
    who = session.resolve(principal)
    if not session.is_member_key(who.key):
        raise odps_errors.principal_not_in_project(who.display, session.p.name)
    return who.key, session.user_display(who.key)


def set_switch(session: Session, stmt: grammar.SetSwitch) -> Output:
    session.require("SetSecurityConfiguration")
    changed = session.p.labels.enabled != stmt.value
    session.p.labels.enabled = stmt.value
    return Output(OK, OK, mutated=changed)


def set_label(session: Session, stmt: grammar.SetLabel) -> Output:
    session.require("Grant")
    labels, target = session.p.labels, stmt.target
    if target.kind == "table":
        table = _table_columns(session, target.name, target.columns)
        if target.columns:
            before = dict(labels.columns.get(table, {}))
            labels.columns.setdefault(table, {}).update(dict.fromkeys(target.columns, stmt.level))
            return Output(OK, OK, mutated=before != labels.columns[table])
        changed = labels.tables.get(table, 0) != stmt.level
        labels.tables[table] = stmt.level
        return Output(OK, OK, mutated=changed)
    if target.kind == "role":
        role = session.role(target.name)
        changed = labels.roles.get(role.name, 0) != stmt.level
        labels.roles[role.name] = stmt.level
        return Output(OK, OK, mutated=changed)
    assert target.principal is not None
    key, _ = _member_key(session, target.principal)
    changed = labels.users.get(key, 0) != stmt.level
    labels.users[key] = stmt.level
    return Output(OK, OK, mutated=changed)


def _grantee(session: Session, grantee: Any, *, granting: bool) -> tuple[str, str, str]:
    if grantee.kind == "role":
        role = session.role(grantee.role)
        return "role", role.name, role.name
    if granting:
        key, display = _member_key(session, grantee.principal)
        return "user", key, display
    who = session.resolve_known(grantee.principal)
    return "user", who.key, who.display


def grant_label(session: Session, stmt: grammar.GrantLabel) -> Output:
    session.require("Grant")
    table = _table_columns(session, stmt.table, stmt.columns)
    kind, key, display = _grantee(session, stmt.grantee, granting=True)
    days = DEFAULT_GRANT_DAYS if stmt.days is None else stmt.days
    expires = session.state.clock() + float(days) * SECONDS_PER_DAY
    labels = session.p.labels
    for column in stmt.columns or ("",):
        labels.grants = [
            g for g in labels.grants if (g.grantee_kind, g.grantee, g.table, g.column) != (kind, key, table, column)
        ]
        labels.grants.append(LabelGrant(kind, key, table, column, stmt.level, expires, display))  # type: ignore[arg-type]
    return Output(OK, OK, mutated=True)


def revoke_label(session: Session, stmt: grammar.RevokeLabel) -> Output:
    session.require("Revoke")
    table = _table_columns(session, stmt.table, stmt.columns)
    kind, key, _ = _grantee(session, stmt.grantee, granting=False)
    labels = session.p.labels
    kept = [
        g
        for g in labels.grants
        if not (
            (g.grantee_kind, g.grantee, g.table) == (kind, key, table)
            and (not stmt.columns or g.column in stmt.columns)
        )
    ]
    changed = len(kept) != len(labels.grants)
    labels.grants = kept
    return Output(OK, OK, mutated=changed)


def clear_expired(session: Session, stmt: grammar.ClearExpiredGrants) -> Output:
    session.require("Revoke")
    now = session.state.clock()
    labels = session.p.labels
    kept = [g for g in labels.grants if g.expires > now]
    changed = len(kept) != len(labels.grants)
    labels.grants = kept
    return Output(OK, OK, mutated=changed)


def _render(rows: list[dict[str, Any]], user_label: int | None, doc_layout: bool) -> str:
    head = f"User Label: {user_label}\n" if user_label is not None else ""
    columns = ["Column", "GrantedLabel", "Expires"]
    if not doc_layout:
        columns = ["Principal", "Table", *columns]
    return head + ascii_table(columns, rows)


def show_label_grants(session: Session, stmt: grammar.ShowLabelGrants) -> Output:
    """Rows per explicit grant: principal, table, column ('' = whole table), level and expiry."""
    p, labels = session.p, session.p.labels
    if stmt.principal is not None:
        who = session.resolve_known(stmt.principal)
        key = who.key
    else:
        key = principal_key(session.caller)
    if key != principal_key(session.caller) or (stmt.table is not None and stmt.principal is None):
        session.require("ShowGrants")
    table = _table_columns(session, stmt.table, ()) if stmt.table is not None else None
    for_user = stmt.principal is not None or stmt.table is None
    roles = {r.name for r in p.roles_of(key)}
    rows = []
    for g in sorted(labels.grants, key=lambda g: (g.table, g.column, g.grantee_kind, g.grantee)):
        if table is not None and g.table != table:
            continue
        if stmt.level is not None and g.level != stmt.level:
            continue
        if for_user and not (
            (g.grantee_kind == "user" and g.grantee == key) or (g.grantee_kind == "role" and g.grantee in roles)
        ):
            continue
        who_text = (
            f"role/{g.grantee}" if g.grantee_kind == "role" else f"user/{session.user_display(g.grantee, g.display)}"
        )
        rows.append(
            {
                "Principal": who_text,
                "Table": g.table,
                "Column": g.column,
                "GrantedLabel": g.level,
                "Expires": expires_text(g.expires),
                "Expired": g.expires <= session.state.clock(),
            }
        )
    value: dict[str, Any] = {"Grants": rows}
    user_label = None
    if for_user:
        user_label = labels.users.get(key, 0)
        value["UserLabel"] = user_label
        value["EffectiveLabel"] = labels.effective_level(key, roles)
    return Output(value, _render(rows, user_label, doc_layout=table is not None and stmt.principal is not None))


HANDLERS: dict[type, Callable[[Session, Any], Output]] = {
    grammar.SetSwitch: set_switch,
    grammar.SetLabel: set_label,
    grammar.GrantLabel: grant_label,
    grammar.RevokeLabel: revoke_label,
    grammar.ClearExpiredGrants: clear_expired,
    grammar.ShowLabelGrants: show_label_grants,
}

"""Label-based access control (LabelSecurity): sensitivity labels on tables and columns, access levels
on users and roles, explicit label grants, and the No-ReadUp rule.

Levels are 0-9 and everything starts at 0. A column's sensitivity is its own label, else its
table's label, else 0 (a column label beats a table label). A caller's effective level is the
highest of its own level and the levels of the roles it holds. A column may be read when its
sensitivity is at most the effective level, or when an unexpired ``GRANT LABEL`` covering it (the
column-level grant of a grantee beats its table-level grant) reaches its sensitivity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: Highest label; levels are 0..MAX_LEVEL.
MAX_LEVEL = 9
#: ``GRANT LABEL ... WITH EXP <days>`` when the clause is left out.
DEFAULT_GRANT_DAYS = 180


@dataclass
class LabelGrant:
    """``GRANT LABEL <level> ON TABLE <table>[(<column>)] TO <grantee>``; ``column`` empty = whole table."""

    grantee_kind: Literal["user", "role"]
    grantee: str  # principal key or lower-case role name
    table: str
    column: str
    level: int
    expires: float  # epoch seconds on the emulator clock
    display: str = ""


@dataclass(frozen=True)
class LabelDenial:
    """The first column a read may not see, its sensitivity and the caller's effective level."""

    column: str
    sensitivity: int
    effective: int


@dataclass
class LabelState:
    """One project's label state."""

    enabled: bool = False
    tables: dict[str, int] = field(default_factory=dict)
    columns: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> column -> level
    users: dict[str, int] = field(default_factory=dict)  # principal key -> level
    roles: dict[str, int] = field(default_factory=dict)  # role name -> level
    grants: list[LabelGrant] = field(default_factory=list)

    def sensitivity(self, table: str, column: str) -> int:
        explicit = self.columns.get(table, {}).get(column.lower())
        return explicit if explicit is not None else self.tables.get(table, 0)

    def effective_level(self, key: str, roles: Iterable[str]) -> int:
        return max([self.users.get(key, 0), *(self.roles.get(r, 0) for r in roles)])

    def granted_level(self, key: str, roles: Iterable[str], table: str, column: str, now: float) -> int:
        """The best unexpired grant on one column across the user and its roles (-1 when none)."""
        best = -1
        holders = {("user", key), *(("role", r) for r in roles)}
        for kind, name in holders:
            mine = [
                g
                for g in self.grants
                if (g.grantee_kind, g.grantee) == (kind, name) and g.table == table and g.expires > now
            ]
            on_column = [g.level for g in mine if g.column == column.lower()]
            on_table = [g.level for g in mine if not g.column]
            levels = on_column or on_table
            if levels:
                best = max(best, *levels)
        return best

    def first_denied(
        self, key: str, roles: Iterable[str], table: str, columns: Iterable[str], now: float, *, cap: int | None = None
    ) -> LabelDenial | None:
        """No-ReadUp, column by column; ``cap`` limits the effective level (a package's ``USING LABEL``)."""
        if not self.enabled:
            return None
        roles = list(roles)
        effective = self.effective_level(key, roles) if cap is None else cap
        for column in columns:
            level = self.sensitivity(table, column)
            if level <= effective:
                continue
            if cap is None and self.granted_level(key, roles, table, column, now) >= level:
                continue
            return LabelDenial(column, level, effective)
        return None

    def forget_table(self, table: str) -> None:
        """Dropping a table drops its labels and label grants."""
        self.tables.pop(table, None)
        self.columns.pop(table, None)
        self.grants = [g for g in self.grants if g.table != table]

    def forget_role(self, role: str) -> None:
        self.roles.pop(role, None)
        self.grants = [g for g in self.grants if not (g.grantee_kind == "role" and g.grantee == role)]

    def dump(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "tables": dict(self.tables),
            "columns": {t: dict(c) for t, c in self.columns.items()},
            "users": dict(self.users),
            "roles": dict(self.roles),
            "grants": [asdict(g) for g in self.grants],
        }

    @classmethod
    def load(cls, raw: dict[str, Any] | None) -> LabelState:
        raw = raw or {}
        return cls(
            enabled=bool(raw.get("enabled", False)),
            tables=dict(raw.get("tables", {})),
            columns={t: dict(c) for t, c in raw.get("columns", {}).items()},
            users=dict(raw.get("users", {})),
            roles=dict(raw.get("roles", {})),
            grants=[LabelGrant(**g) for g in raw.get("grants", [])],
        )

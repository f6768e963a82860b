"""Which columns of a source table a query reads, for column-level (label) checks.

A star projection over the table (``*`` or ``alias.*``) reads every column; otherwise the columns
of the table's scope that are qualified with its alias or name, or not qualified at all, are read
(the caller intersects them with the table's real columns, so an unqualified column of another
table in a join costs nothing). Projections, predicates, grouping and ordering all count: a filter
on a column discloses it as surely as selecting it.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope


def scope_columns(table: exp.Table, scope: Scope) -> tuple[str, ...] | None:
    """Column names (lower-case) ``scope`` reads from ``table``; None = all of them."""
    alias = table.alias_or_name.lower()
    select = scope.expression
    if isinstance(select, exp.Select):
        for projection in select.expressions:
            if isinstance(projection, exp.Star):
                return None
            star = isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
            if star and projection.table.lower() in ("", alias):
                return None
    names = {c.name.lower() for c in scope.columns if c.table.lower() in ("", alias) and c.name}
    return tuple(sorted(names))

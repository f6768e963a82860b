"""ALTER TABLE / ALTER VIEW executed (parsed by :mod:`.alter`).

Column changes rebuild the DuckDB table in one transaction (new definition, rows copied across,
old table dropped, new one renamed), so the physical column order always stays data columns then
partition keys, which every other statement relies on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import duckdb

from clarityq_emulator.maxcompute.sql.alter import AlterAction
from clarityq_emulator.maxcompute.sql.catalog import Column, ExecutionResult, TableMeta
from clarityq_emulator.maxcompute.sql.compiler import Statement, node_pos, resolve
from clarityq_emulator.maxcompute.sql.ddl import column_from_def, table_ddl
from clarityq_emulator.maxcompute.sql.errors import PARTITION_ERROR, SEMANTIC_ERROR, TABLE_EXISTS, sql_error
from clarityq_emulator.maxcompute.sql.values import cast_sql, quote

if TYPE_CHECKING:
    from clarityq_emulator.maxcompute.sql.executor import SqlEngine

_OK = ExecutionResult(None, [], "OK")


@dataclass(frozen=True)
class _Change:
    """One ALTER statement being applied: the engine, its cursor, the table and the parsed action."""

    engine: SqlEngine
    cur: duckdb.DuckDBPyConnection
    meta: TableMeta
    action: AlterAction
    pos: tuple[int, int]
    project: str
    flags: Mapping[str, str]


_VIEW_OPS = frozenset({"rename", "set_comment"})


def run_alter(
    engine: SqlEngine, cur: duckdb.DuckDBPyConnection, st: Statement, project: str, flags: Mapping[str, str]
) -> ExecutionResult:
    action = st.alter
    assert action is not None
    pos = node_pos(action.table) or st.pos
    meta = engine.require(resolve(action.table, project, flags), action.table, pos)
    if action.is_view and not meta.is_view:
        raise sql_error(SEMANTIC_ERROR, f"{meta.project}.{meta.name} is a table; use ALTER TABLE", pos)
    if meta.is_view and action.op not in _VIEW_OPS:
        raise sql_error(SEMANTIC_ERROR, f"{meta.project}.{meta.name} is a view", pos)
    _HANDLERS[action.op](_Change(engine, cur, meta, action, pos, project, flags))
    meta.last_ddl_time = engine.now()
    return _OK


def _rebuild(
    engine: SqlEngine, cur: duckdb.DuckDBPyConnection, old: TableMeta, new: TableMeta, sources: dict[str, str]
) -> None:
    """Replace ``old``'s DuckDB table by one defined as ``new``; ``sources`` maps new columns to SQL."""
    target = engine.fq(old.project, old.name)
    scratch = engine.fq(old.project, "__cq_rebuild")
    select = ", ".join(cast_sql(sources.get(c.name, "NULL"), c.type) for c in new.all_columns)
    cur.execute("BEGIN TRANSACTION")
    try:
        cur.execute(f"CREATE TABLE {scratch} ({table_ddl(new)})")
        cur.execute(f"INSERT INTO {scratch} SELECT {select} FROM {target}")  # noqa: S608
        cur.execute(f"DROP TABLE {target}")
        cur.execute(f"ALTER TABLE {scratch} RENAME TO {quote(old.name)}")
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    old.columns, old.partition_keys = new.columns, new.partition_keys


def _same_columns(meta: TableMeta) -> dict[str, str]:
    return {c.name: quote(c.name) for c in meta.all_columns}


def _add_columns(c: _Change) -> None:
    added = [column_from_def(d, c.pos) for d in c.action.columns]
    existing = {col.name for col in c.meta.all_columns}
    for column in added:
        if column.name in existing:
            raise sql_error(SEMANTIC_ERROR, f"column {column.name} already exists in table {c.meta.name}", c.pos)
        if column.not_null:
            raise sql_error(SEMANTIC_ERROR, f"an added column cannot be NOT NULL (column {column.name})", c.pos)
        existing.add(column.name)
    new = replace(c.meta, columns=[*c.meta.columns, *added])
    c.engine.validate_new_table(new, c.pos)
    _rebuild(c.engine, c.cur, c.meta, new, _same_columns(c.meta))


def _drop_columns(c: _Change) -> None:
    data = {col.name for col in c.meta.columns}
    for name in c.action.names:
        if name not in data:
            raise sql_error(SEMANTIC_ERROR, f"column {name} is not a data column of table {c.meta.name}", c.pos)
    kept = [col for col in c.meta.columns if col.name not in c.action.names]
    if not kept:
        raise sql_error(SEMANTIC_ERROR, f"table {c.meta.name} must keep at least one column", c.pos)
    _rebuild(c.engine, c.cur, c.meta, replace(c.meta, columns=kept), _same_columns(c.meta))


def _change_column(c: _Change) -> None:
    old = next((col for col in c.meta.all_columns if col.name == c.action.column), None)
    if old is None:
        raise sql_error(SEMANTIC_ERROR, f"column {c.action.column} cannot be resolved in table {c.meta.name}", c.pos)
    if c.action.new_name != old.name and c.action.new_name in {col.name for col in c.meta.all_columns}:
        raise sql_error(SEMANTIC_ERROR, f"column {c.action.new_name} already exists in table {c.meta.name}", c.pos)
    changed = Column(
        c.action.new_name,
        c.action.new_type or old.type,
        old.comment if c.action.comment is None else c.action.comment,
        old.not_null,
    )
    if changed.name == old.name and changed.type == old.type:  # comment only: metadata
        _replace_column(c.meta, old, changed)
        return
    if old in c.meta.partition_keys and changed.type != old.type:
        raise sql_error(SEMANTIC_ERROR, f"the type of partition column {old.name} cannot change", c.pos)
    new = replace(c.meta, columns=list(c.meta.columns), partition_keys=list(c.meta.partition_keys))
    _replace_column(new, old, changed)
    c.engine.validate_new_table(new, c.pos)
    sources = _same_columns(c.meta)
    sources[changed.name] = quote(old.name)
    _rebuild(c.engine, c.cur, c.meta, new, sources)


def _replace_column(meta: TableMeta, old: Column, new: Column) -> None:
    for columns in (meta.columns, meta.partition_keys):
        if old in columns:
            columns[columns.index(old)] = new


def _add_partitions(c: _Change) -> None:
    if not c.meta.partition_keys:
        raise sql_error(SEMANTIC_ERROR, f"table {c.meta.project}.{c.meta.name} is not partitioned", c.pos)
    specs = [c.engine.partition_spec(c.meta.project, c.meta.name, spec) for spec in c.action.partitions]
    for spec in specs:
        if c.engine.has_partition(c.meta.project, c.meta.name, spec) and not c.action.if_not_exists:
            raise sql_error(PARTITION_ERROR, f"partition {c.meta.spec_key(spec)} already exists", c.pos)
    for spec in specs:
        c.engine.add_partition(c.meta.project, c.meta.name, spec)


def _drop_partitions(c: _Change) -> None:
    if not c.meta.partition_keys:
        raise sql_error(SEMANTIC_ERROR, f"table {c.meta.project}.{c.meta.name} is not partitioned", c.pos)
    specs = [c.engine.partition_spec(c.meta.project, c.meta.name, spec) for spec in c.action.partitions]
    for spec in specs:
        if not c.engine.has_partition(c.meta.project, c.meta.name, spec) and not c.action.if_exists:
            raise sql_error(PARTITION_ERROR, f"partition {c.meta.spec_key(spec)} does not exist", c.pos)
    for spec in specs:
        c.engine.drop_partition(c.meta.project, c.meta.name, spec)


def _rename(c: _Change) -> None:
    assert c.action.target is not None
    target = resolve(c.action.target, c.project, c.flags)
    if target.project != c.meta.project:
        raise sql_error(SEMANTIC_ERROR, "a table can only be renamed within its c.project", c.pos)
    if target.name in c.engine.catalog[c.meta.project]:
        raise sql_error(TABLE_EXISTS, f"table or view {target.project}.{target.name} already exists", c.pos)
    if not c.meta.is_view:
        c.engine.validate_new_table(replace(c.meta, name=target.name), c.pos)
    kind = "VIEW" if c.meta.is_view else "TABLE"
    c.cur.execute(f"ALTER {kind} {c.engine.fq(c.meta.project, c.meta.name)} RENAME TO {quote(target.name)}")
    del c.engine.catalog[c.meta.project][c.meta.name]
    c.meta.name = target.name
    c.engine.catalog[c.meta.project][c.meta.name] = c.meta


def _set_metadata(c: _Change) -> None:
    if c.action.op == "set_lifecycle":
        c.meta.lifecycle = c.action.lifecycle
    elif c.action.op == "set_comment":
        c.meta.comment = c.action.comment or ""
    else:
        c.meta.properties.update(c.action.properties)


_HANDLERS = {
    "add_columns": _add_columns,
    "drop_columns": _drop_columns,
    "change_column": _change_column,
    "add_partitions": _add_partitions,
    "drop_partitions": _drop_partitions,
    "rename": _rename,
    "set_lifecycle": _set_metadata,
    "set_comment": _set_metadata,
    "set_properties": _set_metadata,
}

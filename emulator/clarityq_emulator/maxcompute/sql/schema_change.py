"""ALTER TABLE / ALTER VIEW executed (parsed by :mod:`.alter`).

Column changes rebuild the DuckDB table in one transaction (new definition, rows copied across,
old table dropped, new one renamed), so the physical column order always stays data columns then
partition keys, which every other statement relies on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
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
    handler = _HANDLERS[action.op]
    handler(engine, cur, meta, action, pos, project, flags)
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


def _add_columns(
    engine: SqlEngine,
    cur: duckdb.DuckDBPyConnection,
    meta: TableMeta,
    action: AlterAction,
    pos: tuple[int, int],
    project: str,
    flags: Mapping[str, str],
) -> None:
    added = [column_from_def(c, pos) for c in action.columns]
    existing = {c.name for c in meta.all_columns}
    for column in added:
        if column.name in existing:
            raise sql_error(SEMANTIC_ERROR, f"column {column.name} already exists in table {meta.name}", pos)
        if column.not_null:
            raise sql_error(SEMANTIC_ERROR, f"an added column cannot be NOT NULL (column {column.name})", pos)
        existing.add(column.name)
    new = replace(meta, columns=[*meta.columns, *added])
    engine.validate_new_table(new, pos)
    _rebuild(engine, cur, meta, new, _same_columns(meta))


def _drop_columns(
    engine: SqlEngine,
    cur: duckdb.DuckDBPyConnection,
    meta: TableMeta,
    action: AlterAction,
    pos: tuple[int, int],
    project: str,
    flags: Mapping[str, str],
) -> None:
    data = {c.name for c in meta.columns}
    for name in action.names:
        if name not in data:
            raise sql_error(SEMANTIC_ERROR, f"column {name} is not a data column of table {meta.name}", pos)
    kept = [c for c in meta.columns if c.name not in action.names]
    if not kept:
        raise sql_error(SEMANTIC_ERROR, f"table {meta.name} must keep at least one column", pos)
    _rebuild(engine, cur, meta, replace(meta, columns=kept), _same_columns(meta))


def _change_column(
    engine: SqlEngine,
    cur: duckdb.DuckDBPyConnection,
    meta: TableMeta,
    action: AlterAction,
    pos: tuple[int, int],
    project: str,
    flags: Mapping[str, str],
) -> None:
    old = next((c for c in meta.all_columns if c.name == action.column), None)
    if old is None:
        raise sql_error(SEMANTIC_ERROR, f"column {action.column} cannot be resolved in table {meta.name}", pos)
    if action.new_name != old.name and action.new_name in {c.name for c in meta.all_columns}:
        raise sql_error(SEMANTIC_ERROR, f"column {action.new_name} already exists in table {meta.name}", pos)
    changed = Column(
        action.new_name,
        action.new_type or old.type,
        old.comment if action.comment is None else action.comment,
        old.not_null,
    )
    if changed.name == old.name and changed.type == old.type:  # comment only: metadata
        _replace_column(meta, old, changed)
        return
    if old in meta.partition_keys and changed.type != old.type:
        raise sql_error(SEMANTIC_ERROR, f"the type of partition column {old.name} cannot change", pos)
    new = replace(meta, columns=list(meta.columns), partition_keys=list(meta.partition_keys))
    _replace_column(new, old, changed)
    engine.validate_new_table(new, pos)
    sources = _same_columns(meta)
    sources[changed.name] = quote(old.name)
    _rebuild(engine, cur, meta, new, sources)


def _replace_column(meta: TableMeta, old: Column, new: Column) -> None:
    for columns in (meta.columns, meta.partition_keys):
        if old in columns:
            columns[columns.index(old)] = new


def _add_partitions(
    engine: SqlEngine,
    cur: duckdb.DuckDBPyConnection,
    meta: TableMeta,
    action: AlterAction,
    pos: tuple[int, int],
    project: str,
    flags: Mapping[str, str],
) -> None:
    if not meta.partition_keys:
        raise sql_error(SEMANTIC_ERROR, f"table {meta.project}.{meta.name} is not partitioned", pos)
    specs = [engine.partition_spec(meta.project, meta.name, spec) for spec in action.partitions]
    for spec in specs:
        if engine.has_partition(meta.project, meta.name, spec) and not action.if_not_exists:
            raise sql_error(PARTITION_ERROR, f"partition {meta.spec_key(spec)} already exists", pos)
    for spec in specs:
        engine.add_partition(meta.project, meta.name, spec)


def _drop_partitions(
    engine: SqlEngine,
    cur: duckdb.DuckDBPyConnection,
    meta: TableMeta,
    action: AlterAction,
    pos: tuple[int, int],
    project: str,
    flags: Mapping[str, str],
) -> None:
    if not meta.partition_keys:
        raise sql_error(SEMANTIC_ERROR, f"table {meta.project}.{meta.name} is not partitioned", pos)
    specs = [engine.partition_spec(meta.project, meta.name, spec) for spec in action.partitions]
    for spec in specs:
        if not engine.has_partition(meta.project, meta.name, spec) and not action.if_exists:
            raise sql_error(PARTITION_ERROR, f"partition {meta.spec_key(spec)} does not exist", pos)
    for spec in specs:
        engine.drop_partition(meta.project, meta.name, spec)


def _rename(
    engine: SqlEngine,
    cur: duckdb.DuckDBPyConnection,
    meta: TableMeta,
    action: AlterAction,
    pos: tuple[int, int],
    project: str,
    flags: Mapping[str, str],
) -> None:
    assert action.target is not None
    target = resolve(action.target, project, flags)
    if target.project != meta.project:
        raise sql_error(SEMANTIC_ERROR, "a table can only be renamed within its project", pos)
    if target.name in engine.catalog[meta.project]:
        raise sql_error(TABLE_EXISTS, f"table or view {target.project}.{target.name} already exists", pos)
    if not meta.is_view:
        engine.validate_new_table(replace(meta, name=target.name), pos)
    kind = "VIEW" if meta.is_view else "TABLE"
    cur.execute(f"ALTER {kind} {engine.fq(meta.project, meta.name)} RENAME TO {quote(target.name)}")
    del engine.catalog[meta.project][meta.name]
    meta.name = target.name
    engine.catalog[meta.project][meta.name] = meta


def _set_metadata(
    engine: SqlEngine,
    cur: duckdb.DuckDBPyConnection,
    meta: TableMeta,
    action: AlterAction,
    pos: tuple[int, int],
    project: str,
    flags: Mapping[str, str],
) -> None:
    if action.op == "set_lifecycle":
        meta.lifecycle = action.lifecycle
    elif action.op == "set_comment":
        meta.comment = action.comment or ""
    else:
        meta.properties.update(action.properties)


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

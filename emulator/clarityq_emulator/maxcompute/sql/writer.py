"""INSERT and tunnel writes: rows staged in a temporary table, then moved into the target.

INSERT OVERWRITE replaces the touched partitions atomically; dynamic partitions take their values
from the trailing columns of the query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
from sqlglot import exp

from clarityq_emulator.maxcompute.sql.catalog import Column, ExecutionResult, TableMeta
from clarityq_emulator.maxcompute.sql.compiler import (
    Statement,
    insert_body,
    insert_target,
    literal_text,
    node_pos,
    resolve,
)
from clarityq_emulator.maxcompute.sql.errors import (
    CAST_ERROR,
    INVALID_ARGUMENT,
    PARSE_ERROR,
    PARTITION_ERROR,
    SEMANTIC_ERROR,
    sql_error,
)
from clarityq_emulator.maxcompute.sql.types import duckdb_type, is_complex
from clarityq_emulator.maxcompute.sql.values import cast_sql, coerce, quote

if TYPE_CHECKING:
    from collections.abc import Mapping

    from clarityq_emulator.maxcompute.sql.executor import SqlEngine

TEMP_SOURCE = '"temp"."main"."__cq_src"'
TEMP_ROWS = '"temp"."main"."__cq_new"'
_INSERT_BATCH_ROWS = 50_000


@dataclass
class InsertPlan:
    """How the rows of the temporary source table map onto the target table's columns."""

    projection: list[str]
    params: list[Any]
    static: list[tuple[Column, str]]
    dynamic: list[tuple[Column, int]]


def run_insert(
    engine: SqlEngine, cur: duckdb.DuckDBPyConnection, st: Statement, project: str, flags: Mapping[str, str]
) -> ExecutionResult:
    node = st.node
    assert isinstance(node, exp.Insert)
    target, column_list = insert_target(node, st.pos)
    meta = engine.require_table(resolve(target, project, flags), target, st.pos)
    body = insert_body(node)
    if body is None:
        raise sql_error(PARSE_ERROR, "INSERT needs VALUES or a SELECT", st.pos)
    engine.bind(body, project, flags, st.pos)
    sql = engine.to_duckdb(body, st.pos)
    data_targets = insert_columns(meta, column_list, st.pos)
    static, dynamic_keys = insert_spec(meta, target.args.get("partition"), st.pos)
    width = len(cur.sql(sql).columns)
    expected = len(data_targets) + len(dynamic_keys)
    if width != expected:
        raise sql_error(
            SEMANTIC_ERROR,
            "Cannot insert into target table because column number/types are different "  # noqa: S608
            f"'{meta.name}': the table needs {expected} values per row, the query returns {width}",
            st.pos,
        )
    inner = ", ".join(quote(f"c{i}") for i in range(width))
    cur.execute(f"CREATE OR REPLACE TEMP TABLE {quote('__cq_src')} AS SELECT * FROM ({sql}) AS {quote('__q')}({inner})")  # noqa: S608
    dynamic = [(key, len(data_targets) + i) for i, key in enumerate(dynamic_keys)]
    plan = plan_from_spec(meta, data_targets, static, dynamic)
    write(engine, cur, meta, plan, overwrite=bool(node.args.get("overwrite")), pos=st.pos)
    return ExecutionResult(None, [], "OK")


def insert_columns(meta: TableMeta, column_list: list[str] | None, pos: tuple[int, int]) -> list[str]:
    data_names = [c.name for c in meta.columns]
    if column_list is None:
        return data_names
    for name in column_list:
        if name not in data_names:
            raise sql_error(SEMANTIC_ERROR, f"column {name} cannot be resolved in table {meta.name}", pos)
    if len(set(column_list)) != len(column_list):
        raise sql_error(SEMANTIC_ERROR, "a column is repeated in the INSERT column list", pos)
    return column_list


def insert_spec(
    meta: TableMeta, spec_node: exp.Expression | None, pos: tuple[int, int]
) -> tuple[list[tuple[Column, str]], list[Column]]:
    """Static (key, value) pairs and dynamic keys in the order written in PARTITION (...)."""
    keys = {c.name: c for c in meta.partition_keys}
    if spec_node is None:
        if keys:
            raise sql_error(
                SEMANTIC_ERROR,
                f"partition columns of table {meta.project}.{meta.name} must be given in PARTITION (...)",
                pos,
            )
        return [], []
    if not keys:
        raise sql_error(SEMANTIC_ERROR, f"table {meta.project}.{meta.name} is not partitioned", pos)
    static: dict[str, str] = {}
    dynamic: list[Column] = []
    seen: list[str] = []
    for item in spec_node.expressions:
        if isinstance(item, exp.EQ) and isinstance(item.this, exp.Column):
            key, value = item.this.name.lower(), literal_text(item.expression)
            if value is None:
                raise sql_error(PARSE_ERROR, "a partition value must be a constant", node_pos(item) or pos)
            if value == "":
                raise sql_error(PARTITION_ERROR, f"invalid partition value: {key}=''", pos)
            static[key] = value
        elif isinstance(item, exp.Column):
            key = item.name.lower()
            if key in keys:
                dynamic.append(keys[key])
        else:
            raise sql_error(PARSE_ERROR, "invalid partition specification", pos)
        if key not in keys:
            raise sql_error(SEMANTIC_ERROR, f"partition column {key} does not exist in table {meta.name}", pos)
        if key in seen:
            raise sql_error(SEMANTIC_ERROR, f"partition column {key} is repeated", pos)
        seen.append(key)
    missing = [k for k in keys if k not in seen]
    if missing:
        raise sql_error(SEMANTIC_ERROR, f"partition spec is incomplete, missing: {', '.join(missing)}", pos)
    return [(keys[k], v) for k, v in static.items()], dynamic


def plan_from_spec(
    meta: TableMeta,
    data_targets: list[str],
    static: list[tuple[Column, str]],
    dynamic: list[tuple[Column, int]],
) -> InsertPlan:
    """Projection over ``__cq_src`` (columns c0..cn) producing the table's column order."""
    projection: list[str] = []
    params: list[Any] = []
    static_by_key = {col.name: value for col, value in static}
    dynamic_by_key = {col.name: index for col, index in dynamic}
    for column in meta.columns:
        if column.name in data_targets:
            source = quote(f"c{data_targets.index(column.name)}")
            projection.append(f"{cast_sql(source, column.type)} AS {quote(column.name)}")
        else:
            projection.append(f"{cast_sql('NULL', column.type)} AS {quote(column.name)}")
    for column in meta.partition_keys:
        if column.name in static_by_key:
            projection.append(f"{cast_sql('?', column.type)} AS {quote(column.name)}")
            params.append(static_by_key[column.name])
        else:
            source = quote(f"c{dynamic_by_key[column.name]}")
            projection.append(f"{cast_sql(source, column.type)} AS {quote(column.name)}")
    return InsertPlan(projection, params, static, dynamic)


def write(
    engine: SqlEngine,
    cur: duckdb.DuckDBPyConnection,
    meta: TableMeta,
    plan: InsertPlan,
    *,
    overwrite: bool,
    pos: tuple[int, int] | None,
) -> None:
    """Move ``__cq_src`` into the table; OVERWRITE replaces the touched partitions atomically.

    The source was materialised before anything is deleted, so a query reading the table it
    overwrites sees the old rows.
    """
    target = engine.fq(meta.project, meta.name)
    try:
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote('__cq_new')} AS SELECT {', '.join(plan.projection)} "  # noqa: S608
            f"FROM {TEMP_SOURCE}",
            plan.params,
        )
        for column, _ in plan.dynamic:
            row = cur.execute(f"SELECT count(*) FROM {TEMP_ROWS} WHERE {quote(column.name)} IS NULL").fetchone()  # noqa: S608
            if row and row[0]:
                raise sql_error(PARTITION_ERROR, f"invalid dynamic partition value: {column.name}=NULL", pos or (0, 0))
        if overwrite:
            cur.execute("BEGIN TRANSACTION")
            try:
                delete, params = overwrite_delete(target, plan)
                cur.execute(delete, params)
                cur.execute(f"INSERT INTO {target} SELECT * FROM {TEMP_ROWS}")  # noqa: S608
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        else:
            cur.execute(f"INSERT INTO {target} SELECT * FROM {TEMP_ROWS}")  # noqa: S608
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {TEMP_ROWS}")
        cur.execute(f"DROP TABLE IF EXISTS {TEMP_SOURCE}")
    meta.last_modified_time = engine.now()


def overwrite_delete(target: str, plan: InsertPlan) -> tuple[str, list[Any]]:
    conds = [f"{quote(col.name)} = {cast_sql('?', col.type)}" for col, _ in plan.static]
    params: list[Any] = [value for _, value in plan.static]
    if plan.dynamic:
        keys = ", ".join(quote(col.name) for col, _ in plan.dynamic)
        conds.append(f"({keys}) IN (SELECT DISTINCT {keys} FROM {TEMP_ROWS})")  # noqa: S608
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    return f"DELETE FROM {target}{where}", params  # noqa: S608


def materialize(cur: duckdb.DuckDBPyConnection, columns: list[Column], rows: Iterable[Sequence[Any]]) -> int:
    cols = ", ".join(f"{quote(f'c{i}')} {duckdb_type(c.type)}" for i, c in enumerate(columns))
    cur.execute(f"CREATE OR REPLACE TEMP TABLE {quote('__cq_src')} ({cols})")
    try:
        return insert_values(cur, TEMP_SOURCE, columns, rows)
    except BaseException:
        cur.execute(f"DROP TABLE IF EXISTS {TEMP_SOURCE}")
        raise


def _coerced_row(index: int, row: Sequence[Any], columns: list[Column]) -> list[Any]:
    if len(row) != len(columns):
        raise sql_error(INVALID_ARGUMENT, f"row {index} has {len(row)} values, the table has {len(columns)} columns")
    values = []
    for value, column in zip(row, columns, strict=True):
        try:
            values.append(coerce(value, column.type))
        except (ValueError, TypeError) as err:
            raise sql_error(CAST_ERROR, f"row {index}, column {column.name}: {err}") from None
    return values


def _param_type(mc_type: str) -> str:
    """DuckDB type of a bound list's elements; :func:`cast_sql` then gives each its storage type."""
    if mc_type == "datetime":
        return "TIMESTAMP"
    if mc_type == "timestamp":
        return "VARCHAR"  # keeps all nine fraction digits (see values.coerce)
    return duckdb_type(mc_type)


def insert_values(
    cur: duckdb.DuckDBPyConnection,
    target: str,
    columns: list[Column],
    rows: Iterable[Sequence[Any]],
) -> int:
    """Insert Python rows: coerced here (a bad value names its row and column), bound as one list per
    column and unnested in DuckDB, ``_INSERT_BATCH_ROWS`` rows at a time. Complex columns go row by
    row (DuckDB infers a bound list's type from its items, which an empty map or a NULL struct defeats)."""
    if any(is_complex(c.type) for c in columns):
        placeholder = "(" + ", ".join(cast_sql("?", c.type) for c in columns) + ")"
        sql_row = f"INSERT INTO {target} VALUES {placeholder}"  # noqa: S608
        batch = [_coerced_row(index, row, columns) for index, row in enumerate(rows)]
        if batch:
            cur.executemany(sql_row, batch)
        return len(batch)
    unnests = ", ".join(
        f"unnest(CAST(? AS {_param_type(c.type)}[])) AS {quote(f'c{i}')}" for i, c in enumerate(columns)
    )
    select = ", ".join(cast_sql(quote(f"c{i}"), c.type) for i, c in enumerate(columns))
    sql = f"INSERT INTO {target} SELECT {select} FROM (SELECT {unnests})"  # noqa: S608
    lists: list[list[Any]] = [[] for _ in columns]
    count = 0
    for index, row in enumerate(rows):
        for value, values in zip(_coerced_row(index, row, columns), lists, strict=True):
            values.append(value)
        count += 1
        if count % _INSERT_BATCH_ROWS == 0:
            cur.execute(sql, lists)
            lists = [[] for _ in columns]
    if lists and lists[0]:
        cur.execute(sql, lists)
    return count

"""CREATE, DROP and TRUNCATE TABLE (and, with them, the catalog's records of tables)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import duckdb
from sqlglot import exp

from clarityq_emulator.maxcompute.sql.catalog import Column, ExecutionResult, TableMeta
from clarityq_emulator.maxcompute.sql.compiler import (
    Statement,
    create_parts,
    drop_tables,
    name_projections,
    node_pos,
    resolve,
    truncate_tables,
)
from clarityq_emulator.maxcompute.sql.dialect import (
    MaxCompute,
    UnsupportedTypeError,
    duckdb_type,
    mc_type_from_datatype,
)
from clarityq_emulator.maxcompute.sql.errors import (
    PARSE_ERROR,
    PROJECT_NOT_FOUND,
    SEMANTIC_ERROR,
    TABLE_EXISTS,
    sql_error,
)
from clarityq_emulator.maxcompute.sql.values import cast_sql, quote

if TYPE_CHECKING:
    from clarityq_emulator.maxcompute.sql.executor import SqlEngine


def run_create(
    engine: SqlEngine,
    cur: duckdb.DuckDBPyConnection,
    st: Statement,
    project: str,
    flags: Mapping[str, str],
    owner: str,
) -> ExecutionResult:
    node = st.node
    assert isinstance(node, exp.Create)
    parts = create_parts(node, st.pos)
    ref = resolve(parts.table, project, flags)
    pos = node_pos(parts.table) or st.pos
    if ref.project not in engine.catalog:
        raise sql_error(PROJECT_NOT_FOUND, f"project {ref.project} does not exist", pos)
    existing = engine.catalog[ref.project].get(ref.name)
    if existing is not None and node.args.get("exists"):
        return ExecutionResult(None, [], "OK")
    if existing is not None and not node.args.get("replace"):
        raise sql_error(TABLE_EXISTS, f"table {ref.project}.{ref.name} already exists", pos)
    columns = [column_from_def(cd, st.pos) for cd in parts.columns]
    partition_keys = [column_from_def(cd, st.pos) for cd in parts.partition_columns]
    query_sql: str | None = None
    if parts.like is not None:
        source = engine.require(resolve(parts.like, project, flags), parts.like, st.pos)
        columns, partition_keys = list(source.columns), list(source.partition_keys)
    elif node.expression is not None:
        body = node.expression
        engine.bind(body, project, flags, st.pos)
        name_projections(body)
        query_sql = engine.to_duckdb(body, st.pos)
        names, types, _ = engine.query(cur, query_sql, st.pos)
        columns = [Column(name, mc_type) for name, (mc_type, _) in zip(names, types, strict=True)]
    now = engine.now()
    meta = TableMeta(
        project=ref.project,
        name=ref.name,
        columns=columns,
        partition_keys=partition_keys,
        comment=parts.comment,
        lifecycle=st.lifecycle,
        owner=owner,
        create_time=now,
        last_ddl_time=now,
        last_modified_time=now,
        properties=parts.properties,
    )
    engine.validate_new_table(meta, pos)
    target = engine.fq(meta.project, meta.name)
    cols = ", ".join(f"{quote(c.name)} {duckdb_type(c.type)}" for c in meta.all_columns)
    cur.execute("BEGIN TRANSACTION")
    try:
        if existing is not None:
            cur.execute(f"DROP TABLE {target}")
        cur.execute(f"CREATE TABLE {target} ({cols})")
        if query_sql is not None:
            inner = ", ".join(quote(f"c{i}") for i in range(len(columns)))
            casts = ", ".join(cast_sql(quote(f"c{i}"), c.type) for i, c in enumerate(columns))
            cur.execute(f"INSERT INTO {target} SELECT {casts} FROM ({query_sql}) AS {quote('__q')}({inner})")  # noqa: S608
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    engine.catalog[meta.project][meta.name] = meta
    return ExecutionResult(None, [], "OK")


def column_from_def(node: exp.Expression, pos: tuple[int, int]) -> Column:
    where = node_pos(node) or pos
    if not isinstance(node, exp.ColumnDef):
        raise sql_error(SEMANTIC_ERROR, f"unsupported table element {node.sql(dialect=MaxCompute)}", where)
    name = node.name.lower()
    kind = node.args.get("kind")
    if not isinstance(kind, exp.DataType):
        raise sql_error(PARSE_ERROR, f"column {name} needs a type", where)
    try:
        mc_type = mc_type_from_datatype(kind)
    except UnsupportedTypeError as err:
        code = PARSE_ERROR if kind.this == exp.DataType.Type.USERDEFINED else SEMANTIC_ERROR
        raise sql_error(code, f"type {err} is not supported (column {name})", where) from None
    comment = ""
    for constraint in node.args.get("constraints") or []:
        inner = constraint.args.get("kind") if isinstance(constraint, exp.ColumnConstraint) else None
        if isinstance(inner, exp.CommentColumnConstraint):
            comment = inner.name
        else:
            raise sql_error(
                SEMANTIC_ERROR,
                f"column constraint {constraint.sql(dialect=MaxCompute)} is not supported (column {name})",
                where,
            )
    return Column(name, mc_type, comment)


def run_drop(
    engine: SqlEngine, cur: duckdb.DuckDBPyConnection, st: Statement, project: str, flags: Mapping[str, str]
) -> ExecutionResult:
    node = st.node
    assert isinstance(node, exp.Drop)
    for table in drop_tables(node, st.pos):
        ref = resolve(table, project, flags)
        if ref.name not in engine.catalog.get(ref.project, {}):
            if node.args.get("exists"):
                continue
            engine.require(ref, table, st.pos)
        cur.execute(f"DROP TABLE {engine.fq(ref.project, ref.name)}")
        del engine.catalog[ref.project][ref.name]
    return ExecutionResult(None, [], "OK")


def run_truncate(
    engine: SqlEngine, cur: duckdb.DuckDBPyConnection, st: Statement, project: str, flags: Mapping[str, str]
) -> ExecutionResult:
    node = st.node
    assert isinstance(node, exp.TruncateTable)
    metas = [engine.require(resolve(t, project, flags), t, st.pos) for t in truncate_tables(node, st.pos)]
    cur.execute("BEGIN TRANSACTION")
    try:
        for meta in metas:
            cur.execute(f"DELETE FROM {engine.fq(meta.project, meta.name)}")  # noqa: S608
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    for meta in metas:
        meta.last_modified_time = engine.now()
    return ExecutionResult(None, [], "OK")

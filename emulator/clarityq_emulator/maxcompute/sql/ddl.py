"""CREATE, DROP and TRUNCATE TABLE, CREATE and DROP VIEW: the catalog's records and their DuckDB objects.

A view is a DuckDB view over the bound query; the catalog keeps its MaxCompute text, from which
the DuckDB view is created again when state is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import duckdb
from sqlglot import exp

from clarityq_emulator.maxcompute.sql.catalog import TABLE_NAME_RE, Column, ExecutionResult, TableMeta, TableRef
from clarityq_emulator.maxcompute.sql.compiler import (
    Statement,
    create_parts,
    drop_tables,
    name_projections,
    node_pos,
    resolve,
    truncate_tables,
    view_name,
)
from clarityq_emulator.maxcompute.sql.dialect import MaxCompute
from clarityq_emulator.maxcompute.sql.errors import (
    PARSE_ERROR,
    PROJECT_NOT_FOUND,
    SEMANTIC_ERROR,
    TABLE_EXISTS,
    sql_error,
)
from clarityq_emulator.maxcompute.sql.types import UnsupportedTypeError, duckdb_type, mc_type_from_datatype
from clarityq_emulator.maxcompute.sql.values import cast_sql, quote
from clarityq_emulator.maxcompute.sql.writer import insert_values

if TYPE_CHECKING:
    from clarityq_emulator.maxcompute.sql.executor import SqlEngine


def table_ddl(meta: TableMeta) -> str:
    """DuckDB column definitions of a table, in physical order (data columns, then partition keys)."""
    return ", ".join(
        f"{quote(c.name)} {duckdb_type(c.type)}{' NOT NULL' if c.not_null else ''}" for c in meta.all_columns
    )


def store_table(
    engine: SqlEngine, cur: duckdb.DuckDBPyConnection, meta: TableMeta, rows: Sequence[Sequence[Any]]
) -> None:
    """Create the DuckDB table and load ``rows`` atomically, then register the metadata."""
    target = engine.fq(meta.project, meta.name)
    cur.execute("BEGIN TRANSACTION")
    try:
        cur.execute(f"CREATE TABLE {target} ({table_ddl(meta)})")
        insert_values(cur, target, meta.all_columns, rows)
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    engine.catalog[meta.project][meta.name] = meta


def _check_cluster(meta: TableMeta, pos: tuple[int, int]) -> None:
    if meta.cluster is None:
        return
    names = {c.name for c in meta.columns}
    wanted = [*meta.cluster["ClusterCols"], *(s["col"] for s in meta.cluster["SortCols"])]
    for name in wanted:
        if name not in names:
            raise sql_error(SEMANTIC_ERROR, f"clustering column {name} is not a column of {meta.name}", pos)
    if not 1 <= int(meta.cluster.get("BucketNum", 1)) <= 4096:
        raise sql_error(SEMANTIC_ERROR, "the number of buckets must be 1-4096", pos)


def _replaced(
    engine: SqlEngine, node: exp.Create, ref: TableRef, pos: tuple[int, int], *, view: bool
) -> TableMeta | Literal[False] | None:
    """What CREATE [OR REPLACE] replaces: None for a new name, False when IF NOT EXISTS skips it;
    an existing object of the other kind, or without OR REPLACE, is an error."""
    if ref.project not in engine.catalog:
        raise sql_error(PROJECT_NOT_FOUND, f"project {ref.project} does not exist", pos)
    existing = engine.catalog[ref.project].get(ref.name)
    if existing is None:
        return None
    if node.args.get("exists"):
        return False
    if not node.args.get("replace") or existing.is_view != view:
        what = "table or view" if view or existing.is_view else "table"
        raise sql_error(TABLE_EXISTS, f"{what} {ref.project}.{ref.name} already exists", pos)
    return existing


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
    existing = _replaced(engine, node, ref, pos, view=False)
    if existing is False:
        return ExecutionResult(None, [], "OK")
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
        stored_as=parts.stored_as,
        cluster=parts.cluster,
    )
    if meta.cluster is not None and st.range_cluster:
        meta.cluster["ClusterType"] = "range"
    engine.validate_new_table(meta, pos)
    _check_cluster(meta, pos)
    target = engine.fq(meta.project, meta.name)
    cur.execute("BEGIN TRANSACTION")
    try:
        if existing is not None:
            cur.execute(f"DROP TABLE {target}")
        cur.execute(f"CREATE TABLE {target} ({table_ddl(meta)})")
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
    comment, not_null = "", False
    for constraint in node.args.get("constraints") or []:
        inner = constraint.args.get("kind") if isinstance(constraint, exp.ColumnConstraint) else None
        if isinstance(inner, exp.CommentColumnConstraint):
            comment = inner.name
        elif isinstance(inner, exp.NotNullColumnConstraint) and not inner.args.get("allow_null"):
            not_null = True
        else:
            raise sql_error(
                SEMANTIC_ERROR,
                f"column constraint {constraint.sql(dialect=MaxCompute)} is not supported (column {name})",
                where,
            )
    return Column(name, mc_type, comment, not_null)


def run_drop(
    engine: SqlEngine, cur: duckdb.DuckDBPyConnection, st: Statement, project: str, flags: Mapping[str, str]
) -> ExecutionResult:
    node = st.node
    assert isinstance(node, exp.Drop)
    view = st.kind == "drop_view"
    for table in drop_tables(node, st.pos):
        ref = resolve(table, project, flags)
        if ref.name not in engine.catalog.get(ref.project, {}):
            if node.args.get("exists"):
                continue
            engine.require(ref, table, st.pos)
        meta = engine.catalog[ref.project][ref.name]
        if meta.is_view != view:
            what = "a view; use DROP VIEW" if meta.is_view else "a table; use DROP TABLE"
            raise sql_error(SEMANTIC_ERROR, f"{ref.project}.{ref.name} is {what}", node_pos(table) or st.pos)
        cur.execute(f"DROP {'VIEW' if view else 'TABLE'} {engine.fq(ref.project, ref.name)}")
        del engine.catalog[ref.project][ref.name]
    return ExecutionResult(None, [], "OK")


def create_view(engine: SqlEngine, cur: duckdb.DuckDBPyConnection, meta: TableMeta, flags: Mapping[str, str]) -> None:
    """Create the DuckDB view of ``meta`` from its MaxCompute text (also used when state is loaded)."""
    assert meta.view_text is not None
    statements = engine.compile(meta.view_text)
    if len(statements) != 1 or statements[0].kind != "select" or statements[0].node is None:
        raise sql_error(SEMANTIC_ERROR, "a view is defined by one SELECT", statements[0].pos if statements else None)
    body = statements[0].node
    engine.bind(body, meta.project, flags, statements[0].pos)
    name_projections(body)
    sql = engine.to_duckdb(body, statements[0].pos)
    names, types, _ = engine.query(cur, sql, statements[0].pos)
    if not meta.columns:
        meta.columns = [Column(name, mc_type) for name, (mc_type, _) in zip(names, types, strict=True)]
    elif len(meta.columns) != len(names):
        raise sql_error(
            SEMANTIC_ERROR, f"view {meta.name} names {len(meta.columns)} columns, its query returns {len(names)}"
        )
    else:
        meta.columns = [Column(c.name, mc_type, c.comment) for c, (mc_type, _) in zip(meta.columns, types, strict=True)]
    inner = ", ".join(quote(f"c{i}") for i in range(len(names)))
    outer = ", ".join(f"{quote(f'c{i}')} AS {quote(c.name)}" for i, c in enumerate(meta.columns))
    cur.execute(
        f"CREATE OR REPLACE VIEW {engine.fq(meta.project, meta.name)} AS "  # noqa: S608
        f"SELECT {outer} FROM ({sql}) AS {quote('__q')}({inner})"
    )
    engine.catalog[meta.project][meta.name] = meta


def _view_column(node: exp.Expression, pos: tuple[int, int]) -> Column:
    """A view's column: a name and an optional comment (the type comes from the query)."""
    if isinstance(node, (exp.Identifier, exp.Column)):
        return Column(node.name.lower(), "string")
    if not isinstance(node, exp.ColumnDef) or node.args.get("kind") is not None:
        raise sql_error(PARSE_ERROR, "a view's column list holds names and comments only", node_pos(node) or pos)
    comment = ""
    for constraint in node.args.get("constraints") or []:
        inner = constraint.args.get("kind") if isinstance(constraint, exp.ColumnConstraint) else None
        if not isinstance(inner, exp.CommentColumnConstraint):
            raise sql_error(PARSE_ERROR, "a view's column list holds names and comments only", node_pos(node) or pos)
        comment = inner.name
    return Column(node.name.lower(), "string", comment)


def run_create_view(
    engine: SqlEngine,
    cur: duckdb.DuckDBPyConnection,
    st: Statement,
    project: str,
    flags: Mapping[str, str],
    owner: str,
) -> ExecutionResult:
    node = st.node
    assert isinstance(node, exp.Create)
    table = view_name(node, st.pos)
    ref = resolve(table, project, flags)
    pos = node_pos(table) or st.pos
    existing = _replaced(engine, node, ref, pos, view=True)
    if existing is False:
        return ExecutionResult(None, [], "OK")
    if st.view_text is None or node.expression is None:
        raise sql_error(PARSE_ERROR, "CREATE VIEW needs AS SELECT ...", pos)
    columns = [_view_column(c, st.pos) for c in node.this.expressions] if isinstance(node.this, exp.Schema) else []
    comment = ""
    props = node.args.get("properties")
    for prop in props.expressions if isinstance(props, exp.Properties) else []:
        if isinstance(prop, exp.SchemaCommentProperty):
            comment = prop.this.name
        else:
            raise sql_error(SEMANTIC_ERROR, f"view property {prop.sql(dialect=MaxCompute)} is not supported", pos)
    now = engine.now()
    meta = TableMeta(
        project=ref.project,
        name=ref.name,
        columns=columns,
        partition_keys=[],
        comment=comment,
        owner=existing.owner if existing is not None else owner,
        create_time=existing.create_time if existing is not None else now,
        last_ddl_time=now,
        last_modified_time=now,
        view_text=st.view_text,
    )
    if not TABLE_NAME_RE.match(meta.name):
        raise sql_error(SEMANTIC_ERROR, f"invalid view name '{meta.name}'", pos)
    create_view(engine, cur, meta, flags)
    return ExecutionResult(None, [], "OK")


def run_truncate(
    engine: SqlEngine, cur: duckdb.DuckDBPyConnection, st: Statement, project: str, flags: Mapping[str, str]
) -> ExecutionResult:
    node = st.node
    assert isinstance(node, exp.TruncateTable)
    metas = [engine.require_table(resolve(t, project, flags), t, st.pos) for t in truncate_tables(node, st.pos)]
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

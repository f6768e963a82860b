"""MaxCompute SQL executed on DuckDB, translated with sqlglot.

The emulator's HTTP layer hands SQL task text to :class:`SqlEngine`. Statements are parsed with
the MaxCompute dialect of ``sql_dialect.py`` (Hive plus MaxCompute functions), table references
are resolved against the engine's own catalog (one DuckDB schema per MaxCompute project) and the
AST is generated as DuckDB SQL. Statements DuckDB cannot express the MaxCompute way (partitioned
INSERT, INSERT OVERWRITE, DESC, SHOW, LIFECYCLE, SET) are handled here from the same AST.

Failures are raised as :class:`SqlError` carrying MaxCompute error codes and texts, without
DuckDB's internal names or generated SQL.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from clarityq_emulator.maxcompute.sql.catalog import (
    COLUMN_NAME_RE,
    PROJECT_NAME_RE,
    RESERVED_SCHEMAS,
    TABLE_NAME_RE,
    Column,
    ExecutionResult,
    PartitionInfo,
    StatementAccess,
    TableMeta,
    TableRef,
    checked_column,
    copy_meta,
    desc_text,
)
from clarityq_emulator.maxcompute.sql.compiler import (
    Compiler,
    Statement,
    access,
    check_partition_predicate,
    desc_table,
    like_regex,
    name_projections,
    node_pos,
    resolve,
    source_tables,
)
from clarityq_emulator.maxcompute.sql.ddl import run_create, run_create_view, run_drop, run_truncate, store_table
from clarityq_emulator.maxcompute.sql.errors import (
    CAST_ERROR,
    INTERNAL_ERROR,
    INVALID_ARGUMENT,
    PARSE_ERROR,
    PARTITION_ERROR,
    PROJECT_NOT_FOUND,
    SEMANTIC_ERROR,
    TABLE_EXISTS,
    TABLE_NOT_FOUND,
    SqlError,
    sql_error,
)
from clarityq_emulator.maxcompute.sql.schema_change import run_alter
from clarityq_emulator.maxcompute.sql.snapshot import dump_catalog, load_catalog
from clarityq_emulator.maxcompute.sql.types import UnsupportedTypeError, to_duckdb_types
from clarityq_emulator.maxcompute.sql.values import cast_sql, quote, result_type
from clarityq_emulator.maxcompute.sql.writer import materialize, plan_from_spec, run_insert, write

__all__ = ["SqlEngine"]


class SqlEngine:
    """MaxCompute projects, tables and SQL on an in-memory DuckDB database.

    ``enforce_fullscan_guard`` turns on MaxCompute's refusal to scan every partition of a
    partitioned table without a partition predicate (projects created after 2018-01-10). It is
    off by default because pyodps readers and demo queries run ``SELECT ... LIMIT`` on
    partitioned tables; ``set odps.sql.allow.fullscan=true;`` lifts it per script either way.

    All public methods hold one re-entrant lock: statements run one at a time, each on its own
    DuckDB cursor.
    """

    def __init__(self, enforce_fullscan_guard: bool = False, *, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._fullscan_guard = enforce_fullscan_guard
        self._clock = clock
        self._compiler = Compiler()
        self._con, self._db = self._connect()
        self.catalog: dict[str, dict[str, TableMeta]] = {}

    # -- connection and catalog ------------------------------------------------------------

    @staticmethod
    def _connect() -> tuple[duckdb.DuckDBPyConnection, str]:
        # No file system or extension access: the SQL comes from emulator clients.
        con = duckdb.connect(
            ":memory:",
            config={
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            },
        )
        con.execute("SET GLOBAL TimeZone = 'UTC'")
        row = con.execute("SELECT current_database()").fetchone()
        assert row is not None
        return con, str(row[0])

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def fq(self, project: str, name: str) -> str:
        return f"{quote(self._db)}.{quote(project)}.{quote(name)}"

    def now(self) -> int:
        return int(self._clock())

    def create_project(self, project: str) -> None:
        """Create a project (a DuckDB schema) if it does not exist yet."""
        name = project.lower()
        if not PROJECT_NAME_RE.match(name) or name in RESERVED_SCHEMAS:
            raise ValueError(f"invalid project name {project!r}")
        with self._lock:
            if name in self.catalog:
                return
            self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self._db)}.{quote(name)}")
            self.catalog[name] = {}

    def has_project(self, project: str) -> bool:
        with self._lock:
            return project.lower() in self.catalog

    def list_projects(self) -> list[str]:
        with self._lock:
            return sorted(self.catalog)

    def list_tables(self, project: str, prefix: str | None = None) -> list[TableMeta]:
        """Tables of a project sorted by name, optionally only names starting with ``prefix``."""
        with self._lock:
            tables = self.catalog.get(project.lower(), {})
            wanted = (prefix or "").lower()
            return [copy_meta(tables[name]) for name in sorted(tables) if name.startswith(wanted)]

    def get_table(self, project: str, name: str) -> TableMeta | None:
        with self._lock:
            meta = self.catalog.get(project.lower(), {}).get(name.lower())
            return copy_meta(meta) if meta is not None else None

    def _meta(self, project: str, name: str) -> TableMeta:
        meta = self.catalog.get(project.lower(), {}).get(name.lower())
        if meta is None:
            raise sql_error(TABLE_NOT_FOUND, f"table {project.lower()}.{name.lower()} cannot be resolved")
        return meta

    def record_count(self, project: str, name: str, partition: Mapping[str, str] | None = None) -> int:
        with self._lock, self._cursor() as cur:
            meta = self._meta(project, name)
            if meta.is_view:
                return 0
            where, params = self._partition_filter(meta, partition)
            sql = f"SELECT count(*) FROM {self.fq(meta.project, meta.name)}{where}"  # noqa: S608
            row = cur.execute(sql, params).fetchone()
            return int(row[0]) if row else 0

    def partitions(self, project: str, name: str) -> list[dict[str, str]]:
        """Partitions that were created or hold rows, sorted, as ``{key: value}`` in key order."""
        with self._lock, self._cursor() as cur:
            meta = self._meta(project, name)
            if not meta.partition_keys:
                return []
            keys = [c.name for c in meta.partition_keys]
            cols = ", ".join(f"CAST({quote(k)} AS VARCHAR)" for k in keys)
            rows = cur.execute(
                f"SELECT DISTINCT {cols} FROM {self.fq(meta.project, meta.name)}"  # noqa: S608
            ).fetchall()
            specs = {
                meta.spec_key(dict(zip(keys, row, strict=True))): dict(zip(keys, row, strict=True)) for row in rows
            }
            for key in meta.partition_info:
                specs.setdefault(key, dict(part.split("=", 1) for part in key.split("/")))
            return [specs[key] for key in sorted(specs, key=lambda k: tuple(specs[k].values()))]

    def partition_spec(self, project: str, name: str, partition: Mapping[str, str]) -> dict[str, str]:
        """``partition`` checked against the table's keys (all of them) and put in key order."""
        with self._lock:
            meta = self._meta(project, name)
            spec = dict(self.static_spec(meta, partition, require_all=True))
            return {column.name: spec[column] for column in meta.partition_keys}

    def has_partition(self, project: str, name: str, partition: Mapping[str, str]) -> bool:
        with self._lock:
            meta = self._meta(project, name)
            key = meta.spec_key(self.partition_spec(project, name, partition))
            return key in meta.partition_info or any(meta.spec_key(s) == key for s in self.partitions(project, name))

    def add_partition(self, project: str, name: str, partition: Mapping[str, str]) -> bool:
        """Create a partition; False when it already existed."""
        with self._lock:
            if self.has_partition(project, name, partition):
                return False
            meta = self._meta(project, name)
            now = self.now()
            meta.partition_info[meta.spec_key(self.partition_spec(project, name, partition))] = PartitionInfo(
                now, now, now
            )
            meta.last_ddl_time = now
            return True

    def drop_partition(self, project: str, name: str, partition: Mapping[str, str]) -> bool:
        """Drop a partition and its rows; False when it did not exist."""
        with self._lock, self._cursor() as cur:
            if not self.has_partition(project, name, partition):
                return False
            meta = self._meta(project, name)
            where, params = self._partition_filter(meta, self.partition_spec(project, name, partition))
            cur.execute(f"DELETE FROM {self.fq(meta.project, meta.name)}{where}", params)  # noqa: S608
            meta.partition_info.pop(meta.spec_key(self.partition_spec(project, name, partition)), None)
            meta.last_ddl_time = meta.last_modified_time = self.now()
            return True

    def read_rows(
        self,
        project: str,
        name: str,
        partition: Mapping[str, str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> tuple[list[Column], list[tuple[Any, ...]]]:
        """Rows for a table tunnel download: data columns (or ``columns``) of one partition or all."""
        with self._lock, self._cursor() as cur:
            meta = self._meta(project, name)
            by_name = {c.name: c for c in meta.all_columns}
            wanted = [c.lower() for c in columns] if columns else [c.name for c in meta.columns]
            missing = [c for c in wanted if c not in by_name]
            if missing:
                raise sql_error(SEMANTIC_ERROR, f"column {missing[0]} cannot be resolved")
            where, params = self._partition_filter(meta, partition)
            select = ", ".join(quote(c) for c in wanted)
            sql = f"SELECT {select} FROM {self.fq(meta.project, meta.name)}{where}"  # noqa: S608
            return [by_name[c] for c in wanted], cur.execute(sql, params).fetchall()

    def _partition_filter(self, meta: TableMeta, partition: Mapping[str, str] | None) -> tuple[str, list[Any]]:
        if not partition:
            return "", []
        spec = self.static_spec(meta, partition, require_all=False)
        conds = [f"{quote(col.name)} = {cast_sql('?', col.type)}" for col, _ in spec]
        return " WHERE " + " AND ".join(conds), [value for _, value in spec]

    def static_spec(
        self, meta: TableMeta, partition: Mapping[str, str], *, require_all: bool
    ) -> list[tuple[Column, str]]:
        keys = {c.name: c for c in meta.partition_keys}
        if not keys:
            raise sql_error(PARTITION_ERROR, f"table {meta.project}.{meta.name} is not partitioned")
        spec: list[tuple[Column, str]] = []
        for key, value in partition.items():
            column = keys.get(key.lower())
            if column is None:
                raise sql_error(PARTITION_ERROR, f"partition column {key.lower()} does not exist")
            if value is None or str(value) == "":
                raise sql_error(PARTITION_ERROR, f"invalid partition value: {key.lower()}={value}")
            spec.append((column, str(value)))
        missing = [k for k in keys if k not in {c.name for c, _ in spec}]
        if require_all and missing:
            raise sql_error(PARTITION_ERROR, f"partition spec is incomplete, missing: {', '.join(missing)}")
        return spec

    def write_rows(
        self,
        project: str,
        name: str,
        rows: Iterable[Sequence[Any]],
        partition: Mapping[str, str] | None = None,
        *,
        overwrite: bool = False,
    ) -> int:
        """Append (or overwrite) rows of data columns, as a table tunnel upload commit does.

        For a partitioned table ``partition`` must name every key; its values fill the keys.
        Returns the number of rows written.
        """
        with self._lock, self._cursor() as cur:
            meta = self._meta(project, name)
            static = self.static_spec(meta, partition or {}, require_all=True) if meta.partition_keys else []
            if partition and not meta.partition_keys:
                raise sql_error(PARTITION_ERROR, f"table {meta.project}.{meta.name} is not partitioned")
            try:
                count = materialize(cur, meta.columns, rows)
                plan = plan_from_spec(meta, [c.name for c in meta.columns], static, [])
                write(self, cur, meta, plan, overwrite=overwrite, pos=None)
            except duckdb.Error as err:
                raise self._map_duckdb_error(err, Statement("insert", (0, 0))) from None
            if static:
                key = meta.spec_key({column.name: value for column, value in static})
                if key in meta.partition_info:
                    meta.partition_info[key].last_modified_time = meta.last_modified_time
            return count

    def create_table(
        self,
        project: str,
        name: str,
        columns: list[Column],
        partition_keys: list[Column] | None = None,
        *,
        comment: str = "",
        lifecycle: int | None = None,
        owner: str = "",
        rows: list[list[Any]] | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> TableMeta:
        """Create a table directly (seeds); ``rows`` carry partition values as trailing columns."""
        with self._lock:
            project = project.lower()
            if project not in self.catalog:
                raise sql_error(PROJECT_NOT_FOUND, f"project {project} does not exist")
            now = self.now()
            meta = TableMeta(
                project=project,
                name=name.lower(),
                columns=[checked_column(c) for c in columns],
                partition_keys=[checked_column(c) for c in partition_keys or []],
                comment=comment,
                lifecycle=lifecycle,
                owner=owner,
                create_time=now,
                last_ddl_time=now,
                last_modified_time=now,
                properties=dict(properties or {}),
            )
            self.validate_new_table(meta, None)
            if meta.name in self.catalog[project]:
                raise sql_error(TABLE_EXISTS, f"table {project}.{meta.name} already exists")
            with self._cursor() as cur:
                store_table(self, cur, meta, rows or [])
            return copy_meta(meta)

    def validate_new_table(self, meta: TableMeta, pos: tuple[int, int] | None) -> None:
        if not TABLE_NAME_RE.match(meta.name):
            raise sql_error(SEMANTIC_ERROR, f"invalid table name '{meta.name}'", pos)
        if not meta.columns:
            raise sql_error(SEMANTIC_ERROR, f"table {meta.project}.{meta.name} must have at least one column", pos)
        seen: set[str] = set()
        for column in meta.all_columns:
            if not COLUMN_NAME_RE.match(column.name):
                raise sql_error(SEMANTIC_ERROR, f"invalid column name '{column.name}'", pos)
            if column.name in seen:
                raise sql_error(SEMANTIC_ERROR, f"column {column.name} is repeated in table definition", pos)
            seen.add(column.name)

    # -- SQL entry points --------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """JSON-serialisable snapshot of every project, table definition and row."""
        with self._lock, self._cursor() as cur:
            return dump_catalog(self, cur)

    def load(self, data: Mapping[str, Any]) -> None:
        """Replace all state with a :meth:`dump` snapshot; on error the old state is kept."""
        with self._lock:
            old = (self._con, self._db, self.catalog)
            self._con, self._db = self._connect()
            self.catalog = {}
            try:
                with self._cursor() as cur:
                    load_catalog(self, cur, data)
            except BaseException:
                self._con.close()
                self._con, self._db, self.catalog = old
                raise
            old[0].close()

    def compile(self, script: str) -> list[Statement]:
        return self._compiler.compile(script)

    def analyze(
        self, script: str, default_project: str, settings: Mapping[str, str] | None = None
    ) -> list[StatementAccess]:
        """Parse ``script`` and report the tables each statement touches; nothing is executed."""
        with self._lock:
            statements = self._compiler.compile(script)
            flags = {k.lower(): str(v) for k, v in (settings or {}).items()}
            project = default_project.lower()
            accesses: list[StatementAccess] = []
            for st in statements:
                if st.kind == "set":
                    assert st.setting is not None
                    flags[st.setting[0]] = st.setting[1]
                    accesses.append(StatementAccess("set"))
                else:
                    accesses.append(access(st, project, flags))
            return accesses

    def execute(
        self,
        script: str,
        default_project: str,
        owner: str = "",
        settings: Mapping[str, str] | None = None,
    ) -> ExecutionResult:
        """Run every statement of ``script`` in order and return the last statement's result.

        The whole script is parsed before anything runs, so a syntax error changes nothing;
        statements that ran before a failing statement stay applied.
        """
        with self._lock:
            statements = self._compiler.compile(script)
            flags = {k.lower(): str(v) for k, v in (settings or {}).items()}
            project = default_project.lower()
            result = ExecutionResult(None, [], "OK")
            with self._cursor() as cur:
                for st in statements:
                    if st.kind == "set":
                        assert st.setting is not None
                        flags[st.setting[0]] = st.setting[1]
                        result = ExecutionResult(None, [], "OK")
                        continue
                    result = self._run(cur, st, project, flags, owner)
            return result

    # -- compilation -------------------------------------------------------------------------

    def bind(self, body: exp.Expression, default_project: str, flags: Mapping[str, str], pos: tuple[int, int]) -> None:
        """Point every table of ``body`` at its DuckDB table (catalog-qualified, quoted).

        Unqualified references keep working because each table gets its written name as alias.
        Also applies the full-scan guard.
        """
        guard = self._fullscan_guard and flags.get("odps.sql.allow.fullscan", "false").lower() != "true"
        for table, scope in source_tables(body, pos):
            meta = self.require(resolve(table, default_project, flags), table, pos)
            if guard and meta.partition_keys:
                check_partition_predicate(table, scope, meta)
            if table.args.get("alias") is None:
                table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
            table.set("this", exp.to_identifier(meta.name, quoted=True))
            table.set("db", exp.to_identifier(meta.project, quoted=True))
            table.set("catalog", exp.to_identifier(self._db, quoted=True))

    def require(self, ref: TableRef, node: exp.Expression | None, pos: tuple[int, int] | None) -> TableMeta:
        meta = self.catalog.get(ref.project, {}).get(ref.name)
        if meta is None:
            raise sql_error(
                TABLE_NOT_FOUND, f"table {ref.project}.{ref.name} cannot be resolved", node_pos(node) or pos
            )
        return meta

    def require_table(self, ref: TableRef, node: exp.Expression | None, pos: tuple[int, int] | None) -> TableMeta:
        """Like :meth:`require`, refusing views (which hold no data of their own)."""
        meta = self.require(ref, node, pos)
        if meta.is_view:
            raise sql_error(SEMANTIC_ERROR, f"{ref.project}.{ref.name} is a view", node_pos(node) or pos)
        return meta

    # -- execution ---------------------------------------------------------------------------

    def _run(
        self,
        cur: duckdb.DuckDBPyConnection,
        st: Statement,
        project: str,
        flags: Mapping[str, str],
        owner: str,
    ) -> ExecutionResult:
        handlers: dict[str, Callable[[], ExecutionResult]] = {
            "select": lambda: self._run_select(cur, st, project, flags),
            "insert": lambda: run_insert(self, cur, st, project, flags),
            "create_table": lambda: run_create(self, cur, st, project, flags, owner),
            "create_view": lambda: run_create_view(self, cur, st, project, flags, owner),
            "drop_table": lambda: run_drop(self, cur, st, project, flags),
            "drop_view": lambda: run_drop(self, cur, st, project, flags),
            "alter": lambda: run_alter(self, cur, st, project, flags),
            "truncate": lambda: run_truncate(self, cur, st, project, flags),
            "desc": lambda: self._run_desc(st, project, flags),
            "show_tables": lambda: self._run_show_tables(st, project),
            "show_partitions": lambda: self._run_show_partitions(st, project, flags),
        }
        try:
            return handlers[st.kind]()
        except duckdb.Error as err:
            raise self._map_duckdb_error(err, st) from None

    def to_duckdb(self, node: exp.Expression, pos: tuple[int, int]) -> str:
        try:
            return to_duckdb_types(node).sql(
                dialect="duckdb", identify=True, comments=False, unsupported_level=ErrorLevel.RAISE
            )
        except UnsupportedError as err:
            raise sql_error(SEMANTIC_ERROR, f"unsupported construct: {err}", pos) from None

    def query(
        self, cur: duckdb.DuckDBPyConnection, sql: str, pos: tuple[int, int]
    ) -> tuple[list[str], list[tuple[str, str | None]], duckdb.DuckDBPyRelation]:
        rel = cur.sql(sql)
        if rel is None:
            raise sql_error(SEMANTIC_ERROR, "statement returns no rows", pos)
        names = [str(n).lower() for n in rel.columns]
        try:
            types = [result_type(t) for t in rel.types]
        except UnsupportedTypeError as err:
            raise sql_error(SEMANTIC_ERROR, f"result type {err} is not supported", pos) from None
        return names, types, rel

    def _run_select(
        self, cur: duckdb.DuckDBPyConnection, st: Statement, project: str, flags: Mapping[str, str]
    ) -> ExecutionResult:
        assert st.node is not None
        self.bind(st.node, project, flags, st.pos)
        name_projections(st.node)
        sql = self.to_duckdb(st.node, st.pos)
        names, types, rel = self.query(cur, sql, st.pos)
        if any(cast for _, cast in types):
            inner = ", ".join(quote(f"c{i}") for i in range(len(names)))
            projection = ", ".join(
                (f"CAST({quote(f'c{i}')} AS {cast})" if cast else quote(f"c{i}")) + f" AS {quote(name)}"
                for i, (name, (_, cast)) in enumerate(zip(names, types, strict=True))
            )
            rows = cur.execute(f"SELECT {projection} FROM ({sql}) AS {quote('__q')}({inner})").fetchall()  # noqa: S608
        else:
            rows = rel.fetchall()
        columns = [Column(name, mc_type) for name, (mc_type, _) in zip(names, types, strict=True)]
        return ExecutionResult(columns, rows, None)

    def _run_desc(self, st: Statement, project: str, flags: Mapping[str, str]) -> ExecutionResult:
        node = st.node
        assert isinstance(node, exp.Describe)
        table = desc_table(node, st.pos)
        meta = self.require(resolve(table, project, flags), table, st.pos)
        return ExecutionResult(None, [], desc_text(meta))

    def _run_show_tables(self, st: Statement, project: str) -> ExecutionResult:
        target = st.show_project or project
        if target not in self.catalog:
            raise sql_error(PROJECT_NOT_FOUND, f"project {target} does not exist", st.pos)
        pattern = like_regex(st.show_pattern) if st.show_pattern is not None else None
        lines = [
            f"{meta.owner}:{name}"
            for name, meta in sorted(self.catalog[target].items())
            if pattern is None or pattern.match(name)
        ]
        return ExecutionResult(None, [], "".join(line + "\n" for line in lines))

    def _run_show_partitions(self, st: Statement, project: str, flags: Mapping[str, str]) -> ExecutionResult:
        assert isinstance(st.node, exp.Table)
        meta = self.require(resolve(st.node, project, flags), st.node, st.pos)
        if not meta.partition_keys:
            raise sql_error(SEMANTIC_ERROR, f"table {meta.project}.{meta.name} is not a partitioned table", st.pos)
        specs = self.partitions(meta.project, meta.name)
        return ExecutionResult(None, [], "".join("/".join(f"{k}={v}" for k, v in s.items()) + "\n" for s in specs))

    # -- DuckDB errors -----------------------------------------------------------------------

    def _map_duckdb_error(self, err: duckdb.Error, st: Statement) -> SqlError:
        """Translate a DuckDB failure into MaxCompute wording, keeping only its first line."""
        lines = str(err).strip().splitlines()
        text = re.sub(r"^[A-Za-z ]*Error: ", "", lines[0] if lines else "unknown error")
        text = text.replace(f"{quote(self._db)}.", "").replace(f"{self._db}.", "")
        text = re.sub(r" when casting from source column \S+", "", text)
        pos = st.pos
        if isinstance(err, duckdb.ConversionException):
            return sql_error(CAST_ERROR, text, pos)
        if isinstance(err, (duckdb.OutOfRangeException, duckdb.InvalidInputException, duckdb.ConstraintException)):
            return sql_error(INVALID_ARGUMENT, text, pos)
        if isinstance(err, duckdb.CatalogException):
            match = re.search(r"Function with name (\S+) does not exist", text)
            if match:
                return sql_error(SEMANTIC_ERROR, f"function {match.group(1)} cannot be resolved", pos)
            return sql_error(SEMANTIC_ERROR, text, pos)
        if isinstance(err, duckdb.BinderException):
            match = re.search(r'Referenced column "([^"]+)" not found', text)
            if match:
                name = match.group(1)
                column = next((c for c in (st.node.find_all(exp.Column) if st.node else []) if c.name == name), None)
                return sql_error(SEMANTIC_ERROR, f"column {name} cannot be resolved", node_pos(column) or pos)
            match = re.search(r'column "([^"]+)" must appear in the GROUP BY clause', text)
            if match:
                return sql_error(
                    SEMANTIC_ERROR, f"column reference {match.group(1)} should appear in GROUP BY key", pos
                )
            return sql_error(SEMANTIC_ERROR, text, pos)
        if isinstance(err, duckdb.ParserException):
            return sql_error(PARSE_ERROR, text, pos)
        return sql_error(INTERNAL_ERROR, text, pos)

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

import base64
import datetime as dt
import io
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb
from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError, ParseError, TokenError, UnsupportedError
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokenizer_core import Token, TokenType

from .sql_dialect import (
    FunctionArgumentError,
    MaxCompute,
    UnsupportedTypeError,
    duckdb_type,
    mc_type_from_datatype,
    normalize_type,
    to_duckdb_types,
)

__all__ = [
    "Column",
    "ExecutionResult",
    "SqlEngine",
    "SqlError",
    "StatementAccess",
    "TableMeta",
    "TableRef",
    "result_descriptor",
    "result_to_csv",
]

# MaxCompute error codes and their fixed general descriptions ("code:[l,c] title - detail").
PARSE_ERROR = "ODPS-0130161"
SEMANTIC_ERROR = "ODPS-0130071"
TABLE_NOT_FOUND = "ODPS-0130131"
TABLE_EXISTS = "ODPS-0130211"
PARTITION_ERROR = "ODPS-0123031"
CAST_ERROR = "ODPS-0123091"
INVALID_ARGUMENT = "ODPS-0121095"
PROJECT_NOT_FOUND = "ODPS-0420111"
INTERNAL_ERROR = "ODPS-0010000"

_TITLES: dict[str, str] = {
    PARSE_ERROR: "Parse exception",
    SEMANTIC_ERROR: "Semantic analysis exception",
    TABLE_NOT_FOUND: "Table not found",
    TABLE_EXISTS: "Table or view already exists",
    PARTITION_ERROR: "Partition exception",
    CAST_ERROR: "Illegal type cast",
    INVALID_ARGUMENT: "Invalid argument",
    PROJECT_NOT_FOUND: "Project not found",
    INTERNAL_ERROR: "System internal error",
}

_DUMP_FORMAT = "clarityq-emulator-sql/1"
_PROJECT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
_COLUMN_NAME = re.compile(r"^[^\W\d]\w{0,127}$")
_RESERVED_SCHEMAS = frozenset({"information_schema", "pg_catalog"})
_SETTING_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")
_TEMP_SOURCE = '"temp"."main"."__cq_src"'
_TEMP_ROWS = '"temp"."main"."__cq_new"'
_INT_BOUNDS: dict[str, tuple[int, int]] = {
    "tinyint": (-(2**7), 2**7 - 1),
    "smallint": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_EPOCH = dt.datetime(1970, 1, 1)
_TIMESTAMP_TEXT = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?$")
_INSERT_BATCH_VALUES = 2000


class SqlError(Exception):
    """A failed statement, worded the way MaxCompute reports it (``ODPS-xxxxxxx:[l,c] ...``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error(code: str, detail: str, pos: tuple[int, int] | None = None) -> SqlError:
    where = f"[{pos[0]},{pos[1]}] " if pos is not None else ""
    return SqlError(code, f"{code}:{where}{_TITLES[code]} - {detail}")


@dataclass(frozen=True)
class Column:
    """A column as MaxCompute describes it; ``type`` is the lower-case MaxCompute type name."""

    name: str
    type: str
    comment: str = ""


@dataclass
class TableMeta:
    """Catalog entry of one table; times are epoch seconds."""

    project: str
    name: str
    columns: list[Column]
    partition_keys: list[Column]
    comment: str = ""
    lifecycle: int | None = None
    owner: str = ""
    create_time: int = 0
    last_ddl_time: int = 0
    last_modified_time: int = 0
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def all_columns(self) -> list[Column]:
        """Data columns followed by partition keys: the physical column order in DuckDB."""
        return [*self.columns, *self.partition_keys]


@dataclass(frozen=True)
class TableRef:
    """A resolved table name: lower-case project and table."""

    project: str
    name: str


@dataclass(frozen=True)
class StatementAccess:
    """What one statement reads and changes, for the server's permission checks."""

    kind: str
    reads: tuple[TableRef, ...] = ()
    writes: tuple[TableRef, ...] = ()
    creates: tuple[TableRef, ...] = ()
    drops: tuple[TableRef, ...] = ()
    describes: tuple[TableRef, ...] = ()
    lists: tuple[str, ...] = ()


@dataclass
class ExecutionResult:
    """Rows (with MaxCompute-typed columns) for SELECT; ``text`` for every other statement."""

    columns: list[Column] | None
    rows: list[tuple[Any, ...]]
    text: str | None


@dataclass
class _Statement:
    kind: str
    pos: tuple[int, int]
    node: exp.Expression | None = None
    lifecycle: int | None = None
    setting: tuple[str, str] | None = None
    show_project: str | None = None
    show_pattern: str | None = None


@dataclass
class _InsertPlan:
    """How the rows of the temporary source table map onto the target table's columns."""

    projection: list[str]
    params: list[Any]
    static: list[tuple[Column, str]]
    dynamic: list[tuple[Column, int]]


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _q(name: str) -> str:
    """Quote a DuckDB identifier; every name reaching DuckDB goes through here or sqlglot."""
    return '"' + name.replace('"', '""') + '"'


def _token_pos(token: Token) -> tuple[int, int]:
    return token.line, max(1, token.col - (token.end - token.start))


def _node_pos(node: exp.Expression | None) -> tuple[int, int] | None:
    """Start position of the first identifier of ``node`` in the script (sqlglot keeps token meta)."""
    if node is None:
        return None
    found: list[tuple[int, int]] = []
    for ident in node.find_all(exp.Identifier):
        meta = ident.meta
        if "line" in meta and "col" in meta:
            width = int(meta.get("end", 0)) - int(meta.get("start", 0))
            found.append((int(meta["line"]), max(1, int(meta["col"]) - width)))
    return min(found) if found else None


def _literal_text(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Literal):
        return str(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return f"-{node.this.this}"
    return None


def _dedupe(refs: Iterable[TableRef]) -> tuple[TableRef, ...]:
    return tuple(dict.fromkeys(refs))


def _cast_sql(value_sql: str, mc_type: str) -> str:
    """Cast an expression to the storage type of ``mc_type``; DATETIME truncates to milliseconds."""
    target = duckdb_type(mc_type)
    if mc_type == "datetime":
        return f"CAST(date_trunc('millisecond', CAST({value_sql} AS TIMESTAMP)) AS {target})"
    return f"CAST({value_sql} AS {target})"


def _fmt_time(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _to_naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _coerce(value: Any, mc_type: str) -> Any:
    """Convert a Python/JSON value to what the column stores; raises ValueError or TypeError."""
    if value is None:
        return None
    base = mc_type.split("(", 1)[0]
    if base in _INT_BOUNDS:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise TypeError(f"expected an integer, got {value!r}")
        number = int(value)
        low, high = _INT_BOUNDS[base]
        if not low <= number <= high:
            raise ValueError(f"{number} is out of range for {mc_type}")
        return number
    if base in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if base == "decimal":
        if isinstance(value, float):
            value = repr(value)
        if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
            raise TypeError(f"expected a decimal, got {value!r}")
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError(f"invalid decimal {value!r}") from None
    if base in ("string", "varchar", "char"):
        if isinstance(value, bytes):
            return value.decode("utf-8")
        if isinstance(value, (dict, list)):
            raise TypeError(f"expected a string, got {value!r}")
        return value if isinstance(value, str) else str(value)
    if base == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError(f"invalid boolean {value!r}")
    if base == "datetime":
        moment = _coerce_datetime(value)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if base == "timestamp":
        if isinstance(value, str) and (match := _TIMESTAMP_TEXT.match(value.strip())):
            # Keep the text: DuckDB parses all nine fraction digits, Python stops at six.
            return f"{match.group(1)} {match.group(2)}.{(match.group(3) or '').ljust(9, '0')}"
        return _coerce_datetime(value).strftime("%Y-%m-%d %H:%M:%S.%f")
    if base == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            return dt.date.fromisoformat(value)
        raise TypeError(f"expected a date, got {value!r}")
    if base == "binary":
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict) and isinstance(value.get("base64"), str):
            return base64.b64decode(value["base64"], validate=True)
        raise TypeError(f"expected bytes, got {value!r}")
    raise ValueError(f"unsupported type {mc_type}")


def _coerce_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return _to_naive_utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        return _to_naive_utc(dt.datetime.fromisoformat(text))
    raise TypeError(f"expected a datetime, got {value!r}")


def _encode_value(value: Any, mc_type: str) -> Any:
    """JSON form of a stored value, read back by :func:`_coerce`."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot encode {type(value).__name__} for {mc_type}")


def _format_epoch_ns(nanos: int) -> str:
    seconds, fraction = divmod(nanos, 1_000_000_000)
    moment = _EPOCH + dt.timedelta(seconds=seconds)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{fraction:09d}"


# DuckDB result type id -> (MaxCompute type, DuckDB cast applied before fetching or None).
_RESULT_TYPES: dict[str, tuple[str, str | None]] = {
    "bigint": ("bigint", None),
    "integer": ("int", None),
    "smallint": ("smallint", None),
    "tinyint": ("tinyint", None),
    # SUM(bigint) is HUGEINT in DuckDB and BIGINT in MaxCompute; overflow raises on the cast.
    "hugeint": ("bigint", "BIGINT"),
    "uhugeint": ("bigint", "BIGINT"),
    "ubigint": ("bigint", "BIGINT"),
    "uinteger": ("bigint", "BIGINT"),
    "usmallint": ("int", "INTEGER"),
    "utinyint": ("smallint", "SMALLINT"),
    "double": ("double", None),
    "float": ("float", None),
    "varchar": ("string", None),
    "blob": ("binary", None),
    "boolean": ("boolean", None),
    "date": ("date", None),
    "timestamp": ("datetime", None),
    "timestamp_ms": ("datetime", None),
    "timestamp_s": ("datetime", None),
    "timestamp_ns": ("timestamp", None),
    # Fetching TIMESTAMPTZ needs pytz; the session time zone is UTC, so the cast is exact.
    "timestamp with time zone": ("datetime", "TIMESTAMP"),
    "null": ("string", "VARCHAR"),
    "uuid": ("string", "VARCHAR"),
    "time": ("string", "VARCHAR"),
    "enum": ("string", "VARCHAR"),
    "bit": ("string", "VARCHAR"),
}
_DECIMAL_TYPE = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")


def _result_type(duck_type: Any) -> tuple[str, str | None]:
    type_id = str(duck_type.id)
    if type_id == "decimal":
        match = _DECIMAL_TYPE.match(str(duck_type))
        if match is None:
            raise UnsupportedTypeError(str(duck_type).lower())
        return f"decimal({match.group(1)},{match.group(2)})", None
    if type_id not in _RESULT_TYPES:
        raise UnsupportedTypeError(str(duck_type).lower())
    return _RESULT_TYPES[type_id]


def _split_statements(tokens: list[Token]) -> list[list[Token]]:
    groups: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            groups.append([])
        else:
            groups[-1].append(token)
    return [group for group in groups if group]


def _token_error_pos(script: str) -> tuple[int, int]:
    """Best guess at an unterminated quote or comment: the tokenizer reports no position."""
    candidates = [script.rfind(ch) for ch in ("'", '"', "`") if script.count(ch) % 2]
    if "/*" in script:
        candidates.append(script.rfind("/*"))
    offset = min((c for c in candidates if c >= 0), default=0)
    line = script.count("\n", 0, offset) + 1
    return line, offset - (script.rfind("\n", 0, offset) + 1) + 1


def _output_name_projections(query: exp.Expression) -> None:
    """Name unaliased SELECT expressions ``_c<i>`` as MaxCompute does (DuckDB uses the SQL text)."""
    while isinstance(query, (exp.SetOperation, exp.Subquery)):
        query = query.this
    if not isinstance(query, exp.Select):
        return
    for index, projection in enumerate(list(query.expressions)):
        if not isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
            projection.replace(exp.alias_(projection.copy(), f"_c{index}"))


def _like_regex(pattern: str) -> re.Pattern[str]:
    parts = [".*" if ch in "*%" else re.escape(ch) for ch in pattern.lower()]
    return re.compile("^" + "".join(parts) + "$")


# ---------------------------------------------------------------------------------------------
# Engine
# ---------------------------------------------------------------------------------------------


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
        self._dialect = MaxCompute()
        self._con, self._db = self._connect()
        self._catalog: dict[str, dict[str, TableMeta]] = {}

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

    def _fq(self, project: str, name: str) -> str:
        return f"{_q(self._db)}.{_q(project)}.{_q(name)}"

    def _now(self) -> int:
        return int(self._clock())

    def create_project(self, project: str) -> None:
        """Create a project (a DuckDB schema) if it does not exist yet."""
        name = project.lower()
        if not _PROJECT_NAME.match(name) or name in _RESERVED_SCHEMAS:
            raise ValueError(f"invalid project name {project!r}")
        with self._lock:
            if name in self._catalog:
                return
            self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(self._db)}.{_q(name)}")
            self._catalog[name] = {}

    def has_project(self, project: str) -> bool:
        with self._lock:
            return project.lower() in self._catalog

    def list_projects(self) -> list[str]:
        with self._lock:
            return sorted(self._catalog)

    def list_tables(self, project: str, prefix: str | None = None) -> list[TableMeta]:
        """Tables of a project sorted by name, optionally only names starting with ``prefix``."""
        with self._lock:
            tables = self._catalog.get(project.lower(), {})
            wanted = (prefix or "").lower()
            return [_copy_meta(tables[name]) for name in sorted(tables) if name.startswith(wanted)]

    def get_table(self, project: str, name: str) -> TableMeta | None:
        with self._lock:
            meta = self._catalog.get(project.lower(), {}).get(name.lower())
            return _copy_meta(meta) if meta is not None else None

    def _meta(self, project: str, name: str) -> TableMeta:
        meta = self._catalog.get(project.lower(), {}).get(name.lower())
        if meta is None:
            raise _error(TABLE_NOT_FOUND, f"table {project.lower()}.{name.lower()} cannot be resolved")
        return meta

    def record_count(self, project: str, name: str) -> int:
        with self._lock, self._cursor() as cur:
            meta = self._meta(project, name)
            row = cur.execute(f"SELECT count(*) FROM {self._fq(meta.project, meta.name)}").fetchone()  # noqa: S608
            return int(row[0]) if row else 0

    def partitions(self, project: str, name: str) -> list[dict[str, str]]:
        """Partition specs holding at least one row, sorted, as ``{key: value}`` in key order."""
        with self._lock, self._cursor() as cur:
            meta = self._meta(project, name)
            if not meta.partition_keys:
                return []
            keys = [c.name for c in meta.partition_keys]
            cols = ", ".join(f"CAST({_q(k)} AS VARCHAR)" for k in keys)
            rows = cur.execute(
                f"SELECT DISTINCT {cols} FROM {self._fq(meta.project, meta.name)} ORDER BY ALL"  # noqa: S608
            ).fetchall()
            return [dict(zip(keys, (str(v) for v in row), strict=True)) for row in rows]

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
                raise _error(SEMANTIC_ERROR, f"column {missing[0]} cannot be resolved")
            where, params = self._partition_filter(meta, partition)
            select = ", ".join(_q(c) for c in wanted)
            sql = f"SELECT {select} FROM {self._fq(meta.project, meta.name)}{where}"  # noqa: S608
            return [by_name[c] for c in wanted], cur.execute(sql, params).fetchall()

    def _partition_filter(self, meta: TableMeta, partition: Mapping[str, str] | None) -> tuple[str, list[Any]]:
        if not partition:
            return "", []
        spec = self._static_spec(meta, partition, require_all=False)
        conds = [f"{_q(col.name)} = {_cast_sql('?', col.type)}" for col, _ in spec]
        return " WHERE " + " AND ".join(conds), [value for _, value in spec]

    def _static_spec(
        self, meta: TableMeta, partition: Mapping[str, str], *, require_all: bool
    ) -> list[tuple[Column, str]]:
        keys = {c.name: c for c in meta.partition_keys}
        if not keys:
            raise _error(PARTITION_ERROR, f"table {meta.project}.{meta.name} is not partitioned")
        spec: list[tuple[Column, str]] = []
        for key, value in partition.items():
            column = keys.get(key.lower())
            if column is None:
                raise _error(PARTITION_ERROR, f"partition column {key.lower()} does not exist")
            if value is None or str(value) == "":
                raise _error(PARTITION_ERROR, f"invalid partition value: {key.lower()}={value}")
            spec.append((column, str(value)))
        missing = [k for k in keys if k not in {c.name for c, _ in spec}]
        if require_all and missing:
            raise _error(PARTITION_ERROR, f"partition spec is incomplete, missing: {', '.join(missing)}")
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
            static = self._static_spec(meta, partition or {}, require_all=True) if meta.partition_keys else []
            if partition and not meta.partition_keys:
                raise _error(PARTITION_ERROR, f"table {meta.project}.{meta.name} is not partitioned")
            count = self._materialize(cur, meta.columns, rows)
            plan = self._plan_from_spec(meta, [c.name for c in meta.columns], static, [])
            self._write(cur, meta, plan, overwrite=overwrite, pos=None)
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
            if project not in self._catalog:
                raise _error(PROJECT_NOT_FOUND, f"project {project} does not exist")
            now = self._now()
            meta = TableMeta(
                project=project,
                name=name.lower(),
                columns=[self._checked_column(c) for c in columns],
                partition_keys=[self._checked_column(c) for c in partition_keys or []],
                comment=comment,
                lifecycle=lifecycle,
                owner=owner,
                create_time=now,
                last_ddl_time=now,
                last_modified_time=now,
                properties=dict(properties or {}),
            )
            self._validate_new_table(meta, None)
            if meta.name in self._catalog[project]:
                raise _error(TABLE_EXISTS, f"table {project}.{meta.name} already exists")
            with self._cursor() as cur:
                self._store_table(cur, meta, rows or [])
            return _copy_meta(meta)

    @staticmethod
    def _checked_column(column: Column) -> Column:
        try:
            mc_type = normalize_type(column.type)
        except UnsupportedTypeError as err:
            raise _error(SEMANTIC_ERROR, f"type {err} is not supported (column {column.name})") from None
        return Column(column.name.lower(), mc_type, column.comment)

    def _validate_new_table(self, meta: TableMeta, pos: tuple[int, int] | None) -> None:
        if not _TABLE_NAME.match(meta.name):
            raise _error(SEMANTIC_ERROR, f"invalid table name '{meta.name}'", pos)
        if not meta.columns:
            raise _error(SEMANTIC_ERROR, f"table {meta.project}.{meta.name} must have at least one column", pos)
        seen: set[str] = set()
        for column in meta.all_columns:
            if not _COLUMN_NAME.match(column.name):
                raise _error(SEMANTIC_ERROR, f"invalid column name '{column.name}'", pos)
            if column.name in seen:
                raise _error(SEMANTIC_ERROR, f"column {column.name} is repeated in table definition", pos)
            seen.add(column.name)

    def _store_table(self, cur: duckdb.DuckDBPyConnection, meta: TableMeta, rows: Sequence[Sequence[Any]]) -> None:
        """Create the DuckDB table and load ``rows`` atomically, then register the metadata."""
        target = self._fq(meta.project, meta.name)
        cols = ", ".join(f"{_q(c.name)} {duckdb_type(c.type)}" for c in meta.all_columns)
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(f"CREATE TABLE {target} ({cols})")
            self._insert_values(cur, target, meta.all_columns, rows)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        self._catalog[meta.project][meta.name] = meta

    def _insert_values(
        self,
        cur: duckdb.DuckDBPyConnection,
        target: str,
        columns: list[Column],
        rows: Iterable[Sequence[Any]],
    ) -> int:
        """Insert Python rows with bound parameters, in multi-row batches."""
        width = len(columns)
        placeholder = "(" + ", ".join(_cast_sql("?", c.type) for c in columns) + ")"
        per_batch = max(1, _INSERT_BATCH_VALUES // max(1, width))
        batch: list[Any] = []
        count = pending = 0
        for index, row in enumerate(rows):
            if len(row) != width:
                raise _error(INVALID_ARGUMENT, f"row {index} has {len(row)} values, the table has {width} columns")
            for value, column in zip(row, columns, strict=True):
                try:
                    batch.append(_coerce(value, column.type))
                except (ValueError, TypeError) as err:
                    raise _error(CAST_ERROR, f"row {index}, column {column.name}: {err}") from None
            pending += 1
            if pending == per_batch:
                cur.execute(f"INSERT INTO {target} VALUES " + ", ".join([placeholder] * pending), batch)  # noqa: S608
                count, batch, pending = count + pending, [], 0
        if pending:
            cur.execute(f"INSERT INTO {target} VALUES " + ", ".join([placeholder] * pending), batch)  # noqa: S608
            count += pending
        return count

    # -- snapshot ----------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """JSON-serialisable snapshot of every project, table definition and row."""
        with self._lock, self._cursor() as cur:
            projects: dict[str, Any] = {}
            for project in sorted(self._catalog):
                tables = []
                for name in sorted(self._catalog[project]):
                    meta = self._catalog[project][name]
                    tables.append({**_meta_to_json(meta), "rows": self._dump_rows(cur, meta)})
                projects[project] = {"tables": tables}
            return {"format": _DUMP_FORMAT, "projects": projects}

    def _dump_rows(self, cur: duckdb.DuckDBPyConnection, meta: TableMeta) -> list[list[Any]]:
        cols = meta.all_columns
        select = ", ".join(f"epoch_ns({_q(c.name)})" if c.type == "timestamp" else _q(c.name) for c in cols)
        rows = cur.execute(f"SELECT {select} FROM {self._fq(meta.project, meta.name)}").fetchall()  # noqa: S608
        out: list[list[Any]] = []
        for row in rows:
            encoded: list[Any] = []
            for value, column in zip(row, cols, strict=True):
                if column.type == "timestamp" and value is not None:
                    encoded.append(_format_epoch_ns(int(value)))
                else:
                    encoded.append(_encode_value(value, column.type))
            out.append(encoded)
        return out

    def load(self, data: Mapping[str, Any]) -> None:
        """Replace all state with a :meth:`dump` snapshot; on error the old state is kept."""
        if data.get("format") != _DUMP_FORMAT:
            raise ValueError(f"not an emulator SQL snapshot (format {data.get('format')!r})")
        with self._lock:
            old = (self._con, self._db, self._catalog)
            self._con, self._db = self._connect()
            self._catalog = {}
            try:
                for project, content in dict(data.get("projects", {})).items():
                    self.create_project(project)
                    with self._cursor() as cur:
                        for table in content.get("tables", []):
                            meta = _meta_from_json(project.lower(), table)
                            self._store_table(cur, meta, table.get("rows", []))
            except BaseException:
                self._con.close()
                self._con, self._db, self._catalog = old
                raise
            old[0].close()

    # -- SQL entry points --------------------------------------------------------------------

    def analyze(
        self, script: str, default_project: str, settings: Mapping[str, str] | None = None
    ) -> list[StatementAccess]:
        """Parse ``script`` and report the tables each statement touches; nothing is executed."""
        with self._lock:
            statements = self._compile(script)
            flags = {k.lower(): str(v) for k, v in (settings or {}).items()}
            project = default_project.lower()
            accesses: list[StatementAccess] = []
            for st in statements:
                if st.kind == "set":
                    assert st.setting is not None
                    flags[st.setting[0]] = st.setting[1]
                    accesses.append(StatementAccess("set"))
                else:
                    accesses.append(self._access(st, project, flags))
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
            statements = self._compile(script)
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

    def _compile(self, script: str) -> list[_Statement]:
        try:
            tokens = self._dialect.tokenize(script)
        except TokenError:
            raise _error(
                PARSE_ERROR, "unterminated string, quoted identifier or comment", _token_error_pos(script)
            ) from None
        statements = [self._compile_one(script, group) for group in _split_statements(tokens)]
        if not statements:
            raise _error(PARSE_ERROR, "no statement found", (1, 1))
        return statements

    def _compile_one(self, script: str, tokens: list[Token]) -> _Statement:
        first = tokens[0]
        pos = _token_pos(first)
        word = first.text.upper()
        if word == "SET":
            return self._compile_set(script, tokens, pos)
        if word == "SHOW":
            return self._compile_show(script, tokens, pos)
        lifecycle = None
        if word == "CREATE":
            tokens, lifecycle = self._strip_lifecycle(tokens)
        try:
            parsed = self._dialect.parser(error_level=ErrorLevel.IMMEDIATE).parse(tokens, script)
        except ParseError as err:
            raise self._parse_error(err, pos) from None
        except FunctionArgumentError as err:
            raise _error(SEMANTIC_ERROR, str(err), pos) from None
        node = parsed[0] if len(parsed) == 1 else None
        if not isinstance(node, exp.Expression):
            raise _error(PARSE_ERROR, "invalid statement", pos)
        return _Statement(self._kind_of(node, first, pos), pos, node, lifecycle)

    @staticmethod
    def _parse_error(err: ParseError, pos: tuple[int, int]) -> SqlError:
        info = err.errors[0] if err.errors else {}
        line, col = info.get("line"), info.get("col")
        highlight = str(info.get("highlight") or "")
        description = str(info.get("description") or "invalid statement")
        if isinstance(line, int) and isinstance(col, int):
            pos = (line, max(1, col - max(0, len(highlight) - 1)))
        if "<" in description:  # sqlglot internals such as "<Token token_type: ...>"
            detail = f"invalid token '{highlight}'" if highlight else "invalid statement"
        else:
            detail = f"{description} near '{highlight}'" if highlight else description
        return _error(PARSE_ERROR, detail, pos)

    @staticmethod
    def _strip_lifecycle(tokens: list[Token]) -> tuple[list[Token], int | None]:
        """Drop ``LIFECYCLE <n>`` (sqlglot would turn the statement into an opaque Command)."""
        kept: list[Token] = []
        lifecycle = None
        skip = False
        for index, token in enumerate(tokens):
            if skip:
                skip = False
                continue
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if token.text.upper() == "LIFECYCLE" and following is not None and following.token_type == TokenType.NUMBER:
                if lifecycle is not None:
                    raise _error(PARSE_ERROR, "LIFECYCLE is specified twice", _token_pos(token))
                lifecycle = int(following.text)
                skip = True
                continue
            kept.append(token)
        return kept, lifecycle

    @staticmethod
    def _compile_set(script: str, tokens: list[Token], pos: tuple[int, int]) -> _Statement:
        eq = next((i for i, t in enumerate(tokens) if t.token_type == TokenType.EQ), None)
        if eq is None or eq == 1:
            raise _error(PARSE_ERROR, "expected SET <key>=<value>", pos)
        key = script[tokens[1].start : tokens[eq].start].strip()
        value = script[tokens[eq].end + 1 : tokens[-1].end + 1].strip() if eq + 1 < len(tokens) else ""
        if not _SETTING_KEY.match(key):
            raise _error(PARSE_ERROR, f"invalid setting name '{key}'", pos)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        return _Statement("set", pos, setting=(key.lower(), value))

    def _compile_show(self, script: str, tokens: list[Token], pos: tuple[int, int]) -> _Statement:
        what = tokens[1].text.upper() if len(tokens) > 1 else ""
        if what == "TABLES":
            rest = tokens[2:]
            project = pattern = None
            if rest and rest[0].text.upper() in ("IN", "FROM"):
                if len(rest) < 2 or rest[1].token_type not in (TokenType.VAR, TokenType.IDENTIFIER):
                    raise _error(PARSE_ERROR, "expected a project name", pos)
                project, rest = rest[1].text.lower(), rest[2:]
            if rest and rest[0].token_type == TokenType.LIKE:
                if len(rest) < 2 or rest[1].token_type != TokenType.STRING:
                    raise _error(PARSE_ERROR, "expected a quoted LIKE pattern", _token_pos(rest[0]))
                pattern, rest = rest[1].text, rest[2:]
            if rest:
                raise _error(PARSE_ERROR, f"invalid token '{rest[0].text}'", _token_pos(rest[0]))
            return _Statement("show_tables", pos, show_project=project, show_pattern=pattern)
        if what == "PARTITIONS" and len(tokens) > 2:
            try:
                table = self._dialect.parser(error_level=ErrorLevel.IMMEDIATE).parse_into(
                    exp.Table, tokens[2:], script
                )[0]
            except ParseError as err:
                raise self._parse_error(err, pos) from None
            if not isinstance(table, exp.Table):
                raise _error(PARSE_ERROR, "expected a table name", pos)
            return _Statement("show_partitions", pos, node=table)
        raise _error(SEMANTIC_ERROR, f"SHOW {what} is not supported by the emulator".strip(), pos)

    @staticmethod
    def _kind_of(node: exp.Expression, first: Token, pos: tuple[int, int]) -> str:
        if isinstance(node, (exp.Select, exp.SetOperation, exp.Subquery)):
            return "select"
        if isinstance(node, exp.Insert):
            return "insert"
        if isinstance(node, exp.Create) and str(node.args.get("kind") or "").upper() == "TABLE":
            return "create_table"
        if isinstance(node, exp.Drop) and str(node.args.get("kind") or "").upper() == "TABLE":
            return "drop_table"
        if isinstance(node, exp.Describe) and str(node.args.get("kind") or "TABLE").upper() == "TABLE":
            return "desc"
        if isinstance(node, exp.TruncateTable):
            return "truncate"
        if isinstance(node, exp.Command):
            raise _error(PARSE_ERROR, f"unsupported statement '{first.text.upper()}'", pos)
        kind = f"{first.text.upper()} {str(node.args.get('kind') or '').upper()}".strip()
        raise _error(SEMANTIC_ERROR, f"{kind} statements are not supported by the emulator", pos)

    # -- name resolution ---------------------------------------------------------------------

    @staticmethod
    def _resolve(table: exp.Table, default_project: str, flags: Mapping[str, str]) -> TableRef:
        """``t`` / ``project.t`` (or ``schema.t`` with odps.namespace.schema) / ``project.schema.t``."""
        pos = _node_pos(table) or (0, 0)
        if not isinstance(table.this, exp.Identifier):
            raise _error(SEMANTIC_ERROR, f"unsupported table expression {table.sql(dialect=MaxCompute)}", pos)
        catalog, db = table.text("catalog"), table.text("db")
        schema: str | None = None
        if catalog:
            project, schema = catalog, db
        elif db and flags.get("odps.namespace.schema", "false").lower() == "true":
            project, schema = default_project, db
        elif db:
            project = db
        else:
            project = default_project
        if schema is not None and schema.lower() != "default":
            raise _error(
                SEMANTIC_ERROR,
                f"schema {project.lower()}.{schema.lower()} cannot be resolved "
                "(the emulator only has the default schema)",
                pos,
            )
        return TableRef(project.lower(), table.name.lower())

    @staticmethod
    def _source_tables(body: exp.Expression, pos: tuple[int, int]) -> list[tuple[exp.Table, Scope]]:
        """Tables whose data ``body`` reads, with their scope; CTE references are skipped."""
        found: list[tuple[exp.Table, Scope]] = []
        handled: set[int] = set()
        try:
            scopes = traverse_scope(body)
        except OptimizeError as err:
            raise _error(SEMANTIC_ERROR, str(err), pos) from None
        for scope in scopes:
            ctes = {name.lower() for name in scope.cte_sources}
            for table in scope.tables:
                if id(table) in handled:
                    continue
                handled.add(id(table))
                qualified = table.args.get("db") or table.args.get("catalog")
                if not qualified and table.name.lower() in ctes:
                    continue
                found.append((table, scope))
        for table in body.find_all(exp.Table):
            if id(table) not in handled:
                raise _error(
                    SEMANTIC_ERROR,
                    f"table reference {table.sql(dialect=MaxCompute)} is not supported in this position",
                    _node_pos(table) or pos,
                )
        return found

    def _reads(
        self,
        body: exp.Expression | None,
        default_project: str,
        flags: Mapping[str, str],
        pos: tuple[int, int],
    ) -> list[TableRef]:
        if body is None:
            return []
        return [self._resolve(t, default_project, flags) for t, _ in self._source_tables(body, pos)]

    def _access(self, st: _Statement, project: str, flags: Mapping[str, str]) -> StatementAccess:
        node = st.node
        assert node is not None or st.kind == "show_tables"
        if st.kind == "select":
            assert node is not None
            return StatementAccess("select", reads=_dedupe(self._reads(node, project, flags, st.pos)))
        if st.kind == "insert":
            assert isinstance(node, exp.Insert)
            target, _ = _insert_target(node, st.pos)
            body = _insert_body(node)
            return StatementAccess(
                "insert",
                reads=_dedupe(self._reads(body, project, flags, st.pos)),
                writes=(self._resolve(target, project, flags),),
            )
        if st.kind == "create_table":
            assert isinstance(node, exp.Create)
            parts = _create_parts(node, st.pos)
            reads = self._reads(node.expression, project, flags, st.pos)
            if parts.like is not None:
                reads.insert(0, self._resolve(parts.like, project, flags))
            return StatementAccess(
                "create_table", reads=_dedupe(reads), creates=(self._resolve(parts.table, project, flags),)
            )
        if st.kind == "drop_table":
            assert isinstance(node, exp.Drop)
            drops = [self._resolve(t, project, flags) for t in _drop_tables(node, st.pos)]
            return StatementAccess("drop_table", drops=_dedupe(drops))
        if st.kind == "truncate":
            assert isinstance(node, exp.TruncateTable)
            writes = [self._resolve(t, project, flags) for t in _truncate_tables(node, st.pos)]
            return StatementAccess("truncate", writes=_dedupe(writes))
        if st.kind == "desc":
            assert isinstance(node, exp.Describe)
            return StatementAccess("desc", describes=(self._resolve(_desc_table(node, st.pos), project, flags),))
        if st.kind == "show_partitions":
            assert isinstance(node, exp.Table)
            return StatementAccess("show_partitions", describes=(self._resolve(node, project, flags),))
        return StatementAccess("show_tables", lists=(st.show_project or project,))

    def _bind(self, body: exp.Expression, default_project: str, flags: Mapping[str, str], pos: tuple[int, int]) -> None:
        """Point every table of ``body`` at its DuckDB table (catalog-qualified, quoted).

        Unqualified references keep working because each table gets its written name as alias.
        Also applies the full-scan guard.
        """
        guard = self._fullscan_guard and flags.get("odps.sql.allow.fullscan", "false").lower() != "true"
        for table, scope in self._source_tables(body, pos):
            meta = self._require(self._resolve(table, default_project, flags), table, pos)
            if guard and meta.partition_keys:
                _check_partition_predicate(table, scope, meta)
            if table.args.get("alias") is None:
                table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
            table.set("this", exp.to_identifier(meta.name, quoted=True))
            table.set("db", exp.to_identifier(meta.project, quoted=True))
            table.set("catalog", exp.to_identifier(self._db, quoted=True))

    def _require(self, ref: TableRef, node: exp.Expression | None, pos: tuple[int, int] | None) -> TableMeta:
        meta = self._catalog.get(ref.project, {}).get(ref.name)
        if meta is None:
            raise _error(TABLE_NOT_FOUND, f"table {ref.project}.{ref.name} cannot be resolved", _node_pos(node) or pos)
        return meta

    # -- execution ---------------------------------------------------------------------------

    def _run(
        self,
        cur: duckdb.DuckDBPyConnection,
        st: _Statement,
        project: str,
        flags: Mapping[str, str],
        owner: str,
    ) -> ExecutionResult:
        handlers: dict[str, Callable[[], ExecutionResult]] = {
            "select": lambda: self._run_select(cur, st, project, flags),
            "insert": lambda: self._run_insert(cur, st, project, flags),
            "create_table": lambda: self._run_create(cur, st, project, flags, owner),
            "drop_table": lambda: self._run_drop(cur, st, project, flags),
            "truncate": lambda: self._run_truncate(cur, st, project, flags),
            "desc": lambda: self._run_desc(st, project, flags),
            "show_tables": lambda: self._run_show_tables(st, project),
            "show_partitions": lambda: self._run_show_partitions(st, project, flags),
        }
        try:
            return handlers[st.kind]()
        except duckdb.Error as err:
            raise self._map_duckdb_error(err, st) from None

    def _to_duckdb(self, node: exp.Expression, pos: tuple[int, int]) -> str:
        try:
            return to_duckdb_types(node).sql(
                dialect="duckdb", identify=True, comments=False, unsupported_level=ErrorLevel.RAISE
            )
        except UnsupportedError as err:
            raise _error(SEMANTIC_ERROR, f"unsupported construct: {err}", pos) from None

    def _query(
        self, cur: duckdb.DuckDBPyConnection, sql: str, pos: tuple[int, int]
    ) -> tuple[list[str], list[tuple[str, str | None]], duckdb.DuckDBPyRelation]:
        rel = cur.sql(sql)
        if rel is None:
            raise _error(SEMANTIC_ERROR, "statement returns no rows", pos)
        names = [str(n).lower() for n in rel.columns]
        try:
            types = [_result_type(t) for t in rel.types]
        except UnsupportedTypeError as err:
            raise _error(SEMANTIC_ERROR, f"result type {err} is not supported", pos) from None
        return names, types, rel

    def _run_select(
        self, cur: duckdb.DuckDBPyConnection, st: _Statement, project: str, flags: Mapping[str, str]
    ) -> ExecutionResult:
        assert st.node is not None
        self._bind(st.node, project, flags, st.pos)
        _output_name_projections(st.node)
        sql = self._to_duckdb(st.node, st.pos)
        names, types, rel = self._query(cur, sql, st.pos)
        if any(cast for _, cast in types):
            inner = ", ".join(_q(f"c{i}") for i in range(len(names)))
            projection = ", ".join(
                (f"CAST({_q(f'c{i}')} AS {cast})" if cast else _q(f"c{i}")) + f" AS {_q(name)}"
                for i, (name, (_, cast)) in enumerate(zip(names, types, strict=True))
            )
            rows = cur.execute(f"SELECT {projection} FROM ({sql}) AS {_q('__q')}({inner})").fetchall()  # noqa: S608
        else:
            rows = rel.fetchall()
        columns = [Column(name, mc_type) for name, (mc_type, _) in zip(names, types, strict=True)]
        return ExecutionResult(columns, rows, None)

    def _run_insert(
        self, cur: duckdb.DuckDBPyConnection, st: _Statement, project: str, flags: Mapping[str, str]
    ) -> ExecutionResult:
        node = st.node
        assert isinstance(node, exp.Insert)
        target, column_list = _insert_target(node, st.pos)
        meta = self._require(self._resolve(target, project, flags), target, st.pos)
        body = _insert_body(node)
        if body is None:
            raise _error(PARSE_ERROR, "INSERT needs VALUES or a SELECT", st.pos)
        self._bind(body, project, flags, st.pos)
        sql = self._to_duckdb(body, st.pos)
        data_targets = self._insert_columns(meta, column_list, st.pos)
        static, dynamic_keys = self._insert_spec(meta, target.args.get("partition"), st.pos)
        width = len(cur.sql(sql).columns)
        expected = len(data_targets) + len(dynamic_keys)
        if width != expected:
            raise _error(
                SEMANTIC_ERROR,
                "Cannot insert into target table because column number/types are different "  # noqa: S608
                f"'{meta.name}': the table needs {expected} values per row, the query returns {width}",
                st.pos,
            )
        inner = ", ".join(_q(f"c{i}") for i in range(width))
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {_q('__cq_src')} AS SELECT * FROM ({sql}) AS {_q('__q')}({inner})")  # noqa: S608
        dynamic = [(key, len(data_targets) + i) for i, key in enumerate(dynamic_keys)]
        plan = self._plan_from_spec(meta, data_targets, static, dynamic)
        self._write(cur, meta, plan, overwrite=bool(node.args.get("overwrite")), pos=st.pos)
        return ExecutionResult(None, [], "OK")

    @staticmethod
    def _insert_columns(meta: TableMeta, column_list: list[str] | None, pos: tuple[int, int]) -> list[str]:
        data_names = [c.name for c in meta.columns]
        if column_list is None:
            return data_names
        for name in column_list:
            if name not in data_names:
                raise _error(SEMANTIC_ERROR, f"column {name} cannot be resolved in table {meta.name}", pos)
        if len(set(column_list)) != len(column_list):
            raise _error(SEMANTIC_ERROR, "a column is repeated in the INSERT column list", pos)
        return column_list

    def _insert_spec(
        self, meta: TableMeta, spec_node: exp.Expression | None, pos: tuple[int, int]
    ) -> tuple[list[tuple[Column, str]], list[Column]]:
        """Static (key, value) pairs and dynamic keys in the order written in PARTITION (...)."""
        keys = {c.name: c for c in meta.partition_keys}
        if spec_node is None:
            if keys:
                raise _error(
                    SEMANTIC_ERROR,
                    f"partition columns of table {meta.project}.{meta.name} must be given in PARTITION (...)",
                    pos,
                )
            return [], []
        if not keys:
            raise _error(SEMANTIC_ERROR, f"table {meta.project}.{meta.name} is not partitioned", pos)
        static: dict[str, str] = {}
        dynamic: list[Column] = []
        seen: list[str] = []
        for item in spec_node.expressions:
            if isinstance(item, exp.EQ) and isinstance(item.this, exp.Column):
                key, value = item.this.name.lower(), _literal_text(item.expression)
                if value is None:
                    raise _error(PARSE_ERROR, "a partition value must be a constant", _node_pos(item) or pos)
                if value == "":
                    raise _error(PARTITION_ERROR, f"invalid partition value: {key}=''", pos)
                static[key] = value
            elif isinstance(item, exp.Column):
                key = item.name.lower()
                if key in keys:
                    dynamic.append(keys[key])
            else:
                raise _error(PARSE_ERROR, "invalid partition specification", pos)
            if key not in keys:
                raise _error(SEMANTIC_ERROR, f"partition column {key} does not exist in table {meta.name}", pos)
            if key in seen:
                raise _error(SEMANTIC_ERROR, f"partition column {key} is repeated", pos)
            seen.append(key)
        missing = [k for k in keys if k not in seen]
        if missing:
            raise _error(SEMANTIC_ERROR, f"partition spec is incomplete, missing: {', '.join(missing)}", pos)
        return [(keys[k], v) for k, v in static.items()], dynamic

    @staticmethod
    def _plan_from_spec(
        meta: TableMeta,
        data_targets: list[str],
        static: list[tuple[Column, str]],
        dynamic: list[tuple[Column, int]],
    ) -> _InsertPlan:
        """Projection over ``__cq_src`` (columns c0..cn) producing the table's column order."""
        projection: list[str] = []
        params: list[Any] = []
        static_by_key = {col.name: value for col, value in static}
        dynamic_by_key = {col.name: index for col, index in dynamic}
        for column in meta.columns:
            if column.name in data_targets:
                source = _q(f"c{data_targets.index(column.name)}")
                projection.append(f"{_cast_sql(source, column.type)} AS {_q(column.name)}")
            else:
                projection.append(f"{_cast_sql('NULL', column.type)} AS {_q(column.name)}")
        for column in meta.partition_keys:
            if column.name in static_by_key:
                projection.append(f"{_cast_sql('?', column.type)} AS {_q(column.name)}")
                params.append(static_by_key[column.name])
            else:
                source = _q(f"c{dynamic_by_key[column.name]}")
                projection.append(f"{_cast_sql(source, column.type)} AS {_q(column.name)}")
        return _InsertPlan(projection, params, static, dynamic)

    def _write(
        self,
        cur: duckdb.DuckDBPyConnection,
        meta: TableMeta,
        plan: _InsertPlan,
        *,
        overwrite: bool,
        pos: tuple[int, int] | None,
    ) -> None:
        """Move ``__cq_src`` into the table; OVERWRITE replaces the touched partitions atomically.

        The source was materialised before anything is deleted, so a query reading the table it
        overwrites sees the old rows.
        """
        target = self._fq(meta.project, meta.name)
        try:
            cur.execute(
                f"CREATE OR REPLACE TEMP TABLE {_q('__cq_new')} AS SELECT {', '.join(plan.projection)} "  # noqa: S608
                f"FROM {_TEMP_SOURCE}",
                plan.params,
            )
            for column, _ in plan.dynamic:
                row = cur.execute(f"SELECT count(*) FROM {_TEMP_ROWS} WHERE {_q(column.name)} IS NULL").fetchone()  # noqa: S608
                if row and row[0]:
                    raise _error(PARTITION_ERROR, f"invalid dynamic partition value: {column.name}=NULL", pos or (0, 0))
            if overwrite:
                cur.execute("BEGIN TRANSACTION")
                try:
                    delete, params = self._overwrite_delete(target, plan)
                    cur.execute(delete, params)
                    cur.execute(f"INSERT INTO {target} SELECT * FROM {_TEMP_ROWS}")  # noqa: S608
                    cur.execute("COMMIT")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
            else:
                cur.execute(f"INSERT INTO {target} SELECT * FROM {_TEMP_ROWS}")  # noqa: S608
        finally:
            cur.execute(f"DROP TABLE IF EXISTS {_TEMP_ROWS}")
            cur.execute(f"DROP TABLE IF EXISTS {_TEMP_SOURCE}")
        meta.last_modified_time = self._now()

    @staticmethod
    def _overwrite_delete(target: str, plan: _InsertPlan) -> tuple[str, list[Any]]:
        conds = [f"{_q(col.name)} = {_cast_sql('?', col.type)}" for col, _ in plan.static]
        params: list[Any] = [value for _, value in plan.static]
        if plan.dynamic:
            keys = ", ".join(_q(col.name) for col, _ in plan.dynamic)
            conds.append(f"({keys}) IN (SELECT DISTINCT {keys} FROM {_TEMP_ROWS})")  # noqa: S608
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        return f"DELETE FROM {target}{where}", params  # noqa: S608

    def _materialize(self, cur: duckdb.DuckDBPyConnection, columns: list[Column], rows: Iterable[Sequence[Any]]) -> int:
        cols = ", ".join(f"{_q(f'c{i}')} {duckdb_type(c.type)}" for i, c in enumerate(columns))
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {_q('__cq_src')} ({cols})")
        try:
            return self._insert_values(cur, _TEMP_SOURCE, columns, rows)
        except BaseException:
            cur.execute(f"DROP TABLE IF EXISTS {_TEMP_SOURCE}")
            raise

    def _run_create(
        self,
        cur: duckdb.DuckDBPyConnection,
        st: _Statement,
        project: str,
        flags: Mapping[str, str],
        owner: str,
    ) -> ExecutionResult:
        node = st.node
        assert isinstance(node, exp.Create)
        parts = _create_parts(node, st.pos)
        ref = self._resolve(parts.table, project, flags)
        pos = _node_pos(parts.table) or st.pos
        if ref.project not in self._catalog:
            raise _error(PROJECT_NOT_FOUND, f"project {ref.project} does not exist", pos)
        existing = self._catalog[ref.project].get(ref.name)
        if existing is not None and node.args.get("exists"):
            return ExecutionResult(None, [], "OK")
        if existing is not None and not node.args.get("replace"):
            raise _error(TABLE_EXISTS, f"table {ref.project}.{ref.name} already exists", pos)
        columns = [self._column_from_def(cd, st.pos) for cd in parts.columns]
        partition_keys = [self._column_from_def(cd, st.pos) for cd in parts.partition_columns]
        query_sql: str | None = None
        if parts.like is not None:
            source = self._require(self._resolve(parts.like, project, flags), parts.like, st.pos)
            columns, partition_keys = list(source.columns), list(source.partition_keys)
        elif node.expression is not None:
            body = node.expression
            self._bind(body, project, flags, st.pos)
            _output_name_projections(body)
            query_sql = self._to_duckdb(body, st.pos)
            names, types, _ = self._query(cur, query_sql, st.pos)
            columns = [Column(name, mc_type) for name, (mc_type, _) in zip(names, types, strict=True)]
        now = self._now()
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
        self._validate_new_table(meta, pos)
        target = self._fq(meta.project, meta.name)
        cols = ", ".join(f"{_q(c.name)} {duckdb_type(c.type)}" for c in meta.all_columns)
        cur.execute("BEGIN TRANSACTION")
        try:
            if existing is not None:
                cur.execute(f"DROP TABLE {target}")
            cur.execute(f"CREATE TABLE {target} ({cols})")
            if query_sql is not None:
                inner = ", ".join(_q(f"c{i}") for i in range(len(columns)))
                casts = ", ".join(_cast_sql(_q(f"c{i}"), c.type) for i, c in enumerate(columns))
                cur.execute(f"INSERT INTO {target} SELECT {casts} FROM ({query_sql}) AS {_q('__q')}({inner})")  # noqa: S608
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        self._catalog[meta.project][meta.name] = meta
        return ExecutionResult(None, [], "OK")

    @staticmethod
    def _column_from_def(node: exp.Expression, pos: tuple[int, int]) -> Column:
        where = _node_pos(node) or pos
        if not isinstance(node, exp.ColumnDef):
            raise _error(SEMANTIC_ERROR, f"unsupported table element {node.sql(dialect=MaxCompute)}", where)
        name = node.name.lower()
        kind = node.args.get("kind")
        if not isinstance(kind, exp.DataType):
            raise _error(PARSE_ERROR, f"column {name} needs a type", where)
        try:
            mc_type = mc_type_from_datatype(kind)
        except UnsupportedTypeError as err:
            code = PARSE_ERROR if kind.this == exp.DataType.Type.USERDEFINED else SEMANTIC_ERROR
            raise _error(code, f"type {err} is not supported (column {name})", where) from None
        comment = ""
        for constraint in node.args.get("constraints") or []:
            inner = constraint.args.get("kind") if isinstance(constraint, exp.ColumnConstraint) else None
            if isinstance(inner, exp.CommentColumnConstraint):
                comment = inner.name
            else:
                raise _error(
                    SEMANTIC_ERROR,
                    f"column constraint {constraint.sql(dialect=MaxCompute)} is not supported (column {name})",
                    where,
                )
        return Column(name, mc_type, comment)

    def _run_drop(
        self, cur: duckdb.DuckDBPyConnection, st: _Statement, project: str, flags: Mapping[str, str]
    ) -> ExecutionResult:
        node = st.node
        assert isinstance(node, exp.Drop)
        for table in _drop_tables(node, st.pos):
            ref = self._resolve(table, project, flags)
            if ref.name not in self._catalog.get(ref.project, {}):
                if node.args.get("exists"):
                    continue
                self._require(ref, table, st.pos)
            cur.execute(f"DROP TABLE {self._fq(ref.project, ref.name)}")
            del self._catalog[ref.project][ref.name]
        return ExecutionResult(None, [], "OK")

    def _run_truncate(
        self, cur: duckdb.DuckDBPyConnection, st: _Statement, project: str, flags: Mapping[str, str]
    ) -> ExecutionResult:
        node = st.node
        assert isinstance(node, exp.TruncateTable)
        metas = [self._require(self._resolve(t, project, flags), t, st.pos) for t in _truncate_tables(node, st.pos)]
        cur.execute("BEGIN TRANSACTION")
        try:
            for meta in metas:
                cur.execute(f"DELETE FROM {self._fq(meta.project, meta.name)}")  # noqa: S608
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        for meta in metas:
            meta.last_modified_time = self._now()
        return ExecutionResult(None, [], "OK")

    def _run_desc(self, st: _Statement, project: str, flags: Mapping[str, str]) -> ExecutionResult:
        node = st.node
        assert isinstance(node, exp.Describe)
        table = _desc_table(node, st.pos)
        meta = self._require(self._resolve(table, project, flags), table, st.pos)
        return ExecutionResult(None, [], _desc_text(meta))

    def _run_show_tables(self, st: _Statement, project: str) -> ExecutionResult:
        target = st.show_project or project
        if target not in self._catalog:
            raise _error(PROJECT_NOT_FOUND, f"project {target} does not exist", st.pos)
        pattern = _like_regex(st.show_pattern) if st.show_pattern is not None else None
        lines = [
            f"{meta.owner}:{name}"
            for name, meta in sorted(self._catalog[target].items())
            if pattern is None or pattern.match(name)
        ]
        return ExecutionResult(None, [], "".join(line + "\n" for line in lines))

    def _run_show_partitions(self, st: _Statement, project: str, flags: Mapping[str, str]) -> ExecutionResult:
        assert isinstance(st.node, exp.Table)
        meta = self._require(self._resolve(st.node, project, flags), st.node, st.pos)
        if not meta.partition_keys:
            raise _error(SEMANTIC_ERROR, f"table {meta.project}.{meta.name} is not a partitioned table", st.pos)
        specs = self.partitions(meta.project, meta.name)
        return ExecutionResult(None, [], "".join("/".join(f"{k}={v}" for k, v in s.items()) + "\n" for s in specs))

    # -- DuckDB errors -----------------------------------------------------------------------

    def _map_duckdb_error(self, err: duckdb.Error, st: _Statement) -> SqlError:
        """Translate a DuckDB failure into MaxCompute wording, keeping only its first line."""
        lines = str(err).strip().splitlines()
        text = re.sub(r"^[A-Za-z ]*Error: ", "", lines[0] if lines else "unknown error")
        text = text.replace(f"{_q(self._db)}.", "").replace(f"{self._db}.", "")
        text = re.sub(r" when casting from source column \S+", "", text)
        pos = st.pos
        if isinstance(err, duckdb.ConversionException):
            return _error(CAST_ERROR, text, pos)
        if isinstance(err, (duckdb.OutOfRangeException, duckdb.InvalidInputException, duckdb.ConstraintException)):
            return _error(INVALID_ARGUMENT, text, pos)
        if isinstance(err, duckdb.CatalogException):
            match = re.search(r"Function with name (\S+) does not exist", text)
            if match:
                return _error(SEMANTIC_ERROR, f"function {match.group(1)} cannot be resolved", pos)
            return _error(SEMANTIC_ERROR, text, pos)
        if isinstance(err, duckdb.BinderException):
            match = re.search(r'Referenced column "([^"]+)" not found', text)
            if match:
                name = match.group(1)
                column = next((c for c in (st.node.find_all(exp.Column) if st.node else []) if c.name == name), None)
                return _error(SEMANTIC_ERROR, f"column {name} cannot be resolved", _node_pos(column) or pos)
            match = re.search(r'column "([^"]+)" must appear in the GROUP BY clause', text)
            if match:
                return _error(SEMANTIC_ERROR, f"column reference {match.group(1)} should appear in GROUP BY key", pos)
            return _error(SEMANTIC_ERROR, text, pos)
        if isinstance(err, duckdb.ParserException):
            return _error(PARSE_ERROR, text, pos)
        return _error(INTERNAL_ERROR, text, pos)


# ---------------------------------------------------------------------------------------------
# Statement pieces
# ---------------------------------------------------------------------------------------------


@dataclass
class _CreateParts:
    table: exp.Table
    columns: list[exp.Expression]
    partition_columns: list[exp.Expression]
    comment: str
    like: exp.Table | None
    properties: dict[str, str]


def _create_parts(node: exp.Create, pos: tuple[int, int]) -> _CreateParts:
    """Split CREATE TABLE into target, column definitions and MaxCompute properties.

    Every property is either understood or rejected: DuckDB would silently drop them.
    """
    this = node.this
    columns: list[exp.Expression] = []
    if isinstance(this, exp.Schema):
        columns = list(this.expressions)
        this = this.this
    if not isinstance(this, exp.Table):
        raise _error(PARSE_ERROR, "expected a table name", pos)
    parts = _CreateParts(this, columns, [], "", None, {})
    props = node.args.get("properties")
    for prop in props.expressions if isinstance(props, exp.Properties) else []:
        if isinstance(prop, exp.SchemaCommentProperty):
            parts.comment = prop.this.name
        elif isinstance(prop, exp.PartitionedByProperty):
            if not isinstance(prop.this, exp.Schema):
                raise _error(PARSE_ERROR, "PARTITIONED BY needs column definitions with types", pos)
            parts.partition_columns = list(prop.this.expressions)
        elif isinstance(prop, exp.LikeProperty):
            if not isinstance(prop.this, exp.Table):
                raise _error(PARSE_ERROR, "LIKE needs a table name", pos)
            parts.like = prop.this
        elif type(prop) is exp.Property:
            parts.properties[prop.name] = prop.args["value"].name if prop.args.get("value") else ""
        else:
            raise _error(SEMANTIC_ERROR, f"table property {prop.sql(dialect=MaxCompute)} is not supported", pos)
    query = node.expression
    if query is not None and (columns or parts.partition_columns or parts.like is not None):
        raise _error(SEMANTIC_ERROR, "CREATE TABLE AS SELECT cannot declare columns, partitions or LIKE", pos)
    if parts.like is not None and (columns or parts.partition_columns):
        raise _error(SEMANTIC_ERROR, "CREATE TABLE LIKE cannot declare columns or partitions", pos)
    if query is None and parts.like is None and not columns:
        raise _error(PARSE_ERROR, "CREATE TABLE needs columns, LIKE or AS SELECT", pos)
    return parts


def _insert_target(node: exp.Insert, pos: tuple[int, int]) -> tuple[exp.Table, list[str] | None]:
    target = node.this
    column_list: list[str] | None = None
    if isinstance(target, exp.Schema):
        column_list = [e.name.lower() for e in target.expressions]
        target = target.this
    if not isinstance(target, exp.Table):
        raise _error(PARSE_ERROR, "INSERT needs a table name", pos)
    return target, column_list


def _insert_body(node: exp.Insert) -> exp.Expression | None:
    """The source query; a WITH written before INSERT moves onto it, where sqlglot scopes it."""
    body = node.expression
    with_ = node.args.get("with_")
    if with_ is not None and isinstance(body, exp.Query) and body.args.get("with_") is None:
        body.set("with_", with_)
        node.set("with_", None)
    return body if isinstance(body, exp.Expression) else None


def _drop_tables(node: exp.Drop, pos: tuple[int, int]) -> list[exp.Table]:
    tables = node.args.get("tables") or ([node.this] if node.this is not None else [])
    if not tables or not all(isinstance(t, exp.Table) for t in tables):
        raise _error(PARSE_ERROR, "DROP TABLE needs a table name", pos)
    return list(tables)


def _truncate_tables(node: exp.TruncateTable, pos: tuple[int, int]) -> list[exp.Table]:
    tables = list(node.expressions)
    if not tables or not all(isinstance(t, exp.Table) for t in tables) or node.args.get("partition"):
        raise _error(SEMANTIC_ERROR, "only TRUNCATE TABLE <name> is supported by the emulator", pos)
    return tables


def _desc_table(node: exp.Describe, pos: tuple[int, int]) -> exp.Table:
    if node.args.get("partition") is not None:
        raise _error(SEMANTIC_ERROR, "DESC ... PARTITION is not supported by the emulator", pos)
    if not isinstance(node.this, exp.Table):
        raise _error(PARSE_ERROR, "DESC needs a table name", pos)
    return node.this


def _check_partition_predicate(table: exp.Table, scope: Scope, meta: TableMeta) -> None:
    """MaxCompute's full-scan guard: some WHERE/ON predicate must mention a partition key."""
    keys = {c.name for c in meta.partition_keys}
    alias = table.alias_or_name.lower()
    select = scope.expression
    conditions: list[exp.Expression] = []
    if isinstance(select, exp.Select):
        where = select.args.get("where")
        if where is not None:
            conditions.append(where)
        for join in select.args.get("joins") or []:
            if join.args.get("on") is not None:
                conditions.append(join.args["on"])
    for condition in conditions:
        for column in condition.find_all(exp.Column):
            if column.name.lower() in keys and (not column.table or column.table.lower() == alias):
                return
    raise _error(
        SEMANTIC_ERROR,
        "physical plan generation failed: java.lang.RuntimeException: "
        f"Table({meta.project},{meta.name}) is full scan with all partitions, please specify partition predicates.",
        (0, 0),
    )


def _copy_meta(meta: TableMeta) -> TableMeta:
    return replace(
        meta,
        columns=list(meta.columns),
        partition_keys=list(meta.partition_keys),
        properties=dict(meta.properties),
    )


def _meta_to_json(meta: TableMeta) -> dict[str, Any]:
    def cols(columns: list[Column]) -> list[dict[str, str]]:
        return [{"name": c.name, "type": c.type, "comment": c.comment} for c in columns]

    return {
        "name": meta.name,
        "columns": cols(meta.columns),
        "partition_keys": cols(meta.partition_keys),
        "comment": meta.comment,
        "lifecycle": meta.lifecycle,
        "owner": meta.owner,
        "create_time": meta.create_time,
        "last_ddl_time": meta.last_ddl_time,
        "last_modified_time": meta.last_modified_time,
        "properties": dict(meta.properties),
    }


def _meta_from_json(project: str, data: Mapping[str, Any]) -> TableMeta:
    def cols(items: Iterable[Mapping[str, Any]]) -> list[Column]:
        return [
            SqlEngine._checked_column(Column(str(c["name"]), str(c["type"]), str(c.get("comment", "")))) for c in items
        ]

    lifecycle = data.get("lifecycle")
    return TableMeta(
        project=project,
        name=str(data["name"]).lower(),
        columns=cols(data.get("columns", [])),
        partition_keys=cols(data.get("partition_keys", [])),
        comment=str(data.get("comment", "")),
        lifecycle=int(lifecycle) if lifecycle is not None else None,
        owner=str(data.get("owner", "")),
        create_time=int(data.get("create_time", 0)),
        last_ddl_time=int(data.get("last_ddl_time", 0)),
        last_modified_time=int(data.get("last_modified_time", 0)),
        properties={str(k): str(v) for k, v in dict(data.get("properties", {})).items()},
    )


def _desc_text(meta: TableMeta) -> str:
    """The boxed DESC layout of the MaxCompute console (widths are approximate)."""
    all_cols = meta.all_columns
    name_width = max([15, *(len(c.name) for c in all_cols)])
    type_width = max([10, *(len(c.type) for c in all_cols)])

    def column_line(column: Column) -> str:
        return f" {column.name:<{name_width}} | {column.type:<{type_width}} |       | {column.comment}"

    def field_line(label: str, value: str) -> str:
        return f" {label:<26}{value}"

    body: list[str | None] = [
        field_line("Owner:", meta.owner),
        field_line("Project:", meta.project),
        field_line("TableComment:", meta.comment),
        None,
        field_line("CreateTime:", _fmt_time(meta.create_time)),
        field_line("LastDDLTime:", _fmt_time(meta.last_ddl_time)),
        field_line("LastModifiedTime:", _fmt_time(meta.last_modified_time)),
        field_line("Lifecycle:", "" if meta.lifecycle is None else str(meta.lifecycle)),
        None,
        " InternalTable: YES",
        None,
        " Native Columns:",
        None,
        f" {'Field':<{name_width}} | {'Type':<{type_width}} | Label | Comment",
        None,
        *(column_line(c) for c in meta.columns),
    ]
    if meta.partition_keys:
        body += [None, " Partition Columns:", None, *(column_line(c) for c in meta.partition_keys)]
    width = max([84, *(len(line) + 1 for line in body if line is not None)])
    rule = "+" + "-" * width + "+"
    lines = [rule]
    lines += [rule if line is None else "|" + line.ljust(width) + "|" for line in body]
    lines.append(rule)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Result rendering (instance ?result)
# ---------------------------------------------------------------------------------------------


def _csv_field(value: Any, mc_type: str) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        # pyodps parses DATETIME cells with "%Y-%m-%d %H:%M:%S" (no fraction).
        fmt = "%Y-%m-%d %H:%M:%S.%f" if mc_type == "timestamp" else "%Y-%m-%d %H:%M:%S"
        return value.strftime(fmt)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", errors="backslashreplace")
    return '"' + str(value).replace('"', '""') + '"'


def result_to_csv(result: ExecutionResult) -> str:
    """The CSV text of an instance result (``?result``), as pyodps' CsvRecordReader reads it.

    Header of quoted names, strings quoted with doubled quotes, NULL as ``\\N``, numbers and
    booleans bare. Statements without rows return their text ("OK", DESC box, ...).
    """
    if result.columns is None:
        return result.text or ""
    out = io.StringIO()
    out.write(",".join(_csv_field(c.name, "string") for c in result.columns) + "\n")
    for row in result.rows:
        out.write(",".join(_csv_field(v, c.type) for v, c in zip(row, result.columns, strict=True)) + "\n")
    return out.getvalue()


def result_descriptor(result: ExecutionResult) -> str:
    """The ``ResultDescriptor`` JSON that lets pyodps type the CSV cells."""
    if result.columns is None:
        return json.dumps({"IsSelect": False})
    return json.dumps(
        {
            "IsSelect": True,
            "SelectResultStatus": "FULL",
            "Schema": {"Columns": [{"Name": c.name, "Type": c.type} for c in result.columns]},
        }
    )

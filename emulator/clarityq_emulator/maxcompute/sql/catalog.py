"""The SQL catalog's records: columns, tables (and views), what a statement touches, results.

Also the catalog's JSON form (the state file) and the DESC layout, both read from these records.
No DuckDB here: the REST and tunnel layers read the catalog through these types.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from clarityq_emulator.maxcompute.sql.errors import SEMANTIC_ERROR, sql_error
from clarityq_emulator.maxcompute.sql.types import UnsupportedTypeError, normalize_type

PROJECT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,127}$")
TABLE_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
COLUMN_NAME_RE = re.compile(r"^[^\W\d]\w{0,127}$")
RESERVED_SCHEMAS = frozenset({"information_schema", "pg_catalog"})


@dataclass(frozen=True)
class Column:
    """A column as MaxCompute describes it; ``type`` is the lower-case MaxCompute type name."""

    name: str
    type: str
    comment: str = ""
    not_null: bool = False


@dataclass
class PartitionInfo:
    """A partition created explicitly (ADD PARTITION, a tunnel upload); times are epoch seconds."""

    create_time: int
    last_ddl_time: int
    last_modified_time: int


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
    #: A view's query as written (MaxCompute SQL); None for a table.
    view_text: str | None = None
    #: ``CLUSTERED BY``: ClusterType, ClusterCols, SortCols, BucketNum, as the table JSON's Reserved has them.
    cluster: dict[str, Any] | None = None
    #: ``STORED AS`` (e.g. ALIORC): recorded, not honoured.
    stored_as: str | None = None
    #: Partitions created explicitly, by canonical spec (``ds=1/hr=2``); others exist while they hold rows.
    partition_info: dict[str, PartitionInfo] = field(default_factory=dict)

    @property
    def all_columns(self) -> list[Column]:
        """Data columns followed by partition keys: the physical column order in DuckDB."""
        return [*self.columns, *self.partition_keys]

    @property
    def is_view(self) -> bool:
        return self.view_text is not None

    def spec_key(self, spec: Mapping[str, str]) -> str:
        """Canonical text of a complete partition spec, in key order: ``ds=1/hr=2``."""
        return "/".join(f"{c.name}={spec[c.name]}" for c in self.partition_keys)


@dataclass(frozen=True)
class TableRef:
    """A resolved table name: lower-case project and table."""

    project: str
    name: str


#: (table, lower-case columns it reads, or None for every column), per source-table occurrence.
ColumnReads = tuple[tuple[TableRef, tuple[str, ...] | None], ...]


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
    alters: tuple[TableRef, ...] = ()
    renames: tuple[tuple[TableRef, TableRef], ...] = ()
    columns: ColumnReads = ()


@dataclass
class ExecutionResult:
    """Rows (with MaxCompute-typed columns) for SELECT; ``text`` for every other statement."""

    columns: list[Column] | None
    rows: list[tuple[Any, ...]]
    text: str | None


def _fmt_time(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def copy_meta(meta: TableMeta) -> TableMeta:
    return replace(
        meta,
        columns=list(meta.columns),
        partition_keys=list(meta.partition_keys),
        properties=dict(meta.properties),
        cluster=dict(meta.cluster) if meta.cluster is not None else None,
        partition_info=dict(meta.partition_info),
    )


def meta_to_json(meta: TableMeta) -> dict[str, Any]:
    def cols(columns: list[Column]) -> list[dict[str, Any]]:
        return [
            {"name": c.name, "type": c.type, "comment": c.comment, **({"not_null": True} if c.not_null else {})}
            for c in columns
        ]

    data: dict[str, Any] = {
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
    if meta.view_text is not None:
        data["view_text"] = meta.view_text
    if meta.cluster is not None:
        data["cluster"] = meta.cluster
    if meta.stored_as is not None:
        data["stored_as"] = meta.stored_as
    if meta.partition_info:
        data["partitions"] = {
            key: [info.create_time, info.last_ddl_time, info.last_modified_time]
            for key, info in meta.partition_info.items()
        }
    return data


def meta_from_json(project: str, data: Mapping[str, Any]) -> TableMeta:
    def cols(items: Iterable[Mapping[str, Any]]) -> list[Column]:
        return [
            checked_column(
                Column(str(c["name"]), str(c["type"]), str(c.get("comment", "")), bool(c.get("not_null", False)))
            )
            for c in items
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
        view_text=str(data["view_text"]) if data.get("view_text") is not None else None,
        cluster=dict(data["cluster"]) if data.get("cluster") else None,
        stored_as=str(data["stored_as"]) if data.get("stored_as") else None,
        partition_info={
            str(key): PartitionInfo(int(times[0]), int(times[1]), int(times[2]))
            for key, times in dict(data.get("partitions", {})).items()
        },
    )


def desc_text(meta: TableMeta) -> str:
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
        " InternalTable: YES" if not meta.is_view else " VirtualView  : YES",
        None,
        " Native Columns:",
        None,
        f" {'Field':<{name_width}} | {'Type':<{type_width}} | Label | Comment",
        None,
        *(column_line(c) for c in meta.columns),
    ]
    if meta.partition_keys:
        body += [None, " Partition Columns:", None, *(column_line(c) for c in meta.partition_keys)]
    if meta.view_text is not None:
        body += [None, field_line("ViewText:", " ".join(meta.view_text.split()))]
    width = max([84, *(len(line) + 1 for line in body if line is not None)])
    rule = "+" + "-" * width + "+"
    lines = [rule]
    lines += [rule if line is None else "|" + line.ljust(width) + "|" for line in body]
    lines.append(rule)
    return "\n".join(lines) + "\n"


def checked_column(column: Column) -> Column:
    """A column with its type validated and canonicalised, and its name lower-cased."""
    try:
        mc_type = normalize_type(column.type)
    except UnsupportedTypeError as err:
        raise sql_error(SEMANTIC_ERROR, f"type {err} is not supported (column {column.name})") from None
    return Column(column.name.lower(), mc_type, column.comment, column.not_null)

"""The SQL state as JSON (the state file): every project, table and view definition, and every row.

Views are written without rows and created again, from their text, after every table exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import duckdb

from clarityq_emulator.maxcompute.sql.catalog import TableMeta, meta_from_json, meta_to_json
from clarityq_emulator.maxcompute.sql.ddl import create_view, store_table
from clarityq_emulator.maxcompute.sql.errors import SqlError
from clarityq_emulator.maxcompute.sql.values import encode_value, format_epoch_ns, quote

if TYPE_CHECKING:
    from clarityq_emulator.maxcompute.sql.executor import SqlEngine

DUMP_FORMAT = "clarityq-emulator-sql/1"


def dump_catalog(engine: SqlEngine, cur: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    projects: dict[str, Any] = {}
    for project in sorted(engine.catalog):
        tables = []
        for name in sorted(engine.catalog[project]):
            meta = engine.catalog[project][name]
            rows = [] if meta.is_view else _dump_rows(engine, cur, meta)
            tables.append({**meta_to_json(meta), "rows": rows})
        projects[project] = {"tables": tables}
    return {"format": DUMP_FORMAT, "projects": projects}


def _dump_rows(engine: SqlEngine, cur: duckdb.DuckDBPyConnection, meta: TableMeta) -> list[list[Any]]:
    cols = meta.all_columns
    select = ", ".join(f"epoch_ns({quote(c.name)})" if c.type == "timestamp" else quote(c.name) for c in cols)
    rows = cur.execute(f"SELECT {select} FROM {engine.fq(meta.project, meta.name)}").fetchall()  # noqa: S608
    out: list[list[Any]] = []
    for row in rows:
        encoded: list[Any] = []
        for value, column in zip(row, cols, strict=True):
            if column.type == "timestamp" and value is not None:
                encoded.append(format_epoch_ns(int(value)))
            else:
                encoded.append(encode_value(value, column.type))
        out.append(encoded)
    return out


def load_catalog(engine: SqlEngine, cur: duckdb.DuckDBPyConnection, data: Mapping[str, Any]) -> None:
    if data.get("format") != DUMP_FORMAT:
        raise ValueError(f"not an emulator SQL snapshot (format {data.get('format')!r})")
    views: list[TableMeta] = []
    for project, content in dict(data.get("projects", {})).items():
        engine.create_project(project)
        for table in content.get("tables", []):
            meta = meta_from_json(project.lower(), table)
            if meta.is_view:
                views.append(meta)
            else:
                store_table(engine, cur, meta, table.get("rows", []))
    # A view may read another view: create them in the order they were defined.
    for meta in sorted(views, key=lambda m: (m.last_ddl_time, m.name)):
        try:
            create_view(engine, cur, meta, {})
        except (SqlError, duckdb.Error):
            # Its tables went away after it was created: kept, and queries of it fail, as in MaxCompute.
            engine.catalog[meta.project][meta.name] = meta

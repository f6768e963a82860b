"""DDL beyond CREATE TABLE on the SQL engine: ALTER TABLE, views, complex types, NOT NULL, properties."""

from __future__ import annotations

from typing import Any

import pytest
from clarityq_emulator.maxcompute.sql.catalog import StatementAccess, TableRef
from clarityq_emulator.maxcompute.sql.errors import PARTITION_ERROR, SEMANTIC_ERROR, TABLE_EXISTS, SqlError
from clarityq_emulator.maxcompute.sql.executor import SqlEngine

OWNER = "ALIYUN$owner"


@pytest.fixture
def engine() -> SqlEngine:
    engine = SqlEngine(clock=lambda: 1_700_000_000.0)
    engine.create_project("p")
    engine.execute(
        "CREATE TABLE t (id BIGINT NOT NULL, name STRING) PARTITIONED BY (ds STRING);"
        "INSERT INTO t PARTITION (ds='1') VALUES (1, 'a'), (2, 'b');",
        "p",
        owner=OWNER,
    )
    return engine


def _rows(engine: SqlEngine, sql: str) -> list[tuple[Any, ...]]:
    return engine.execute(sql, "p").rows


def _fails(engine: SqlEngine, sql: str) -> SqlError:
    with pytest.raises(SqlError) as info:
        engine.execute(sql, "p", owner=OWNER)
    return info.value


def test_add_change_and_drop_columns_keep_the_rows(engine: SqlEngine) -> None:
    engine.execute("ALTER TABLE t ADD COLUMNS (score DOUBLE COMMENT 'pts', tags ARRAY<STRING>)", "p")
    assert _rows(engine, "SELECT id, score, tags, ds FROM t ORDER BY id") == [
        (1, None, None, "1"),
        (2, None, None, "1"),
    ]
    engine.execute("INSERT INTO t PARTITION (ds='2') VALUES (3, 'c', 1.5, array('x'))", "p")
    engine.execute("ALTER TABLE t CHANGE COLUMN name label STRING COMMENT 'renamed'", "p")
    engine.execute("ALTER TABLE t CHANGE COLUMN score RENAME TO points", "p")
    engine.execute("ALTER TABLE t CHANGE COLUMN id COMMENT 'key'", "p")
    meta = engine.get_table("p", "t")
    assert meta is not None
    assert [(c.name, c.type, c.comment) for c in meta.columns] == [
        ("id", "bigint", "key"),
        ("label", "string", "renamed"),
        ("points", "double", "pts"),
        ("tags", "array<string>", ""),
    ]
    assert meta.columns[0].not_null
    assert _rows(engine, "SELECT label, points, tags FROM t WHERE ds = '2'") == [("c", 1.5, ["x"])]
    engine.execute("ALTER TABLE t DROP COLUMNS points, tags", "p")
    assert _rows(engine, "SELECT * FROM t ORDER BY id") == [(1, "a", "1"), (2, "b", "1"), (3, "c", "2")]
    assert "already exists" in _fails(engine, "ALTER TABLE t ADD COLUMNS (id BIGINT)").message
    assert "not a data column" in _fails(engine, "ALTER TABLE t DROP COLUMNS ds").message


def test_partitions_are_added_listed_and_dropped(engine: SqlEngine) -> None:
    engine.execute("ALTER TABLE t ADD PARTITION (ds='2') PARTITION (ds='3')", "p")
    assert engine.partitions("p", "t") == [{"ds": "1"}, {"ds": "2"}, {"ds": "3"}]
    assert engine.execute("SHOW PARTITIONS t", "p").text == "ds=1\nds=2\nds=3\n"
    assert _fails(engine, "ALTER TABLE t ADD PARTITION (ds='2')").code == PARTITION_ERROR
    engine.execute("ALTER TABLE t ADD IF NOT EXISTS PARTITION (ds='2')", "p")
    engine.execute("ALTER TABLE t DROP PARTITION (ds='1'), PARTITION (ds='3')", "p")
    assert engine.partitions("p", "t") == [{"ds": "2"}]
    assert _rows(engine, "SELECT count(*) FROM t") == [(0,)]
    assert _fails(engine, "ALTER TABLE t DROP PARTITION (ds='9')").code == PARTITION_ERROR
    engine.execute("ALTER TABLE t DROP IF EXISTS PARTITION (ds='9')", "p")


def test_rename_lifecycle_comment_and_properties(engine: SqlEngine) -> None:
    engine.execute("ALTER TABLE t SET LIFECYCLE 30; ALTER TABLE t SET COMMENT 'orders'", "p")
    engine.execute("ALTER TABLE t SET TBLPROPERTIES ('owner.team'='data')", "p")
    engine.execute("ALTER TABLE t RENAME TO t2", "p")
    assert engine.get_table("p", "t") is None
    meta = engine.get_table("p", "t2")
    assert meta is not None
    assert (meta.lifecycle, meta.comment, meta.properties) == (30, "orders", {"owner.team": "data"})
    assert _rows(engine, "SELECT count(*) FROM t2") == [(2,)]
    engine.execute("CREATE TABLE other (x BIGINT)", "p")
    assert _fails(engine, "ALTER TABLE t2 RENAME TO other").code == TABLE_EXISTS


def test_views_are_created_queried_described_and_dropped(engine: SqlEngine) -> None:
    engine.execute("CREATE VIEW v (k COMMENT 'the id', n) COMMENT 'ids' AS SELECT id, name FROM t WHERE ds = '1'", "p")
    assert _rows(engine, "SELECT k, n FROM v ORDER BY k") == [(1, "a"), (2, "b")]
    meta = engine.get_table("p", "v")
    assert meta is not None and meta.is_view
    assert meta.view_text == "SELECT id, name FROM t WHERE ds = '1'"
    assert [(c.name, c.type, c.comment) for c in meta.columns] == [("k", "bigint", "the id"), ("n", "string", "")]
    assert "VirtualView" in (engine.execute("DESC v", "p").text or "")
    assert "is a view" in _fails(engine, "INSERT INTO v VALUES (1, 'x')").message
    assert "use DROP VIEW" in _fails(engine, "DROP TABLE v").message
    engine.execute("CREATE OR REPLACE VIEW v AS SELECT count(*) AS c FROM t", "p")
    assert _rows(engine, "SELECT c FROM v") == [(2,)]
    engine.execute("ALTER VIEW v RENAME TO w", "p")
    assert _rows(engine, "SELECT c FROM w") == [(2,)]
    restored = SqlEngine()
    restored.load(engine.dump())
    assert restored.execute("SELECT c FROM w", "p").rows == [(2,)]
    engine.execute("DROP VIEW w", "p")
    assert engine.get_table("p", "w") is None


def test_complex_types_not_null_and_table_properties(engine: SqlEngine) -> None:
    engine.execute(
        "CREATE TABLE c (id BIGINT NOT NULL, tags ARRAY<STRING>, attrs MAP<STRING, BIGINT>,"
        " loc STRUCT<x:DOUBLE, y:DOUBLE>) CLUSTERED BY (id) SORTED BY (id DESC) INTO 8 BUCKETS STORED AS ALIORC",
        "p",
    )
    engine.execute("INSERT INTO c SELECT 1, array('a', NULL), map('k', 2), named_struct('x', 1.0, 'y', 2.5)", "p")
    result = engine.execute("SELECT * FROM c", "p")
    assert result.rows == [(1, ["a", None], {"k": 2}, {"x": 1.0, "y": 2.5})]
    assert [c.type for c in result.columns or []] == [
        "bigint",
        "array<string>",
        "map<string,bigint>",
        "struct<x:double,y:double>",
    ]
    meta = engine.get_table("p", "c")
    assert meta is not None
    assert meta.stored_as == "ALIORC"
    assert meta.cluster == {
        "ClusterType": "hash",
        "ClusterCols": ["id"],
        "SortCols": [{"col": "id", "order": "DESC"}],
        "BucketNum": 8,
    }
    assert "NOT NULL" in _fails(engine, "INSERT INTO c (tags) VALUES (array('x'))").message
    restored = SqlEngine()
    restored.load(engine.dump())
    assert restored.execute("SELECT * FROM c", "p").rows == result.rows
    engine.execute("CREATE TABLE r (id BIGINT) RANGE CLUSTERED BY (id) INTO 2 BUCKETS", "p")
    meta = engine.get_table("p", "r")
    assert meta is not None and meta.cluster is not None and meta.cluster["ClusterType"] == "range"


def test_ddl_statements_report_what_they_touch(engine: SqlEngine) -> None:
    assert engine.analyze("ALTER TABLE t ADD PARTITION (ds='9')", "p") == [
        StatementAccess("alter", alters=(TableRef("p", "t"),))
    ]
    assert engine.analyze("CREATE VIEW v AS SELECT * FROM t", "p") == [
        StatementAccess("create_view", reads=(TableRef("p", "t"),), creates=(TableRef("p", "v"),))
    ]
    assert engine.analyze("DROP VIEW v", "p") == [StatementAccess("drop_view", drops=(TableRef("p", "v"),))]
    assert _fails(engine, "ALTER TABLE t SPIN").code == SEMANTIC_ERROR

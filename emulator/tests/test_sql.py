"""The emulator's MaxCompute SQL engine: dialect rewrites, partitions, errors, access analysis."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from decimal import Decimal
from typing import Any

import pytest
from clarityq_emulator.maxcompute.sql.catalog import Column, ExecutionResult, StatementAccess, TableRef
from clarityq_emulator.maxcompute.sql.compiler import Compiler
from clarityq_emulator.maxcompute.sql.dialect import to_strftime
from clarityq_emulator.maxcompute.sql.errors import (
    CAST_ERROR,
    PARSE_ERROR,
    PARTITION_ERROR,
    PROJECT_NOT_FOUND,
    SEMANTIC_ERROR,
    TABLE_EXISTS,
    TABLE_NOT_FOUND,
    SqlError,
)
from clarityq_emulator.maxcompute.sql.executor import SqlEngine
from clarityq_emulator.maxcompute.sql.values import result_descriptor, result_to_csv
from odps.models.instance import _parse_instance_schema
from odps.readers import CsvRecordReader
from sqlglot import exp

NOW = 1_700_000_000  # 2023-11-14 22:13:20 UTC
OWNER = "ALIYUN$owner@example.com"


def _engine(**kwargs: Any) -> SqlEngine:
    engine = SqlEngine(clock=lambda: float(NOW), **kwargs)
    engine.create_project("demo")
    engine.create_project("other")
    script = """
        CREATE TABLE t1 (id BIGINT COMMENT 'pk', name STRING, amount DECIMAL(10,2), ts DATETIME)
            COMMENT 'people' LIFECYCLE 30;
        INSERT INTO t1 VALUES (1, 'a', 1.50, '2024-01-02 03:04:05'), (2, 'b', NULL, NULL),
                              (3, 'c', 2.25, '2024-02-29 23:59:59');
        CREATE TABLE pt (id BIGINT, v STRING) PARTITIONED BY (ds STRING, region STRING);
        INSERT INTO pt PARTITION (ds='20240101', region='cn') VALUES (1, 'x'), (2, 'y');
        INSERT INTO pt PARTITION (ds='20240101', region='us') VALUES (3, 'z');
    """
    engine.execute(script, "demo", owner=OWNER)
    engine.execute("CREATE TABLE src (id BIGINT, v STRING); INSERT INTO src VALUES (10, 'o')", "other", owner=OWNER)
    return engine


@pytest.fixture
def engine() -> SqlEngine:
    return _engine()


def _rows(engine: SqlEngine, sql: str, project: str = "demo") -> list[tuple[Any, ...]]:
    return engine.execute(sql, project).rows


def _error(engine: SqlEngine, sql: str, project: str = "demo") -> SqlError:
    with pytest.raises(SqlError) as info:
        engine.execute(sql, project)
    return info.value


# --- scripts ---------------------------------------------------------------------------------


def test_script_splits_only_on_top_level_semicolons(engine: SqlEngine) -> None:
    script = "SELECT 'a;b' AS s; -- c;\nSELECT \"x;y\" AS s /* ; */;"
    assert [a.kind for a in engine.analyze(script, "demo")] == ["select", "select"]
    assert _rows(engine, script) == [("x;y",)]


def test_trailing_comment_is_not_a_statement(engine: SqlEngine) -> None:
    assert len(engine.analyze("SELECT 1; -- done\n", "demo")) == 1


def test_empty_script_is_a_parse_error(engine: SqlEngine) -> None:
    assert _error(engine, " -- nothing\n").code == PARSE_ERROR


def test_set_statements_are_intercepted(engine: SqlEngine) -> None:
    accesses = engine.analyze(
        "set odps.sql.allow.fullscan=true;\nSET odps.sql.type.system.odps2 = 'true'; SELECT 1", "demo"
    )
    assert [a.kind for a in accesses] == ["set", "set", "select"]
    assert engine.execute("set odps.sql.allow.fullscan=true;", "demo").text == "OK"


def test_a_parse_error_anywhere_runs_nothing(engine: SqlEngine) -> None:
    err = _error(engine, "DROP TABLE t1;\nSELECT * FORM t1")
    assert err.code == PARSE_ERROR
    assert err.message.startswith("ODPS-0130161:[2,")
    assert engine.get_table("demo", "t1") is not None


def test_unterminated_string_is_a_parse_error(engine: SqlEngine) -> None:
    err = _error(engine, "SELECT 1;\nSELECT 'abc")
    assert err.code == PARSE_ERROR
    assert err.message.startswith("ODPS-0130161:[2,8] Parse exception")


# --- full-scan guard -------------------------------------------------------------------------


def test_fullscan_guard_is_off_by_default(engine: SqlEngine) -> None:
    assert len(_rows(engine, "SELECT * FROM pt LIMIT 10")) == 3


@pytest.mark.parametrize(
    "sql",
    ["SELECT * FROM pt LIMIT 1", "SELECT id FROM pt WHERE id > 0", "SELECT COUNT(*) FROM t1 JOIN pt p ON t1.id = p.id"],
)
def test_fullscan_guard_rejects_scans_without_partition_predicate(sql: str) -> None:
    engine = _engine(enforce_fullscan_guard=True)
    err = _error(engine, sql)
    assert err.code == SEMANTIC_ERROR
    assert "Table(demo,pt) is full scan with all partitions, please specify partition predicates." in err.message


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM pt WHERE ds = '20240101'",
        "SELECT p.id FROM pt p WHERE p.region = 'cn' AND p.id > 0",
        "SELECT COUNT(*) FROM t1 JOIN pt p ON t1.id = p.id AND p.ds = '20240101'",
        "SELECT * FROM t1",
    ],
)
def test_fullscan_guard_accepts_partition_predicates(sql: str) -> None:
    assert _rows(_engine(enforce_fullscan_guard=True), sql)


def test_fullscan_setting_applies_to_its_script_only() -> None:
    engine = _engine(enforce_fullscan_guard=True)
    assert len(_rows(engine, "set odps.sql.allow.fullscan=true; SELECT * FROM pt")) == 3
    assert _error(engine, "SELECT * FROM pt").code == SEMANTIC_ERROR
    assert engine.execute("SELECT * FROM pt", "demo", settings={"odps.sql.allow.fullscan": "true"}).rows


# --- CREATE TABLE ----------------------------------------------------------------------------


def test_create_table_records_maxcompute_metadata(engine: SqlEngine) -> None:
    engine.execute(
        "CREATE TABLE IF NOT EXISTS Sales (id BIGINT COMMENT 'key', price DECIMAL(12, 4)) "
        "COMMENT 'daily sales' PARTITIONED BY (DS STRING COMMENT 'day') "
        "TBLPROPERTIES ('transactional'='false') LIFECYCLE 7",
        "demo",
        owner=OWNER,
    )
    meta = engine.get_table("DEMO", "SALES")
    assert meta is not None
    assert (meta.project, meta.name, meta.comment, meta.lifecycle, meta.owner) == (
        "demo",
        "sales",
        "daily sales",
        7,
        OWNER,
    )
    assert meta.columns == [Column("id", "bigint", "key"), Column("price", "decimal(12,4)")]
    assert meta.partition_keys == [Column("ds", "string", "day")]
    assert meta.properties == {"transactional": "false"}
    assert (meta.create_time, meta.last_ddl_time, meta.last_modified_time) == (NOW, NOW, NOW)


def test_create_existing_table(engine: SqlEngine) -> None:
    assert engine.execute("CREATE TABLE IF NOT EXISTS t1 (x BIGINT)", "demo").text == "OK"
    assert [c.name for c in engine.get_table("demo", "t1").columns] == ["id", "name", "amount", "ts"]  # type: ignore[union-attr]
    err = _error(engine, "CREATE TABLE t1 (x BIGINT)")
    assert err.code == TABLE_EXISTS
    assert err.message == "ODPS-0130211:[1,14] Table or view already exists - table demo.t1 already exists"


def test_create_or_replace_table(engine: SqlEngine) -> None:
    engine.execute("CREATE OR REPLACE TABLE t1 (x STRING)", "demo")
    assert engine.get_table("demo", "t1").columns == [Column("x", "string")]  # type: ignore[union-attr]
    assert engine.record_count("demo", "t1") == 0


def test_create_table_in_unknown_project(engine: SqlEngine) -> None:
    assert _error(engine, "CREATE TABLE nope.t (x BIGINT)").code == PROJECT_NOT_FOUND


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("BIGINT", "bigint"),
        ("INT", "int"),
        ("TINYINT", "tinyint"),
        ("SMALLINT", "smallint"),
        ("STRING", "string"),
        ("DOUBLE", "double"),
        ("FLOAT", "float"),
        ("DECIMAL(10, 2)", "decimal(10,2)"),
        ("DECIMAL(10)", "decimal(10,0)"),
        ("DECIMAL", "decimal"),
        ("DATETIME", "datetime"),
        ("DATE", "date"),
        ("BOOLEAN", "boolean"),
        ("TIMESTAMP", "timestamp"),
        ("VARCHAR(20)", "varchar(20)"),
        ("CHAR(3)", "char(3)"),
        ("BINARY", "binary"),
    ],
)
def test_supported_column_types(engine: SqlEngine, written: str, stored: str) -> None:
    engine.execute(f"CREATE TABLE typed (c {written})", "demo")
    assert engine.get_table("demo", "typed").columns == [Column("c", stored)]  # type: ignore[union-attr]
    assert f"| c               | {stored:<10} |" in (engine.execute("DESC typed", "demo").text or "")


@pytest.mark.parametrize(
    ("written", "named", "code"),
    [
        ("ARRAY<INTERVAL>", "interval", SEMANTIC_ERROR),
        ("MAP<ARRAY<INT>, BIGINT>", "map<array<int>,bigint> (a map key must be a primitive type)", SEMANTIC_ERROR),
        ("STRUCT<a:INT, A:STRING>", "struct<a:int,a:string> (field a is repeated)", SEMANTIC_ERROR),
        ("INTERVAL", "interval", SEMANTIC_ERROR),
        ("JSON", "json", SEMANTIC_ERROR),
        ("DECIMAL(40, 2)", "decimal(40,2)", SEMANTIC_ERROR),
        ("VARCHAR", "varchar (a length is required)", SEMANTIC_ERROR),
        ("FOOBAR", "foobar", PARSE_ERROR),
    ],
)
def test_unsupported_column_types_are_rejected_by_name(engine: SqlEngine, written: str, named: str, code: str) -> None:
    err = _error(engine, f"CREATE TABLE bad (id BIGINT, c {written})")
    assert err.code == code
    assert f"type {named} is not supported (column c)" in err.message
    assert engine.get_table("demo", "bad") is None


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE EXTERNAL TABLE bad (id BIGINT)",
        "CREATE TABLE bad (id BIGINT) CLUSTERED BY (nope) INTO 4 BUCKETS",
        "CREATE TABLE bad (m MAP<ARRAY<INT>, STRING>)",
        "CREATE TABLE bad (id BIGINT, id STRING)",
        "CREATE TABLE bad (id BIGINT) PARTITIONED BY (id STRING)",
        'CREATE TABLE `bad"name` (id BIGINT)',
        "CREATE TABLE bad (id BIGINT) PARTITIONED BY (ds STRING) AS SELECT 1 AS id, '1' AS ds",
    ],
)
def test_create_table_rejects_what_it_cannot_store(engine: SqlEngine, sql: str) -> None:
    assert _error(engine, sql).code in (SEMANTIC_ERROR, PARSE_ERROR)
    assert [t.name for t in engine.list_tables("demo")] == ["pt", "t1"]


def test_ctas_names_expressions_and_maps_result_types(engine: SqlEngine) -> None:
    engine.execute(
        "CREATE TABLE agg LIFECYCLE 1 AS "
        "SELECT name, COUNT(*), SUM(id) AS total, AVG(id), MAX(ts) FROM t1 GROUP BY name",
        "demo",
    )
    meta = engine.get_table("demo", "agg")
    assert meta is not None
    assert meta.lifecycle == 1
    assert [(c.name, c.type) for c in meta.columns] == [
        ("name", "string"),
        ("_c1", "bigint"),
        ("total", "bigint"),
        ("_c3", "double"),
        ("_c4", "datetime"),
    ]
    assert _rows(engine, "SELECT name, total FROM agg WHERE name = 'c'") == [("c", 3)]


def test_ctas_reads_other_project(engine: SqlEngine) -> None:
    engine.execute("CREATE TABLE copy AS SELECT * FROM other.src", "demo")
    assert _rows(engine, "SELECT * FROM copy") == [(10, "o")]


def test_create_like_copies_schema_but_not_data(engine: SqlEngine) -> None:
    engine.execute("CREATE TABLE pt2 LIKE demo.pt LIFECYCLE 3", "other", owner="o2")
    meta = engine.get_table("other", "pt2")
    assert meta is not None
    assert meta.columns == [Column("id", "bigint"), Column("v", "string")]
    assert [c.name for c in meta.partition_keys] == ["ds", "region"]
    assert (meta.lifecycle, meta.owner) == (3, "o2")
    assert engine.record_count("other", "pt2") == 0


# --- INSERT ----------------------------------------------------------------------------------


def test_insert_values_with_and_without_table_keyword(engine: SqlEngine) -> None:
    engine.execute(
        "INSERT INTO TABLE t1 VALUES (4, 'd', 9.99, '2024-03-01 00:00:00'); INSERT INTO t1 (name, id) VALUES ('e', 5)",
        "demo",
    )
    assert _rows(engine, "SELECT id, name, amount FROM t1 WHERE id >= 4 ORDER BY id") == [
        (4, "d", Decimal("9.99")),
        (5, "e", None),
    ]
    assert engine.get_table("demo", "t1").last_modified_time == NOW  # type: ignore[union-attr]


def test_datetime_values_are_stored_with_millisecond_precision(engine: SqlEngine) -> None:
    engine.execute("INSERT INTO t1 (id, ts) VALUES (9, '2024-01-02 03:04:05.678999')", "demo")
    assert _rows(engine, "SELECT ts FROM t1 WHERE id = 9") == [(dt.datetime(2024, 1, 2, 3, 4, 5, 678000),)]


def test_insert_static_partition_appends(engine: SqlEngine) -> None:
    engine.execute("INSERT INTO pt PARTITION (region='cn', ds='20240101') SELECT id, name FROM t1 WHERE id = 3", "demo")
    assert _rows(engine, "SELECT id, v FROM pt WHERE ds='20240101' AND region='cn' ORDER BY id") == [
        (1, "x"),
        (2, "y"),
        (3, "c"),
    ]


def test_insert_overwrite_static_partition_replaces_only_that_partition(engine: SqlEngine) -> None:
    engine.execute("INSERT OVERWRITE TABLE pt PARTITION (ds='20240101', region='cn') SELECT 7, 'new'", "demo")
    assert _rows(engine, "SELECT id, v, region FROM pt ORDER BY region, id") == [(7, "new", "cn"), (3, "z", "us")]


def test_insert_overwrite_static_partition_with_no_rows_empties_it(engine: SqlEngine) -> None:
    engine.execute(
        "INSERT OVERWRITE TABLE pt PARTITION (ds='20240101', region='us') SELECT id, v FROM pt WHERE 1 = 0", "demo"
    )
    assert engine.partitions("demo", "pt") == [{"ds": "20240101", "region": "cn"}]


def test_insert_overwrite_dynamic_partitions_replaces_partitions_present_in_new_rows(engine: SqlEngine) -> None:
    engine.execute(
        "INSERT OVERWRITE TABLE pt PARTITION (ds, region) "
        "SELECT id, name, '20240101', 'us' FROM t1 WHERE id < 3 "
        "UNION ALL SELECT 9, 'n', '20240102', 'cn'",
        "demo",
    )
    assert _rows(engine, "SELECT ds, region, id, v FROM pt ORDER BY ds, region, id") == [
        ("20240101", "cn", 1, "x"),
        ("20240101", "cn", 2, "y"),
        ("20240101", "us", 1, "a"),
        ("20240101", "us", 2, "b"),
        ("20240102", "cn", 9, "n"),
    ]


def test_insert_overwrite_mixed_partition_keeps_key_positions(engine: SqlEngine) -> None:
    engine.execute("INSERT OVERWRITE TABLE pt PARTITION (ds='20240101', region) SELECT 100, 'm', 'us'", "demo")
    assert _rows(engine, "SELECT id, v, ds, region FROM pt WHERE region = 'us'") == [(100, "m", "20240101", "us")]
    assert len(_rows(engine, "SELECT * FROM pt WHERE region = 'cn'")) == 2


def test_dynamic_partition_order_follows_the_partition_clause(engine: SqlEngine) -> None:
    engine.execute("INSERT INTO pt PARTITION (region, ds) SELECT 5, 'w', 'eu', '20240105'", "demo")
    assert _rows(engine, "SELECT ds, region FROM pt WHERE id = 5") == [("20240105", "eu")]


def test_insert_overwrite_reads_the_table_before_deleting(engine: SqlEngine) -> None:
    engine.execute("INSERT OVERWRITE TABLE t1 SELECT id * 10, name, amount, ts FROM t1 WHERE id = 1", "demo")
    assert _rows(engine, "SELECT id, name FROM t1") == [(10, "a")]


def test_insert_with_cte_before_insert(engine: SqlEngine) -> None:
    engine.execute("WITH x AS (SELECT id FROM other.src) INSERT INTO t1 (id) SELECT id FROM x", "demo")
    assert _rows(engine, "SELECT id FROM t1 WHERE id = 10") == [(10,)]


def test_insert_column_count_mismatch(engine: SqlEngine) -> None:
    err = _error(engine, "INSERT INTO t1 VALUES (1, 'a')")
    assert err.code == SEMANTIC_ERROR
    assert "column number/types are different" in err.message


def test_insert_into_partitioned_table_needs_partition_clause(engine: SqlEngine) -> None:
    assert _error(engine, "INSERT INTO pt VALUES (1, 'a', '1', 'cn')").code == SEMANTIC_ERROR
    assert _error(engine, "INSERT INTO pt PARTITION (ds='1') VALUES (1, 'a')").code == SEMANTIC_ERROR
    assert _error(engine, "INSERT INTO t1 PARTITION (ds='1') SELECT * FROM t1").code == SEMANTIC_ERROR


def test_null_dynamic_partition_value_is_rejected_and_nothing_changes(engine: SqlEngine) -> None:
    err = _error(engine, "INSERT OVERWRITE TABLE pt PARTITION (ds='20240101', region) SELECT 1, 'v', NULL")
    assert err.code == PARTITION_ERROR
    assert "invalid dynamic partition value: region=NULL" in err.message
    assert engine.record_count("demo", "pt") == 3


def test_failed_overwrite_leaves_the_table_unchanged(engine: SqlEngine) -> None:
    err = _error(engine, "INSERT OVERWRITE TABLE t1 SELECT 'not a number', name, amount, ts FROM t1")
    assert err.code == CAST_ERROR
    assert engine.record_count("demo", "t1") == 3


def test_insert_into_other_project(engine: SqlEngine) -> None:
    engine.execute("INSERT INTO other.src SELECT id, name FROM t1 WHERE id = 1", "demo")
    assert _rows(engine, "SELECT id FROM src ORDER BY id", "other") == [(1,), (10,)]


def test_truncate(engine: SqlEngine) -> None:
    assert engine.execute("TRUNCATE TABLE pt", "demo").text == "OK"
    assert engine.record_count("demo", "pt") == 0


# --- SELECT ----------------------------------------------------------------------------------


def test_select_without_table(engine: SqlEngine) -> None:
    result = engine.execute("SELECT 1", "demo")
    assert (result.columns, result.rows, result.text) == ([Column("_c0", "int")], [(1,)], None)


def test_select_join_aggregate_limit_cross_project(engine: SqlEngine) -> None:
    engine.execute("INSERT INTO other.src VALUES (1, 'one')", "demo")
    sql = (
        "SELECT a.name, COUNT(*) AS n, SUM(b.id) FROM demo.t1 a JOIN other.src b ON a.id = b.id "
        "GROUP BY a.name ORDER BY a.name LIMIT 5"
    )
    result = engine.execute(sql, "demo")
    assert [(c.name, c.type) for c in result.columns or []] == [("name", "string"), ("n", "bigint"), ("_c2", "bigint")]
    assert result.rows == [("a", 1, 1)]


def test_table_and_project_names_are_case_insensitive(engine: SqlEngine) -> None:
    assert _rows(engine, "SELECT T1.ID FROM DEMO.T1 WHERE T1.ID = 1") == [(1,)]


def test_output_names_are_lower_case_and_unions_take_the_first_branch(engine: SqlEngine) -> None:
    result = engine.execute("SELECT id AS MyId, 'x' FROM t1 WHERE id = 1 UNION ALL SELECT 2, 'y'", "demo")
    assert [c.name for c in result.columns or []] == ["myid", "_c1"]
    assert sorted(result.rows) == [(1, "x"), (2, "y")]


def test_cte_and_subqueries(engine: SqlEngine) -> None:
    sql = (
        "WITH x AS (SELECT id FROM t1 WHERE id > 1) "
        "SELECT COUNT(*) FROM x WHERE id IN (SELECT id FROM pt WHERE v = 'z')"
    )
    assert _rows(engine, sql) == [(1,)]


def test_hive_string_literals(engine: SqlEngine) -> None:
    assert _rows(engine, "SELECT \"abc\", 'it\\'s'") == [("abc", "it's")]


@pytest.mark.parametrize(
    ("expression", "mc_type"),
    [
        ("1", "int"),
        ("CAST(1 AS BIGINT)", "bigint"),
        ("CAST(1 AS TINYINT)", "tinyint"),
        ("CAST(1 AS SMALLINT)", "smallint"),
        ("CAST(1.5 AS DOUBLE)", "double"),
        ("CAST(1.5 AS FLOAT)", "float"),
        ("'x'", "string"),
        ("CAST('x' AS VARCHAR(3))", "string"),
        ("CAST('1.5' AS DECIMAL(10,2))", "decimal(10,2)"),
        ("DATETIME '2024-01-01 00:00:00'", "datetime"),
        ("CAST('2024-01-01 00:00:00' AS TIMESTAMP)", "timestamp"),
        ("CAST('2024-01-01' AS DATE)", "date"),
        ("true", "boolean"),
        ("CAST('ab' AS BINARY)", "binary"),
        ("GETDATE()", "datetime"),
        ("CURRENT_TIMESTAMP()", "datetime"),
        ("NULL", "string"),
        ("SUM(id)", "bigint"),
        ("SUM(amount)", "decimal(38,2)"),
    ],
)
def test_result_types_use_maxcompute_names(engine: SqlEngine, expression: str, mc_type: str) -> None:
    result = engine.execute(f"SELECT {expression} FROM t1 LIMIT 1", "demo")
    assert result.columns == [Column("_c0", mc_type)]


def test_table_column_types_come_back_from_select(engine: SqlEngine) -> None:
    result = engine.execute("SELECT * FROM t1 WHERE id = 1", "demo")
    assert [c.type for c in result.columns or []] == ["bigint", "string", "decimal(10,2)", "datetime"]
    assert result.rows == [(1, "a", Decimal("1.50"), dt.datetime(2024, 1, 2, 3, 4, 5))]


@pytest.mark.parametrize("expression", ["INTERVAL 1 DAY"])
def test_result_types_without_maxcompute_equivalent_are_rejected(engine: SqlEngine, expression: str) -> None:
    err = _error(engine, f"SELECT {expression}")
    assert err.code == SEMANTIC_ERROR
    assert "is not supported" in err.message


# --- function rewrites -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("DATEADD(DATETIME '2005-02-28 00:00:00', 1, 'dd')", dt.datetime(2005, 3, 1)),
        ("DATEADD(DATETIME '2005-02-28 00:00:00', 20, 'mm')", dt.datetime(2006, 10, 28)),
        ("DATEADD(DATETIME '2005-01-31 00:00:00', 1, 'mm')", dt.datetime(2005, 2, 28)),
        ("DATEADD(DATETIME '2005-01-31 10:00:00', -3, 'hh')", dt.datetime(2005, 1, 31, 7)),
        ("DATEADD('2005-01-31 10:00:00', 90, 'mi')", dt.datetime(2005, 1, 31, 11, 30)),
        ("DATEADD(DATETIME '2005-01-31 10:00:00', 1, 'yyyy')", dt.datetime(2006, 1, 31, 10)),
        ("DATEDIFF(DATETIME '2005-12-31 00:00:00', DATETIME '2005-12-22 00:00:00', 'dd')", 9),
        ("DATEDIFF(DATETIME '2005-12-31 02:00:00', DATETIME '2005-12-31 00:00:00', 'hh')", 2),
        ("DATEDIFF('2024-03-01 00:00:00', '2024-01-01 00:00:00')", 60),
        ("DATETRUNC(DATETIME '2024-05-17 10:11:12', 'mm')", dt.datetime(2024, 5, 1)),
        ("DATETRUNC(DATETIME '2024-05-17 10:11:12', 'hh')", dt.datetime(2024, 5, 17, 10)),
        ("DATEPART(DATETIME '2024-05-17 10:11:12', 'yyyy')", 2024),
        ("TO_CHAR(DATETIME '2024-01-02 03:04:05', 'yyyy-mm-dd hh:mi:ss')", "2024-01-02 03:04:05"),
        ("TO_CHAR(DATETIME '2024-01-02 03:04:05', 'yyyymmdd 100%')", "20240102 100%"),
        ("TO_CHAR(12)", "12"),
        ("TO_DATE('20240102', 'yyyymmdd')", dt.datetime(2024, 1, 2)),
        ("UNIX_TIMESTAMP(DATETIME '1970-01-02 00:00:01')", 86401),
        ("FROM_UNIXTIME(86401)", dt.datetime(1970, 1, 2, 0, 0, 1)),
        ("TOLOWER('AbC')", "abc"),
        ("TOUPPER('AbC')", "ABC"),
        ("(SELECT LENGTH(WM_CONCAT('|', name)) FROM t1)", 5),
    ],
)
def test_function_rewrites(engine: SqlEngine, expression: str, expected: Any) -> None:
    assert _rows(engine, f"SELECT {expression}") == [(expected,)]


def test_getdate_is_current_utc_time(engine: SqlEngine) -> None:
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    ((value, now_value, unix),) = _rows(engine, "SELECT GETDATE(), NOW(), UNIX_TIMESTAMP()")
    after = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert before - dt.timedelta(seconds=1) <= value <= after
    assert before - dt.timedelta(seconds=1) <= now_value <= after
    assert abs(unix - before.replace(tzinfo=dt.timezone.utc).timestamp()) < 5


def test_to_strftime_maps_every_element() -> None:
    assert to_strftime("YYYY-MM-DD HH:MI:SS.ff3/ff6 %") == "%Y-%m-%d %H:%M:%S.%g/%f %%"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT DATEADD(GETDATE(), 1)", "function dateadd expects 3 arguments, got 2"),
        ("SELECT DATEADD(GETDATE(), 1, 'fortnight')", "unsupported date part 'fortnight'"),
        ("SELECT DATEADD(GETDATE(), 1, name) FROM t1", "the date part must be a string constant"),
        ("SELECT TO_CHAR(GETDATE(), name) FROM t1", "the format must be a string constant"),
    ],
)
def test_function_rewrite_argument_errors(engine: SqlEngine, sql: str, message: str) -> None:
    err = _error(engine, sql)
    assert err.code == SEMANTIC_ERROR
    assert message in err.message


def test_strict_cast(engine: SqlEngine) -> None:
    err = _error(engine, "SELECT CAST('abc' AS BIGINT)")
    assert err.code == CAST_ERROR
    assert err.message.startswith("ODPS-0123091:[1,1] Illegal type cast - ")


# --- DESC / SHOW / DROP ----------------------------------------------------------------------


def test_desc_shows_the_boxed_table_description(engine: SqlEngine) -> None:
    text = engine.execute("DESC pt", "demo").text or ""
    lines = text.splitlines()
    assert lines[0] == lines[-1] == "+" + "-" * 84 + "+"
    assert {len(line) for line in lines} == {86}
    assert f"| Owner:                    {OWNER}".ljust(85) + "|" in lines
    for expected in (
        "| Project:                  demo",
        "| TableComment:",
        "| CreateTime:               2023-11-14 22:13:20",
        "| LastDDLTime:              2023-11-14 22:13:20",
        "| LastModifiedTime:         2023-11-14 22:13:20",
        "| Lifecycle:",
        "| Native Columns:",
        "| Field           | Type       | Label | Comment",
        "| id              | bigint     |       |",
        "| Partition Columns:",
        "| region          | string     |       |",
    ):
        assert any(line.startswith(expected) for line in lines), expected


def test_desc_shows_comments_and_lifecycle(engine: SqlEngine) -> None:
    text = engine.execute("DESC EXTENDED demo.t1", "other").text or ""
    assert "| TableComment:             people" in text
    assert "| Lifecycle:                30" in text
    assert "| id              | bigint        |       | pk" in text
    assert "| amount          | decimal(10,2) |       |" in text
    assert "Partition Columns" not in text


def test_show_tables(engine: SqlEngine) -> None:
    engine.execute("CREATE TABLE pq (x BIGINT)", "demo", owner="bob")
    assert engine.execute("SHOW TABLES", "demo").text == f"bob:pq\n{OWNER}:pt\n{OWNER}:t1\n"
    assert engine.execute("SHOW TABLES LIKE 'p*'", "demo").text == f"bob:pq\n{OWNER}:pt\n"
    assert engine.execute("show tables in other", "demo").text == f"{OWNER}:src\n"


def test_show_partitions(engine: SqlEngine) -> None:
    assert engine.execute("SHOW PARTITIONS pt", "demo").text == "ds=20240101/region=cn\nds=20240101/region=us\n"
    assert _error(engine, "SHOW PARTITIONS t1").code == SEMANTIC_ERROR


def test_drop_table(engine: SqlEngine) -> None:
    engine.execute("DROP TABLE IF EXISTS nope; DROP TABLE other.src; DROP TABLE t1", "demo")
    assert engine.get_table("other", "src") is None
    assert engine.get_table("demo", "t1") is None
    err = _error(engine, "DROP TABLE t1")
    assert err.message == "ODPS-0130131:[1,12] Table not found - table demo.t1 cannot be resolved"


# --- errors ----------------------------------------------------------------------------------


def test_unknown_table(engine: SqlEngine) -> None:
    err = _error(engine, "SELECT * FROM nope")
    assert err.code == TABLE_NOT_FOUND
    assert err.message == "ODPS-0130131:[1,15] Table not found - table demo.nope cannot be resolved"
    assert _error(engine, "SELECT * FROM t1 JOIN\n  ghost.t1 g ON t1.id = g.id").message.startswith(
        "ODPS-0130131:[2,3] Table not found - table ghost.t1"
    )


def test_binder_errors_are_semantic_errors_without_duckdb_details(engine: SqlEngine) -> None:
    err = _error(engine, "SELECT nocol FROM t1")
    assert err.message == "ODPS-0130071:[1,8] Semantic analysis exception - column nocol cannot be resolved"
    err = _error(engine, "SELECT name, COUNT(*) FROM t1")
    assert "column reference name should appear in GROUP BY key" in err.message
    err = _error(engine, "SELECT no_such_function(1)")
    assert "function no_such_function cannot be resolved" in err.message


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT nocol FROM t1",
        "SELECT * FROM t1 WHERE name = 1 + 'x'",
        "INSERT INTO t1 SELECT 'x', name, amount, ts FROM t1",
        "SELECT no_such_function(1)",
        "SELECT * FROM t1 a JOIN t1 b ON a.id = b.id WHERE id = 1",
    ],
)
def test_error_texts_do_not_leak_internal_names(engine: SqlEngine, sql: str) -> None:
    message = _error(engine, sql).message
    for internal in ("memory", "__cq", "__q", "LINE", "Error:", "main.", "\n"):
        assert internal not in message


def test_quoting_tricks_stay_identifiers(engine: SqlEngine) -> None:
    assert _error(engine, 'SELECT * FROM `t1"; DROP TABLE "t1`').code == TABLE_NOT_FOUND
    assert engine.get_table("demo", "t1") is not None
    result = engine.execute('SELECT 1 AS `a"b`, id AS `x``y` FROM t1 WHERE id = 1', "demo")
    assert [c.name for c in result.columns or []] == ['a"b', "x`y"]


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("UPDATE t1 SET name = 'x'", SEMANTIC_ERROR),
        ("DELETE FROM t1 WHERE id = 1", SEMANTIC_ERROR),
        ("ALTER TABLE pt TOUCH", SEMANTIC_ERROR),
        ("ALTER TABLE pt ADD PARTITION (ds='1', nope='x')", PARTITION_ERROR),
        ("GRANT Select ON TABLE t1 TO USER bob", PARSE_ERROR),
        ("EXPLAIN SELECT 1", PARSE_ERROR),
        ("SHOW GRANTS", SEMANTIC_ERROR),
        ("DESC t1 PARTITION (ds='1')", SEMANTIC_ERROR),
        ("SELECT * FROM range(3)", SEMANTIC_ERROR),
    ],
)
def test_unsupported_statements_fail_clearly(engine: SqlEngine, sql: str, code: str) -> None:
    assert _error(engine, sql).code == code


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE a1 (id BIGINT) LIFECYCLE 7",
        "CREATE TABLE a2 LIFECYCLE 1 AS SELECT * FROM t1",
        "CREATE TABLE a3 LIKE t1 LIFECYCLE 1",
        "CREATE TABLE IF NOT EXISTS a4 (id BIGINT COMMENT 'c') COMMENT 'x' PARTITIONED BY (ds STRING) LIFECYCLE 2",
        "INSERT OVERWRITE TABLE pt PARTITION (ds='1', region) SELECT 1, 'a', 'b'",
        "INSERT INTO pt PARTITION (ds='1', region='2') (id) VALUES (1)",
        "DESC t1",
        "DESC EXTENDED t1",
        "DROP TABLE IF EXISTS t1",
        "TRUNCATE TABLE t1",
        "SELECT * FROM t1 UNION ALL SELECT * FROM t1",
        "(SELECT 1)",
    ],
)
def test_supported_statements_never_fall_back_to_commands(engine: SqlEngine, sql: str) -> None:
    statements = Compiler().compile(sql)
    assert len(statements) == 1
    assert statements[0].node is not None
    assert not any(isinstance(node, exp.Command) for node in statements[0].node.walk())
    engine.execute(sql, "demo")


# --- analyze ---------------------------------------------------------------------------------


def _access(engine: SqlEngine, sql: str, project: str = "p0") -> StatementAccess:
    accesses = engine.analyze(sql, project)
    assert len(accesses) == 1
    return accesses[0]


def _refs(*names: str) -> tuple[TableRef, ...]:
    return tuple(TableRef(*name.split(".")) for name in names)


@pytest.mark.parametrize(
    ("sql", "kind", "field", "expected"),
    [
        ("SELECT COUNT(*) FROM other_project.t1", "select", "reads", _refs("other_project.t1")),
        (
            "SELECT a.x FROM proj.default.t1 a JOIN `other_project`.`t2` b ON a.id = b.id",
            "select",
            "reads",
            _refs("proj.t1", "other_project.t2"),
        ),
        (
            "WITH x AS (SELECT * FROM t1) SELECT * FROM x JOIN t3 ON x.id = t3.id",
            "select",
            "reads",
            _refs("p0.t1", "p0.t3"),
        ),
        (
            "SELECT id FROM (SELECT id FROM t4) s WHERE id IN (SELECT id FROM p9.t5)",
            "select",
            "reads",
            _refs("p0.t4", "p9.t5"),
        ),
        (
            "INSERT OVERWRITE TABLE t5 PARTITION (ds='1') SELECT a.id FROM t1 a JOIN other_project.t2 b ON a.id=b.id",
            "insert",
            "reads",
            _refs("p0.t1", "other_project.t2"),
        ),
        ("INSERT INTO p2.t6 VALUES (1)", "insert", "writes", _refs("p2.t6")),
        (
            "CREATE TABLE t7 LIFECYCLE 1 AS SELECT * FROM other_project.src",
            "create_table",
            "reads",
            _refs("other_project.src"),
        ),
        ("CREATE TABLE t7 LIFECYCLE 1 AS SELECT * FROM other_project.src", "create_table", "creates", _refs("p0.t7")),
        ("CREATE TABLE IF NOT EXISTS t8 LIKE other_project.t1", "create_table", "reads", _refs("other_project.t1")),
        ("CREATE TABLE IF NOT EXISTS t8 LIKE other_project.t1", "create_table", "creates", _refs("p0.t8")),
        ("DROP TABLE IF EXISTS other_project.t1", "drop_table", "drops", _refs("other_project.t1")),
        ("DESC other_project.t1", "desc", "describes", _refs("other_project.t1")),
        ("SHOW PARTITIONS t1", "show_partitions", "describes", _refs("p0.t1")),
        ("TRUNCATE TABLE t1", "truncate", "writes", _refs("p0.t1")),
        ("SHOW TABLES", "show_tables", "lists", ("p0",)),
        ("SHOW TABLES IN Other LIKE 'a*'", "show_tables", "lists", ("other",)),
    ],
)
def test_analyze_reports_tables_per_statement(sql: str, kind: str, field: str, expected: tuple[Any, ...]) -> None:
    access = _access(SqlEngine(), sql)
    assert access.kind == kind
    assert getattr(access, field) == expected


def test_analyze_insert_write_only_statement_has_no_reads() -> None:
    access = _access(SqlEngine(), "INSERT INTO p2.t6 VALUES (1)")
    assert (access.reads, access.creates, access.drops) == ((), (), ())


def test_analyze_only_parses() -> None:
    engine = SqlEngine()
    engine.create_project("p0")
    accesses = engine.analyze("CREATE TABLE t (id BIGINT); INSERT INTO t VALUES (1); DROP TABLE t", "p0")
    assert [a.kind for a in accesses] == ["create_table", "insert", "drop_table"]
    assert engine.list_tables("p0") == []


def test_analyze_rejects_unknown_schemas_and_honours_namespace_setting() -> None:
    engine = SqlEngine()
    with pytest.raises(SqlError) as info:
        engine.analyze("SELECT * FROM proj.sch.t1", "p0")
    err = info.value
    assert err.code == SEMANTIC_ERROR
    assert "schema proj.sch cannot be resolved" in err.message
    accesses = engine.analyze("set odps.namespace.schema=true; SELECT * FROM default.t1", "p0")
    assert accesses[1].reads == _refs("p0.t1")
    assert _access(engine, "SELECT * FROM default.t1").reads == _refs("default.t1")


def test_analyze_raises_parse_errors() -> None:
    with pytest.raises(SqlError) as info:
        SqlEngine().analyze("SELECT FROM WHERE", "p0")
    assert info.value.code == PARSE_ERROR


# --- catalog helpers, seeds, tunnel helpers --------------------------------------------------


def test_list_and_get_tables(engine: SqlEngine) -> None:
    assert [t.name for t in engine.list_tables("demo")] == ["pt", "t1"]
    assert [t.name for t in engine.list_tables("DEMO", prefix="T")] == ["t1"]
    assert engine.list_tables("nope") == []
    meta = engine.get_table("Demo", "T1")
    assert meta is not None
    meta.columns.append(Column("hacked", "string"))
    assert len(engine.get_table("demo", "t1").columns) == 4  # type: ignore[union-attr]
    assert engine.has_project("DEMO")
    assert not engine.has_project("nope")
    assert engine.record_count("demo", "pt") == 3


def test_create_project_validates_names() -> None:
    engine = SqlEngine()
    engine.create_project("Proj_1")
    engine.create_project("proj_1")
    assert engine.list_projects() == ["proj_1"]
    for bad in ("1abc", "a-b", 'a"b', "pg_catalog", ""):
        with pytest.raises(ValueError, match="invalid project name"):
            engine.create_project(bad)


def test_create_table_converts_json_values(engine: SqlEngine) -> None:
    engine.create_table(
        "demo",
        "Seeded",
        [
            Column("id", "BIGINT"),
            Column("at", "datetime"),
            Column("day", "date"),
            Column("price", "decimal(10,2)"),
            Column("ok", "boolean"),
            Column("blob", "binary"),
        ],
        [Column("ds", "string")],
        comment="seed",
        lifecycle=5,
        owner="seed-owner",
        rows=[
            ["1", "2024-01-02T03:04:05.678Z", "2024-01-02", "12.30", "true", {"base64": "AP8="}, "20240102"],
            [2, None, None, 0.1, False, "text", "20240103"],
        ],
    )
    meta = engine.get_table("demo", "seeded")
    assert meta is not None
    assert [c.type for c in meta.columns] == ["bigint", "datetime", "date", "decimal(10,2)", "boolean", "binary"]
    assert (meta.comment, meta.lifecycle, meta.owner) == ("seed", 5, "seed-owner")
    assert _rows(engine, "SELECT * FROM seeded ORDER BY id") == [
        (
            1,
            dt.datetime(2024, 1, 2, 3, 4, 5, 678000),
            dt.date(2024, 1, 2),
            Decimal("12.30"),
            True,
            b"\x00\xff",
            "20240102",
        ),
        (2, None, None, Decimal("0.10"), False, b"text", "20240103"),
    ]


def test_create_table_rejects_bad_values_atomically(engine: SqlEngine) -> None:
    with pytest.raises(SqlError) as info:
        engine.create_table("demo", "bad", [Column("id", "bigint")], rows=[[1], ["x1"]])
    assert info.value.code == CAST_ERROR
    assert "row 1, column id" in info.value.message
    assert engine.get_table("demo", "bad") is None
    with pytest.raises(SqlError) as info:
        engine.create_table("demo", "t1", [Column("id", "bigint")])
    assert info.value.code == TABLE_EXISTS
    with pytest.raises(SqlError):
        engine.create_table("demo", "bad", [Column("id", "array<interval>")])


def test_read_rows_for_downloads(engine: SqlEngine) -> None:
    columns, rows = engine.read_rows("demo", "pt", {"ds": "20240101", "region": "us"})
    assert [c.name for c in columns] == ["id", "v"]
    assert rows == [(3, "z")]
    columns, rows = engine.read_rows("demo", "pt", columns=["region", "ID"])
    assert [c.name for c in columns] == ["region", "id"]
    assert sorted(rows) == [("cn", 1), ("cn", 2), ("us", 3)]
    with pytest.raises(SqlError):
        engine.read_rows("demo", "pt", {"nope": "1"})


def test_write_rows_for_uploads(engine: SqlEngine) -> None:
    assert engine.write_rows("demo", "pt", [[5, "u"], [6, None]], {"ds": "20240109", "region": "eu"}) == 2
    assert engine.partitions("demo", "pt")[-1] == {"ds": "20240109", "region": "eu"}
    engine.write_rows("demo", "pt", [[7, "o"]], {"ds": "20240109", "region": "eu"}, overwrite=True)
    assert engine.read_rows("demo", "pt", {"ds": "20240109", "region": "eu"})[1] == [(7, "o")]
    engine.write_rows("demo", "t1", [[8, "h", "1.5", dt.datetime(2024, 1, 1)]])
    assert engine.record_count("demo", "t1") == 4
    with pytest.raises(SqlError) as info:
        engine.write_rows("demo", "pt", [[1, "a"]])
    assert info.value.code == PARTITION_ERROR
    with pytest.raises(SqlError) as info:
        engine.write_rows("demo", "t1", [[1, "a"]])
    assert engine.record_count("demo", "t1") == 4


# --- snapshots -------------------------------------------------------------------------------


def _typed_engine() -> SqlEngine:
    engine = _engine()
    engine.execute(
        "CREATE TABLE typed (i BIGINT, n INT, s SMALLINT, y TINYINT, d DOUBLE, f FLOAT, c DECIMAL(20,4), "
        "t STRING, v VARCHAR(5), ch CHAR(2), b BOOLEAN, dt DATETIME, dd DATE, ts TIMESTAMP, bin BINARY) "
        "PARTITIONED BY (ds BIGINT) TBLPROPERTIES ('k'='v') LIFECYCLE 9",
        "demo",
        owner="o",
    )
    engine.create_table(
        "demo",
        "typed2",
        [Column("d", "double"), Column("bin", "binary")],
        rows=[[math.inf, b"\x00\xff\xfe"], [-math.inf, b""], [math.nan, None]],
    )
    engine.execute(
        "INSERT INTO typed PARTITION (ds=20240101) VALUES "
        "(-9223372036854775808, -2147483648, -32768, -128, 0.1, 0.1, 12345678901234.5600, 'héllo\n\"q\"', 'abc',"
        " 'xy', true, DATETIME '1960-05-06 01:02:03.456', DATE '1960-05-06',"
        " TIMESTAMP '2024-01-02 03:04:05.123456789', unhex('00ff')),"
        "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        "demo",
    )
    return engine


def test_dump_load_round_trip_is_exact() -> None:
    engine = _typed_engine()
    snapshot = engine.dump()
    text = json.dumps(snapshot, allow_nan=False)
    restored = SqlEngine()
    restored.load(json.loads(text))
    assert restored.dump() == snapshot
    for project in ("demo", "other"):
        for table in engine.list_tables(project):
            assert restored.get_table(project, table.name) == table
            sql = f"SELECT * FROM {project}.{table.name}"
            assert repr(_rows(restored, sql)) == repr(_rows(engine, sql))
    typed = next(t for t in snapshot["projects"]["demo"]["tables"] if t["name"] == "typed")
    assert typed["rows"][0][13] == "2024-01-02 03:04:05.123456789"
    assert typed["rows"][0][14] == {"base64": "AP8="}
    assert typed["rows"][0][6] == "12345678901234.5600"
    assert _rows(restored, "SELECT CAST(ts AS STRING) FROM typed WHERE i IS NOT NULL") == [
        ("2024-01-02 03:04:05.123456789",)
    ]


def test_load_replaces_state_and_keeps_it_on_error(engine: SqlEngine) -> None:
    snapshot = engine.dump()
    other = SqlEngine()
    other.create_project("zzz")
    other.load(snapshot)
    assert other.list_projects() == ["demo", "other"]
    broken = json.loads(json.dumps(snapshot))
    broken["projects"]["demo"]["tables"][0]["rows"].append(["not-an-int", "x", "1", "20240101", "cn"])
    with pytest.raises(SqlError):
        other.load(broken)
    assert other.dump() == snapshot
    with pytest.raises(ValueError, match="not an emulator SQL snapshot"):
        other.load({"format": "other"})


# --- result rendering ------------------------------------------------------------------------


def test_result_csv_round_trips_through_pyodps_reader(engine: SqlEngine) -> None:
    engine.execute(
        "INSERT INTO t1 VALUES (4, 'quote \" comma , newline\n back\\\\slash tab\t ünï', NULL, NULL)", "demo"
    )
    result = engine.execute(
        "SELECT id, name, amount, ts, CAST(ts AS DATE) AS d, id > 1 AS big, id / 2 AS half FROM t1 ORDER BY id",
        "demo",
    )
    text = result_to_csv(result)
    assert text.splitlines()[0] == '"id","name","amount","ts","d","big","half"'
    assert text.splitlines()[1] == '1,"a",1.50,2024-01-02 03:04:05,2024-01-02,false,0.5'
    schema = _parse_instance_schema(json.loads(result_descriptor(result))["Schema"])
    records = [list(r.values) for r in CsvRecordReader(schema, text)]
    assert records == [list(row) for row in result.rows]
    assert records[3][1] == 'quote " comma , newline\n back\\slash tab\t ünï'
    assert records[1][2] is None


def test_result_descriptor_and_text_results(engine: SqlEngine) -> None:
    result = engine.execute("SELECT id, name FROM t1 LIMIT 1", "demo")
    assert json.loads(result_descriptor(result)) == {
        "IsSelect": True,
        "SelectResultStatus": "FULL",
        "Schema": {"Columns": [{"Name": "id", "Type": "bigint"}, {"Name": "name", "Type": "string"}]},
    }
    ddl = engine.execute("CREATE TABLE x (a BIGINT)", "demo")
    assert result_to_csv(ddl) == "OK"
    assert json.loads(result_descriptor(ddl)) == {"IsSelect": False}
    assert result_to_csv(ExecutionResult([Column("a", "string")], [], None)) == '"a"\n'


# --- concurrency -----------------------------------------------------------------------------


def test_concurrent_statements_are_serialised(engine: SqlEngine) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(10):
                engine.execute(f"INSERT INTO pt PARTITION (ds='w{worker}', region='r') VALUES ({i}, 'v')", "demo")
                engine.execute(f"SELECT COUNT(*) FROM pt WHERE ds = 'w{worker}'", "demo")
                engine.analyze("SELECT * FROM pt", "demo")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert engine.record_count("demo", "pt") == 3 + 60
    assert len(engine.partitions("demo", "pt")) == 2 + 6

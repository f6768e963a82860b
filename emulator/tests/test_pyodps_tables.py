"""Tables through unmodified pyodps, as its documentation uses them: the table tunnel (write_table,
read_table, open_writer/open_reader, upload sessions), partitions, DDL, views and complex types."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
from clarityq_emulator import RunningEmulator
from odps import ODPS, errors
from odps.dbapi import connect
from odps.models import Column, Partition, TableSchema
from odps.tunnel import CompressOption, TableTunnel

pytestmark = pytest.mark.integration

_N = itertools.count(1)


@pytest.fixture
def name() -> str:
    return f"tt{next(_N)}"


def _values(records: Any) -> list[list[Any]]:
    return [list(r.values) for r in records]


def _sql(odps: ODPS, sql: str) -> list[list[Any]]:
    with odps.execute_sql(sql).open_reader() as reader:
        return _values(reader)


def test_write_table_then_read_back_through_both_tunnels_and_sql(odps: ODPS, name: str) -> None:
    schema = TableSchema(
        columns=[
            Column(name="id", type="bigint"),
            Column(name="name", type="string"),
            Column(name="price", type="decimal(10,2)"),
            Column(name="at", type="datetime"),
            Column(name="day", type="date"),
            Column(name="ok", type="boolean"),
        ]
    )
    odps.create_table(name, schema)
    rows = [
        [1, "a", Decimal("1.50"), dt.datetime(2024, 1, 2, 3, 4, 5), dt.date(2024, 1, 2), True],
        [2, None, Decimal("-0.10"), dt.datetime(2024, 2, 3, 4, 5, 6), dt.date(1960, 5, 6), False],
    ]
    odps.write_table(name, rows)
    assert sorted(_values(odps.read_table(name)), key=lambda r: r[0]) == rows
    assert _sql(odps, f"SELECT * FROM {name} ORDER BY id") == rows
    odps.write_table(name, [[3, "c", Decimal("0.00"), None, None, None]])
    assert [r[0] for r in _values(odps.read_table(name))] == [1, 2, 3]
    odps.write_table(name, [[9, "z", Decimal("9.99"), None, None, True]], overwrite=True)
    assert _sql(odps, f"SELECT id, name FROM {name}") == [[9, "z"]]


def test_partitions_through_open_writer_open_reader_and_rest(odps: ODPS, name: str) -> None:
    schema = TableSchema(
        columns=[Column(name="id", type="bigint"), Column(name="v", type="string")],
        partitions=[Partition(name="ds", type="string"), Partition(name="hr", type="string")],
    )
    table = odps.create_table(name, schema)
    with pytest.raises(errors.NoSuchPartition), table.open_writer(partition="ds=20240101,hr=01") as writer:
        writer.write([[0, "never"]])
    with table.open_writer(partition="ds=20240101,hr=01", create_partition=True) as writer:
        writer.write([[1, "a"], [2, "b"]])
    odps.write_table(name, [[3, "c"]], partition="ds=20240102,hr=00", create_partition=True)
    with table.open_reader(partition="ds=20240101,hr=01") as reader:
        assert reader.count == 2
        assert _values(reader) == [[1, "a", "20240101", "01"], [2, "b", "20240101", "01"]]
    assert [str(p.partition_spec) for p in table.partitions] == [
        "ds='20240101',hr='01'",
        "ds='20240102',hr='00'",
    ]
    assert table.exist_partition("ds=20240102,hr=00") and not table.exist_partition("ds=20240103,hr=00")
    assert table.get_partition("ds=20240101,hr=01").record_num == 2
    table.create_partition("ds=20240103,hr=00")
    assert table.exist_partition("ds=20240103,hr=00")
    assert _values(odps.read_table(name, partition="ds=20240103,hr=00")) == []
    table.delete_partition("ds=20240101,hr=01")
    assert not table.exist_partition("ds=20240101,hr=01")
    assert _sql(odps, f"SELECT count(*) FROM {name}") == [[1]]
    with pytest.raises(errors.ODPSError):  # a partitioned table is read one partition at a time
        odps.read_table(name).__next__()


def test_upload_session_blocks_are_published_in_order_at_commit(odps: ODPS, name: str) -> None:
    odps.execute_sql(f"CREATE TABLE {name} (id BIGINT, v STRING)")
    tunnel = TableTunnel(odps)
    session = tunnel.create_upload_session(name)
    for block in (2, 0, 1):
        with session.open_record_writer(block) as writer:
            for i in range(3):
                writer.write(session.new_record([block * 10 + i, f"b{block}"]))
    assert _sql(odps, f"SELECT count(*) FROM {name}") == [[0]]  # nothing visible before the commit
    session.commit([0, 1, 2])
    assert [r[0] for r in _values(odps.read_table(name))] == [0, 1, 2, 10, 11, 12, 20, 21, 22]
    compressed = tunnel.create_upload_session(name, compress_option=CompressOption())
    with compressed.open_record_writer(0, compress=True) as writer:
        writer.write(compressed.new_record([99, "deflated"]))
    compressed.commit([0])
    assert _sql(odps, f"SELECT v FROM {name} WHERE id = 99") == [["deflated"]]
    download = tunnel.create_download_session(name)
    with download.open_record_reader(2, 3, columns=["v"]) as reader:
        assert _values(reader) == [["b0"], ["b1"], ["b1"]]


def test_complex_types_through_both_tunnels(odps: ODPS, name: str) -> None:
    odps.execute_sql(
        f"CREATE TABLE {name} (id BIGINT, tags ARRAY<STRING>, attrs MAP<STRING, BIGINT>,"
        " loc STRUCT<x:DOUBLE, y:DOUBLE>, nested ARRAY<STRUCT<k:STRING, v:ARRAY<BIGINT>>>)"
    )
    odps.write_table(
        name,
        [
            [1, ["a", None, "c"], {"k": 7, "j": None}, (1.5, 2.5), [("p", [1, 2]), None]],
            [2, [], {}, None, None],
        ],
    )
    expected_first = [1, ["a", None, "c"], {"k": 7, "j": None}, (1.5, 2.5), [("p", [1, 2]), None]]

    def normalise(row: list[Any]) -> list[Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, tuple):
                return tuple(plain(v) for v in value)
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        return [plain(v) for v in row]

    table_rows = sorted((normalise(r) for r in _values(odps.read_table(name))), key=lambda r: r[0])
    assert table_rows[0] == expected_first
    sql_rows = [normalise(r) for r in _sql(odps, f"SELECT * FROM {name} ORDER BY id")]
    assert sql_rows == table_rows
    assert _sql(odps, f"SELECT tags[0], attrs['k'], loc.x FROM {name} WHERE id = 1") == [["a", 7, 1.5]]
    columns = {c.name: str(c.type).lower().replace("`", "") for c in odps.get_table(name).table_schema.columns}
    assert columns["nested"] == "array<struct<k:string,v:array<bigint>>>"


def test_not_null_is_enforced_through_the_tunnel_and_sql(odps: ODPS, name: str) -> None:
    odps.execute_sql(f"CREATE TABLE {name} (id BIGINT NOT NULL, v STRING)")
    assert [c.nullable for c in odps.get_table(name).table_schema.columns] == [False, True]
    with pytest.raises(errors.ODPSError, match="NOT NULL"):
        odps.write_table(name, [[None, "x"]])
    with pytest.raises(errors.ODPSError, match="NOT NULL"):
        odps.execute_sql(f"INSERT INTO {name} (v) VALUES ('x')")
    assert _sql(odps, f"SELECT count(*) FROM {name}") == [[0]]


def test_alter_table_then_describe(odps: ODPS, name: str) -> None:
    odps.execute_sql(f"CREATE TABLE {name} (id BIGINT, v STRING) PARTITIONED BY (ds STRING) LIFECYCLE 7")
    odps.write_table(name, [[1, "a"]], partition="ds=1", create_partition=True)
    odps.execute_sql(f"ALTER TABLE {name} ADD COLUMNS (score DOUBLE COMMENT 'points')")
    odps.execute_sql(f"ALTER TABLE {name} CHANGE COLUMN v label STRING COMMENT 'renamed'")
    odps.execute_sql(f"ALTER TABLE {name} SET LIFECYCLE 30")
    odps.execute_sql(f"ALTER TABLE {name} SET COMMENT 'scores'")
    odps.execute_sql(f"ALTER TABLE {name} ADD PARTITION (ds='2')")
    odps.execute_sql(f"ALTER TABLE {name} RENAME TO {name}_r")
    assert not odps.exist_table(name)
    table = odps.get_table(f"{name}_r")
    assert [(c.name, str(c.type).lower(), c.comment) for c in table.table_schema.simple_columns] == [
        ("id", "bigint", ""),
        ("label", "string", "renamed"),
        ("score", "double", "points"),
    ]
    assert (table.lifecycle, table.comment) == (30, "scores")
    assert [str(p.partition_spec) for p in table.partitions] == ["ds='1'", "ds='2'"]
    assert _values(odps.read_table(f"{name}_r", partition="ds=1")) == [[1, "a", None, "1"]]
    desc = odps.execute_sql(f"DESC {name}_r").open_reader(tunnel=False).raw
    assert "score" in desc and "Lifecycle:" in desc


def test_views_are_tables_of_type_virtual_view(odps: ODPS, name: str) -> None:
    odps.execute_sql(f"CREATE TABLE {name} (id BIGINT, v STRING)")
    odps.write_table(name, [[1, "a"], [2, "b"]])
    odps.execute_sql(f"CREATE VIEW {name}_v (k COMMENT 'key') AS SELECT id FROM {name} WHERE id > 1")
    view = odps.get_table(f"{name}_v")
    assert view.is_virtual_view
    assert view.view_text == f"SELECT id FROM {name} WHERE id > 1"
    assert [(c.name, c.comment) for c in view.table_schema.columns] == [("k", "key")]
    assert _sql(odps, f"SELECT k FROM {name}_v") == [[2]]
    assert f"{name}_v" in [t.name for t in odps.list_tables(type="virtual_view")]
    with pytest.raises(errors.ODPSError):
        odps.read_table(f"{name}_v").__next__()  # the tunnel serves tables, not views
    odps.execute_sql(f"DROP VIEW {name}_v")
    assert not odps.exist_table(f"{name}_v")


def test_table_properties_are_accepted_and_recorded(odps: ODPS, name: str) -> None:
    odps.execute_sql(
        f"CREATE TABLE {name} (id BIGINT, v STRING) CLUSTERED BY (id) SORTED BY (id DESC) INTO 4 BUCKETS"
        " STORED AS ALIORC TBLPROPERTIES ('comment.owner'='data')"
    )
    table = odps.get_table(name)
    info = table.cluster_info
    assert info is not None
    assert (info.cluster_type.value, info.bucket_num, info.cluster_cols) == ("hash", 4, ["id"])
    assert [(c.name, c.order.value) for c in info.sort_cols] == [("id", "DESC")]
    assert table.table_properties == {"comment.owner": "data"}


def test_dbapi_inserts_and_fetches_typed_rows(clarityq_emulator_module: RunningEmulator, name: str) -> None:
    info = clarityq_emulator_module.info
    conn = connect(info.access_key_id, info.access_key_secret, info.project, endpoint=info.maxcompute_endpoint)
    cursor = conn.cursor()
    cursor.execute(f"CREATE TABLE {name} (id BIGINT, v STRING, at DATETIME)")
    cursor.executemany(f"INSERT INTO {name} VALUES (?, ?, ?)", [(1, "a", "2024-01-02 03:04:05"), (2, "b's", None)])
    cursor.execute(f"SELECT id, v, at FROM {name} ORDER BY id")
    assert [d[0] for d in cursor.description] == ["id", "v", "at"]
    assert cursor.fetchall() == [[1, "a", dt.datetime(2024, 1, 2, 3, 4, 5)], [2, "b's", None]]


def test_the_tunnel_checks_select_and_update(odps: ODPS, member: tuple[ODPS, str], name: str) -> None:
    reader, principal = member
    odps.execute_sql(f"CREATE TABLE {name} (id BIGINT)")
    odps.write_table(name, [[1]])
    odps.execute_security_query(f"grant Describe on table {name} to user {principal}")
    with pytest.raises(errors.NoPermission, match="odps:Select"):
        reader.read_table(name).__next__()
    with pytest.raises(errors.NoPermission, match="odps:Update"):
        reader.write_table(name, [[2]])
    odps.execute_security_query(f"grant Select, Update on table {name} to user {principal}")
    reader.write_table(name, [[2]])
    assert sorted(r[0] for r in _values(reader.read_table(name))) == [1, 2]

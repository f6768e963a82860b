"""The tunnel record stream codec, against the reference bytes and pyodps' own reader and writer."""

from __future__ import annotations

import datetime as dt
import json
import struct
from collections.abc import Iterator
from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
from clarityq_emulator.maxcompute.sql.catalog import Column
from clarityq_emulator.maxcompute.tunnel.codec import (
    crc32c,
    decode_stream,
    encode_stream,
    parse_partition_spec,
    project_rows,
    schema_json,
    session_json,
    upload_session_json,
)
from odps import options
from odps.models import Record, TableSchema
from odps.tunnel.io.reader import TunnelRecordReader
from odps.tunnel.io.stream import SimpleInputStream
from odps.tunnel.io.writer import BaseRecordWriter
from odps.tunnel.tabletunnel import TableDownloadSession

ID_NAME = [Column("id", "bigint"), Column("name", "string")]
# Reference §5.4: schema (id BIGINT, name STRING), one row [1, 'a'].
WORKED_EXAMPLE = bytes.fromhex(
    "0802" "120161" "80c0ff7f" "ea91d2b205" "f0ffff7f02" "f8ffff7f97d6b6ae06"
)  # fmt: skip
END_OF_RECORD = bytes.fromhex("80c0ff7f")
STREAM_CHECKSUM = bytes.fromhex("f8ffff7f")

ALL_TYPES = [
    Column("b", "bigint"),
    Column("i", "int"),
    Column("s", "smallint"),
    Column("t", "tinyint"),
    Column("ok", "boolean"),
    Column("d", "double"),
    Column("f", "float"),
    Column("str", "string"),
    Column("vc", "varchar(10)"),
    Column("ch", "char(2)"),
    Column("bin", "binary"),
    Column("dec", "decimal(10,2)"),
    Column("dtm", "datetime"),
    Column("day", "date"),
]
ALL_ROWS: list[list[Any]] = [
    [
        -(2**63),
        -(2**31),
        -(2**15),
        -128,
        True,
        1.5,
        0.5,
        "héllo",
        "abc",
        "xy",
        b"\x00\xff",
        Decimal("-0.10"),
        dt.datetime(2024, 1, 2, 3, 4, 5, 678000),
        dt.date(1960, 5, 6),
    ],
    [
        2**63 - 1,
        2**31 - 1,
        2**15 - 1,
        127,
        False,
        -0.0,
        -2.5,
        "",
        "",
        "",
        b"",
        Decimal("12345678.90"),
        dt.datetime(1969, 12, 31, 23, 59, 59, 999000),
        dt.date(2024, 1, 2),
    ],
    [None] * 14,
]


@pytest.fixture
def utc_client() -> Iterator[None]:
    """pyodps renders DATETIME in options.local_timezone; pin UTC so values compare directly."""
    saved = options.local_timezone
    options.local_timezone = False
    try:
        yield
    finally:
        options.local_timezone = saved


def _schema(columns: list[Column]) -> Any:
    return TableSchema.from_lists([c.name for c in columns], [c.type for c in columns])


def _pyodps_read(columns: list[Column], body: bytes) -> list[list[Any]]:
    def stream(cursor: int, row_number: int | None = None, raw_size: int | None = None) -> Any:
        return SimpleInputStream(BytesIO(body)) if cursor == 0 else None

    reader = TunnelRecordReader(_schema(columns), stream)
    return [list(record.values) for record in reader]


def _pyodps_write(columns: list[Column], rows: list[list[Any]]) -> bytes:
    schema = _schema(columns)
    out = BytesIO()
    writer = BaseRecordWriter(schema, out)
    for row in rows:
        writer.write(Record(schema=schema, values=row))
    writer.close()
    return out.getvalue()


def test_crc32c_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(b"56789", crc32c(b"1234")) == 0xE3069283


def test_worked_example_bytes() -> None:
    assert encode_stream(ID_NAME, [[1, "a"]]) == WORKED_EXAMPLE
    row_crc_input = struct.pack("<i", 1) + struct.pack("<q", 1) + struct.pack("<i", 2) + b"a"
    assert crc32c(row_crc_input) == 0x565488EA
    assert crc32c(struct.pack("<I", 0x565488EA)) == 0x65CDAB17
    assert decode_stream(ID_NAME, WORKED_EXAMPLE) == [[1, "a"]]


@pytest.mark.parametrize(
    ("column", "value", "row_bytes"),
    [
        (Column("d", "datetime"), dt.datetime(2024, 1, 2, 3, 4, 5, 678000), "08dcec86829963"),
        (Column("d", "date"), dt.date(2024, 1, 2), "0898b402"),
        (Column("d", "decimal(10,2)"), Decimal("12.34"), "0a0531322e3334"),
        (Column("d", "double"), 1.5, "09000000000000f83f"),
        (Column("d", "boolean"), True, "0801"),
    ],
)
def test_reference_value_encodings(column: Column, value: Any, row_bytes: str) -> None:
    body = encode_stream([column], [[value]])
    expected = bytes.fromhex(row_bytes)
    assert body.startswith(expected + bytes.fromhex("80c0ff7f"))
    assert decode_stream([column], body) == [[value]]


def test_reference_two_column_row() -> None:
    columns = [Column("d", "double"), Column("b", "boolean")]
    assert encode_stream(columns, [[1.5, True]]).startswith(bytes.fromhex("09000000000000f83f1001"))


def test_date_before_epoch_is_negative_days() -> None:
    body = encode_stream([Column("d", "date")], [[dt.date(1960, 5, 6)]])
    row_crc = crc32c(struct.pack("<i", 1) + struct.pack("<q", -3527))
    assert body.startswith(b"\x08" + _varint(7053) + END_OF_RECORD + _varint(row_crc))
    assert decode_stream([Column("d", "date")], body) == [[dt.date(1960, 5, 6)]]


def test_empty_stream_and_all_null_row() -> None:
    assert encode_stream(ID_NAME, []) == bytes.fromhex("f0ffff7f00f8ffff7f00")
    assert decode_stream(ID_NAME, bytes.fromhex("f0ffff7f00f8ffff7f00")) == []
    assert encode_stream(ID_NAME, [[None, None]]).startswith(bytes.fromhex("80c0ff7f00"))


def test_aware_datetimes_are_converted_to_utc() -> None:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    aware = encode_stream([Column("d", "datetime")], [[dt.datetime(2024, 1, 2, 11, 4, 5, 678000, tzinfo=shanghai)]])
    naive = encode_stream([Column("d", "datetime")], [[dt.datetime(2024, 1, 2, 3, 4, 5, 678000)]])
    assert aware == naive


def test_timestamp_is_seconds_and_nanoseconds_without_length_prefix() -> None:
    columns = [Column("ts", "timestamp")]
    value = dt.datetime(1969, 12, 31, 23, 59, 58, 123456)
    body = encode_stream(columns, [[value]])
    row_crc = crc32c(struct.pack("<i", 1) + struct.pack("<q", -2) + struct.pack("<i", 123456000))
    # field 1 wire type 2, zigzag(-2) = 3, zigzag(123456000) = 246912000
    assert body.startswith(b"\x0a\x03" + _varint(246912000) + END_OF_RECORD + _varint(row_crc))
    assert decode_stream(columns, body) == [[value]]


def test_all_scalar_types_round_trip() -> None:
    assert decode_stream(ALL_TYPES, encode_stream(ALL_TYPES, ALL_ROWS)) == ALL_ROWS


@pytest.mark.usefixtures("utc_client")
def test_pyodps_reader_accepts_our_stream() -> None:
    assert _pyodps_read(ALL_TYPES, encode_stream(ALL_TYPES, ALL_ROWS)) == ALL_ROWS


@pytest.mark.usefixtures("utc_client")
def test_we_read_pyodps_writer_output() -> None:
    body = _pyodps_write(ALL_TYPES, ALL_ROWS)
    assert decode_stream(ALL_TYPES, body) == ALL_ROWS


@pytest.mark.usefixtures("utc_client")
def test_pyodps_writer_is_byte_identical_up_to_sign_extended_checksums() -> None:
    rows = [[n * 7919, f"row {n}"] for n in range(30)] + [[None, "xyz"], [5, None]]
    ours = encode_stream(ID_NAME, rows)
    theirs = _pyodps_write(ID_NAME, rows)
    assert decode_stream(ID_NAME, theirs) == rows
    assert _pyodps_read(ID_NAME, ours) == rows
    assert _rewrite_checksums(theirs, extend=False) == ours
    assert _rewrite_checksums(ours, extend=True) == theirs


def test_sign_extended_checksums_are_accepted() -> None:
    rows = [[n, str(n)] for n in range(40)]
    body = encode_stream(ID_NAME, rows)
    extended = _rewrite_checksums(body, extend=True)
    assert len(extended) > len(body)
    assert decode_stream(ID_NAME, extended) == rows


def _rewrite_checksums(body: bytes, *, extend: bool) -> bytes:
    """Checksums >= 2**31 as the Cython writer sends them (10-byte sign-extended) or as 5 bytes."""
    out = bytearray()
    pos = 0
    while True:
        hits = [i for i in (body.find(END_OF_RECORD, pos), body.find(STREAM_CHECKSUM, pos)) if i >= 0]
        if not hits:
            break
        index = min(hits) + 4
        out += body[pos:index]
        value, pos = _read_varint(body, index)
        if extend and 2**31 <= value < 2**32:
            value |= 0xFFFFFFFF00000000
        out += _varint(value & 0xFFFFFFFF if not extend else value)
    return bytes(out + body[pos:])


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(body: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = body[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:4] + b"b" + b[5:], "row checksum mismatch in record 0"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "stream checksum mismatch"),
        (lambda b: b.replace(bytes.fromhex("f0ffff7f02"), bytes.fromhex("f0ffff7f04")), "row count 2 does not match"),
        (lambda b: b[: b.find(bytes.fromhex("f0ffff7f"))], "ended without footer"),
        (lambda b: b[:-2], "truncated"),
        (lambda b: b + b"\x00", "after the stream footer"),
        (lambda b: bytes.fromhex("18") + b, "invalid field number 3"),
        (lambda b: b[:2] + bytes.fromhex("127f") + b[4:], "truncated value"),
        (lambda b: b[:2] + bytes.fromhex("1205") + b[4:], "not valid UTF-8"),
    ],
)
def test_corrupt_uploads_are_rejected(mutate: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_stream(ID_NAME, mutate(WORKED_EXAMPLE))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (Column("x", "bigint"), 2**63),
        (Column("x", "int"), 2**31),
        (Column("x", "tinyint"), 128),
        (Column("x", "bigint"), True),
        (Column("x", "bigint"), "1"),
        (Column("x", "boolean"), 1),
        (Column("x", "double"), "1.5"),
        (Column("x", "decimal(10,2)"), Decimal("NaN")),
        (Column("x", "datetime"), "2024-01-01"),
        (Column("x", "date"), 19724),
        (Column("x", "array<bigint>"), ["1"]),
        (Column("x", "map<string,bigint>"), [1]),
        (Column("x", "struct<a:bigint>"), {"a": 1, "b": 2}.values()),
    ],
)
def test_values_that_do_not_fit_are_refused(column: Column, value: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        encode_stream([column], [[value]])


def test_row_width_must_match() -> None:
    with pytest.raises(ValueError, match="row 0 has 1 values for 2 columns"):
        encode_stream(ID_NAME, [[1]])


def test_out_of_range_upload_values_are_refused() -> None:
    body = encode_stream([Column("x", "bigint")], [[300]])
    with pytest.raises(ValueError, match="out of range for tinyint"):
        decode_stream([Column("x", "tinyint")], body)


def test_session_documents() -> None:
    columns = [Column("id", "bigint", "pk"), Column("amount", "decimal(10,2)")]
    keys = [Column("ds", "string")]
    assert session_json("dl1", columns, keys, 5) == {
        "DownloadID": "dl1",
        "Status": "normal",
        "RecordCount": 5,
        "Schema": {
            "columns": [
                {"name": "id", "type": "bigint", "comment": "pk", "isNullable": True},
                {"name": "amount", "type": "decimal(10,2)", "comment": "", "isNullable": True},
            ],
            "partitionKeys": [{"name": "ds", "type": "string", "comment": ""}],
        },
    }
    upload = upload_session_json("up1", columns, blocks=[3, 1])
    assert upload["UploadedBlockList"] == [{"BlockID": 1}, {"BlockID": 3}]
    assert (upload["UploadID"], upload["Status"], upload["MaxFieldSize"]) == ("up1", "normal", 8388608)
    assert upload["Schema"] == schema_json(columns)


def test_session_schema_is_understood_by_pyodps() -> None:
    columns = [Column("id", "bigint"), Column("amount", "decimal(10,2)")]
    document = session_json("dl", columns, [Column("ds", "string")], 0)
    schema = TableSchema.deserial(json.dumps(document["Schema"]))
    assert [c.name for c in schema.simple_columns] == ["id", "amount"]
    assert [str(c.type).lower() for c in schema.simple_columns] == ["bigint", "decimal(10,2)"]
    assert [c.name for c in schema.partitions] == ["ds"]
    assert TableDownloadSession.Status(document["Status"].upper()) == TableDownloadSession.Status.Normal


def test_partition_spec_parsing() -> None:
    assert parse_partition_spec("ds=20240101,HR='1'") == {"ds": "20240101", "hr": "1"}
    assert parse_partition_spec("ds=1/region=cn") == {"ds": "1", "region": "cn"}
    assert parse_partition_spec(None) == {}
    with pytest.raises(ValueError, match="invalid partition spec"):
        parse_partition_spec("ds")


def test_project_rows_reorders_columns() -> None:
    columns, rows = project_rows(ID_NAME, [(1, "a"), (2, "b")], ["NAME", "id"])
    assert [c.name for c in columns] == ["name", "id"]
    assert rows == [["a", 1], ["b", 2]]
    with pytest.raises(ValueError, match="unknown column"):
        project_rows(ID_NAME, [], ["nope"])

"""MaxCompute tunnel record stream: encoder for downloads, decoder for uploads, session JSON.

The stream is protobuf-like but not protobuf (composite values carry no length prefix), so it is
written by hand here. Layout per row: ``tag(i) value`` for each non-NULL column ``i`` (1-based),
then the end-of-record tag and the row's CRC32C; after the last row the zigzag row count and a
CRC32C over all row checksums. Row checksums cover ``int32le(i)`` plus each value's checksum
bytes, which differ from its wire bytes for integers and dates (always 8-byte little-endian).

Naive datetimes are UTC: DATETIME goes on the wire as epoch milliseconds, DATE as epoch days.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from clarityq_emulator.maxcompute.sql.types import is_complex, split_type
from clarityq_emulator.maxcompute.tunnel.wire import (
    CHECKSUM_TAG,
    COUNT_TAG,
    END_RECORD,
    END_RECORD_TAG,
    MASK32,
    META_CHECKSUM,
    META_COUNT,
    WIRE_BYTES,
    WIRE_FIXED32,
    WIRE_FIXED64,
    WIRE_VARINT,
    crc32c,
    read_bytes,
    read_varint,
    tag,
    unzigzag,
    varint,
    zigzag,
)

__all__ = [
    "ColumnLike",
    "crc32c",
    "decode_stream",
    "encode_stream",
    "parse_partition_spec",
    "project_rows",
    "schema_json",
    "session_json",
    "upload_session_json",
]

_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)
_INT_RANGES: dict[str, tuple[int, int]] = {
    "tinyint": (-(2**7), 2**7 - 1),
    "smallint": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
MAX_FIELD_SIZE = 8 * 1024 * 1024


class ColumnLike(Protocol):
    """What the codec needs from a column (``sql.Column`` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def comment(self) -> str: ...


# ---------------------------------------------------------------------------------------------
# Per-type codecs
# ---------------------------------------------------------------------------------------------

# encode: value -> (wire bytes, checksum bytes); decode: (body, pos) -> (value, pos, checksum bytes)
_Encoder = Callable[[Any], tuple[bytes, bytes]]
_Decoder = Callable[[bytes, int], tuple[Any, int, bytes]]


def _base_type(mc_type: str) -> str:
    return mc_type.split("(", 1)[0].strip().lower()


def _check_int(value: Any, base: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{base} value must be an int, got {value!r}")
    low, high = _INT_RANGES[base]
    if not low <= value <= high:
        raise ValueError(f"{value} is out of range for {base}")
    return value


def _encode_long(value: int) -> tuple[bytes, bytes]:
    return varint(zigzag(value)), struct.pack("<q", value)


def _decode_long(body: bytes, pos: int) -> tuple[int, int, bytes]:
    raw, pos = read_varint(body, pos)
    value = unzigzag(raw)
    return value, pos, struct.pack("<q", value)


def _int_codec(base: str) -> tuple[int, _Encoder, _Decoder]:
    def encode(value: Any) -> tuple[bytes, bytes]:
        return _encode_long(_check_int(value, base))

    def decode(body: bytes, pos: int) -> tuple[Any, int, bytes]:
        value, pos, crc = _decode_long(body, pos)
        return _check_int(value, base), pos, crc

    return WIRE_VARINT, encode, decode


def _encode_bool(value: Any) -> tuple[bytes, bytes]:
    if not isinstance(value, bool):
        raise TypeError(f"boolean value must be a bool, got {value!r}")
    raw = b"\x01" if value else b"\x00"
    return raw, raw


def _decode_bool(body: bytes, pos: int) -> tuple[Any, int, bytes]:
    raw, pos = read_varint(body, pos)
    if raw not in (0, 1):
        raise ValueError(f"invalid boolean {raw} in the record stream")
    return bool(raw), pos, bytes([raw])


def _float_codec(fmt: str, wire_type: int) -> tuple[int, _Encoder, _Decoder]:
    size = struct.calcsize(fmt)

    def encode(value: Any) -> tuple[bytes, bytes]:
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise TypeError(f"floating point value expected, got {value!r}")
        raw = struct.pack(fmt, float(value))
        return raw, raw

    def decode(body: bytes, pos: int) -> tuple[Any, int, bytes]:
        raw, pos = read_bytes(body, pos, size)
        return struct.unpack(fmt, raw)[0], pos, raw

    return wire_type, encode, decode


def _encode_raw(data: bytes) -> tuple[bytes, bytes]:
    if len(data) > MAX_FIELD_SIZE:
        raise ValueError(f"field of {len(data)} bytes exceeds {MAX_FIELD_SIZE}")
    return varint(len(data)) + data, data


def _decode_raw(body: bytes, pos: int) -> tuple[bytes, int]:
    size, pos = read_varint(body, pos)
    return read_bytes(body, pos, size)


def _encode_string(value: Any) -> tuple[bytes, bytes]:
    if isinstance(value, str):
        return _encode_raw(value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray)):
        return _encode_raw(bytes(value))
    raise TypeError(f"string value expected, got {value!r}")


def _decode_string(body: bytes, pos: int) -> tuple[Any, int, bytes]:
    raw, pos = _decode_raw(body, pos)
    try:
        return raw.decode("utf-8"), pos, raw
    except UnicodeDecodeError:
        raise ValueError("string value is not valid UTF-8") from None


def _encode_binary(value: Any) -> tuple[bytes, bytes]:
    if isinstance(value, (bytes, bytearray)):
        return _encode_raw(bytes(value))
    if isinstance(value, str):
        return _encode_raw(value.encode("utf-8"))
    raise TypeError(f"binary value expected, got {value!r}")


def _decode_binary(body: bytes, pos: int) -> tuple[Any, int, bytes]:
    raw, pos = _decode_raw(body, pos)
    return raw, pos, raw


def _encode_decimal(value: Any) -> tuple[bytes, bytes]:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"decimal value expected, got {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"invalid decimal {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"decimal {value!r} is not finite")
    # Plain notation, trailing zeros kept: the SDK writers send str(Decimal) of 12.30 as "12.30".
    return _encode_raw(format(number, "f").encode("ascii"))


def _decode_decimal(body: bytes, pos: int) -> tuple[Any, int, bytes]:
    raw, pos = _decode_raw(body, pos)
    try:
        return Decimal(raw.decode("ascii")), pos, raw
    except (UnicodeDecodeError, InvalidOperation):
        raise ValueError(f"invalid decimal {raw!r} in the record stream") from None


def _utc_naive(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    raise TypeError(f"datetime value expected, got {value!r}")


def _epoch_micros(value: Any) -> int:
    delta = _utc_naive(value) - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _encode_datetime(value: Any) -> tuple[bytes, bytes]:
    return _encode_long(_epoch_micros(value) // 1000)


def _decode_datetime(body: bytes, pos: int) -> tuple[Any, int, bytes]:
    millis, pos, crc = _decode_long(body, pos)
    try:
        return _EPOCH + dt.timedelta(milliseconds=millis), pos, crc
    except OverflowError:
        raise ValueError(f"datetime {millis} ms is out of range") from None


def _encode_date(value: Any) -> tuple[bytes, bytes]:
    if isinstance(value, dt.datetime):
        value = _utc_naive(value).date()
    if not isinstance(value, dt.date):
        raise TypeError(f"date value expected, got {value!r}")
    return _encode_long((value - _EPOCH_DATE).days)


def _decode_date(body: bytes, pos: int) -> tuple[Any, int, bytes]:
    days, pos, crc = _decode_long(body, pos)
    try:
        return _EPOCH_DATE + dt.timedelta(days=days), pos, crc
    except OverflowError:
        raise ValueError(f"date {days} days is out of range") from None


def _encode_timestamp(value: Any) -> tuple[bytes, bytes]:
    seconds, micros = divmod(_epoch_micros(value), 1_000_000)
    nanos = micros * 1000
    wire = varint(zigzag(seconds)) + varint(zigzag(nanos, 32))
    return wire, struct.pack("<q", seconds) + struct.pack("<i", nanos)


def _decode_timestamp(body: bytes, pos: int) -> tuple[Any, int, bytes]:
    raw_seconds, pos = read_varint(body, pos)
    raw_nanos, pos = read_varint(body, pos)
    seconds, nanos = unzigzag(raw_seconds), unzigzag(raw_nanos & MASK32)
    if not 0 <= nanos < 1_000_000_000:
        raise ValueError(f"invalid nanoseconds {nanos} in the record stream")
    try:
        value = _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise ValueError(f"timestamp {seconds} s is out of range") from None
    return value, pos, struct.pack("<q", seconds) + struct.pack("<i", nanos)


def _nullable_items(
    encode: _Encoder, decode: _Decoder
) -> tuple[Callable[[Sequence[Any]], tuple[bytes, bytes]], Callable[[bytes, int], tuple[list[Any], int, bytes]]]:
    """An ARRAY body: the count, then per item a NULL flag and, when present, the untagged value."""

    def encode_items(items: Sequence[Any]) -> tuple[bytes, bytes]:
        wire, crc = bytearray(varint(len(items))), bytearray()
        for item in items:
            if item is None:
                wire += b"\x01"
                continue
            item_wire, item_crc = encode(item)
            wire += b"\x00" + item_wire
            crc += item_crc
        return bytes(wire), bytes(crc)

    def decode_items(body: bytes, pos: int) -> tuple[list[Any], int, bytes]:
        count, pos = read_varint(body, pos)
        if count > len(body) - pos:
            raise ValueError(f"array of {count} items cannot fit in the record stream")
        items: list[Any] = []
        crc = bytearray()
        for _ in range(count):
            flag, pos = read_varint(body, pos)
            if flag == 1:
                items.append(None)
                continue
            if flag != 0:
                raise ValueError(f"invalid NULL flag {flag} in an array")
            item, pos, item_crc = decode(body, pos)
            items.append(item)
            crc += item_crc
        return items, pos, bytes(crc)

    return encode_items, decode_items


def _complex_codec(mc_type: str) -> tuple[int, _Encoder, _Decoder]:
    kind, members = split_type(mc_type)
    if kind == "array":
        _, encode_elem, decode_elem = _codec(members[0][1])
        encode_items, decode_items = _nullable_items(encode_elem, decode_elem)

        def encode_array(value: Any) -> tuple[bytes, bytes]:
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"list expected for {mc_type}, got {value!r}")
            return encode_items(value)

        return WIRE_BYTES, encode_array, decode_items
    if kind == "map":
        key_items = _nullable_items(*_codec(members[0][1])[1:])
        value_items = _nullable_items(*_codec(members[1][1])[1:])

        def encode_map(value: Any) -> tuple[bytes, bytes]:
            if not isinstance(value, Mapping):
                raise TypeError(f"dict expected for {mc_type}, got {value!r}")
            keys_wire, keys_crc = key_items[0](list(value.keys()))
            values_wire, values_crc = value_items[0](list(value.values()))
            return keys_wire + values_wire, keys_crc + values_crc

        def decode_map(body: bytes, pos: int) -> tuple[Any, int, bytes]:
            keys, pos, keys_crc = key_items[1](body, pos)
            values, pos, values_crc = value_items[1](body, pos)
            if len(keys) != len(values):
                raise ValueError(f"{mc_type} with {len(keys)} keys and {len(values)} values")
            return dict(zip(keys, values, strict=True)), pos, keys_crc + values_crc

        return WIRE_BYTES, encode_map, decode_map
    fields = [(name, _codec(kind_)) for name, kind_ in members]

    def encode_struct(value: Any) -> tuple[bytes, bytes]:
        if isinstance(value, Mapping):
            items = [value.get(name) for name, _ in fields]
        elif isinstance(value, (list, tuple)) and len(value) == len(fields):
            items = list(value)
        else:
            raise TypeError(f"dict expected for {mc_type}, got {value!r}")
        wire, crc = bytearray(), bytearray()
        for item, (_, (_, encode, _)) in zip(items, fields, strict=True):
            if item is None:
                wire += b"\x01"
                continue
            item_wire, item_crc = encode(item)
            wire += b"\x00" + item_wire
            crc += item_crc
        return bytes(wire), bytes(crc)

    def decode_struct(body: bytes, pos: int) -> tuple[Any, int, bytes]:
        result: dict[str, Any] = {}
        crc = bytearray()
        for name, (_, _, decode) in fields:
            flag, pos = read_varint(body, pos)
            if flag == 1:
                result[name] = None
                continue
            if flag != 0:
                raise ValueError(f"invalid NULL flag {flag} in a struct")
            result[name], pos, item_crc = decode(body, pos)
            crc += item_crc
        return result, pos, bytes(crc)

    return WIRE_BYTES, encode_struct, decode_struct


def _codec(mc_type: str) -> tuple[int, _Encoder, _Decoder]:
    if is_complex(mc_type):
        return _complex_codec(mc_type)
    base = _base_type(mc_type)
    if base in _INT_RANGES:
        return _int_codec(base)
    simple: dict[str, tuple[int, _Encoder, _Decoder]] = {
        "boolean": (WIRE_VARINT, _encode_bool, _decode_bool),
        "string": (WIRE_BYTES, _encode_string, _decode_string),
        "varchar": (WIRE_BYTES, _encode_string, _decode_string),
        "char": (WIRE_BYTES, _encode_string, _decode_string),
        "binary": (WIRE_BYTES, _encode_binary, _decode_binary),
        "decimal": (WIRE_BYTES, _encode_decimal, _decode_decimal),
        "datetime": (WIRE_VARINT, _encode_datetime, _decode_datetime),
        "date": (WIRE_VARINT, _encode_date, _decode_date),
        "timestamp": (WIRE_BYTES, _encode_timestamp, _decode_timestamp),
    }
    if base in simple:
        return simple[base]
    if base == "double":
        return _float_codec("<d", WIRE_FIXED64)
    if base == "float":
        return _float_codec("<f", WIRE_FIXED32)
    raise ValueError(f"the tunnel codec does not support type {mc_type}")


# ---------------------------------------------------------------------------------------------
# Streams
# ---------------------------------------------------------------------------------------------


def encode_stream(columns: Sequence[ColumnLike], rows: Iterable[Sequence[Any]]) -> bytes:
    """Record stream of ``rows`` (values in column order, ``None`` = NULL) with footer.

    Raises ValueError/TypeError when a value does not fit its column type.
    """
    codecs = [_codec(c.type) for c in columns]
    width = len(codecs)
    out = bytearray()
    stream_crc = count = 0
    for row in rows:
        if len(row) != width:
            raise ValueError(f"row {count} has {len(row)} values for {width} columns")
        checked = bytearray()
        for field, (value, (wire_type, encode, _)) in enumerate(zip(row, codecs, strict=True), start=1):
            if value is None:
                continue
            wire, crc_bytes = encode(value)
            out += tag(field, wire_type)
            out += wire
            checked += struct.pack("<i", field)
            checked += crc_bytes
        row_crc = crc32c(bytes(checked))
        out += END_RECORD_TAG
        out += varint(row_crc)
        stream_crc = crc32c(struct.pack("<I", row_crc), stream_crc)
        count += 1
    out += COUNT_TAG + varint(zigzag(count)) + CHECKSUM_TAG + varint(stream_crc)
    return bytes(out)


def decode_stream(columns: Sequence[ColumnLike], body: bytes) -> list[list[Any]]:
    """Rows of an uploaded block; verifies both checksums and the row count.

    Accepts the sign-extended 10-byte checksums of the Cython writer. Raises ValueError on any
    malformed, truncated or corrupted stream (the footer is required).
    """
    decoders = [_codec(c.type)[2] for c in columns]
    width = len(decoders)
    rows: list[list[Any]] = []
    row: list[Any] = [None] * width
    checked = bytearray()
    stream_crc = 0
    pos = 0
    while pos < len(body):
        key, pos = read_varint(body, pos)
        field = key >> 3
        if field == END_RECORD:
            got, pos = read_varint(body, pos)
            expected = crc32c(bytes(checked))
            if got & MASK32 != expected:
                raise ValueError(f"row checksum mismatch in record {len(rows)}")
            stream_crc = crc32c(struct.pack("<I", expected), stream_crc)
            rows.append(row)
            row, checked = [None] * width, bytearray()
        elif field == META_COUNT:
            if checked:
                raise ValueError("record without end-of-record marker before the footer")
            raw_count, pos = read_varint(body, pos)
            if unzigzag(raw_count) != len(rows):
                raise ValueError(f"row count {unzigzag(raw_count)} does not match {len(rows)} records")
            key, pos = read_varint(body, pos)
            if key >> 3 != META_CHECKSUM:
                raise ValueError("missing stream checksum after the row count")
            got, pos = read_varint(body, pos)
            if got & MASK32 != stream_crc:
                raise ValueError("stream checksum mismatch")
            if pos != len(body):
                raise ValueError("unexpected bytes after the stream footer")
            return rows
        elif 1 <= field <= width:
            value, pos, crc_bytes = decoders[field - 1](body, pos)
            checked += struct.pack("<i", field)
            checked += crc_bytes
            row[field - 1] = value
        else:
            raise ValueError(f"invalid field number {field} for {width} columns")
    raise ValueError("record stream ended without footer")


# ---------------------------------------------------------------------------------------------
# Session documents
# ---------------------------------------------------------------------------------------------


def schema_json(columns: Sequence[ColumnLike], partition_keys: Sequence[ColumnLike] = ()) -> dict[str, Any]:
    """``Schema`` object of tunnel sessions; partition columns only under ``partitionKeys``."""
    return {
        "columns": [{"name": c.name, "type": c.type, "comment": c.comment, "isNullable": True} for c in columns],
        "partitionKeys": [{"name": c.name, "type": c.type, "comment": c.comment} for c in partition_keys],
    }


def session_json(
    download_id: str,
    columns: Sequence[ColumnLike],
    partition_keys: Sequence[ColumnLike] = (),
    record_count: int = 0,
    *,
    status: str = "normal",
) -> dict[str, Any]:
    """Download session document (instance or table tunnel)."""
    return {
        "DownloadID": download_id,
        "Status": status,
        "RecordCount": record_count,
        "Schema": schema_json(columns, partition_keys),
    }


def upload_session_json(
    upload_id: str,
    columns: Sequence[ColumnLike],
    partition_keys: Sequence[ColumnLike] = (),
    blocks: Iterable[int] = (),
    *,
    status: str = "normal",
) -> dict[str, Any]:
    """Upload session document; ``blocks`` are the block ids received so far."""
    return {
        "UploadID": upload_id,
        "Status": status,
        "Schema": schema_json(columns, partition_keys),
        "UploadedBlockList": [{"BlockID": block} for block in sorted(blocks)],
        "MaxFieldSize": MAX_FIELD_SIZE,
    }


def parse_partition_spec(spec: str | None) -> dict[str, str]:
    """``ds=20240101,hr=1`` (the tunnel's ``partition=`` query, quotes optional) as a dict."""
    result: dict[str, str] = {}
    if not spec:
        return result
    for part in spec.replace("/", ",").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if not sep or not key.strip() or not value:
            raise ValueError(f"invalid partition spec {spec!r}")
        result[key.strip().lower()] = value
    return result


def project_rows(
    columns: Sequence[ColumnLike], rows: Sequence[Sequence[Any]], wanted: Sequence[str]
) -> tuple[list[ColumnLike], list[list[Any]]]:
    """Select and reorder columns by name, as the ``columns=`` query of a download asks."""
    index: Mapping[str, int] = {c.name.lower(): i for i, c in enumerate(columns)}
    positions = []
    for name in wanted:
        if name.lower() not in index:
            raise ValueError(f"unknown column {name}")
        positions.append(index[name.lower()])
    return [columns[i] for i in positions], [[row[i] for i in positions] for row in rows]

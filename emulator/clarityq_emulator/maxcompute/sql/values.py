"""Values between clients, the state file and DuckDB: coercion, JSON form, result types, CSV.

Also how SQL text refers to a value of a MaxCompute type (:func:`cast_sql`) and quotes a name
(:func:`quote`).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from clarityq_emulator.maxcompute.sql.catalog import ExecutionResult
from clarityq_emulator.maxcompute.sql.types import UnsupportedTypeError, duckdb_type, is_complex, split_type

INT_BOUNDS: dict[str, tuple[int, int]] = {
    "tinyint": (-(2**7), 2**7 - 1),
    "smallint": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_EPOCH = dt.datetime(1970, 1, 1)
_TIMESTAMP_TEXT = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?$")


def quote(name: str) -> str:
    """Quote a DuckDB identifier; every name reaching DuckDB goes through here or sqlglot."""
    return '"' + name.replace('"', '""') + '"'


def cast_sql(value_sql: str, mc_type: str) -> str:
    """Cast an expression to the storage type of ``mc_type``; DATETIME truncates to milliseconds."""
    target = duckdb_type(mc_type)
    if mc_type == "datetime":
        return f"CAST(date_trunc('millisecond', CAST({value_sql} AS TIMESTAMP)) AS {target})"
    return f"CAST({value_sql} AS {target})"


def _to_naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def coerce(value: Any, mc_type: str) -> Any:
    """Convert a Python/JSON value to what the column stores; raises ValueError or TypeError."""
    if value is None:
        return None
    if is_complex(mc_type):
        return _coerce_complex(value, mc_type)
    base = mc_type.split("(", 1)[0]
    if base in INT_BOUNDS:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise TypeError(f"expected an integer, got {value!r}")
        number = int(value)
        low, high = INT_BOUNDS[base]
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


def _coerce_complex(value: Any, mc_type: str) -> Any:
    """ARRAY as a list, MAP as a dict (or ``{"map": [[k, v], ...]}``), STRUCT as a dict (or fields in order)."""
    kind, members = split_type(mc_type)
    if kind == "array":
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected a list for {mc_type}, got {value!r}")
        return [coerce(item, members[0][1]) for item in value]
    if kind == "map":
        pairs = value.get("map") if isinstance(value, dict) and set(value) == {"map"} else None
        if pairs is None:
            if not isinstance(value, dict):
                raise TypeError(f"expected a dict for {mc_type}, got {value!r}")
            pairs = list(value.items())
        result = {}
        for pair in pairs:
            key, item = pair
            if key is None:
                raise ValueError(f"a {mc_type} key cannot be NULL")
            result[coerce(key, members[0][1])] = coerce(item, members[1][1])
        return result
    names = [name for name, _ in members]
    if isinstance(value, dict):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"{mc_type} has no field {sorted(unknown)[0]}")
        items = [value.get(name) for name in names]
    elif isinstance(value, (list, tuple)) and len(value) == len(names):
        items = list(value)
    else:
        raise TypeError(f"expected a dict or {len(names)} values for {mc_type}, got {value!r}")
    return {name: coerce(item, kind_) for (name, kind_), item in zip(members, items, strict=True)}


def encode_value(value: Any, mc_type: str) -> Any:
    """JSON form of a stored value, read back by :func:`coerce`."""
    if value is None:
        return None
    if is_complex(mc_type):
        kind, members = split_type(mc_type)
        if kind == "array":
            return [encode_value(item, members[0][1]) for item in value]
        if kind == "map":
            return {"map": [[encode_value(k, members[0][1]), encode_value(v, members[1][1])] for k, v in value.items()]}
        return {name: encode_value(value.get(name), kind_) for name, kind_ in members}
    if isinstance(value, (bool, int, str)):
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


def format_epoch_ns(nanos: int) -> str:
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


def result_type(duck_type: Any) -> tuple[str, str | None]:
    """MaxCompute type of a DuckDB result column, and the DuckDB cast to apply before fetching (or None)."""
    type_id = str(duck_type.id)
    if type_id in ("list", "map", "struct"):
        children = [(str(name), result_type(child)) for name, child in duck_type.children]
        if type_id == "list":
            mc_type = f"array<{children[0][1][0]}>"
        elif type_id == "map":
            mc_type = f"map<{children[0][1][0]},{children[1][1][0]}>"
        else:
            mc_type = "struct<" + ",".join(f"{name.lower()}:{kind[0]}" for name, kind in children) + ">"
        needs_cast = any(cast for _, (_, cast) in children)
        return mc_type, (duckdb_type(mc_type) if needs_cast else None)
    if type_id == "decimal":
        match = _DECIMAL_TYPE.match(str(duck_type))
        if match is None:
            raise UnsupportedTypeError(str(duck_type).lower())
        return f"decimal({match.group(1)},{match.group(2)})", None
    if type_id not in _RESULT_TYPES:
        raise UnsupportedTypeError(str(duck_type).lower())
    return _RESULT_TYPES[type_id]


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
    if is_complex(mc_type):
        value = json.dumps(encode_value(value, mc_type), ensure_ascii=False, default=str)
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

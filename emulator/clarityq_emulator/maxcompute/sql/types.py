"""MaxCompute column types: parsed, canonicalised, and mapped to DuckDB storage types.

Canonical spellings are lower case without spaces: ``bigint``, ``decimal(10,2)``, ``varchar(8)``,
``array<bigint>``, ``map<string,array<int>>``, ``struct<a:bigint,b:string>``. :func:`split_type`
takes a canonical complex type apart for the value codecs.
"""

from __future__ import annotations

import functools
import re

from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.expressions.datatypes import DType

from clarityq_emulator.maxcompute.sql.dialect import MaxCompute

__all__ = [
    "UnsupportedTypeError",
    "base_type",
    "duckdb_type",
    "is_complex",
    "mc_type_from_datatype",
    "normalize_type",
    "split_type",
    "to_duckdb_types",
]


class UnsupportedTypeError(Exception):
    """A column type that the emulator does not store; the argument is the type as written."""


_DT = DType

_SIMPLE_TYPES: dict[DType, str] = {
    _DT.BIGINT: "bigint",
    _DT.INT: "int",
    _DT.SMALLINT: "smallint",
    _DT.TINYINT: "tinyint",
    _DT.TEXT: "string",
    _DT.DOUBLE: "double",
    _DT.FLOAT: "float",
    _DT.DATETIME: "datetime",
    _DT.DATE: "date",
    _DT.BOOLEAN: "boolean",
    _DT.TIMESTAMP: "timestamp",
    _DT.BINARY: "binary",
}

_DUCKDB_TYPES: dict[str, str] = {
    "bigint": "BIGINT",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "string": "VARCHAR",
    "double": "DOUBLE",
    "float": "FLOAT",
    # MaxCompute DATETIME has millisecond precision; TIMESTAMP has nanoseconds.
    "datetime": "TIMESTAMP_MS",
    "date": "DATE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP_NS",
    "binary": "BLOB",
    # A DECIMAL without precision is the legacy 1.0 decimal; store it with the widest 2.0 shape.
    "decimal": "DECIMAL(38,18)",
}

_PARAMETRIC = re.compile(r"^(decimal|varchar|char)\((\d+)(?:,(\d+))?\)$")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_COMPLEX = ("array<", "map<", "struct<")


def is_complex(mc_type: str) -> bool:
    return mc_type.startswith(_COMPLEX)


def base_type(mc_type: str) -> str:
    """``decimal(10,2)`` -> ``decimal``, ``array<int>`` -> ``array``."""
    return mc_type.split("(", 1)[0].split("<", 1)[0].strip().lower()


def _split_top(text: str) -> list[str]:
    """Split at commas not nested in ``<>`` or ``()``."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


@functools.lru_cache(maxsize=1024)
def split_type(mc_type: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A canonical complex type's kind and members: ``array`` -> ((``""``, element),),
    ``map`` -> ((``"key"``, k), (``"value"``, v)), ``struct`` -> ((name, type), ...)."""
    kind = base_type(mc_type)
    inner = mc_type[len(kind) + 1 : -1]
    if kind == "array":
        return kind, (("", inner),)
    if kind == "map":
        key, value = _split_top(inner)
        return kind, (("key", key), ("value", value))
    if kind == "struct":
        return kind, tuple((tuple(part.split(":", 1))) for part in _split_top(inner))  # type: ignore[misc]
    raise ValueError(f"{mc_type} is not a complex type")


def _type_params(dt: exp.DataType) -> list[int]:
    params: list[int] = []
    for param in dt.expressions:
        value = param.this if isinstance(param, exp.DataTypeParam) else param
        if not isinstance(value, exp.Literal) or value.is_string:
            raise UnsupportedTypeError(dt.sql(dialect=MaxCompute).lower())
        params.append(int(value.this))
    return params


def mc_type_from_datatype(dt: exp.DataType) -> str:
    """MaxCompute type name (lower case, no spaces) of a parsed column type; reject the rest."""
    written = dt.sql(dialect=MaxCompute).lower().replace(" ", "")
    if dt.this in _SIMPLE_TYPES:
        if dt.expressions:
            raise UnsupportedTypeError(written)
        return _SIMPLE_TYPES[dt.this]
    if dt.this == _DT.ARRAY and len(dt.expressions) == 1 and isinstance(dt.expressions[0], exp.DataType):
        return f"array<{mc_type_from_datatype(dt.expressions[0])}>"
    if dt.this == _DT.MAP and len(dt.expressions) == 2 and all(isinstance(e, exp.DataType) for e in dt.expressions):
        key = mc_type_from_datatype(dt.expressions[0])
        if is_complex(key):
            raise UnsupportedTypeError(f"{written} (a map key must be a primitive type)")
        return f"map<{key},{mc_type_from_datatype(dt.expressions[1])}>"
    if dt.this == _DT.STRUCT and dt.expressions:
        fields = []
        seen: set[str] = set()
        for field in dt.expressions:
            kind = field.args.get("kind") if isinstance(field, exp.ColumnDef) else None
            if not isinstance(kind, exp.DataType) or not _FIELD_NAME.match(field.name):
                raise UnsupportedTypeError(written)
            if field.name.lower() in seen:
                raise UnsupportedTypeError(f"{written} (field {field.name.lower()} is repeated)")
            seen.add(field.name.lower())
            fields.append(f"{field.name.lower()}:{mc_type_from_datatype(kind)}")
        return f"struct<{','.join(fields)}>"
    params = _type_params(dt)
    if dt.this == _DT.DECIMAL:
        if not params:
            return "decimal"
        if len(params) > 2:
            raise UnsupportedTypeError(written)
        precision, scale = params[0], (params[1] if len(params) == 2 else 0)
        if not 1 <= precision <= 38 or not 0 <= scale <= min(precision, 18):
            raise UnsupportedTypeError(written)
        return f"decimal({precision},{scale})"
    if dt.this in (_DT.VARCHAR, _DT.CHAR):
        name = "varchar" if dt.this == _DT.VARCHAR else "char"
        if not params:
            raise UnsupportedTypeError(f"{name} (a length is required)")
        limit = 65535 if dt.this == _DT.VARCHAR else 255
        if len(params) != 1 or not 1 <= params[0] <= limit:
            raise UnsupportedTypeError(written)
        return f"{name}({params[0]})"
    raise UnsupportedTypeError(written)


def normalize_type(text: str) -> str:
    """Validate and canonicalise a MaxCompute type string (``DECIMAL(10, 2)`` -> ``decimal(10,2)``)."""
    try:
        dt = exp.DataType.build(text, dialect=MaxCompute)
    except (ParseError, ValueError):
        raise UnsupportedTypeError(text.strip().lower()) from None
    return mc_type_from_datatype(dt)


@functools.lru_cache(maxsize=1024)
def duckdb_type(mc_type: str) -> str:
    """DuckDB column type used to store a (normalised) MaxCompute type."""
    if mc_type in _DUCKDB_TYPES:
        return _DUCKDB_TYPES[mc_type]
    if is_complex(mc_type):
        kind, members = split_type(mc_type)
        if kind == "array":
            return f"{duckdb_type(members[0][1])}[]"
        if kind == "map":
            return f"MAP({duckdb_type(members[0][1])}, {duckdb_type(members[1][1])})"
        return "STRUCT(" + ", ".join(f'"{name}" {duckdb_type(kind_)}' for name, kind_ in members) + ")"
    match = _PARAMETRIC.match(mc_type)
    if match is None:
        raise UnsupportedTypeError(mc_type)
    if match.group(1) == "decimal":
        return f"DECIMAL({match.group(2)},{match.group(3) or 0})"
    # VARCHAR(n) / CHAR(n): length is metadata only, as in DuckDB itself.
    return "VARCHAR"


def to_duckdb_types(node: exp.Expression) -> exp.Expression:
    """Map MaxCompute TIMESTAMP (nanoseconds) to DuckDB TIMESTAMP_NS in a parsed statement.

    Hive reads both DATETIME and TIMESTAMP; DuckDB would make both TIMESTAMP, and results of
    ``CAST(x AS TIMESTAMP)`` would then be reported as DATETIME.
    """
    for data_type in node.find_all(exp.DataType):
        if data_type.this == DType.TIMESTAMP:
            data_type.set("this", DType.TIMESTAMP_NS)
    return node

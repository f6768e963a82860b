"""MaxCompute SQL dialect for sqlglot, plus the MaxCompute <-> DuckDB type mapping.

sqlglot has no MaxCompute (ODPS) dialect. Hive is the closest: same quoting (backticks for
identifiers, double quotes for strings), same DDL shape (PARTITIONED BY, COMMENT, TBLPROPERTIES).
This module adds what Hive lacks: MaxCompute's date functions, rewritten at parse time into
expressions that generate valid DuckDB SQL, strict CAST, and unknown type names parsed as
user-defined types so that they can be rejected by name instead of failing with an opaque
"Expecting )". Types and their DuckDB storage live in :mod:`.types`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.dialects.hive import Hive
from sqlglot.parsers.hive import HiveParser
from sqlglot.tokenizer_core import TokenType

__all__ = [
    "FunctionArgumentError",
    "MaxCompute",
    "to_strftime",
]


class FunctionArgumentError(Exception):
    """A MaxCompute function was called with arguments the rewrite cannot translate."""


# Unit words of DATEADD / DATEDIFF / DATETRUNC / DATEPART, mapped to DuckDB date parts.
# Note that ``mm`` is month and ``mi`` is minute.
_UNITS: dict[str, str] = {
    "yyyy": "YEAR",
    "year": "YEAR",
    "q": "QUARTER",
    "quarter": "QUARTER",
    "mm": "MONTH",
    "mon": "MONTH",
    "month": "MONTH",
    "week": "WEEK",
    "dd": "DAY",
    "day": "DAY",
    "hh": "HOUR",
    "hour": "HOUR",
    "mi": "MINUTE",
    "minute": "MINUTE",
    "ss": "SECOND",
    "second": "SECOND",
    "ff3": "MILLISECOND",
    "ff6": "MICROSECOND",
}

# TO_CHAR / TO_DATE format elements, longest first so that "ff3" wins over a literal "f".
_FORMAT_ELEMENTS: tuple[tuple[str, str], ...] = (
    ("yyyy", "%Y"),
    ("ff3", "%g"),
    ("ff6", "%f"),
    ("mm", "%m"),
    ("dd", "%d"),
    ("hh", "%H"),
    ("mi", "%M"),
    ("ss", "%S"),
)


def to_strftime(fmt: str) -> str:
    """Translate a MaxCompute datetime format (``yyyy-mm-dd hh:mi:ss``) into a strftime pattern.

    Elements are matched case-insensitively; every other character is kept literally (``%`` is
    escaped), which is what MaxCompute does with separators.
    """
    out: list[str] = []
    i = 0
    lowered = fmt.lower()
    while i < len(fmt):
        for element, directive in _FORMAT_ELEMENTS:
            if lowered.startswith(element, i):
                out.append(directive)
                i += len(element)
                break
        else:
            out.append("%%" if fmt[i] == "%" else fmt[i])
            i += 1
    return "".join(out)


def _arity(name: str, args: list[exp.Expression], *allowed: int) -> None:
    if len(args) not in allowed:
        wanted = " or ".join(str(n) for n in allowed)
        raise FunctionArgumentError(f"function {name.lower()} expects {wanted} arguments, got {len(args)}")


def _string_constant(name: str, what: str, arg: exp.Expression) -> str:
    if not isinstance(arg, exp.Literal) or not arg.is_string:
        raise FunctionArgumentError(f"function {name.lower()}: the {what} must be a string constant")
    return str(arg.this)


def _unit(name: str, arg: exp.Expression) -> str:
    word = _string_constant(name, "date part", arg)
    try:
        return _UNITS[word.strip().lower()]
    except KeyError:
        raise FunctionArgumentError(f"function {name.lower()}: unsupported date part '{word}'") from None


def _ts(arg: exp.Expression) -> exp.Expression:
    """Cast to DATETIME: MaxCompute converts strings implicitly, DuckDB needs the type fixed.

    DATETIME generates DuckDB TIMESTAMP (microseconds); a TIMESTAMP written in the SQL becomes
    TIMESTAMP_NS (see :func:`to_duckdb_types`), so the two MaxCompute types stay apart.
    """
    return exp.Cast(this=arg, to=exp.DataType.build("DATETIME"))


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _getdate(args: list[exp.Expression]) -> exp.Expression:
    _arity("GETDATE", args, 0)
    # CURRENT_LOCALTIMESTAMP is a naive TIMESTAMP; now() would be TIMESTAMPTZ.
    return _call("CURRENT_LOCALTIMESTAMP")


def _dateadd(args: list[exp.Expression]) -> exp.Expression:
    _arity("DATEADD", args, 3)
    unit = _unit("DATEADD", args[2])
    interval = exp.Interval(this=exp.Paren(this=args[1]), unit=exp.var(unit))
    return exp.Paren(this=exp.Add(this=_ts(args[0]), expression=interval))


def _datediff(args: list[exp.Expression]) -> exp.Expression:
    _arity("DATEDIFF", args, 2, 3)
    unit = _unit("DATEDIFF", args[2]) if len(args) == 3 else "DAY"
    # MaxCompute: DATEDIFF(end, start) = end - start; DuckDB: DATE_DIFF(part, start, end).
    return _call("DATE_DIFF", exp.Literal.string(unit), _ts(args[1]), _ts(args[0]))


def _datetrunc(args: list[exp.Expression]) -> exp.Expression:
    _arity("DATETRUNC", args, 2)
    return _call("DATE_TRUNC", exp.Literal.string(_unit("DATETRUNC", args[1])), _ts(args[0]))


def _datepart(args: list[exp.Expression]) -> exp.Expression:
    _arity("DATEPART", args, 2)
    return _call("DATE_PART", exp.Literal.string(_unit("DATEPART", args[1])), _ts(args[0]))


def _to_char(args: list[exp.Expression]) -> exp.Expression:
    _arity("TO_CHAR", args, 1, 2)
    if len(args) == 1:
        return exp.Cast(this=args[0], to=exp.DataType.build("VARCHAR"))
    fmt = _string_constant("TO_CHAR", "format", args[1])
    return _call("STRFTIME", _ts(args[0]), exp.Literal.string(to_strftime(fmt)))


def _to_date(args: list[exp.Expression]) -> exp.Expression:
    _arity("TO_DATE", args, 1, 2)
    if len(args) == 1:
        return exp.Cast(this=args[0], to=exp.DataType.build("DATE"))
    fmt = _string_constant("TO_DATE", "format", args[1])
    text = exp.Cast(this=args[0], to=exp.DataType.build("VARCHAR"))
    return _call("STRPTIME", text, exp.Literal.string(to_strftime(fmt)))


def _unix_timestamp(args: list[exp.Expression]) -> exp.Expression:
    _arity("UNIX_TIMESTAMP", args, 0, 1)
    value = _ts(args[0]) if args else _call("CURRENT_LOCALTIMESTAMP")
    # EPOCH() is fractional; MaxCompute truncates to whole seconds (CAST would round).
    return exp.Cast(this=exp.Floor(this=_call("EPOCH", value)), to=exp.DataType.build("BIGINT"))


def _from_unixtime(args: list[exp.Expression]) -> exp.Expression:
    _arity("FROM_UNIXTIME", args, 1)
    # MAKE_TIMESTAMP(micros) is a naive UTC TIMESTAMP; TO_TIMESTAMP would be TIMESTAMPTZ.
    micros = exp.Mul(
        this=exp.Cast(this=args[0], to=exp.DataType.build("BIGINT")), expression=exp.Literal.number(1000000)
    )
    return _call("MAKE_TIMESTAMP", micros)


def _tolower(args: list[exp.Expression]) -> exp.Expression:
    _arity("TOLOWER", args, 1)
    return exp.Lower(this=args[0])


def _toupper(args: list[exp.Expression]) -> exp.Expression:
    _arity("TOUPPER", args, 1)
    return exp.Upper(this=args[0])


def _wm_concat(args: list[exp.Expression]) -> exp.Expression:
    _arity("WM_CONCAT", args, 2)
    # MaxCompute puts the separator first; DuckDB's STRING_AGG takes it second.
    return _call("STRING_AGG", args[1], args[0])


_REWRITES: dict[str, Callable[[list[exp.Expression]], exp.Expression]] = {
    "GETDATE": _getdate,
    "NOW": _getdate,
    "DATEADD": _dateadd,
    "DATEDIFF": _datediff,
    "DATETRUNC": _datetrunc,
    "DATEPART": _datepart,
    "TO_CHAR": _to_char,
    "TO_DATE": _to_date,
    "UNIX_TIMESTAMP": _unix_timestamp,
    "FROM_UNIXTIME": _from_unixtime,
    "TOLOWER": _tolower,
    "TOUPPER": _toupper,
    "WM_CONCAT": _wm_concat,
}


class MaxCompute(Hive):
    """Hive plus MaxCompute's functions; parse with ``read=MaxCompute``, generate DuckDB."""

    # Unknown type names become DataType(USERDEFINED) so they can be rejected by name.
    SUPPORTS_USER_DEFINED_TYPES = True

    class Tokenizer(Hive.Tokenizer):
        # SHOW would swallow the rest of the statement into one string token; the engine reads
        # SHOW TABLES / SHOW PARTITIONS token by token.
        COMMANDS = Hive.Tokenizer.COMMANDS - {TokenType.SHOW}

    class Parser(HiveParser):
        # CAST fails on bad input (odps.function.strictmode=true) instead of Hive's TRY_CAST.
        STRICT_CAST = True
        FUNCTIONS = {**HiveParser.FUNCTIONS, **_REWRITES}

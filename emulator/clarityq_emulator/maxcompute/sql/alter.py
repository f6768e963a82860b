"""``ALTER TABLE`` read from its tokens: sqlglot turns most MaxCompute forms into opaque commands.

Supported (MaxCompute's DDL reference): ``ADD COLUMNS (c type [COMMENT 'x'], ...)``,
``DROP COLUMNS c [, ...]``, ``CHANGE [COLUMN] c RENAME TO d``, ``CHANGE [COLUMN] c COMMENT 'x'``,
``CHANGE [COLUMN] c d type [COMMENT 'x']``, ``ADD [IF NOT EXISTS] PARTITION (k='v', ...) ...``,
``DROP [IF EXISTS] PARTITION (...) [, PARTITION (...)]``, ``RENAME TO t2``, ``SET LIFECYCLE n``,
``SET COMMENT 'x'``, ``SET TBLPROPERTIES ('k'='v', ...)``. ``ALTER VIEW v RENAME TO w`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.tokenizer_core import Token, TokenType

from clarityq_emulator.maxcompute.sql.dialect import MaxCompute
from clarityq_emulator.maxcompute.sql.errors import PARSE_ERROR, SEMANTIC_ERROR, sql_error
from clarityq_emulator.maxcompute.sql.types import UnsupportedTypeError, normalize_type


@dataclass
class AlterAction:
    """One ALTER TABLE statement, its table and what it changes."""

    op: str
    table: exp.Table
    is_view: bool = False
    columns: list[exp.ColumnDef] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    column: str = ""
    new_name: str = ""
    new_type: str | None = None
    comment: str | None = None
    partitions: list[dict[str, str]] = field(default_factory=list)
    if_exists: bool = False
    if_not_exists: bool = False
    target: exp.Table | None = None
    lifecycle: int | None = None
    properties: dict[str, str] = field(default_factory=dict)


class _Reader:
    def __init__(self, script: str, tokens: list[Token], pos: tuple[int, int]) -> None:
        self.script = script
        self.tokens = tokens
        self.index = 0
        self.pos = pos

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.index + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def fail(self, message: str) -> Exception:
        token = self.peek()
        where = (token.line, max(1, token.col - (token.end - token.start))) if token else self.pos
        return sql_error(PARSE_ERROR, message, where)

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end of statement")
        self.index += 1
        return token

    def word(self, *words: str) -> bool:
        """Consume the keywords if they come next (case-insensitive)."""
        for offset, word in enumerate(words):
            token = self.peek(offset)
            if token is None or token.text.upper() != word:
                return False
        self.index += len(words)
        return True

    def expect(self, *words: str) -> None:
        if not self.word(*words):
            raise self.fail(f"expected {' '.join(words)}")

    def name(self) -> str:
        token = self.next()
        if token.token_type not in (TokenType.VAR, TokenType.IDENTIFIER) and not token.text.isidentifier():
            raise self.fail(f"expected a name, got '{token.text}'")
        return token.text.lower()

    def string(self) -> str:
        token = self.next()
        if token.token_type != TokenType.STRING:
            raise self.fail("expected a quoted string")
        return token.text

    def number(self) -> int:
        token = self.next()
        if token.token_type != TokenType.NUMBER or not token.text.isdigit():
            raise self.fail("expected a whole number")
        return int(token.text)

    def parenthesised(self) -> tuple[int, int]:
        """Token indexes just inside a ``( ... )`` group (nesting respected); consumes it."""
        if (token := self.next()).token_type != TokenType.L_PAREN:
            raise self.fail(f"expected '(', got '{token.text}'")
        start, depth = self.index, 1
        while depth:
            token = self.next()
            depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
        return start, self.index - 1

    def text(self, start: int, end: int) -> str:
        """The script text of tokens ``start`` up to (not including) ``end``."""
        if start >= end:
            return ""
        return self.script[self.tokens[start].start : self.tokens[end - 1].end + 1]

    def done(self) -> bool:
        return self.index >= len(self.tokens)


def _table(reader: _Reader) -> exp.Table:
    start = reader.index
    while (token := reader.peek()) is not None and (
        token.token_type in (TokenType.VAR, TokenType.IDENTIFIER, TokenType.DOT) or token.text.isidentifier()
    ):
        reader.index += 1
        following = reader.peek()
        if token.token_type != TokenType.DOT and (following is None or following.token_type != TokenType.DOT):
            break
    try:
        table = exp.to_table(reader.text(start, reader.index), dialect=MaxCompute)
    except (ParseError, ValueError):
        raise reader.fail("expected a table name") from None
    if not isinstance(table, exp.Table) or not table.name:
        raise reader.fail("expected a table name")
    return table


def _partition_spec(reader: _Reader) -> dict[str, str]:
    start, end = reader.parenthesised()
    spec: dict[str, str] = {}
    index = start
    while index < end:
        key, eq, value = reader.tokens[index : index + 3]
        if eq.token_type != TokenType.EQ or value.token_type not in (TokenType.STRING, TokenType.NUMBER):
            raise sql_error(PARSE_ERROR, "a partition spec is key='value', ...", reader.pos)
        spec[key.text.lower()] = value.text
        index += 3
        if index < end:
            if reader.tokens[index].token_type != TokenType.COMMA:
                raise sql_error(PARSE_ERROR, "a partition spec is key='value', ...", reader.pos)
            index += 1
    if not spec:
        raise sql_error(PARSE_ERROR, "empty partition spec", reader.pos)
    return spec


def _column_defs(reader: _Reader, start: int, end: int) -> list[exp.ColumnDef]:
    try:
        parsed: exp.Expression = exp.maybe_parse(
            f"CREATE TABLE __cq_alter ({reader.text(start, end)})", dialect=MaxCompute
        )
    except ParseError:
        raise sql_error(PARSE_ERROR, "invalid column definitions", reader.pos) from None
    schema = parsed.this if isinstance(parsed, exp.Create) else None
    if not isinstance(schema, exp.Schema) or not all(isinstance(c, exp.ColumnDef) for c in schema.expressions):
        raise sql_error(PARSE_ERROR, "invalid column definitions", reader.pos)
    return list(schema.expressions)


def _change_column(reader: _Reader, action: AlterAction) -> None:
    reader.word("COLUMN")
    action.op, action.column = "change_column", reader.name()
    if reader.word("RENAME", "TO"):
        action.new_name = reader.name()
    elif reader.word("COMMENT"):
        action.new_name, action.comment = action.column, reader.string()
    else:
        action.new_name = reader.name()
        start = reader.index
        while (token := reader.peek()) is not None and token.text.upper() != "COMMENT":
            reader.index += 1
        try:
            action.new_type = normalize_type(reader.text(start, reader.index))
        except UnsupportedTypeError as err:
            raise sql_error(SEMANTIC_ERROR, f"type {err} is not supported (column {action.new_name})") from None
        if reader.word("COMMENT"):
            action.comment = reader.string()


def parse_alter(script: str, tokens: list[Token], pos: tuple[int, int]) -> AlterAction:
    """The ALTER TABLE / ALTER VIEW statement in ``tokens``; a ParseError-style SqlError otherwise."""
    reader = _Reader(script, tokens, pos)
    reader.expect("ALTER")
    is_view = reader.word("VIEW")
    if not is_view:
        reader.expect("TABLE")
    action = AlterAction("", _table(reader), is_view=is_view)
    if reader.word("RENAME", "TO"):
        action.op, action.target = "rename", _table(reader)
    elif is_view:
        raise reader.fail("ALTER VIEW supports RENAME TO only")
    elif reader.word("ADD", "COLUMNS"):
        start, end = reader.parenthesised()
        action.op, action.columns = "add_columns", _column_defs(reader, start, end)
    elif reader.word("DROP", "COLUMNS"):
        action.op, action.names = "drop_columns", [reader.name()]
        while reader.word(","):
            action.names.append(reader.name())
    elif reader.word("CHANGE"):
        _change_column(reader, action)
    elif reader.word("ADD"):
        action.op, action.if_not_exists = "add_partitions", reader.word("IF", "NOT", "EXISTS")
        while reader.word("PARTITION"):
            action.partitions.append(_partition_spec(reader))
    elif reader.word("DROP"):
        action.op, action.if_exists = "drop_partitions", reader.word("IF", "EXISTS")
        while reader.word("PARTITION"):
            action.partitions.append(_partition_spec(reader))
            reader.word(",")
    elif reader.word("SET", "LIFECYCLE"):
        action.op, action.lifecycle = "set_lifecycle", reader.number()
    elif reader.word("SET", "COMMENT"):
        action.op, action.comment = "set_comment", reader.string()
    elif reader.word("SET", "TBLPROPERTIES"):
        start, end = reader.parenthesised()
        action.op = "set_properties"
        items = [t for t in reader.tokens[start:end] if t.token_type not in (TokenType.COMMA, TokenType.EQ)]
        if len(items) % 2 or not all(t.token_type == TokenType.STRING for t in items):
            raise reader.fail("TBLPROPERTIES is ('key'='value', ...)")
        action.properties = {items[i].text: items[i + 1].text for i in range(0, len(items), 2)}
    else:
        token = reader.peek()
        raise sql_error(
            SEMANTIC_ERROR,
            f"ALTER TABLE ... {token.text.upper() if token else ''} is not supported by the emulator".strip(),
            pos,
        )
    if action.op.endswith("partitions") and not action.partitions:
        raise reader.fail("expected PARTITION (...)")
    if not reader.done():
        raise reader.fail(f"unexpected '{reader.next().text}'")
    return action

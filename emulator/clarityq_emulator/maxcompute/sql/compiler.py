"""MaxCompute SQL scripts parsed into statements, and what each statement reads and changes.

Scripts are tokenized and parsed with the MaxCompute dialect (:mod:`.dialect`); statements sqlglot
cannot parse the MaxCompute way (SET, SHOW, LIFECYCLE, ALTER TABLE) are read from the tokens.
Nothing here touches DuckDB or the catalog: :func:`access` feeds the permission checks before
anything runs, :mod:`.executor` runs the statements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError, ParseError, TokenError
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokenizer_core import Token, TokenType

from clarityq_emulator.maxcompute.sql.alter import AlterAction, parse_alter
from clarityq_emulator.maxcompute.sql.catalog import ColumnReads, StatementAccess, TableMeta, TableRef
from clarityq_emulator.maxcompute.sql.columns import scope_columns
from clarityq_emulator.maxcompute.sql.dialect import FunctionArgumentError, MaxCompute
from clarityq_emulator.maxcompute.sql.errors import PARSE_ERROR, SEMANTIC_ERROR, SqlError, sql_error

_SETTING_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass
class Statement:
    kind: str
    pos: tuple[int, int]
    node: exp.Expression | None = None
    lifecycle: int | None = None
    setting: tuple[str, str] | None = None
    show_project: str | None = None
    show_pattern: str | None = None
    alter: AlterAction | None = None
    range_cluster: bool = False
    view_text: str | None = None


def token_pos(token: Token) -> tuple[int, int]:
    return token.line, max(1, token.col - (token.end - token.start))


def node_pos(node: exp.Expression | None) -> tuple[int, int] | None:
    """Start position of the first identifier of ``node`` in the script (sqlglot keeps token meta)."""
    if node is None:
        return None
    found: list[tuple[int, int]] = []
    for ident in node.find_all(exp.Identifier):
        meta = ident.meta
        if "line" in meta and "col" in meta:
            width = int(meta.get("end", 0)) - int(meta.get("start", 0))
            found.append((int(meta["line"]), max(1, int(meta["col"]) - width)))
    return min(found) if found else None


def literal_text(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Literal):
        return str(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return f"-{node.this.this}"
    return None


def _dedupe(refs: Iterable[TableRef]) -> tuple[TableRef, ...]:
    return tuple(dict.fromkeys(refs))


def _split_statements(tokens: list[Token]) -> list[list[Token]]:
    groups: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            groups.append([])
        else:
            groups[-1].append(token)
    return [group for group in groups if group]


def _token_error_pos(script: str) -> tuple[int, int]:
    """Best guess at an unterminated quote or comment: the tokenizer reports no position."""
    candidates = [script.rfind(ch) for ch in ("'", '"', "`") if script.count(ch) % 2]
    if "/*" in script:
        candidates.append(script.rfind("/*"))
    offset = min((c for c in candidates if c >= 0), default=0)
    line = script.count("\n", 0, offset) + 1
    return line, offset - (script.rfind("\n", 0, offset) + 1) + 1


def name_projections(query: exp.Expression) -> None:
    """Name unaliased SELECT expressions ``_c<i>`` as MaxCompute does (DuckDB uses the SQL text)."""
    while isinstance(query, (exp.SetOperation, exp.Subquery)):
        query = query.this
    if not isinstance(query, exp.Select):
        return
    for index, projection in enumerate(list(query.expressions)):
        if not isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
            projection.replace(exp.alias_(projection.copy(), f"_c{index}"))


def like_regex(pattern: str) -> re.Pattern[str]:
    parts = [".*" if ch in "*%" else re.escape(ch) for ch in pattern.lower()]
    return re.compile("^" + "".join(parts) + "$")


class Compiler:
    """Parses scripts into :class:`Statement` lists with one MaxCompute dialect instance."""

    def __init__(self) -> None:
        self._dialect = MaxCompute()

    def compile(self, script: str) -> list[Statement]:
        try:
            tokens = self._dialect.tokenize(script)
        except TokenError:
            raise sql_error(
                PARSE_ERROR, "unterminated string, quoted identifier or comment", _token_error_pos(script)
            ) from None
        statements = [self._compile_one(script, group) for group in _split_statements(tokens)]
        if not statements:
            raise sql_error(PARSE_ERROR, "no statement found", (1, 1))
        return statements

    def _compile_one(self, script: str, tokens: list[Token]) -> Statement:
        first = tokens[0]
        pos = token_pos(first)
        word = first.text.upper()
        if word == "SET":
            return self._compile_set(script, tokens, pos)
        if word == "SHOW":
            return self._compile_show(script, tokens, pos)
        if word == "ALTER":
            action = parse_alter(script, tokens, pos)
            return Statement("alter", pos, node=action.table, alter=action)
        lifecycle, range_cluster, view_text = None, False, None
        if word == "CREATE":
            tokens, lifecycle = self._strip_lifecycle(tokens)
            tokens, range_cluster = _strip_range(tokens)
            view_text = _view_text(script, tokens)
        try:
            parsed = self._dialect.parser(error_level=ErrorLevel.IMMEDIATE).parse(tokens, script)
        except ParseError as err:
            raise self._parse_error(err, pos) from None
        except FunctionArgumentError as err:
            raise sql_error(SEMANTIC_ERROR, str(err), pos) from None
        node = parsed[0] if len(parsed) == 1 else None
        if not isinstance(node, exp.Expression):
            raise sql_error(PARSE_ERROR, "invalid statement", pos)
        kind = self._kind_of(node, first, pos)
        return Statement(kind, pos, node, lifecycle, range_cluster=range_cluster, view_text=view_text)

    @staticmethod
    def _parse_error(err: ParseError, pos: tuple[int, int]) -> SqlError:
        info = err.errors[0] if err.errors else {}
        line, col = info.get("line"), info.get("col")
        highlight = str(info.get("highlight") or "")
        description = str(info.get("description") or "invalid statement")
        if isinstance(line, int) and isinstance(col, int):
            pos = (line, max(1, col - max(0, len(highlight) - 1)))
        if "<" in description:  # sqlglot internals such as "<Token token_type: ...>"
            detail = f"invalid token '{highlight}'" if highlight else "invalid statement"
        else:
            detail = f"{description} near '{highlight}'" if highlight else description
        return sql_error(PARSE_ERROR, detail, pos)

    @staticmethod
    def _strip_lifecycle(tokens: list[Token]) -> tuple[list[Token], int | None]:
        """Drop ``LIFECYCLE <n>`` (sqlglot would turn the statement into an opaque Command)."""
        kept: list[Token] = []
        lifecycle = None
        skip = False
        for index, token in enumerate(tokens):
            if skip:
                skip = False
                continue
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if token.text.upper() == "LIFECYCLE" and following is not None and following.token_type == TokenType.NUMBER:
                if lifecycle is not None:
                    raise sql_error(PARSE_ERROR, "LIFECYCLE is specified twice", token_pos(token))
                lifecycle = int(following.text)
                skip = True
                continue
            kept.append(token)
        return kept, lifecycle

    @staticmethod
    def _compile_set(script: str, tokens: list[Token], pos: tuple[int, int]) -> Statement:
        eq = next((i for i, t in enumerate(tokens) if t.token_type == TokenType.EQ), None)
        if eq is None or eq == 1:
            raise sql_error(PARSE_ERROR, "expected SET <key>=<value>", pos)
        key = script[tokens[1].start : tokens[eq].start].strip()
        value = script[tokens[eq].end + 1 : tokens[-1].end + 1].strip() if eq + 1 < len(tokens) else ""
        if not _SETTING_KEY.match(key):
            raise sql_error(PARSE_ERROR, f"invalid setting name '{key}'", pos)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        return Statement("set", pos, setting=(key.lower(), value))

    def _compile_show(self, script: str, tokens: list[Token], pos: tuple[int, int]) -> Statement:
        what = tokens[1].text.upper() if len(tokens) > 1 else ""
        if what == "TABLES":
            rest = tokens[2:]
            project = pattern = None
            if rest and rest[0].text.upper() in ("IN", "FROM"):
                if len(rest) < 2 or rest[1].token_type not in (TokenType.VAR, TokenType.IDENTIFIER):
                    raise sql_error(PARSE_ERROR, "expected a project name", pos)
                project, rest = rest[1].text.lower(), rest[2:]
            if rest and rest[0].token_type == TokenType.LIKE:
                if len(rest) < 2 or rest[1].token_type != TokenType.STRING:
                    raise sql_error(PARSE_ERROR, "expected a quoted LIKE pattern", token_pos(rest[0]))
                pattern, rest = rest[1].text, rest[2:]
            if rest:
                raise sql_error(PARSE_ERROR, f"invalid token '{rest[0].text}'", token_pos(rest[0]))
            return Statement("show_tables", pos, show_project=project, show_pattern=pattern)
        if what == "PARTITIONS" and len(tokens) > 2:
            try:
                table = self._dialect.parser(error_level=ErrorLevel.IMMEDIATE).parse_into(
                    exp.Table, tokens[2:], script
                )[0]
            except ParseError as err:
                raise self._parse_error(err, pos) from None
            if not isinstance(table, exp.Table):
                raise sql_error(PARSE_ERROR, "expected a table name", pos)
            return Statement("show_partitions", pos, node=table)
        raise sql_error(SEMANTIC_ERROR, f"SHOW {what} is not supported by the emulator".strip(), pos)

    @staticmethod
    def _kind_of(node: exp.Expression, first: Token, pos: tuple[int, int]) -> str:
        if isinstance(node, (exp.Select, exp.SetOperation, exp.Subquery)):
            return "select"
        if isinstance(node, exp.Insert):
            return "insert"
        if isinstance(node, exp.Create) and str(node.args.get("kind") or "").upper() in ("TABLE", "VIEW"):
            return f"create_{str(node.args['kind']).lower()}"
        if isinstance(node, exp.Drop) and str(node.args.get("kind") or "").upper() in ("TABLE", "VIEW"):
            return f"drop_{str(node.args['kind']).lower()}"
        if isinstance(node, exp.Describe) and str(node.args.get("kind") or "TABLE").upper() == "TABLE":
            return "desc"
        if isinstance(node, exp.TruncateTable):
            return "truncate"
        if isinstance(node, exp.Command):
            raise sql_error(PARSE_ERROR, f"unsupported statement '{first.text.upper()}'", pos)
        kind = f"{first.text.upper()} {str(node.args.get('kind') or '').upper()}".strip()
        raise sql_error(SEMANTIC_ERROR, f"{kind} statements are not supported by the emulator", pos)

    # -- name resolution ---------------------------------------------------------------------


def resolve(table: exp.Table, default_project: str, flags: Mapping[str, str]) -> TableRef:
    """``t`` / ``project.t`` (or ``schema.t`` with odps.namespace.schema) / ``project.schema.t``."""
    pos = node_pos(table) or (0, 0)
    if not isinstance(table.this, exp.Identifier):
        raise sql_error(SEMANTIC_ERROR, f"unsupported table expression {table.sql(dialect=MaxCompute)}", pos)
    catalog, db = table.text("catalog"), table.text("db")
    schema: str | None = None
    if catalog:
        project, schema = catalog, db
    elif db and flags.get("odps.namespace.schema", "false").lower() == "true":
        project, schema = default_project, db
    elif db:
        project = db
    else:
        project = default_project
    if schema is not None and schema.lower() != "default":
        raise sql_error(
            SEMANTIC_ERROR,
            f"schema {project.lower()}.{schema.lower()} cannot be resolved (the emulator only has the default schema)",
            pos,
        )
    return TableRef(project.lower(), table.name.lower())


def source_tables(body: exp.Expression, pos: tuple[int, int]) -> list[tuple[exp.Table, Scope]]:
    """Tables whose data ``body`` reads, with their scope; CTE references are skipped."""
    found: list[tuple[exp.Table, Scope]] = []
    handled: set[int] = set()
    try:
        scopes = traverse_scope(body)
    except OptimizeError as err:
        raise sql_error(SEMANTIC_ERROR, str(err), pos) from None
    for scope in scopes:
        ctes = {name.lower() for name in scope.cte_sources}
        for table in scope.tables:
            if id(table) in handled:
                continue
            handled.add(id(table))
            qualified = table.args.get("db") or table.args.get("catalog")
            if not qualified and table.name.lower() in ctes:
                continue
            found.append((table, scope))
    for table in body.find_all(exp.Table):
        if id(table) not in handled:
            raise sql_error(
                SEMANTIC_ERROR,
                f"table reference {table.sql(dialect=MaxCompute)} is not supported in this position",
                node_pos(table) or pos,
            )
    return found


def read_refs(
    body: exp.Expression | None,
    default_project: str,
    flags: Mapping[str, str],
    pos: tuple[int, int],
) -> list[TableRef]:
    if body is None:
        return []
    return [resolve(t, default_project, flags) for t, _ in source_tables(body, pos)]


def column_reads(
    body: exp.Expression | None, default_project: str, flags: Mapping[str, str], pos: tuple[int, int]
) -> ColumnReads:
    """(table, columns read or None for all) of every source table of ``body``."""
    if body is None:
        return ()
    return tuple((resolve(t, default_project, flags), scope_columns(t, s)) for t, s in source_tables(body, pos))


def access(st: Statement, project: str, flags: Mapping[str, str]) -> StatementAccess:
    node = st.node
    assert node is not None or st.kind == "show_tables"
    if st.kind == "select":
        assert node is not None
        return StatementAccess(
            "select",
            reads=_dedupe(read_refs(node, project, flags, st.pos)),
            columns=column_reads(node, project, flags, st.pos),
        )
    if st.kind == "insert":
        assert isinstance(node, exp.Insert)
        target, _ = insert_target(node, st.pos)
        body = insert_body(node)
        return StatementAccess(
            "insert",
            reads=_dedupe(read_refs(body, project, flags, st.pos)),
            writes=(resolve(target, project, flags),),
            columns=column_reads(body, project, flags, st.pos),
        )
    if st.kind == "create_table":
        assert isinstance(node, exp.Create)
        parts = create_parts(node, st.pos)
        reads = read_refs(node.expression, project, flags, st.pos)
        if parts.like is not None:
            reads.insert(0, resolve(parts.like, project, flags))
        return StatementAccess(
            "create_table",
            reads=_dedupe(reads),
            creates=(resolve(parts.table, project, flags),),
            columns=column_reads(node.expression, project, flags, st.pos),
        )
    if st.kind == "create_view":
        assert isinstance(node, exp.Create)
        reads = read_refs(node.expression, project, flags, st.pos)
        return StatementAccess(
            "create_view", reads=_dedupe(reads), creates=(resolve(view_name(node, st.pos), project, flags),)
        )
    if st.kind in ("drop_table", "drop_view"):
        assert isinstance(node, exp.Drop)
        drops = [resolve(t, project, flags) for t in drop_tables(node, st.pos)]
        return StatementAccess(st.kind, drops=_dedupe(drops))
    if st.kind == "alter":
        assert isinstance(node, exp.Table) and st.alter is not None
        altered = resolve(node, project, flags)
        rename_to = st.alter.target
        renames = ((altered, resolve(rename_to, project, flags)),) if rename_to is not None else ()
        return StatementAccess("alter", alters=(altered,), renames=renames)
    if st.kind == "truncate":
        assert isinstance(node, exp.TruncateTable)
        writes = [resolve(t, project, flags) for t in truncate_tables(node, st.pos)]
        return StatementAccess("truncate", writes=_dedupe(writes))
    if st.kind == "desc":
        assert isinstance(node, exp.Describe)
        return StatementAccess("desc", describes=(resolve(desc_table(node, st.pos), project, flags),))
    if st.kind == "show_partitions":
        assert isinstance(node, exp.Table)
        return StatementAccess("show_partitions", describes=(resolve(node, project, flags),))
    return StatementAccess("show_tables", lists=(st.show_project or project,))


def view_name(node: exp.Create, pos: tuple[int, int]) -> exp.Table:
    this = node.this.this if isinstance(node.this, exp.Schema) else node.this
    if not isinstance(this, exp.Table):
        raise sql_error(PARSE_ERROR, "expected a view name", pos)
    return this


def _strip_range(tokens: list[Token]) -> tuple[list[Token], bool]:
    """Drop the ``RANGE`` of ``RANGE CLUSTERED BY`` (sqlglot knows only hash clustering)."""
    for index, token in enumerate(tokens[:-1]):
        if token.text.upper() == "RANGE" and tokens[index + 1].text.upper() == "CLUSTERED":
            return tokens[:index] + tokens[index + 1 :], True
    return tokens, False


def _view_text(script: str, tokens: list[Token]) -> str | None:
    """The query of ``CREATE VIEW ... AS <query>`` as written, or None for other statements."""
    if not any(t.text.upper() == "VIEW" for t in tokens[1:5]):
        return None
    depth = 0
    for index, token in enumerate(tokens[:-1]):
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
        if depth == 0 and token.token_type == TokenType.ALIAS:
            return script[tokens[index + 1].start : tokens[-1].end + 1].strip()
    return None


@dataclass
class CreateParts:
    table: exp.Table
    columns: list[exp.Expression]
    partition_columns: list[exp.Expression]
    comment: str
    like: exp.Table | None
    properties: dict[str, str]
    stored_as: str | None = None
    cluster: dict[str, Any] | None = None


def create_parts(node: exp.Create, pos: tuple[int, int]) -> CreateParts:
    """Split CREATE TABLE into target, column definitions and MaxCompute properties.

    Every property is either understood or rejected: DuckDB would silently drop them.
    """
    this = node.this
    columns: list[exp.Expression] = []
    if isinstance(this, exp.Schema):
        columns = list(this.expressions)
        this = this.this
    if not isinstance(this, exp.Table):
        raise sql_error(PARSE_ERROR, "expected a table name", pos)
    parts = CreateParts(this, columns, [], "", None, {})
    props = node.args.get("properties")
    for prop in props.expressions if isinstance(props, exp.Properties) else []:
        if isinstance(prop, exp.SchemaCommentProperty):
            parts.comment = prop.this.name
        elif isinstance(prop, exp.PartitionedByProperty):
            if not isinstance(prop.this, exp.Schema):
                raise sql_error(PARSE_ERROR, "PARTITIONED BY needs column definitions with types", pos)
            parts.partition_columns = list(prop.this.expressions)
        elif isinstance(prop, exp.LikeProperty):
            if not isinstance(prop.this, exp.Table):
                raise sql_error(PARSE_ERROR, "LIKE needs a table name", pos)
            parts.like = prop.this
        elif type(prop) is exp.Property:
            parts.properties[prop.name] = prop.args["value"].name if prop.args.get("value") else ""
        elif isinstance(prop, exp.FileFormatProperty):
            parts.stored_as = prop.name.upper()
        elif isinstance(prop, exp.ClusteredByProperty):
            parts.cluster = _cluster_info(prop, pos)
        else:
            raise sql_error(SEMANTIC_ERROR, f"table property {prop.sql(dialect=MaxCompute)} is not supported", pos)
    query = node.expression
    if query is not None and (columns or parts.partition_columns or parts.like is not None):
        raise sql_error(SEMANTIC_ERROR, "CREATE TABLE AS SELECT cannot declare columns, partitions or LIKE", pos)
    if parts.like is not None and (columns or parts.partition_columns):
        raise sql_error(SEMANTIC_ERROR, "CREATE TABLE LIKE cannot declare columns or partitions", pos)
    if query is None and parts.like is None and not columns:
        raise sql_error(PARSE_ERROR, "CREATE TABLE needs columns, LIKE or AS SELECT", pos)
    return parts


def _cluster_info(prop: exp.ClusteredByProperty, pos: tuple[int, int]) -> dict[str, Any]:
    """``CLUSTERED BY (...) SORTED BY (...) INTO n BUCKETS`` as the table JSON's Reserved carries it."""
    columns = [c.name.lower() for c in prop.expressions if isinstance(c, exp.Column)]
    sort_cols = []
    for item in prop.args.get("sorted_by") or []:
        column = item.this if isinstance(item, exp.Ordered) else item
        if not isinstance(column, exp.Column):
            raise sql_error(PARSE_ERROR, "SORTED BY takes column names", pos)
        desc = isinstance(item, exp.Ordered) and bool(item.args.get("desc"))
        sort_cols.append({"col": column.name.lower(), "order": "DESC" if desc else "ASC"})
    buckets = prop.args.get("buckets")
    info: dict[str, Any] = {"ClusterType": "hash", "ClusterCols": columns, "SortCols": sort_cols}
    if isinstance(buckets, exp.Literal):
        info["BucketNum"] = int(buckets.this)
    return info


def insert_target(node: exp.Insert, pos: tuple[int, int]) -> tuple[exp.Table, list[str] | None]:
    target = node.this
    column_list: list[str] | None = None
    if isinstance(target, exp.Schema):
        column_list = [e.name.lower() for e in target.expressions]
        target = target.this
    if not isinstance(target, exp.Table):
        raise sql_error(PARSE_ERROR, "INSERT needs a table name", pos)
    return target, column_list


def insert_body(node: exp.Insert) -> exp.Expression | None:
    """The source query; a WITH written before INSERT moves onto it, where sqlglot scopes it."""
    body = node.expression
    with_ = node.args.get("with_")
    if with_ is not None and isinstance(body, exp.Query) and body.args.get("with_") is None:
        body.set("with_", with_)
        node.set("with_", None)
    return body if isinstance(body, exp.Expression) else None


def drop_tables(node: exp.Drop, pos: tuple[int, int]) -> list[exp.Table]:
    tables = node.args.get("tables") or ([node.this] if node.this is not None else [])
    if not tables or not all(isinstance(t, exp.Table) for t in tables):
        raise sql_error(PARSE_ERROR, "DROP TABLE needs a table name", pos)
    return list(tables)


def truncate_tables(node: exp.TruncateTable, pos: tuple[int, int]) -> list[exp.Table]:
    tables = list(node.expressions)
    if not tables or not all(isinstance(t, exp.Table) for t in tables) or node.args.get("partition"):
        raise sql_error(SEMANTIC_ERROR, "only TRUNCATE TABLE <name> is supported by the emulator", pos)
    return tables


def desc_table(node: exp.Describe, pos: tuple[int, int]) -> exp.Table:
    if node.args.get("partition") is not None:
        raise sql_error(SEMANTIC_ERROR, "DESC ... PARTITION is not supported by the emulator", pos)
    if not isinstance(node.this, exp.Table):
        raise sql_error(PARSE_ERROR, "DESC needs a table name", pos)
    return node.this


def check_partition_predicate(table: exp.Table, scope: Scope, meta: TableMeta) -> None:
    """MaxCompute's full-scan guard: some WHERE/ON predicate must mention a partition key."""
    keys = {c.name for c in meta.partition_keys}
    alias = table.alias_or_name.lower()
    select = scope.expression
    conditions: list[exp.Expression] = []
    if isinstance(select, exp.Select):
        where = select.args.get("where")
        if where is not None:
            conditions.append(where)
        for join in select.args.get("joins") or []:
            if join.args.get("on") is not None:
                conditions.append(join.args["on"])
    for condition in conditions:
        for column in condition.find_all(exp.Column):
            if column.name.lower() in keys and (not column.table or column.table.lower() == alias):
                return
    raise sql_error(
        SEMANTIC_ERROR,
        "physical plan generation failed: java.lang.RuntimeException: "
        f"Table({meta.project},{meta.name}) is full scan with all partitions, please specify partition predicates.",
        (0, 0),
    )

"""Tokenizer and parser for MaxCompute security statements (one statement per request).

The grammar is the one the permission command set and the query-permissions pages document
(see ``docs/emulator-security.md``). Parsing only decides the shape of a statement; whether the
principals, roles and objects exist is the executor's business. Anything the lexer does not
expect -- quotes other than backticks around a principal, non-ASCII text, control characters,
a second statement -- is a parse error, so a crafted statement can never reach the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from clarityq_emulator.maxcompute.security import grammar

#: Longest statement accepted, in characters.
MAX_STATEMENT_CHARS = 4096

_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$:@.-/*")
TokenKind = Literal["WORD", "QUOTED", "STRING", "COMMA", "LPAREN", "RPAREN", "EQ", "SEMI", "EOF"]
_PUNCT: dict[str, TokenKind] = {",": "COMMA", "(": "LPAREN", ")": "RPAREN", "=": "EQ", ";": "SEMI"}


class SecurityParseError(Exception):
    """A statement the service would not parse; ``offset`` points into the statement."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class StatementTooLong(Exception):
    def __init__(self, length: int) -> None:
        super().__init__(f"statement is {length} characters")
        self.length = length


class NotSupported(Exception):
    """Real MaxCompute syntax the emulator deliberately does not implement."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    offset: int

    def is_kw(self, *words: str) -> bool:
        return self.kind == "WORD" and self.text.upper() in words


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` (how ODPS parse errors point at a position)."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def tokenize(text: str) -> list[Token]:
    """Split a statement into tokens; raise :class:`SecurityParseError` on any unexpected character."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ord(ch) > 127:
            raise SecurityParseError(f"non-ASCII character U+{ord(ch):04X} is not allowed", i)
        if ch in " \t\r\n":
            i += 1
        elif ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, i))
            i += 1
        elif ch in _WORD_CHARS:
            start = i
            while i < n and text[i] in _WORD_CHARS:
                i += 1
            tokens.append(Token("WORD", text[start:i], start))
        elif ch in '`"':
            end = i + 1
            while end < n and text[end] != ch:
                if text[end] in "\r\n" or ord(text[end]) < 32 or ord(text[end]) > 126:
                    raise SecurityParseError(f"unterminated or multi-line {ch}-quoted text", i)
                end += 1
            if end >= n:
                raise SecurityParseError(f"unterminated {ch}-quoted text", i)
            body = text[i + 1 : end]
            if not body:
                raise SecurityParseError(f"empty {ch}-quoted text", i)
            if ch == "`" and any(c not in _WORD_CHARS for c in body):
                raise SecurityParseError("a backtick-quoted principal may only hold a principal name", i)
            tokens.append(Token("QUOTED" if ch == "`" else "STRING", body, i))
            i = end + 1
        elif ch == "'":
            raise SecurityParseError("single quotes are not allowed in security statements", i)
        elif ord(ch) < 32 or ord(ch) == 127:
            raise SecurityParseError(f"control character 0x{ord(ch):02X} is not allowed", i)
        else:
            raise SecurityParseError(f"unexpected character {ch!r}", i)
    tokens.append(Token("EOF", "", n))
    return tokens


# --- statements -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """A user principal as written (``RAM$acct:name``), backticks removed."""

    text: str
    quoted: bool
    offset: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Grantee:
    kind: Literal["user", "role"]
    principal: Principal | None = None
    role: str = ""


@dataclass(frozen=True)
class ObjectRef:
    object_type: str  # project | table | function | resource | instance
    name: str  # as written, without a project prefix; may end in "*"
    project: str | None = None  # an explicit "<project>." prefix


@dataclass(frozen=True)
class AddUser:
    principal: Principal


@dataclass(frozen=True)
class RemoveUser:
    principal: Principal


@dataclass(frozen=True)
class ListUsers:
    pass


@dataclass(frozen=True)
class ListRoles:
    pass


@dataclass(frozen=True)
class WhoAmI:
    pass


@dataclass(frozen=True)
class CreateRole:
    role: str
    role_type: str = "resource"


@dataclass(frozen=True)
class DropRole:
    role: str


@dataclass(frozen=True)
class DescribeRole:
    role: str


@dataclass(frozen=True)
class GrantRoles:
    roles: tuple[str, ...]
    principal: Principal


@dataclass(frozen=True)
class RevokeRoles:
    roles: tuple[str, ...]
    principal: Principal


@dataclass(frozen=True)
class GrantActions:
    actions: tuple[str, ...]
    target: ObjectRef
    grantee: Grantee


@dataclass(frozen=True)
class RevokeActions:
    actions: tuple[str, ...]
    target: ObjectRef
    grantee: Grantee


@dataclass(frozen=True)
class ShowGrants:
    """``SHOW GRANTS`` (caller), ``... FOR <principal>`` or ``... FOR ROLE <role>``."""

    principal: Principal | None = None
    role: str | None = None


@dataclass(frozen=True)
class ShowGrantsOn:
    target: ObjectRef


@dataclass(frozen=True)
class ShowAcl:
    target: ObjectRef


@dataclass(frozen=True)
class GetPolicy:
    role: str | None = None


Statement = (
    AddUser
    | RemoveUser
    | ListUsers
    | ListRoles
    | WhoAmI
    | CreateRole
    | DropRole
    | DescribeRole
    | GrantRoles
    | RevokeRoles
    | GrantActions
    | RevokeActions
    | ShowGrants
    | ShowGrantsOn
    | ShowAcl
    | GetPolicy
    | grammar.ExtraStatement
)

_OBJECT_TYPES = ("PROJECT", "TABLE", "FUNCTION", "RESOURCE", "INSTANCE", "PACKAGE")
_UNSUPPORTED_OBJECT_TYPES = ("MODEL", "VOLUME", "JOB", "QUOTA", "NETWORKLINK", "SCHEMA", "VIEW")
_UNSUPPORTED_FIRST = {
    "PUT": "PUT POLICY (odpscmd reads a local file; use PUT ...?policy)",
}
_UNSUPPORTED_SHOW = {
    "SECURITYCONFIGURATION": "SHOW SECURITYCONFIGURATION",
    "PRIV": "SHOW PRIV",
    "PRIVILEGES": "SHOW PRIVILEGES",
}


def _is_identifier(text: str, *, extra: str = "") -> bool:
    return bool(text) and text[0].isalpha() and all(c.isalnum() or c == "_" or c in extra for c in text)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    # -- token helpers --

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def fail(self, message: str, token: Token | None = None) -> SecurityParseError:
        token = token or self.peek()
        shown = "end of statement" if token.kind == "EOF" else repr(token.text)
        return SecurityParseError(f"{message}, found {shown}", token.offset)

    def keyword(self, *words: str) -> Token:
        token = self.next()
        if not token.is_kw(*words):
            raise self.fail("expected " + " or ".join(words), token)
        return token

    def accept(self, *words: str) -> bool:
        if self.peek().is_kw(*words):
            self.next()
            return True
        return False

    # -- pieces --

    def role_name(self) -> str:
        token = self.next()
        if token.kind != "WORD" or not _is_identifier(token.text) or len(token.text) > 64:
            raise self.fail("expected a role name (a letter, then letters, digits or _; at most 64)", token)
        return token.text

    def role_list(self) -> tuple[str, ...]:
        roles = [self.role_name()]
        while self.peek().kind == "COMMA":
            self.next()
            roles.append(self.role_name())
        return tuple(roles)

    def principal(self) -> Principal:
        token = self.next()
        if token.kind == "QUOTED":
            if "$" not in token.text or "*" in token.text:
                raise self.fail("backticks may only quote a principal", token)
            return Principal(token.text, True, token.offset)
        if token.kind != "WORD" or "$" not in token.text:
            raise self.fail("expected a principal (ALIYUN$..., RAM$...)", token)
        if "*" in token.text:
            raise self.fail("a principal cannot contain '*'", token)
        if "/" in token.text:
            raise self.fail("a RAM role principal must be quoted with backticks (`RAM$<account>:role/<name>`)", token)
        return Principal(token.text, False, token.offset)

    def object_ref(self, object_type: str | None = None) -> ObjectRef:
        if object_type is None:
            token = self.next()
            if token.is_kw(*_UNSUPPORTED_OBJECT_TYPES):
                raise NotSupported(f"ACL on object type {token.text.upper()}")
            if not token.is_kw(*_OBJECT_TYPES):
                raise self.fail(
                    "expected an object type (PROJECT, TABLE, FUNCTION, RESOURCE, INSTANCE, PACKAGE)", token
                )
            object_type = token.text.lower()
        return ObjectRef(object_type, *self.object_name(object_type))

    def object_name(self, object_type: str) -> tuple[str, str | None]:
        """(name, explicit project) of an object; ``*`` / ``prefix*`` only for non-project objects."""
        token = self.next()
        if token.kind != "WORD":
            raise self.fail(f"expected a {object_type} name", token)
        text = token.text
        if object_type == "resource":
            # Resource names carry file extensions (udtf.jar); no project prefix here.
            if (
                not (_is_identifier(text.rstrip("*"), extra=".-") or text == "*")
                or "*" in text.rstrip("*")
                or text.count("*") > 1
            ):
                raise self.fail("invalid resource name", token)
            return text, None
        parts = text.split(".")
        if object_type == "project":
            if len(parts) != 1 or not _is_identifier(text):
                raise self.fail("invalid project name", token)
            return text, None
        if len(parts) > 3 or any(not p for p in parts):
            raise self.fail(f"invalid {object_type} name", token)
        project = parts[0] if len(parts) > 1 else None
        if len(parts) == 3 and parts[1].lower() != "default":
            raise NotSupported(f"schema {parts[1]!r} (the emulator has only the default schema)")
        name = parts[-1]
        if project is not None and not _is_identifier(project):
            raise self.fail("invalid project name", token)
        wildcard = name.endswith("*")
        stem = name[:-1] if wildcard else name
        if "*" in stem or (stem and not all(c.isalnum() or c == "_" for c in stem)) or (not stem and not wildcard):
            raise self.fail(f"invalid {object_type} name", token)
        return name, project

    def grantee(self, direction: str) -> Grantee:
        token = self.next()
        if token.is_kw("USER"):
            return Grantee("user", principal=self.principal())
        if token.is_kw("ROLE"):
            return Grantee("role", role=self.role_name())
        raise self.fail(f"expected USER or ROLE after {direction}", token)

    def action_list(self) -> tuple[str, ...]:
        actions = []
        while True:
            token = self.next()
            if token.kind != "WORD" or not token.text.isalpha():
                raise self.fail("expected an action name", token)
            actions.append(token.text)
            if self.peek().kind != "COMMA":
                return tuple(actions)
            self.next()

    def properties(self) -> dict[str, str]:
        """``PRIVILEGEPROPERTIES("k"="v", ...)`` -- the only place double quotes are allowed."""
        if self.next().kind != "LPAREN":
            raise self.fail("expected ( after PRIVILEGEPROPERTIES", self.tokens[self.pos - 1])
        props: dict[str, str] = {}
        while True:
            key, eq, value = self.next(), self.next(), self.next()
            if key.kind != "STRING" or eq.kind != "EQ" or value.kind != "STRING":
                raise self.fail('expected "key"="value"', key if key.kind != "STRING" else value)
            props[key.text.lower()] = value.text
            sep = self.next()
            if sep.kind == "RPAREN":
                return props
            if sep.kind != "COMMA":
                raise self.fail("expected , or )", sep)

    # -- statements --

    def statement(self) -> Statement:
        first = self.next()
        if first.kind != "WORD":
            raise self.fail("expected a security statement", first)
        word = first.text.upper()
        if word in _UNSUPPORTED_FIRST:
            raise NotSupported(_UNSUPPORTED_FIRST[word])
        if word in grammar.FIRST_WORDS:
            return grammar.FIRST_WORDS[word](self)
        handler = getattr(self, f"_stmt_{word.lower()}", None) if word.isalpha() else None
        if handler is None:
            raise self.fail("expected a security statement", first)
        result: Statement = handler()
        return result

    def _stmt_add(self) -> Statement:
        if self.peek().is_kw("ROLE", "TRUSTEDPROJECT", "ACCOUNTPROVIDER"):
            raise NotSupported(f"ADD {self.peek().text.upper()}")
        if self.peek().is_kw(*grammar.PACKAGE_OBJECT_TYPES):
            return grammar.parse_add_to_package(self)
        self.keyword("USER")
        return AddUser(self.principal())

    def _stmt_remove(self) -> Statement:
        if self.peek().is_kw("TRUSTEDPROJECT", "ACCOUNTPROVIDER"):
            raise NotSupported(f"REMOVE {self.peek().text.upper()}")
        if self.peek().is_kw(*grammar.PACKAGE_OBJECT_TYPES):
            return grammar.parse_remove_from_package(self)
        self.keyword("USER")
        return RemoveUser(self.principal())

    def _stmt_list(self) -> Statement:
        token = self.next()
        if token.is_kw("USERS"):
            return ListUsers()
        if token.is_kw("ROLES"):
            return ListRoles()
        if token.is_kw("TRUSTEDPROJECTS", "ACCOUNTPROVIDERS"):
            raise NotSupported(f"LIST {token.text.upper()}")
        raise self.fail("expected USERS or ROLES", token)

    def _stmt_whoami(self) -> Statement:
        return WhoAmI()

    def _stmt_create(self) -> Statement:
        if self.accept("PACKAGE"):
            return grammar.CreatePackage(grammar.parse_package_name(self))
        self.keyword("ROLE")
        role = self.role_name()
        role_type = "resource"
        if self.accept("PRIVILEGEPROPERTIES"):
            props = self.properties()
            if set(props) != {"type"} or props["type"].lower() not in ("admin", "resource"):
                raise SecurityParseError(
                    'CREATE ROLE takes only PRIVILEGEPROPERTIES("type"="admin"|"resource")',
                    self.tokens[self.pos - 1].offset,
                )
            role_type = props["type"].lower()
        return CreateRole(role, role_type)

    def _stmt_drop(self) -> Statement:
        if self.accept("PACKAGE"):
            return grammar.DropPackage(grammar.parse_package_name(self))
        self.keyword("ROLE")
        return DropRole(self.role_name())

    def _stmt_delete(self) -> Statement:
        self.keyword("PACKAGE")
        return grammar.DropPackage(grammar.parse_package_name(self))

    def _stmt_describe(self) -> Statement:
        if self.accept("PACKAGE"):
            return grammar.parse_describe_package(self)
        self.keyword("ROLE")
        return DescribeRole(self.role_name())

    _stmt_desc = _stmt_describe

    def _stmt_get(self) -> Statement:
        self.keyword("POLICY")
        if self.accept("ON"):
            self.keyword("ROLE")
            return GetPolicy(self.role_name())
        return GetPolicy()

    def _grant_or_revoke(self, grant: bool) -> Statement:
        if self.accept("LABEL"):
            return grammar.parse_grant_label(self) if grant else grammar.parse_revoke_label(self)
        if self.peek().is_kw("SUPER"):
            raise NotSupported(f"{'GRANT' if grant else 'REVOKE'} {self.peek().text.upper()}")
        # A role list and an action list look alike; the word after them decides (ON vs TO/FROM).
        start = self.pos
        words = [self.next()]
        while self.peek().kind == "COMMA":
            self.next()
            words.append(self.next())
        direction = "TO" if grant else "FROM"
        if self.peek().is_kw("ON"):
            self.pos = start
            actions = self.action_list()
            self.keyword("ON")
            target = self.object_ref()
            if self.peek().kind == "LPAREN":
                raise NotSupported("column-level ACL")
            self.keyword(direction)
            grantee = self.grantee(direction)
            if grant and self.accept("PRIVILEGEPROPERTIES"):
                raise NotSupported("PRIVILEGEPROPERTIES on GRANT (policy-style, conditional or expiring grants)")
            if self.peek().is_kw("WITH"):
                raise SecurityParseError("WITH GRANT OPTION is not supported by MaxCompute ACL", self.peek().offset)
            return (GrantActions if grant else RevokeActions)(actions, target, grantee)
        self.pos = start
        roles = self.role_list()
        self.keyword(direction)
        if self.peek().is_kw("USER", "ROLE"):
            raise self.fail(f"{'GRANT <role> TO' if grant else 'REVOKE <role> FROM'} takes a principal, not USER/ROLE")
        principal = self.principal()
        if self.peek().is_kw("WITH"):
            raise SecurityParseError("WITH GRANT OPTION is not supported by MaxCompute ACL", self.peek().offset)
        return (GrantRoles if grant else RevokeRoles)(roles, principal)

    def _stmt_grant(self) -> Statement:
        return self._grant_or_revoke(True)

    def _stmt_revoke(self) -> Statement:
        return self._grant_or_revoke(False)

    def _stmt_show(self) -> Statement:
        token = self.next()
        if token.kind == "WORD" and token.text.upper() in _UNSUPPORTED_SHOW:
            raise NotSupported(_UNSUPPORTED_SHOW[token.text.upper()])
        if token.is_kw("LABEL"):
            return grammar.parse_show_label(self)
        if token.is_kw("PACKAGES"):
            return grammar.ShowPackages()
        if token.is_kw("ACL"):
            self.keyword("FOR")
            name_pos = self.pos
            object_type = "table"
            # The type comes after the name, so skip the name and come back once the type is known.
            self.next()
            if self.accept("ON"):
                self.keyword("TYPE")
                type_token = self.next()
                if type_token.is_kw(*_UNSUPPORTED_OBJECT_TYPES):
                    raise NotSupported(f"ACL on object type {type_token.text.upper()}")
                if not type_token.is_kw(*_OBJECT_TYPES):
                    raise self.fail("expected an object type", type_token)
                object_type = type_token.text.lower()
            end = self.pos
            self.pos = name_pos
            name, project = self.object_name(object_type)
            self.pos = end
            return ShowAcl(ObjectRef(object_type, name, project))
        if not token.is_kw("GRANTS"):
            raise self.fail("expected GRANTS or ACL", token)
        if self.accept("FOR"):
            if self.accept("ROLE"):
                return ShowGrants(role=self.role_name())
            if self.peek().is_kw("USER") and self.peek(1).kind not in ("EOF", "SEMI"):
                self.next()
            return ShowGrants(principal=self.principal())
        if self.accept("ON"):
            if self.peek().is_kw(*_OBJECT_TYPES, *_UNSUPPORTED_OBJECT_TYPES):
                target = self.object_ref()
            else:
                target = ObjectRef("table", *self.object_name("table"))
            if self.peek().is_kw("PRIVILEGEPROPERTIES"):
                raise NotSupported("SHOW GRANTS ... PRIVILEGEPROPERTIES (packages)")
            return ShowGrantsOn(target)
        return ShowGrants()


def parse_statement(text: str) -> Statement:
    """Parse exactly one statement (an optional trailing ``;``)."""
    if len(text) > MAX_STATEMENT_CHARS:
        raise StatementTooLong(len(text))
    parser = _Parser(text)
    if parser.peek().kind == "EOF":
        raise SecurityParseError("empty statement", 0)
    statement = parser.statement()
    token = parser.next()
    if token.kind == "SEMI":
        token = parser.next()
        if token.kind != "EOF":
            raise SecurityParseError("only one statement per request is allowed", token.offset)
    elif token.kind != "EOF":
        raise parser.fail("unexpected text after the statement", token)
    return statement

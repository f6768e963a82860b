"""The grammar of the label, package and security-switch statements (beside :mod:`.parser`'s ACL ones).

Label statements follow the label-based access control pages (``SET LABEL``, ``GRANT LABEL``,
``REVOKE LABEL``, ``SHOW LABEL GRANTS``, ``CLEAR EXPIRED GRANTS``); package statements the
package pages (``CREATE PACKAGE`` ... ``SHOW PACKAGES``). Each function takes the parser positioned
after the words its caller already read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from clarityq_emulator.maxcompute.security.parser import Grantee, Principal, _Parser

#: ``SET <switch>=true|false`` switches of the SecurityConfiguration the emulator accepts.
SWITCHES = ("LABELSECURITY",)
#: Switches it knows but does not emulate.
UNEMULATED_SWITCHES = (
    "PROJECTPROTECTION",
    "CHECKPERMISSIONUSINGACL",
    "CHECKPERMISSIONUSINGPOLICY",
    "OBJECTCREATORHASACCESSPERMISSION",
    "OBJECTCREATORHASGRANTPERMISSION",
)
#: Object types a package may hold.
PACKAGE_OBJECT_TYPES = ("TABLE", "RESOURCE", "FUNCTION", "INSTANCE")


@dataclass(frozen=True)
class SetSwitch:
    name: str  # canonical: "LabelSecurity"
    value: bool


@dataclass(frozen=True)
class LabelTarget:
    kind: Literal["table", "user", "role"]
    name: str  # table name, role name or principal text
    columns: tuple[str, ...] = ()
    principal: Principal | None = None


@dataclass(frozen=True)
class SetLabel:
    level: int
    target: LabelTarget


@dataclass(frozen=True)
class GrantLabel:
    level: int
    table: str
    columns: tuple[str, ...]
    grantee: Grantee
    days: int | None = None


@dataclass(frozen=True)
class RevokeLabel:
    table: str
    columns: tuple[str, ...]
    grantee: Grantee


@dataclass(frozen=True)
class ShowLabelGrants:
    level: int | None = None
    table: str | None = None
    principal: Principal | None = None


@dataclass(frozen=True)
class ClearExpiredGrants:
    pass


@dataclass(frozen=True)
class CreatePackage:
    name: str


@dataclass(frozen=True)
class DropPackage:
    name: str


@dataclass(frozen=True)
class AddToPackage:
    object_type: str
    name: str
    package: str
    privileges: tuple[str, ...] = ()


@dataclass(frozen=True)
class RemoveFromPackage:
    object_type: str
    name: str
    package: str


@dataclass(frozen=True)
class AllowInstall:
    project: str
    package: str
    label: int | None = None
    allow: bool = True


@dataclass(frozen=True)
class InstallPackage:
    source_project: str
    package: str
    install: bool = True


@dataclass(frozen=True)
class DescribePackage:
    project: str | None
    package: str


@dataclass(frozen=True)
class ShowPackages:
    pass


ExtraStatement = (
    SetSwitch
    | SetLabel
    | GrantLabel
    | RevokeLabel
    | ShowLabelGrants
    | ClearExpiredGrants
    | CreatePackage
    | DropPackage
    | AddToPackage
    | RemoveFromPackage
    | AllowInstall
    | InstallPackage
    | DescribePackage
    | ShowPackages
)


def _identifier(p: _Parser, what: str) -> str:
    token = p.next()
    text = token.text
    if token.kind != "WORD" or not text[:1].isalpha() or not all(c.isalnum() or c == "_" for c in text):
        raise p.fail(f"expected a {what} name", token)
    if len(text) > 128:
        raise p.fail(f"{what} name longer than 128 characters", token)
    return text


def _level(p: _Parser) -> int:
    token = p.next()
    if token.kind == "WORD" and len(token.text) == 2 and token.text[0].upper() in "CDPS" and token.text[1].isdigit():
        from clarityq_emulator.maxcompute.security.parser import NotSupported

        raise NotSupported("extended labels (C/D/P/S levels)")
    if token.kind != "WORD" or token.text not in tuple("0123456789"):
        raise p.fail("expected a label level 0-9", token)
    return int(token.text)


def _columns(p: _Parser) -> tuple[str, ...]:
    if p.peek().kind != "LPAREN":
        return ()
    p.next()
    columns = [_identifier(p, "column").lower()]
    while p.peek().kind == "COMMA":
        p.next()
        columns.append(_identifier(p, "column").lower())
    if p.next().kind != "RPAREN":
        raise p.fail("expected ) after the column list", p.tokens[p.pos - 1])
    return tuple(dict.fromkeys(columns))


def _table(p: _Parser) -> str:
    name, project = p.object_name("table")
    if "*" in name:
        raise p.fail("label statements name one table", p.tokens[p.pos - 1])
    if project is not None:
        from clarityq_emulator.maxcompute.security.parser import NotSupported

        raise NotSupported("labels on another project's table (run the statement in that project)")
    return name


def parse_set(p: _Parser) -> ExtraStatement:
    """``SET LabelSecurity=true|false`` or ``SET LABEL <n> TO TABLE|USER|ROLE ...``."""
    from clarityq_emulator.maxcompute.security.parser import NotSupported

    token = p.next()
    word = token.text.upper() if token.kind == "WORD" else ""
    if word == "LABEL":
        level = _level(p)
        p.keyword("TO")
        kind = p.next()
        if kind.is_kw("TABLE"):
            table = _table(p)
            return SetLabel(level, LabelTarget("table", table, _columns(p)))
        if kind.is_kw("USER"):
            principal = p.principal()
            return SetLabel(level, LabelTarget("user", principal.text, principal=principal))
        if kind.is_kw("ROLE"):
            return SetLabel(level, LabelTarget("role", p.role_name()))
        raise p.fail("expected TABLE, USER or ROLE", kind)
    if word in UNEMULATED_SWITCHES:
        raise NotSupported(f"SET {token.text}")
    if word not in SWITCHES:
        raise NotSupported("project settings other than LabelSecurity (SET ...)")
    if p.next().kind != "EQ":
        raise p.fail("expected =", p.tokens[p.pos - 1])
    value = p.next()
    if not value.is_kw("TRUE", "FALSE"):
        raise p.fail("expected true or false", value)
    return SetSwitch("LabelSecurity", value.text.upper() == "TRUE")


def parse_grant_label(p: _Parser) -> GrantLabel:
    """After ``GRANT LABEL``: ``<n> ON TABLE <t>[(cols)] TO USER|ROLE <x> [WITH EXP <days>]``."""
    level = _level(p)
    p.keyword("ON")
    p.keyword("TABLE")
    table = _table(p)
    columns = _columns(p)
    p.keyword("TO")
    grantee = p.grantee("TO")
    days = None
    if p.accept("WITH"):
        p.keyword("EXP")
        token = p.next()
        if token.kind != "WORD" or not token.text.isdigit() or len(token.text) > 19:
            raise p.fail("expected a number of days", token)
        days = int(token.text)
    return GrantLabel(level, table, columns, grantee, days)


def parse_revoke_label(p: _Parser) -> RevokeLabel:
    """After ``REVOKE LABEL``: ``ON TABLE <t>[(cols)] FROM USER|ROLE <x>`` (no level)."""
    p.keyword("ON")
    p.keyword("TABLE")
    table = _table(p)
    columns = _columns(p)
    p.keyword("FROM")
    return RevokeLabel(table, columns, p.grantee("FROM"))


def parse_show_label(p: _Parser) -> ShowLabelGrants:
    """After ``SHOW LABEL``: ``[<n>] GRANTS [ON|FOR TABLE <t>] [FOR USER <u>]``."""
    level = None
    if not p.peek().is_kw("GRANTS"):
        level = _level(p)
    p.keyword("GRANTS")
    table = principal = None
    if p.peek().is_kw("ON") or (p.peek().is_kw("FOR") and p.peek(1).is_kw("TABLE")):
        p.next()
        p.keyword("TABLE")
        table = _table(p)
    if p.accept("FOR"):
        p.keyword("USER")
        principal = p.principal()
    return ShowLabelGrants(level, table, principal)


def _package_object(p: _Parser) -> tuple[str, str]:
    """``<type> <name>`` of a package object: a name without a project prefix."""
    kind = p.next()
    if not kind.is_kw(*PACKAGE_OBJECT_TYPES):
        raise p.fail("expected TABLE, RESOURCE, FUNCTION or INSTANCE", kind)
    object_type = kind.text.lower()
    name, project = p.object_name(object_type)
    if project is not None:
        raise p.fail("package objects are named without a project prefix", p.tokens[p.pos - 1])
    return object_type, name


def parse_add_to_package(p: _Parser) -> AddToPackage:
    """``ADD <type> <name|*> TO PACKAGE <pkg> [WITH PRIVILEGES <priv>, ...]`` (after ADD)."""
    object_type, name = _package_object(p)
    p.keyword("TO")
    p.keyword("PACKAGE")
    package = _identifier(p, "package")
    privileges: tuple[str, ...] = ()
    if p.accept("WITH"):
        p.keyword("PRIVILEGES")
        privileges = p.action_list()
    return AddToPackage(object_type, name, package.lower(), privileges)


def parse_remove_from_package(p: _Parser) -> RemoveFromPackage:
    object_type, name = _package_object(p)
    p.keyword("FROM")
    p.keyword("PACKAGE")
    return RemoveFromPackage(object_type, name, _identifier(p, "package").lower())


def parse_allow(p: _Parser, allow: bool) -> AllowInstall:
    """``ALLOW|DISALLOW PROJECT <consumer> TO INSTALL PACKAGE <pkg> [USING LABEL <n>]``."""
    p.keyword("PROJECT")
    project = _identifier(p, "project")
    p.keyword("TO")
    p.keyword("INSTALL")
    p.keyword("PACKAGE")
    package = _identifier(p, "package")
    label = None
    if allow and p.accept("USING"):
        p.keyword("LABEL")
        label = _level(p)
    return AllowInstall(project.lower(), package.lower(), label, allow)


def _package_name(p: _Parser, *, qualified: bool) -> tuple[str | None, str]:
    token = p.next()
    parts = token.text.split(".") if token.kind == "WORD" else []
    ok = len(parts) in ((2,) if qualified else (1, 2)) and all(
        x[:1].isalpha() and all(c.isalnum() or c == "_" for c in x) for x in parts
    )
    if not ok:
        raise p.fail("expected <project>.<package>" if qualified else "expected a package name", token)
    if len(parts) == 2:
        return parts[0].lower(), parts[1].lower()
    return None, parts[0].lower()


def parse_install(p: _Parser, install: bool) -> InstallPackage:
    p.keyword("PACKAGE")
    project, name = _package_name(p, qualified=True)
    assert project is not None
    return InstallPackage(project, name, install)


def parse_describe_package(p: _Parser) -> DescribePackage:
    project, name = _package_name(p, qualified=False)
    return DescribePackage(project, name)


def parse_package_name(p: _Parser) -> str:
    return _identifier(p, "package").lower()


def _parse_clear(p: _Parser) -> ClearExpiredGrants:
    p.keyword("EXPIRED")
    p.keyword("GRANTS")
    return ClearExpiredGrants()


#: Statements recognised by their first word.
FIRST_WORDS: dict[str, Callable[[_Parser], ExtraStatement]] = {
    "SET": parse_set,
    "ALLOW": lambda p: parse_allow(p, True),
    "DISALLOW": lambda p: parse_allow(p, False),
    "INSTALL": lambda p: parse_install(p, True),
    "UNINSTALL": lambda p: parse_install(p, False),
    "CLEAR": _parse_clear,
}

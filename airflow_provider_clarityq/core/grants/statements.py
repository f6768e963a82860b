"""Raw security statements typed by an admin: exactly one statement each, read-only unless mutation is allowed.

Used by the security-query operator. Plans never come through here - their statements are rendered
from typed steps - so this only has to keep a hand-written (or templated) statement from doing more
than its author meant. The check works on characters and keywords, not on a first word:

* one statement: an optional trailing ASCII ``;`` is dropped, any other ``;`` is refused;
* only printable ASCII characters from a small set (letters, digits, space and ``_ $ : . , * @ - = ( )
  " ` '``); anything else - a newline, a tab, U+2028, U+0085, a full-width semicolon (U+FF1B), a zero-width space -
  is refused and named, because the service or a proxy may treat it as a statement separator;
* no comments (``--``, ``/*``, ``*/``, ``#``), which could hide a second statement;
* read-only: the first keywords must be one of :data:`READ_ONLY_STATEMENTS` (fail closed).

Every refusal happens before any request and names the offending character or keyword.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from airflow_provider_clarityq.core.errors import ConfigurationError

__all__ = ["MAX_STATEMENT_LENGTH", "READ_ONLY_STATEMENTS", "check_statement", "check_statements", "is_read_only"]

#: The keyword sequences a read-only statement may start with (seed 001-003 and MaxCompute's read-back
#: statements): SHOW GRANTS/ACL/LABEL/SECURITYCONFIGURATION/PACKAGES, LIST USERS/ROLES/TRUSTEDPROJECTS/
#: ACCOUNTPROVIDERS, DESC[RIBE] ROLE/PACKAGE, WHOAMI, GET POLICY.
READ_ONLY_STATEMENTS: tuple[tuple[str, ...], ...] = (
    ("SHOW", "GRANTS"),
    ("SHOW", "ACL"),
    ("SHOW", "LABEL"),
    ("SHOW", "SECURITYCONFIGURATION"),
    ("SHOW", "PACKAGES"),
    ("LIST", "USERS"),
    ("LIST", "ROLES"),
    ("LIST", "TRUSTEDPROJECTS"),
    ("LIST", "ACCOUNTPROVIDERS"),
    ("DESC", "ROLE"),
    ("DESCRIBE", "ROLE"),
    ("DESC", "PACKAGE"),
    ("DESCRIBE", "PACKAGE"),
    ("WHOAMI",),
    ("GET", "POLICY"),
)
MAX_STATEMENT_LENGTH = 4096
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 _$:.,*@-=()\"`'")
_COMMENTS = ("--", "/*", "*/", "#")
_WORD = re.compile(r"[A-Za-z]+")


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def is_read_only(statement: str) -> bool:
    """True when the statement's first keywords are a read-only statement's (case-insensitive)."""
    words = [w.upper() for w in statement.split()[:2]]
    return any(words[: len(prefix)] == list(prefix) for prefix in READ_ONLY_STATEMENTS)


def check_statement(statement: object, *, allow_mutation: bool = False, field: str = "statement") -> str:
    """The statement without surrounding spaces and its trailing ``;``, or :class:`ConfigurationError`."""
    if not isinstance(statement, str) or not statement.strip(" ").removesuffix(";").strip(" "):
        raise ConfigurationError(field, "is empty", "give one MaxCompute security statement, e.g. SHOW GRANTS")
    text = statement.strip(" ").removesuffix(";").strip(" ")
    if len(text) > MAX_STATEMENT_LENGTH:
        raise ConfigurationError(field, f"is {len(text)} characters long", f"keep it under {MAX_STATEMENT_LENGTH}")
    for position, char in enumerate(text):
        if char == ";":
            raise ConfigurationError(
                field,
                f"holds a second statement (';' at position {position})",
                "pass each statement as its own list item",
            )
        if char not in _ALLOWED:
            raise ConfigurationError(
                field,
                f"contains {_describe(char)} at position {position}",
                "use one line of plain ASCII: letters, digits, spaces and _ $ : . , * @ - = ( ) quotes",
            )
    for marker in _COMMENTS:
        if marker in text:
            raise ConfigurationError(
                field, f"contains a comment marker {marker!r}", "remove comments: a comment can hide a second statement"
            )
    if not allow_mutation and not is_read_only(text):
        keywords = " ".join(_WORD.findall(text)[:2]).upper() or text[:20]
        allowed = ", ".join(" ".join(p) for p in READ_ONLY_STATEMENTS)
        raise ConfigurationError(
            field,
            f"starts with {keywords!r}, which is not a read-only statement",
            f"read-only statements start with {allowed}; to change access pass allow_mutation=True "
            "(better: describe it in an access spec for the grants operator)",
        )
    return text


def check_statements(statements: str | Sequence[str], *, allow_mutation: bool = False) -> list[str]:
    """Every statement checked before any is run; a single string is one statement."""
    items = [statements] if isinstance(statements, str) else list(statements)
    if not items:
        raise ConfigurationError("statements", "is empty", "give at least one statement")
    return [check_statement(s, allow_mutation=allow_mutation, field=f"statements[{i}]") for i, s in enumerate(items)]

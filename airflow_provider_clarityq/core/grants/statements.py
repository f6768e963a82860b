"""Raw security statements typed by an admin: one statement each, read-only unless mutation is allowed.

Used by ``MaxComputeSecurityQueryOperator``. Plans never come through here - their statements are
rendered from typed steps - so this only has to keep a hand-written statement from doing more than
its author meant: a second statement after ``;`` is refused, and anything not on the read-only
allowlist counts as mutating (fail closed: an unknown verb, a leading comment, ``PUT POLICY``...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from airflow_provider_clarityq.core.errors import ConfigurationError

__all__ = ["READ_ONLY_PREFIXES", "check_statement", "check_statements", "is_read_only"]

#: Statements that only read: SHOW GRANTS/ACL/..., LIST USERS/ROLES/..., DESC/DESCRIBE ROLE, WHOAMI, GET POLICY.
READ_ONLY_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("SHOW",),
    ("LIST",),
    ("DESC",),
    ("DESCRIBE",),
    ("WHOAMI",),
    ("GET", "POLICY"),
)
MAX_STATEMENT_LENGTH = 4096
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_read_only(statement: str) -> bool:
    """True when the statement starts with a read-only verb (case-insensitive)."""
    words = statement.split()
    upper = [w.upper() for w in words[:2]]
    return any(upper[: len(prefix)] == list(prefix) for prefix in READ_ONLY_PREFIXES)


def check_statement(statement: object, *, allow_mutation: bool = False, field: str = "statement") -> str:
    """The statement without surrounding whitespace and trailing ``;``, or :class:`ConfigurationError`."""
    if not isinstance(statement, str) or not statement.strip().rstrip(";").strip():
        raise ConfigurationError(field, "is empty", "give one MaxCompute security statement, e.g. SHOW GRANTS")
    text = statement.strip().rstrip(";").strip()
    if len(text) > MAX_STATEMENT_LENGTH:
        raise ConfigurationError(field, f"is {len(text)} characters long", f"keep it under {MAX_STATEMENT_LENGTH}")
    if _CONTROL_RE.search(text):
        raise ConfigurationError(field, "contains a control character", "remove it")
    if ";" in text:
        raise ConfigurationError(
            field, "contains more than one statement (a ';' inside)", "pass each statement as its own list item"
        )
    if not allow_mutation and not is_read_only(text):
        verb = text.split()[0][:30]
        raise ConfigurationError(
            field,
            f"starts with {verb!r}, which is not a read-only statement",
            "read-only statements start with SHOW, LIST, DESC, DESCRIBE, WHOAMI or GET POLICY; to change "
            "access pass allow_mutation=True (better: describe it in an access spec for MaxComputeGrantsOperator)",
        )
    return text


def check_statements(statements: str | Sequence[str], *, allow_mutation: bool = False) -> list[str]:
    """Every statement checked before any is run; a single string is one statement."""
    items = [statements] if isinstance(statements, str) else list(statements)
    if not items:
        raise ConfigurationError("statements", "is empty", "give at least one statement")
    return [check_statement(s, allow_mutation=allow_mutation, field=f"statements[{i}]") for i, s in enumerate(items)]

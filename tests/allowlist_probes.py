"""Statements that try to smuggle a mutation past the read-only allowlist: a read-only start, then a
separator a service, proxy or editor may honour, then a mutating statement. 16 separators x 3 payloads."""

from __future__ import annotations

SEPARATORS = (
    "\n",
    "\r\n",
    "\r",
    "\t",
    "\x0b",
    "\x0c",
    "\x00",
    "\u0085",  # NEXT LINE
    "\u2028",  # LINE SEPARATOR
    "\u2029",  # PARAGRAPH SEPARATOR
    "\u200b",  # ZERO WIDTH SPACE
    "\u00a0",  # NO-BREAK SPACE
    "\uff1b",  # FULLWIDTH SEMICOLON
    "; ",
    " -- note\n",
    " /* note */ ",
)
PAYLOADS = ("DROP ROLE admin", "GRANT admin TO RAM$1:intruder", "REVOKE clarityq_reader FROM RAM$1:clarityq")
PROBES = tuple(f"SHOW GRANTS{sep}{payload}" for sep in SEPARATORS for payload in PAYLOADS)
assert len(PROBES) == 48

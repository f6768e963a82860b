"""STS state: temporary credentials minted by AssumeRole, and the rules for minting them.

The sessions live in the account's :class:`~clarityq_emulator.ram.models.IdentityStore` (so one
lookup resolves any signing key); this module holds their record and their validation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clarityq_emulator.ram.errors import InvalidParameterError

#: Bounds on STS AssumeRole durations, in seconds.
MIN_SESSION_DURATION = 900
#: Expired STS keys are kept this long (so a late caller hears "expired", not "not found"), then pruned.
STS_KEY_RETENTION = 86400.0

_SESSION_NAME_RE = re.compile(r"[A-Za-z0-9._@-]{2,64}")


@dataclass(frozen=True)
class StsSession:
    """Temporary credentials minted by AssumeRole."""

    access_key_id: str
    secret: str
    security_token: str
    role_id: str
    role_name: str
    session_name: str
    issued_at: float
    expires_at: float
    source_identity: str = ""


def validate_session_name(name: str) -> None:
    if not _SESSION_NAME_RE.fullmatch(name):
        raise InvalidParameterError(
            "InvalidParameter.RoleSessionName",
            "The parameter RoleSessionName must be 2-64 characters of [A-Za-z0-9._@-].",
        )


def check_duration(duration_seconds: int, max_session_duration: int) -> None:
    if not MIN_SESSION_DURATION <= duration_seconds <= max_session_duration:
        raise InvalidParameterError(
            "InvalidParameter.DurationSeconds",
            f"The DurationSeconds must be between {MIN_SESSION_DURATION} and {max_session_duration} seconds.",
        )

"""The RAM user's ``Comments``: the provider's mark of ownership and its AccessKey intent journal.

No Airflow import. The provider operates only on a RAM user it manages. It records that in the user's
own ``Comments`` (RAM allows 128 characters; users cannot be tagged), where it travels with the user and
shows in the RAM console, and it records there, too, the intent to create an AccessKey *before* calling
CreateAccessKey. A run killed between CreateAccessKey and delivering the key (``execution_timeout``,
``kill -9``) leaves that intent behind, so the next run can recognise the key nobody holds.

Layout, parsed and written only here::

    managed-by:airflow-provider-clarityq[ key-intent:<yyyymmddThhmmssZ>[=<AccessKeyId>]][ | <person's note>]

A person's note written before adoption is kept after `` | ``, shortened to fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from airflow_provider_clarityq.core.errors import ConfigurationError

__all__ = [
    "COMMENTS_LIMIT",
    "MANAGED_MARKER",
    "KeyIntent",
    "ManagedComments",
    "UnmanagedUserError",
    "parse_comments",
    "unmanaged_user_error",
]

#: RAM's limit on a user's Comments.
COMMENTS_LIMIT = 128
MANAGED_MARKER = "managed-by:airflow-provider-clarityq"
_SEPARATOR = " | "
_STAMP = "%Y%m%dT%H%M%SZ"
_LAYOUT = re.compile(
    re.escape(MANAGED_MARKER)
    + r"(?: key-intent:(?P<stamp>\d{8}T\d{6}Z)(?:=(?P<key>[A-Za-z0-9.]{1,64}))?)?"
    + r"(?:"
    + re.escape(_SEPARATOR)
    + r"(?P<note>.*))?",
    re.DOTALL,
)


@dataclass(frozen=True)
class KeyIntent:
    """A CreateAccessKey that a run announced: when, and the key's ID once RAM answered."""

    started: datetime
    access_key_id: str | None = None


@dataclass(frozen=True)
class ManagedComments:
    """What a RAM user's Comments say: managed or not, a pending key intent, and a person's note."""

    managed: bool
    intent: KeyIntent | None = None
    note: str = ""

    def render(self) -> str:
        """The Comments text for these values (only meaningful for a managed user)."""
        head = MANAGED_MARKER
        if self.intent is not None:
            head += f" key-intent:{self.intent.started.astimezone(timezone.utc).strftime(_STAMP)}"
            if self.intent.access_key_id:
                head += f"={self.intent.access_key_id}"
        note = self.note.strip()
        if not note:
            return head
        room = COMMENTS_LIMIT - len(head) - len(_SEPARATOR)
        return head + _SEPARATOR + note[: max(room, 0)] if room > 0 else head

    def adopted(self) -> ManagedComments:
        return ManagedComments(True, self.intent, self.note)

    def with_intent(self, started: datetime, access_key_id: str | None = None) -> ManagedComments:
        return ManagedComments(self.managed, KeyIntent(started.replace(microsecond=0), access_key_id), self.note)

    def without_intent(self) -> ManagedComments:
        return ManagedComments(self.managed, None, self.note)


def parse_comments(comments: str | None) -> ManagedComments:
    """Read a RAM user's Comments. Text without the marker is a person's note on an unmanaged user."""
    text = (comments or "").strip()
    match = _LAYOUT.fullmatch(text)
    if match is None:
        return ManagedComments(False, None, text)
    intent = None
    if match.group("stamp"):
        started = datetime.strptime(match.group("stamp"), _STAMP).replace(tzinfo=timezone.utc)
        intent = KeyIntent(started, match.group("key"))
    return ManagedComments(True, intent, match.group("note") or "")


class UnmanagedUserError(ConfigurationError):
    """The RAM user exists but this provider neither created nor adopted it: it is not ours to change."""


def unmanaged_user_error(name: str) -> UnmanagedUserError:
    return UnmanagedUserError(
        "ram_user",
        f"names RAM user {name!r}, which this provider did not create or adopt (its Comments do not start with "
        f"{MANAGED_MARKER!r})",
        "if the provider should manage it, adopt it deliberately: run the ensure_ram_user task with "
        "adopt_existing_user=True set in the DAG file, or put that mark at the start of the user's Comments in "
        "the RAM console; otherwise point the DAG at the RAM user it manages",
    )

"""Table tunnel sessions: downloads (a snapshot of the rows asked for) and uploads (blocks staged
until the commit publishes them). Bounded in number and in staged bytes; not persisted.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from clarityq_emulator.maxcompute.sql.catalog import Column

#: Open sessions kept (oldest dropped first), and bytes of staged upload blocks across sessions.
MAX_SESSIONS = 256
MAX_STAGED_BYTES = 512 * 1024 * 1024


@dataclass
class _Session:
    id: str
    project: str
    table: str
    partition: dict[str, str]
    columns: list[Column]
    partition_keys: list[Column]


@dataclass
class DownloadSession(_Session):
    rows: list[tuple[Any, ...]]


@dataclass
class UploadSession(_Session):
    overwrite: bool
    blocks: dict[int, list[list[Any]]] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)
    status: str = "normal"


class TunnelSessions:
    """Sessions by id; the oldest are forgotten past :data:`MAX_SESSIONS`."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[str, DownloadSession | UploadSession] = OrderedDict()
        self.lock = threading.RLock()

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(16).upper()

    def add(self, session: DownloadSession | UploadSession) -> None:
        with self.lock:
            self._sessions[session.id] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)

    def download(self, session_id: str, project: str, table: str) -> DownloadSession | None:
        with self.lock:
            session = self._sessions.get(session_id)
            ok = isinstance(session, DownloadSession) and (session.project, session.table) == (project, table)
            return session if ok else None  # type: ignore[return-value]

    def upload(self, session_id: str, project: str, table: str) -> UploadSession | None:
        with self.lock:
            session = self._sessions.get(session_id)
            ok = isinstance(session, UploadSession) and (session.project, session.table) == (project, table)
            return session if ok else None  # type: ignore[return-value]

    def staged_bytes(self) -> int:
        with self.lock:
            return sum(sum(s.sizes.values()) for s in self._sessions.values() if isinstance(s, UploadSession))

    def discard(self, session_id: str) -> None:
        with self.lock:
            self._sessions.pop(session_id, None)

"""The request log the test-support API reads: a ring buffer of the most recent requests.

Bounded so a long-running emulator (or a client hammering it) cannot grow memory without limit;
the oldest entries go first. ``dropped`` counts what fell off the end since the last clear.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

#: How many requests the log keeps (documented in docs/emulator.md).
REQUEST_LOG_SIZE = 10_000


class RequestLog:
    """Thread-safe ring buffer of request records (plain dicts, JSON-ready)."""

    def __init__(self, size: int = REQUEST_LOG_SIZE) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()
        self.dropped = 0

    @property
    def size(self) -> int:
        return self._entries.maxlen or 0

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            if len(self._entries) == self._entries.maxlen:
                self.dropped += 1
            self._entries.append(entry)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.dropped = 0

"""Scripted failures for the next requests that match: throttling, 5xx, latency, connection resets.

Tests queue them through ``POST /_emulator/faults``. :class:`Fault` carries its own validation
rules (read by pydantic in the test-support API, which imports it only when a body arrives):
unknown fields, wrong types, NaN and out-of-range numbers are refused with a 400 naming them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from annotated_types import Ge, Le, MaxLen

#: Longest injectable latency, in seconds, and most queued faults.
MAX_FAULT_DELAY_S = 120.0
MAX_QUEUED_FAULTS = 1000

_Text = Annotated[str, MaxLen(4096)]


@dataclass(frozen=True)
class Fault:
    """Applies to the next ``count`` requests matching every given filter (substrings; action and
    statement case-insensitive). With only ``delay`` it adds latency and then serves the request."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid", "allow_inf_nan": False}

    count: Annotated[int, Ge(1), Le(1_000_000)] = 1
    service: Literal["maxcompute", "ram", "sts"] | None = None
    action: _Text | None = None
    path: _Text | None = None
    statement: _Text | None = None
    method: Annotated[str, MaxLen(16)] | None = None
    status: Annotated[int, Ge(400), Le(599)] | None = None
    code: Annotated[str, MaxLen(128)] | None = None
    delay: Annotated[float, Ge(0.0), Le(MAX_FAULT_DELAY_S)] = 0.0
    reset: bool = False
    retry_after_ms: Annotated[int, Ge(0), Le(3_600_000)] = 1000

    def matches(self, service: str, method: str, path: str, action: str | None, statement: str | None) -> bool:
        return (
            (self.service is None or self.service == service)
            and (self.method is None or self.method.upper() == method)
            and (self.path is None or self.path in path)
            and (self.action is None or (action is not None and self.action.lower() in action.lower()))
            and (self.statement is None or (statement is not None and self.statement.lower() in statement.lower()))
        )


class FaultQueue:
    """Queued faults, consumed in order of arrival."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._remaining: list[int] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> int:
        with self._lock:
            if len(self._faults) >= MAX_QUEUED_FAULTS:
                raise ValueError(f"at most {MAX_QUEUED_FAULTS} faults can be queued")
            self._faults.append(fault)
            self._remaining.append(fault.count)
            return len(self._faults)

    def take(self, service: str, method: str, path: str, action: str | None, statement: str | None) -> Fault | None:
        """The first matching fault, with one use consumed; None when none matches."""
        if not self._faults:
            return None
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(service, method, path, action, statement):
                    self._remaining[index] -= 1
                    if self._remaining[index] <= 0:
                        del self._faults[index], self._remaining[index]
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._remaining.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

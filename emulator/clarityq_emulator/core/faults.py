"""Scripted failures for the next requests that match: throttling, 5xx, latency, connection resets.

Tests queue them through ``POST /_emulator/faults``; the body is validated by :class:`Fault`
(unknown fields, wrong types, NaN and out-of-range numbers are refused with a 400 naming them).
"""

from __future__ import annotations

import threading

from pydantic import BaseModel, ConfigDict, Field

#: Longest injectable latency, in seconds, and most queued faults.
MAX_FAULT_DELAY_S = 120.0
MAX_QUEUED_FAULTS = 1000


class Fault(BaseModel):
    """Applies to the next ``count`` requests matching every given filter (substrings; action and
    statement case-insensitive). With only ``delay`` it adds latency and then serves the request."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=False)

    count: int = Field(default=1, ge=1, le=1_000_000)
    service: str | None = Field(default=None, pattern="^(maxcompute|ram|sts)$")
    action: str | None = Field(default=None, max_length=256)
    path: str | None = Field(default=None, max_length=2048)
    statement: str | None = Field(default=None, max_length=4096)
    method: str | None = Field(default=None, max_length=16)
    status: int | None = Field(default=None, ge=400, le=599)
    code: str | None = Field(default=None, max_length=128)
    delay: float = Field(default=0.0, ge=0.0, le=MAX_FAULT_DELAY_S)
    reset: bool = False
    retry_after_ms: int = Field(default=1000, ge=0, le=3_600_000)

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

"""The emulator's clock: wall time plus an offset that the test-support API moves forward.

Everything time-based (STS expiry, RAM/STS request freshness, instance times) reads this clock,
so a test can let a token expire without sleeping. The offset is always a finite number.
"""

from __future__ import annotations

import math
import threading
import time

#: Largest offset the clock accepts, either way (about 100 years).
MAX_OFFSET_S = 100 * 365 * 86400.0


class Clock:
    """Wall clock with an adjustable, bounded, finite offset."""

    def __init__(self, offset: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self.offset = offset

    @property
    def offset(self) -> float:
        return self._offset

    @offset.setter
    def offset(self, value: float) -> None:
        self._offset = _checked(value)

    def advance(self, seconds: float) -> float:
        """Move the clock by ``seconds`` (may be negative); returns the new offset."""
        with self._lock:
            self.offset = self._offset + _checked(seconds)
            return self._offset

    def __call__(self) -> float:
        return time.time() + self._offset


def _checked(value: float) -> float:
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_OFFSET_S:
        raise ValueError(f"a clock offset must be a finite number of seconds within ±{MAX_OFFSET_S:.0f}")
    return number

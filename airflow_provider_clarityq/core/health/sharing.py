"""Single-flight checks for deferred gates: one check per key per freshness window, however many gates wait.

No Airflow import; plain asyncio. A triggerer runs every deferred task of a deployment in one event loop,
and users gate many DAGs on the same reader connection. Each gate would otherwise run its own full check
every poll interval (hundreds of identical requests a real service would throttle). Gates that wait on the
same key (connection + check options) therefore share:

* one in-flight check: a gate that asks while a check runs awaits that check instead of starting another;
* its result, for a freshness window no longer than the asking gate's poll interval: a gate joining late
  reuses a fresh result;
* news of a new result: waiting gates wake at once (a configuration error ends them all together, a recovery
  is seen by all within the interval of the gate that checked).

Each gate keeps its own deadline, its own decision (``accept_degraded``) and its own event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["SharedChecks"]

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


@dataclass
class _Flight(Generic[R]):
    users: int = 0
    result: R | None = None
    finished_at: float = float("-inf")
    generation: int = 0
    running: asyncio.Task[tuple[R, int]] | None = None
    news: asyncio.Event = field(default_factory=asyncio.Event)


class SharedChecks(Generic[K, R]):
    """Checks shared by key within one event loop (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._flights: dict[K, _Flight[R]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    def join(self, key: K) -> None:
        """A gate starts waiting on ``key``."""
        self._flights.setdefault(key, _Flight()).users += 1

    def leave(self, key: K) -> bool:
        """A gate stops waiting; True when it was the last one (the key's state is then dropped)."""
        flight = self._flights.get(key)
        if flight is None:
            return True
        flight.users -= 1
        if flight.users > 0:
            return False
        del self._flights[key]
        return True

    async def latest(self, key: K, *, fresh_within: float, check: Callable[[], Awaitable[R]]) -> tuple[R, int]:
        """The key's result no older than ``fresh_within`` seconds, and its generation: a fresh one as it is, else
        the running check's, else a new check's (started here). A failing check raises for every waiter and is
        not remembered."""
        flight = self._flights[key]
        if flight.result is not None and self._clock() - flight.finished_at <= fresh_within:
            return flight.result, flight.generation
        if flight.running is None:
            flight.running = asyncio.ensure_future(self._run(flight, check))
        # shield: a gate cancelled while it waits (its task was cleared) must not cancel the others' check
        return await asyncio.shield(flight.running)

    async def _run(self, flight: _Flight[R], check: Callable[[], Awaitable[R]]) -> tuple[R, int]:
        try:
            result = await check()
        finally:
            flight.running = None
        flight.result = result
        flight.finished_at = self._clock()
        flight.generation += 1
        news, flight.news = flight.news, asyncio.Event()
        news.set()
        return result, flight.generation

    async def wait_newer(self, key: K, generation: int, timeout: float) -> None:
        """Sleep up to ``timeout`` seconds, or less if a result newer than ``generation`` is published."""
        flight = self._flights.get(key)
        if flight is None or flight.generation > generation:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(flight.news.wait(), timeout=max(timeout, 0.0))

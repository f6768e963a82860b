"""Single-flight checks shared by waiting gates: one check in flight, fresh results reused, news wakes waiters."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_clarityq.core.health.sharing import SharedChecks


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_check_in_flight_for_every_waiter_and_fresh_results_reused() -> None:
    clock = Clock()
    checks: SharedChecks[str, str] = SharedChecks(clock)
    calls = []

    async def check() -> str:
        calls.append(clock.now)
        await asyncio.sleep(0.01)
        return f"result {len(calls)}"

    async def scenario() -> None:
        for _ in range(100):
            checks.join("conn")
        answers = await asyncio.gather(*(checks.latest("conn", fresh_within=5, check=check) for _ in range(100)))
        assert {a for a, _ in answers} == {"result 1"} and len(calls) == 1
        clock.now = 4.0  # a late joiner within the window reuses the result
        assert await checks.latest("conn", fresh_within=5, check=check) == ("result 1", 1)
        clock.now = 5.5  # past the asking gate's window: a new check
        assert await checks.latest("conn", fresh_within=5, check=check) == ("result 2", 2)
        assert len(calls) == 2

    asyncio.run(scenario())


def test_news_wakes_waiters_and_a_cancelled_waiter_does_not_cancel_the_check() -> None:
    checks: SharedChecks[str, str] = SharedChecks()
    release = asyncio.Event

    async def scenario() -> None:
        gate = release()

        async def check() -> str:
            await gate.wait()
            return "done"

        checks.join("k")
        checks.join("k")
        first = asyncio.ensure_future(checks.latest("k", fresh_within=60, check=check))
        second = asyncio.ensure_future(checks.latest("k", fresh_within=60, check=check))
        await asyncio.sleep(0)
        first.cancel()  # one gate's task is cleared while the check runs
        waiter = asyncio.ensure_future(checks.wait_newer("k", 0, timeout=60))
        await asyncio.sleep(0)
        gate.set()
        assert await second == ("done", 1)
        await asyncio.wait_for(waiter, timeout=1)  # woken by the news, long before its 60 s
        with pytest.raises(asyncio.CancelledError):
            await first

    asyncio.run(scenario())


def test_a_failing_check_raises_for_every_waiter_and_is_not_remembered() -> None:
    checks: SharedChecks[str, str] = SharedChecks()
    outcomes = iter([RuntimeError("boom"), "fine"])

    async def check() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def scenario() -> None:
        checks.join("k")
        results = await asyncio.gather(
            *(checks.latest("k", fresh_within=60, check=check) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, RuntimeError) for r in results)
        assert await checks.latest("k", fresh_within=60, check=check) == ("fine", 1)

    asyncio.run(scenario())


def test_the_last_gate_to_leave_drops_the_key() -> None:
    checks: SharedChecks[str, str] = SharedChecks()
    checks.join("k")
    checks.join("k")
    assert not checks.leave("k") and len(checks) == 1
    assert checks.leave("k") and len(checks) == 0

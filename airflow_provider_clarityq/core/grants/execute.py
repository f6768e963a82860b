"""Executing a plan: phase by phase, a phase's steps concurrently (bounded thread pool), with retries.

Errors go through :func:`~airflow_provider_clarityq.core.alibaba.failures.classify`: "already exists" races
count as converged, throttling / 5xx / resets are retried with bounded, jittered backoff (tenacity), anything
else stops the run after the running phase. After the RAM user is created the rest is re-planned so
statements use its UID. Every step is idempotent, so a run killed at any point converges when re-run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from airflow_provider_clarityq.core.alibaba.failures import Failure, RetryPolicy, classify, failure_of, retrying
from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants.backend import AccessBackend
from airflow_provider_clarityq.core.grants.plan import Plan
from airflow_provider_clarityq.core.grants.read import Retries, read_with_retries
from airflow_provider_clarityq.core.grants.restriction_steps import PutRolePolicy
from airflow_provider_clarityq.core.grants.result import AccessNotConvergedError, StepOutcome, StepResult
from airflow_provider_clarityq.core.grants.steps import CreateRamUser, Phase, Step

__all__ = ["DEFAULT_CONCURRENCY", "MAX_CONCURRENCY", "execute_plan"]

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64


class _Transient(Exception):
    """Internal: the attempt failed in a way worth retrying."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.describe())
        self.failure = failure


class _Permanent(Exception):
    """Internal: the attempt failed for good (neither converged nor worth retrying)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.describe())
        self.failure = failure


@dataclass
class _StepRun:
    result: StepResult
    user_uid: str | None = None


class _Executor:
    """Runs steps with retries; one instance per run (shares the stop flag and the retry counter)."""

    def __init__(self, backend: AccessBackend, policy: RetryPolicy, concurrency: int, retries: Retries) -> None:
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ConfigurationError("concurrency", f"is {concurrency}", f"use 1 to {MAX_CONCURRENCY}")
        self.backend = backend
        self.policy = policy
        self.concurrency = concurrency
        self.retries = retries
        self.stop = threading.Event()

    def run_phase(self, steps: Sequence[Step]) -> list[_StepRun]:
        """Run one phase's steps concurrently (bounded); after a failure, steps not started are not run."""
        if len(steps) == 1 or self.concurrency == 1:
            return [self.run_step(step) for step in steps]
        workers = min(self.concurrency, len(steps))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clarityq-grants") as pool:
            return list(pool.map(self.run_step, steps))

    def run_step(self, step: Step) -> _StepRun:
        if self.stop.is_set():
            return _StepRun(StepResult(step, "not_run"))
        started = time.perf_counter()
        attempts = 0
        what = step.statement or _call_text(step)
        try:
            retry = retrying(
                self.policy,
                retry_on=lambda exc: isinstance(exc, _Transient),
                before_sleep=self.retries.before_sleep(what),
            )
            for attempt in retry:
                with attempt:
                    attempts += 1
                    try:
                        uid = self._call(step)
                    except Exception as exc:
                        failure = failure_of(exc)
                        outcome = classify(failure, destructive=step.destructive)
                        if outcome == "converged":
                            log.info("Already in place (converged): %s [%s]", what, failure.describe())
                            return self._done(step, "converged", attempts, started, failure=failure)
                        if outcome == "transient":
                            raise _Transient(failure) from exc
                        raise _Permanent(failure) from exc
                    log.info("Executed: %s", what)
                    return self._done(step, "executed", attempts, started, uid=uid)
        except (_Transient, _Permanent) as exc:
            self.stop.set()
            log.error("Failed: %s (%s)", what, exc.failure.describe())
            return self._done(step, "failed", attempts, started, failure=exc.failure)
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    def _call(self, step: Step) -> str | None:
        if isinstance(step, CreateRamUser):
            comments = step.api_call["params"]["Comments"]  # type: ignore[index]
            return self.backend.create_ram_user(step.user_name, str(comments))
        if isinstance(step, PutRolePolicy):
            self.backend.put_role_policy(step.project, step.role, step.policy)
            return None
        if step.statement is None or step.project is None:
            raise ConfigurationError("step", f"{step.kind} has no statement to run", "re-create the plan")
        self.backend.security_query(step.project, step.statement)
        return None

    @staticmethod
    def _done(
        step: Step,
        outcome: StepOutcome,
        attempts: int,
        started: float,
        *,
        failure: Failure | None = None,
        uid: str | None = None,
    ) -> _StepRun:
        elapsed = time.perf_counter() - started
        return _StepRun(StepResult(step, outcome, attempts, failure, elapsed), uid)


def execute_plan(
    backend: AccessBackend,
    plan: Plan,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    retry: RetryPolicy | None = None,
    replan: Callable[[str], Plan] | None = None,
    retries: Retries | None = None,
) -> tuple[list[StepResult], str | None]:
    """Execute ``plan`` phase by phase; returns every step's result and the UID of a created RAM user.

    ``replan(uid)`` is called after the RAM-user phase so later statements name the user by UID; the
    new plan's remaining phases replace the old ones. A failure stops the run after its phase; the
    steps not reached are reported as ``not_run``.
    """
    if not plan.executable:
        raise ConfigurationError("mode", "is 'plan' (a dry run)", "use apply or sync to change anything")
    executor = _Executor(backend, retry or RetryPolicy(), concurrency, retries or Retries())
    results: list[StepResult] = []
    created_uid: str | None = None
    current = plan
    done: set[Phase] = set()
    while True:
        pending = [(phase, steps) for phase, steps in current.phases() if phase not in done]
        if not pending:
            return results, created_uid
        phase, steps = pending[0]
        runs = executor.run_phase(steps)
        results += [run.result for run in runs]
        done.add(phase)
        if executor.stop.is_set():
            results += [StepResult(s, "not_run") for _, later in pending[1:] for s in later]
            return results, created_uid
        if phase is Phase.RAM_USER:
            created_uid = _created_uid(backend, runs, executor)
            if replan is not None:
                current = replan(created_uid)


def _created_uid(backend: AccessBackend, runs: Sequence[_StepRun], executor: _Executor) -> str:
    """The new user's UID: from CreateUser's answer, or (when it already existed) from GetUser."""
    for run in runs:
        if run.user_uid is not None:
            return run.user_uid
    name = next(getattr(run.result.step, "user_name", "") for run in runs)
    user = read_with_retries(lambda: backend.get_ram_user(name), executor.policy, executor.retries, "RAM GetUser")
    if user is None:
        raise AccessNotConvergedError(f"RAM user {name!r} was reported as existing, but GetUser does not find it")
    return user.user_id


def _call_text(step: Step) -> str:
    """How an API-call step reads in the log (never the policy body)."""
    if isinstance(step, PutRolePolicy):
        return f"PUT POLICY ON ROLE {step.role} (project {step.project})"
    return f"RAM CreateUser {getattr(step, 'user_name', '')}"

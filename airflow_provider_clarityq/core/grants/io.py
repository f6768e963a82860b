"""Access as code, I/O side: resolve the principal, read the live state, execute a plan, verify.

Everything goes through an :class:`~.backend.AccessBackend`, so this module has no pyodps, SDK or
Airflow import. The flow of :func:`run_access`:

1. **Who** - STS GetCallerIdentity gives the main account ID (and the caller, which the planner must
   never revoke from); RAM GetUser gives the UID or ``None``. Both may be passed in instead (the
   example DAG hands them over from :func:`ensure_ram_user`'s task).
2. **Read** (:func:`read_state`), per project and independent of the number of tables:
   ``DESCRIBE ROLE`` of the managed role (its members and its whole ACL; a ``NoSuchObject`` answer
   means "no role yet"), ``LIST USERS`` only when the user does not already hold the role (holding a
   role implies membership), ``LIST ROLES`` only for ``extra_roles``, ``SHOW GRANTS FOR <user>`` only
   when ``sync`` may revoke from the user (or ``extra_roles`` must be checked), the table list only
   for prefix specs. A converged ``apply`` re-run therefore reads 3 things (STS, RAM, DESCRIBE ROLE).
3. **Plan** with :func:`~.plan.make_plan`; ``plan`` mode stops here.
4. **Execute** phase by phase, a phase's steps concurrently (bounded thread pool). Errors go through
   :func:`~.plan.classify_failure`: "already exists" races count as converged, throttling / 5xx /
   resets are retried with bounded, jittered backoff (tenacity), anything else stops the run after the
   running phase. After the RAM user is created the rest is re-planned so statements use its UID.
5. **Verify**: when something changed, read and plan again; the plan must be empty.

Every step is idempotent, so a run killed at any point converges when re-run.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from airflow_provider_clarityq.core.errors import ClarityQError, ConfigurationError
from airflow_provider_clarityq.core.grants.backend import (
    AccessBackend,
    CallerIdentity,
    CountingBackend,
    Failure,
    failure_of,
)
from airflow_provider_clarityq.core.grants.model import Grantee
from airflow_provider_clarityq.core.grants.plan import (
    MODES,
    CreateRamUser,
    Mode,
    Phase,
    Plan,
    Step,
    classify_failure,
    make_plan,
    retry_delays,
)
from airflow_provider_clarityq.core.grants.render import render_principal
from airflow_provider_clarityq.core.grants.spec import AccessSpec, ProjectGrants, load_spec
from airflow_provider_clarityq.core.grants.state import (
    GrantsReport,
    LiveState,
    ProjectState,
    ResolvedPrincipal,
    parse_describe_role,
    parse_list_roles,
    parse_list_users,
    parse_show_grants,
)
from airflow_provider_clarityq.core.identifiers import (
    Principal,
    validate_ram_user_name,
    validate_role_name,
    validate_uid,
)
from airflow_provider_clarityq.core.managed_user import (
    ManagedComments,
    UnmanagedUserError,
    parse_comments,
    unmanaged_user_error,
)

__all__ = [
    "RESULT_FORMAT",
    "AccessNotConvergedError",
    "ApplyResult",
    "RamUserResult",
    "ResolvedUser",
    "RetryPolicy",
    "StepResult",
    "UnmanagedUserError",
    "ensure_ram_user",
    "execute_plan",
    "read_state",
    "resolve_principal",
    "run_access",
    "unmanaged_user_error",
]

log = logging.getLogger(__name__)

RESULT_FORMAT = "clarityq.access-result/1"
DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64

T = TypeVar("T")
StepOutcome = Literal["executed", "converged", "failed", "not_run"]


class AccessNotConvergedError(ClarityQError):
    """A run finished but the live state still differs from the spec (failed step or verification)."""


# --------------------------------------------------------------------------------------------------
# Retries


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff (:func:`~.plan.retry_delays`) plus up to ``jitter`` x the delay.

    ``attempts`` counts the first try. ``sleep`` is injectable so tests do not wait.
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 8.0
    jitter: float = 0.25
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if not 1 <= self.attempts <= 20:
            raise ConfigurationError("retry.attempts", f"is {self.attempts}", "use 1 to 20 attempts")

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based)."""
        delays = retry_delays(self.attempts, base=self.base, cap=self.cap) or (0.0,)
        base = delays[min(retry_number, len(delays)) - 1]
        return base + random.uniform(0.0, base * self.jitter)


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


class _Retries:
    """Thread-safe retry counter shared by reads and steps of one run."""

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self._n += 1

    @property
    def count(self) -> int:
        with self._lock:
            return self._n


def _retrying(policy: RetryPolicy, retries: _Retries, what: str) -> Retrying:
    def wait(state: RetryCallState) -> float:
        return policy.delay(state.attempt_number)

    def before_sleep(state: RetryCallState) -> None:
        retries.add()
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        log.warning("Retrying %s (attempt %d failed: %s)", what, state.attempt_number, error)

    return Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception_type(_Transient),
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def _read(call: Callable[[], T], policy: RetryPolicy, retries: _Retries, what: str) -> T:
    """Run a read; transient failures are retried, anything else propagates (reads never 'converge').

    When the retries run out, the last original exception is raised, not tenacity's wrapper.
    """
    try:
        for attempt in _retrying(policy, retries, what):
            with attempt:
                try:
                    return call()
                except Exception as exc:
                    failure = failure_of(exc)
                    if failure.transient:
                        raise _Transient(failure) from exc
                    raise
    except _Transient as exc:
        if exc.__cause__ is not None:
            raise exc.__cause__ from None
        raise
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover


# --------------------------------------------------------------------------------------------------
# Principal


@dataclass(frozen=True)
class ResolvedUser:
    """The managed user's principal, the caller, and what the user's Comments say (None: no such user)."""

    principal: ResolvedPrincipal
    caller: CallerIdentity
    comments: ManagedComments | None


def resolve_principal(
    backend: AccessBackend,
    ram_user: str,
    *,
    retry: RetryPolicy,
    retries: _Retries | None = None,
    account_id: str | None = None,
    user_uid: str | None = None,
) -> ResolvedUser:
    """The managed user's principal (account from STS, UID and Comments from RAM) and the caller's identity.

    Both are always asked: ``account_id`` and ``user_uid``, when given (handed over from another task), are
    cross-checked against them instead of trusted.
    """
    counter = retries or _Retries()
    caller = _read(backend.caller_identity, retry, counter, "STS GetCallerIdentity")
    if account_id is not None and validate_uid(account_id, field="account_id") != caller.account_id:
        raise ConfigurationError(
            "account_id",
            f"is {account_id} but the connection's credentials belong to account {caller.account_id}",
            "pass the account ID of the connection's main account, or leave it empty",
        )
    user = _read(lambda: backend.get_ram_user(ram_user), retry, counter, "RAM GetUser")
    if user_uid is not None and (user is None or validate_uid(user_uid, field="ram_user_uid") != user.user_id):
        actual = f"UID {user.user_id}" if user is not None else "no UID (the user does not exist)"
        raise ConfigurationError(
            "ram_user_uid",
            f"is {user_uid} but RAM user {ram_user!r} has {actual}",
            "pass the UID RAM GetUser gives for that user, or leave it empty",
        )
    principal = ResolvedPrincipal(caller.account_id, ram_user, user.user_id if user else None)
    return ResolvedUser(principal, caller, parse_comments(user.comments) if user else None)


# --------------------------------------------------------------------------------------------------
# State


def read_state(
    backend: AccessBackend,
    spec: AccessSpec,
    principal: ResolvedPrincipal,
    mode: Mode,
    *,
    retry: RetryPolicy | None = None,
    retries: _Retries | None = None,
) -> LiveState:
    """Read what the planner needs for every project of the spec (see the module docstring)."""
    policy = retry or RetryPolicy()
    counter = retries or _Retries()
    states = [_read_project(backend, spec, grants, principal, mode, policy, counter) for grants in spec.projects]
    return LiveState.of(*states)


def _read_project(
    backend: AccessBackend,
    spec: AccessSpec,
    grants: ProjectGrants,
    principal: ResolvedPrincipal,
    mode: Mode,
    policy: RetryPolicy,
    counter: _Retries,
) -> ProjectState:
    project = grants.project

    def read(call: Callable[[], T], what: str) -> T:
        return _read(call, policy, counter, f"{what} in project {project}")

    role = validate_role_name(spec.role, field="role").lower()
    role_report = _describe_role(backend, project, role, read)
    roles = {role} if role_report is not None else set()
    if spec.extra_roles:
        roles |= parse_list_roles(read(lambda: backend.list_roles(project), "LIST ROLES"))

    holds_role = role_report is not None and any(principal.matches(m) for m in role_report.members)
    if holds_role and role_report is not None:
        users: Iterable[str] = role_report.members  # a role can only be granted to project members
    else:
        users = parse_list_users(read(lambda: backend.list_users(project), "LIST USERS"))
    is_member = any(principal.matches(u) for u in users)

    user_report: GrantsReport | None = None
    if is_member and principal.exists and (mode == "sync" or spec.extra_roles):
        target = principal.principal()
        statement = f"SHOW GRANTS FOR {render_principal(target)}"
        answer = read(lambda: backend.security_query(project, statement), "SHOW GRANTS")
        user_report = parse_show_grants(answer, Grantee.user(target), project=project)

    tables = None
    if grants.prefixes:
        tables = read(lambda: backend.list_table_names(project), "list tables")
    return ProjectState.build(
        project,
        users=users,
        roles=roles,
        role_reports={role: role_report} if role_report is not None else {},
        user_report=user_report,
        tables=tables,
    )


def _describe_role(
    backend: AccessBackend, project: str, role: str, read: Callable[[Callable[[], Any], str], Any]
) -> GrantsReport | None:
    """``DESCRIBE ROLE``; ``None`` when the role does not exist.

    ``NoSuchObject`` means absent. Any other non-transient error is only taken as "absent" when
    ``LIST ROLES`` agrees, so an unexpected error text never makes the planner re-create a role.
    """
    statement = f"DESCRIBE ROLE {role}"
    try:
        answer = read(lambda: backend.security_query(project, statement), "DESCRIBE ROLE")
    except Exception as exc:
        if failure_of(exc).code == "NoSuchObject":
            return None
        listed = parse_list_roles(read(lambda: backend.list_roles(project), "LIST ROLES"))
        if role not in listed:
            return None
        raise
    return parse_describe_role(answer, role, project=project)


# --------------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class StepResult:
    """What happened to one planned step."""

    step: Step
    outcome: StepOutcome
    attempts: int = 0
    error: Failure | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.step.kind,
            "phase": int(self.step.phase),
            "project": self.step.project,
            "statement": self.step.statement,
            "api_call": self.step.api_call,
            "destructive": self.step.destructive,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "error": self.error.to_dict() if self.error else None,
            "seconds": round(self.seconds, 4),
        }


@dataclass(frozen=True)
class ApplyResult:
    """The run: the plan as printed, every step's outcome, retries, requests and the verification."""

    mode: Mode
    principal: str
    plan: Plan
    steps: tuple[StepResult, ...] = ()
    retries: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    verified: bool | None = None  # None: nothing was executed (plan mode, or nothing to do)
    remaining: tuple[str, ...] = ()  # what the verification plan still wanted
    caller: dict[str, str] | None = None
    user_uid: str | None = None

    def _with(self, outcome: StepOutcome) -> tuple[StepResult, ...]:
        return tuple(r for r in self.steps if r.outcome == outcome)

    @property
    def executed(self) -> tuple[StepResult, ...]:
        return self._with("executed")

    @property
    def converged(self) -> tuple[StepResult, ...]:
        return self._with("converged")

    @property
    def failed(self) -> tuple[StepResult, ...]:
        return self._with("failed")

    @property
    def not_run(self) -> tuple[StepResult, ...]:
        return self._with("not_run")

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_run and self.verified is not False

    @property
    def request_total(self) -> int:
        return sum(self.requests.values())

    def summary(self) -> dict[str, int]:
        return {
            "planned": len(self.plan.steps),
            "executed": len(self.executed),
            "converged": len(self.converged),
            "failed": len(self.failed),
            "not_run": len(self.not_run),
            "retries": self.retries,
            "requests": self.request_total,
            "warnings": len(self.plan.warnings),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (XCom): no secrets - statements, principals and counts only."""
        return {
            "format": RESULT_FORMAT,
            "mode": self.mode,
            "principal": self.principal,
            "user_uid": self.user_uid,
            "caller": self.caller,
            "ok": self.ok,
            "summary": self.summary(),
            "verified": self.verified,
            "remaining": list(self.remaining),
            "requests": {"total": self.request_total, "by_call": dict(self.requests)},
            "steps": [r.to_dict() for r in self.steps],
            "plan": self.plan.to_dict(),
        }

    def to_text(self) -> str:
        """One line per executed/failed step, then the counts."""
        lines = []
        for result in self.steps:
            what = result.step.statement or f"RAM CreateUser {getattr(result.step, 'user_name', '')}"
            suffix = f" ({result.error.describe()})" if result.error else ""
            tries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
            lines.append(f"  {result.outcome:>9}: {what}{tries}{suffix}")
        counts = ", ".join(f"{k} {v}" for k, v in self.summary().items())
        verified = {None: "not needed", True: "yes", False: "NO"}[self.verified]
        lines.append(f"Result ({self.mode}): {counts}; verified: {verified}.")
        lines.extend(f"  still planned: {s}" for s in self.remaining)
        return "\n".join(lines)


@dataclass(frozen=True)
class RamUserResult:
    """The managed RAM user: identifiers only, never an AccessKey or any other secret."""

    user_name: str
    user_uid: str | None  # None only in a dry run, when the user does not exist yet
    account_id: str
    created: bool
    caller: dict[str, str]
    adopted: bool = False
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.user_uid is not None

    @property
    def principal(self) -> str | None:
        """Seed 000's ``RAM$<main-account-uid>:<ram-user-uid>``."""
        return f"RAM${self.account_id}:{self.user_uid}" if self.user_uid else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_name": self.user_name,
            "user_uid": self.user_uid,
            "account_id": self.account_id,
            "principal": self.principal,
            "exists": self.exists,
            "created": self.created,
            "adopted": self.adopted,
            "caller": self.caller,
            "requests": {"total": sum(self.requests.values()), "by_call": dict(self.requests)},
        }


# --------------------------------------------------------------------------------------------------
# Executing


@dataclass
class _StepRun:
    result: StepResult
    user_uid: str | None = None


class _Executor:
    """Runs steps with retries; one instance per run (shares the stop flag and the retry counter)."""

    def __init__(self, backend: AccessBackend, policy: RetryPolicy, concurrency: int, retries: _Retries) -> None:
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
        what = step.statement or f"RAM CreateUser {getattr(step, 'user_name', '')}"
        try:
            for attempt in _retrying(self.policy, self.retries, what):
                with attempt:
                    attempts += 1
                    try:
                        uid = self._call(step)
                    except Exception as exc:
                        failure = failure_of(exc)
                        outcome = (
                            "retry"
                            if failure.reset
                            else classify_failure(
                                step, status=failure.status, code=failure.code, message=failure.message
                            )
                        )
                        if outcome == "converged":
                            log.info("Already in place (converged): %s [%s]", what, failure.describe())
                            return self._done(step, "converged", attempts, started, failure=failure)
                        if outcome == "retry":
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
    retries: _Retries | None = None,
) -> tuple[list[StepResult], str | None]:
    """Execute ``plan`` phase by phase; returns every step's result and the UID of a created RAM user.

    ``replan(uid)`` is called after the RAM-user phase so later statements name the user by UID; the
    new plan's remaining phases replace the old ones. A failure stops the run after its phase; the
    steps not reached are reported as ``not_run``.
    """
    if not plan.executable:
        raise ConfigurationError("mode", "is 'plan' (a dry run)", "use apply or sync to change anything")
    executor = _Executor(backend, retry or RetryPolicy(), concurrency, retries or _Retries())
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
    user = _read(lambda: backend.get_ram_user(name), executor.policy, executor.retries, "RAM GetUser")
    if user is None:
        raise AccessNotConvergedError(f"RAM user {name!r} was reported as existing, but GetUser does not find it")
    return user.user_id


# --------------------------------------------------------------------------------------------------
# The whole run


def run_access(
    backend: AccessBackend,
    spec: AccessSpec | str | dict[str, Any],
    mode: Mode,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    retry: RetryPolicy | None = None,
    account_id: str | None = None,
    user_uid: str | None = None,
    verify: bool = True,
    on_plan: Callable[[Plan], None] | None = None,
) -> ApplyResult:
    """Validate the spec, resolve, read, plan, execute (unless ``plan``) and verify.

    The spec and mode are validated before the first request. Raises :class:`ConfigurationError`,
    :class:`~.plan.PlanError` or :class:`~.state.StateParseError` before anything is executed; a failed
    step or verification is reported in the result (``ok`` is false), not raised.
    """
    if mode not in MODES:
        raise ConfigurationError("mode", f"is {mode!r}", "use plan, apply or sync")
    spec = load_spec(spec)
    if user_uid is not None:
        user_uid = validate_uid(user_uid, field="user_uid")
    policy = retry or RetryPolicy()
    counting = CountingBackend(backend)
    retries = _Retries()

    resolved = resolve_principal(
        counting, spec.ram_user, retry=policy, retries=retries, account_id=account_id, user_uid=user_uid
    )
    principal, caller = resolved.principal, resolved.caller
    unmanaged = resolved.comments is not None and not resolved.comments.managed
    if unmanaged and mode != "plan":
        raise unmanaged_user_error(spec.ram_user)
    admin: ResolvedPrincipal | Principal | None = caller.admin()
    live = read_state(counting, spec, principal, mode, retry=policy, retries=retries)
    plan = make_plan(spec, live, mode, principal, admin=admin)
    if unmanaged:
        note = unmanaged_user_error(spec.ram_user)
        plan = replace(plan, warnings=(*plan.warnings, f"apply and sync will refuse: {note}"))
    if on_plan is not None:
        on_plan(plan)

    def result(**kwargs: Any) -> ApplyResult:
        return ApplyResult(
            mode=mode,
            principal=str(principal.principal()),
            plan=plan,
            retries=retries.count,
            requests=counting.counts,
            caller=caller.to_dict(),
            **kwargs,
        )

    if not plan.executable or plan.is_empty:
        return result(user_uid=principal.user_uid)

    def replan(uid: str) -> Plan:
        nonlocal principal
        principal = ResolvedPrincipal(principal.account_id, spec.ram_user, uid)
        return make_plan(spec, live, mode, principal, admin=admin)

    steps, _ = execute_plan(counting, plan, concurrency=concurrency, retry=policy, replan=replan, retries=retries)
    failed = any(r.outcome == "failed" for r in steps)
    if failed or not verify:
        return result(steps=tuple(steps), user_uid=principal.user_uid)
    after = read_state(counting, spec, principal, mode, retry=policy, retries=retries)
    check = make_plan(spec, after, mode, principal, admin=admin)
    remaining = tuple(s.statement or str(s.api_call) for s in check.steps)
    return result(steps=tuple(steps), verified=not remaining, remaining=remaining, user_uid=principal.user_uid)


def ensure_ram_user(
    backend: AccessBackend,
    ram_user: str,
    *,
    create: bool = True,
    dry_run: bool = False,
    adopt: bool = False,
    retry: RetryPolicy | None = None,
) -> RamUserResult:
    """Make sure the RAM user exists and is the provider's (created, or adopted on purpose); return its UIDs.

    A missing user is created with the provider's mark in its Comments. An existing user without the mark
    is refused unless ``adopt`` (set in the DAG file, never by a run's params): then the mark is added in
    front of its Comments. "Already exists" (another run won the race) is read back with GetUser. Never
    creates an AccessKey. ``dry_run`` only looks: a missing user is reported (``user_uid`` ``None``).
    """
    name = validate_ram_user_name(ram_user, field="ram_user")
    policy = retry or RetryPolicy()
    counting = CountingBackend(backend)
    retries = _Retries()
    resolved = resolve_principal(counting, name, retry=policy, retries=retries)
    principal, caller, comments = resolved.principal, resolved.caller, resolved.comments
    created = adopted = False
    uid = principal.user_uid
    if comments is not None and not comments.managed:
        if not adopt:
            raise unmanaged_user_error(name)
        if not dry_run:
            marked = comments.adopted().render()
            _read(lambda: counting.set_ram_user_comments(name, marked), policy, retries, "RAM UpdateUser")
            adopted = True
    if uid is None and not dry_run:
        if not create:
            raise AccessNotConvergedError(
                f"RAM user {name!r} does not exist and create is false: create it in the RAM console or allow "
                "creating it."
            )
        step = CreateRamUser(project=None, reason=f"the RAM user {name} does not exist", user_name=name)
        plan = Plan(mode="apply", principal=str(principal.principal()), steps=(step,))
        steps, uid = execute_plan(counting, plan, retry=policy, retries=retries)
        outcome = steps[0]
        if outcome.outcome == "failed":
            detail = outcome.error.describe() if outcome.error else "unknown error"
            raise AccessNotConvergedError(f"RAM CreateUser {name!r} failed: {detail}")
        created = outcome.outcome == "executed"
        if not created:  # it appeared meanwhile: it must carry the mark too
            raced = _read(lambda: counting.get_ram_user(name), policy, retries, "RAM GetUser")
            if raced is not None and not parse_comments(raced.comments).managed:
                raise unmanaged_user_error(name)
    return RamUserResult(
        user_name=name,
        user_uid=uid,
        account_id=principal.account_id,
        created=created,
        adopted=adopted or (dry_run and comments is not None and not comments.managed),
        caller=caller.to_dict(),
        requests=counting.counts,
    )

"""A whole run of access as code: validate, resolve, read, plan, execute (unless ``plan``), verify.

The flow of :func:`run_access`: STS GetCallerIdentity gives the main account (and the caller, which the
planner must never revoke from); RAM GetUser the managed user's UID and mark; then :mod:`.read`, the
planner, :mod:`.execute`; when something changed, read and plan again - the plan must be empty.
:func:`ensure_ram_user` is the RAM-user half on its own (the provisioning DAG's first task).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from airflow_provider_clarityq.core.alibaba.failures import RetryPolicy
from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants.backend import AccessBackend, CountingBackend
from airflow_provider_clarityq.core.grants.execute import DEFAULT_CONCURRENCY, execute_plan
from airflow_provider_clarityq.core.grants.plan import Plan
from airflow_provider_clarityq.core.grants.planner import make_plan
from airflow_provider_clarityq.core.grants.read import (
    Retries,
    caller_as_admin,
    read_state,
    read_with_retries,
    resolve_principal,
)
from airflow_provider_clarityq.core.grants.result import AccessNotConvergedError, ApplyResult, RamUserResult
from airflow_provider_clarityq.core.grants.spec import AccessSpec, load_spec
from airflow_provider_clarityq.core.grants.state import ResolvedPrincipal
from airflow_provider_clarityq.core.grants.steps import MODES, CreateRamUser, Mode
from airflow_provider_clarityq.core.identifiers import Principal, validate_ram_user_name, validate_uid
from airflow_provider_clarityq.core.managed_user import parse_comments, unmanaged_user_error

__all__ = ["ensure_ram_user", "run_access"]


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
    retries = Retries()

    resolved = resolve_principal(
        counting, spec.ram_user, retry=policy, retries=retries, account_id=account_id, user_uid=user_uid
    )
    principal, caller = resolved.principal, resolved.caller
    unmanaged = resolved.comments is not None and not resolved.comments.managed
    if unmanaged and mode != "plan":
        raise unmanaged_user_error(spec.ram_user)
    admin: ResolvedPrincipal | Principal | None = caller_as_admin(caller)
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
    retries = Retries()
    resolved = resolve_principal(counting, name, retry=policy, retries=retries)
    principal, caller, comments = resolved.principal, resolved.caller, resolved.comments
    created = adopted = False
    uid = principal.user_uid
    if comments is not None and not comments.managed:
        if not adopt:
            raise unmanaged_user_error(name)
        if not dry_run:
            marked = comments.adopted().render()
            read_with_retries(lambda: counting.set_ram_user_comments(name, marked), policy, retries, "RAM UpdateUser")
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
            raced = read_with_retries(lambda: counting.get_ram_user(name), policy, retries, "RAM GetUser")
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

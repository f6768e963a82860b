"""Reading the live access: who the managed user is, and what the project grants it (no execution).

Everything goes through an :class:`~.backend.AccessBackend`; transient failures are retried with the one
policy of :mod:`airflow_provider_clarityq.core.alibaba.failures`. Per project, independent of the number of
tables: ``DESCRIBE ROLE`` of the managed role (its members and its whole ACL; ``NoSuchObject`` means "no role
yet"), ``LIST USERS`` only when the user does not already hold the role (holding a role implies
membership), ``LIST ROLES`` only for ``extra_roles``, ``SHOW GRANTS FOR <user>`` only when ``sync`` may revoke
from the user (or ``extra_roles`` must be checked), the table list only for prefix specs. A converged
``apply`` re-run therefore reads little: STS, RAM GetUser, DESCRIBE ROLE.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import RetryCallState

from airflow_provider_clarityq.core.alibaba.failures import RetryPolicy, call_with_retries, failure_of
from airflow_provider_clarityq.core.alibaba.identity import CallerIdentity
from airflow_provider_clarityq.core.errors import ClarityQError, ConfigurationError
from airflow_provider_clarityq.core.grants.backend import AccessBackend
from airflow_provider_clarityq.core.grants.model import Grantee
from airflow_provider_clarityq.core.grants.parse import (
    parse_describe_role,
    parse_list_roles,
    parse_list_users,
    parse_show_grants,
    parse_show_label_grants,
    parse_show_packages,
    role_download_and_package_reads,
)
from airflow_provider_clarityq.core.grants.render import (
    SHOW_PACKAGES_STATEMENT,
    render_principal,
    show_label_grants_statement,
)
from airflow_provider_clarityq.core.grants.spec import AccessSpec, ProjectGrants
from airflow_provider_clarityq.core.grants.state import (
    GrantsReport,
    LiveState,
    ProjectState,
    ResolvedPrincipal,
    RestrictionState,
)
from airflow_provider_clarityq.core.grants.steps import Mode
from airflow_provider_clarityq.core.identifiers import Principal, parse_principal, validate_role_name, validate_uid
from airflow_provider_clarityq.core.managed_user import ManagedComments, parse_comments

__all__ = ["ResolvedUser", "Retries", "caller_as_admin", "read_state", "read_with_retries", "resolve_principal"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Retries:
    """Thread-safe retry counter shared by the reads and steps of one run (reported in its result)."""

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

    def before_sleep(self, what: str) -> Callable[[RetryCallState], None]:
        """A tenacity hook that counts a retry and logs why."""

        def note(state: RetryCallState) -> None:
            self.add()
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            log.warning("Retrying %s (attempt %d failed: %s)", what, state.attempt_number, error)

        return note


_ARN_RE = re.compile(r"acs:ram::[0-9]+:(?P<kind>user|assumed-role)/(?P<name>[^/]+)(?:/.*)?")


def caller_as_admin(caller: CallerIdentity) -> ResolvedPrincipal | Principal | None:
    """The caller as a MaxCompute principal, so the planner can refuse to revoke from it.

    ``Account`` -> ``ALIYUN$<account>``; ``RAMUser`` (ARN ``...:user/<name>``) -> the resolved user (UID and
    name both match); ``AssumedRoleUser`` (ARN ``...:assumed-role/<role>/<session>``) ->
    ``RAM$<account>:role/<role>``. ``None`` when the shape is unknown (the guard then has nothing to compare
    with, which is only safe because revokes never target anything but the managed user/role).
    """
    kind = caller.identity_type
    if kind == "Account":
        return parse_principal(f"ALIYUN${caller.account_id}", field="caller")
    match = _ARN_RE.fullmatch(caller.arn)
    if match is None:
        return None
    try:
        if kind == "RAMUser" and match["kind"] == "user":
            return ResolvedPrincipal(caller.account_id, match["name"], caller.user_id or None)
        if kind == "AssumedRoleUser" and match["kind"] == "assumed-role":
            return parse_principal(f"RAM${caller.account_id}:role/{match['name']}", field="caller")
    except ClarityQError:
        return None
    return None


def read_with_retries(call: Callable[[], T], policy: RetryPolicy, retries: Retries, what: str) -> T:
    """Run a read (or an idempotent write); transient failures are retried, anything else propagates."""
    return call_with_retries(call, policy, before_sleep=retries.before_sleep(what))


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
    retries: Retries | None = None,
    account_id: str | None = None,
    user_uid: str | None = None,
) -> ResolvedUser:
    """The managed user's principal (account from STS, UID and Comments from RAM) and the caller's identity.

    Both are always asked: ``account_id`` and ``user_uid``, when given (handed over from another task), are
    cross-checked against them instead of trusted.
    """
    counter = retries or Retries()
    caller = read_with_retries(backend.caller_identity, retry, counter, "STS GetCallerIdentity")
    if account_id is not None and validate_uid(account_id, field="account_id") != caller.account_id:
        raise ConfigurationError(
            "account_id",
            f"is {account_id} but the connection's credentials belong to account {caller.account_id}",
            "pass the account ID of the connection's main account, or leave it empty",
        )
    user = read_with_retries(lambda: backend.get_ram_user(ram_user), retry, counter, "RAM GetUser")
    if user_uid is not None and (user is None or validate_uid(user_uid, field="ram_user_uid") != user.user_id):
        actual = f"UID {user.user_id}" if user is not None else "no UID (the user does not exist)"
        raise ConfigurationError(
            "ram_user_uid",
            f"is {user_uid} but RAM user {ram_user!r} has {actual}",
            "pass the UID RAM GetUser gives for that user, or leave it empty",
        )
    principal = ResolvedPrincipal(caller.account_id, ram_user, user.user_id if user else None)
    return ResolvedUser(principal, caller, parse_comments(user.comments) if user else None)


def read_state(
    backend: AccessBackend,
    spec: AccessSpec,
    principal: ResolvedPrincipal,
    mode: Mode,
    *,
    retry: RetryPolicy | None = None,
    retries: Retries | None = None,
) -> LiveState:
    """Read what the planner needs for every project of the spec (see the module docstring)."""
    policy = retry or RetryPolicy()
    counter = retries or Retries()
    states = [_read_project(backend, spec, grants, principal, mode, policy, counter) for grants in spec.projects]
    return LiveState.of(*states)


def _read_project(
    backend: AccessBackend,
    spec: AccessSpec,
    grants: ProjectGrants,
    principal: ResolvedPrincipal,
    mode: Mode,
    policy: RetryPolicy,
    counter: Retries,
) -> ProjectState:
    project = grants.project

    def read(call: Callable[[], T], what: str) -> T:
        return read_with_retries(call, policy, counter, f"{what} in project {project}")

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
        restrictions=_read_restrictions(backend, spec, grants, principal, role_report, is_member, read),
    )


def _read_restrictions(
    backend: AccessBackend,
    spec: AccessSpec,
    grants: ProjectGrants,
    principal: ResolvedPrincipal,
    role_report: GrantsReport | None,
    is_member: bool,
    read: Callable[[Callable[[], Any], str], Any],
) -> RestrictionState:
    """Only what the spec manages is read (a spec without these options costs no request)."""
    project = grants.project
    user_label: int | None = None
    label_grants: frozenset[tuple[str, str, int]] | None = None
    if grants.label_access_level is not None or grants.label_grants:
        label_grants = frozenset()
        if is_member and principal.exists:
            statement = show_label_grants_statement(principal.principal())
            user_label, label_grants = parse_show_label_grants(
                read(lambda: backend.security_query(project, statement), "SHOW LABEL GRANTS")
            )
    downloads, reads = (
        role_download_and_package_reads(role_report, spec.role)
        if role_report is not None
        else (frozenset(), frozenset())
    )
    installed = None
    if grants.packages:
        installed = parse_show_packages(
            read(lambda: backend.security_query(project, SHOW_PACKAGES_STATEMENT), "SHOW PACKAGES")
        )
    policy = None
    if grants.role_policy and role_report is not None:
        policy = read(lambda: backend.get_role_policy(project, spec.role), "GET POLICY ON ROLE")
    return RestrictionState(
        user_label=user_label,
        label_grants=label_grants,
        download_tables=downloads if grants.download else None,
        installed_packages=installed,
        package_reads=reads if grants.packages else None,
        role_policy=policy,
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

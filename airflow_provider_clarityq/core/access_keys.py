"""AccessKeys of ClarityQ's RAM user: create, deliver once to a secret sink, rotate within RAM's 2-key limit.

No Airflow import. Seed 000 step 2 creates a permanent AccessKey by hand and tells the user to copy a
secret that is shown once; here the secret goes from the CreateAccessKey answer straight to a
:class:`~.secret_sinks.SecretSink` (an Airflow connection, by default ``clarityq_reader``) and nowhere
else: ``on_secret`` (Airflow's ``mask_secret``) is called before anything else happens with it, results
carry key IDs only, and error messages never contain a secret.

Two operations (:class:`AccessKeyManager`):

* :meth:`~AccessKeyManager.ensure` (provisioning): do nothing when the sink's key is Active and works;
  otherwise create a key and deliver it. Apart from the housekeeping below (undelivered keys, grace
  periods) it never deactivates or deletes a key.
* :meth:`~AccessKeyManager.rotate`: replace the sink's key, then deactivate every other Active key of
  the user, so at most one key is Active at rest (InfraGuard ``ram-user-activated-ak-quantity-check``).

Order of a replacement, and the state each failure leaves (the next run completes it):

1. **Room**: RAM allows 2 keys per user. With 2, ``on_key_limit="delete_oldest_inactive"`` deletes the
   oldest Inactive key (even inside its grace period) and ``"refuse"`` stops with a message listing the
   keys; with no Inactive key it always refuses. Nothing has changed yet.
2. **Create** the key; ``on_secret`` gets the secret at once.
3. **Verify** it with the health checks ``authentication`` and ``project_accessible`` over the exact
   connection fields that will be delivered, retrying for a while (a new key can take seconds to
   propagate). Failure: the new key is deleted; the sink and the old key are untouched (still Active).
   Verifying before delivery means a key that does not work never reaches a consumer.
4. **Deliver** to the sink (an existing entry keeps its other fields), then read it back. Failure: if
   the read-back shows the write did land, carry on; otherwise delete the new key (or, if RAM refuses,
   deactivate it). If even that fails, or the read-back is impossible, the error names the key, and
   the next run deactivates it: an Active key created after the sink's key is *undelivered* (nothing
   can rely on it), so every run deactivates such keys first (reversible during the grace period).
5. **Deactivate** the old key(s) (rotation only). Failure: the new key is in the sink and works, the old
   one is still Active; the next :meth:`~AccessKeyManager.rotate` sees an Active key older than the
   sink's working key and finishes by deactivating it (action ``completed``) instead of rotating again.
6. **Delete after the grace period**: an Inactive key other than the sink's is deleted once
   ``grace_period`` has passed since the latest of: the sink key's CreateDate, its own CreateDate and its
   last use (GetAccessKeyLastUsed). No extra state is stored: the rotation deactivates the old key
   right after creating and verifying the sink's key, so that CreateDate marks the deactivation, and a
   key used later than that (deactivated by hand, say) gets its grace from its last use. Every run of
   either operation does this housekeeping first, so the deletion completes on the next run after
   the grace period.

Assumptions, stated because rotation deactivates keys: the RAM user is dedicated to ClarityQ (seed 000
step 2) and every consumer reads its key from the sink, so a key that is not in the sink is not relied
on. Only one run at a time (the example DAGs set ``max_active_runs=1``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Protocol

from airflow_provider_clarityq.core.dates import parse_iso_utc
from airflow_provider_clarityq.core.errors import ClarityQError, ConfigurationError, one_line
from airflow_provider_clarityq.core.identifiers import validate_ram_user_name
from airflow_provider_clarityq.core.managed_user import (
    KeyIntent,
    ManagedComments,
    parse_comments,
    unmanaged_user_error,
)
from airflow_provider_clarityq.core.secret_sinks import (
    AirflowApiConnectionSink,
    CallableSink,
    ConnectionFileSink,
    ResolvedConnection,
    SecretSink,
    SinkError,
    sink_resolver,
)

__all__ = [
    "ACCESS_KEY_LIMIT",
    "KEY_LIMIT_POLICIES",
    "VERIFY_CHECKS",
    "AccessKeyError",
    "AccessKeyManager",
    "AccessKeyOptions",
    "AccessKeyResult",
    "AirflowApiConnectionSink",
    "CallableSink",
    "ConnectionFileSink",
    "KeyBackend",
    "KeyLimitError",
    "KeyRecord",
    "NewAccessKey",
    "RamKeyBackend",
    "SecretSink",
    "SinkConflictError",
    "SinkError",
    "SinkMismatchError",
    "TaskLogger",
    "UserNotFoundError",
    "Verification",
    "VerificationError",
    "health_verifier",
    "parse_ram_date",
    "reader_connection_template",
    "verification_from_report",
]

log = logging.getLogger(__name__)

#: RAM's quota of AccessKeys per RAM user (CreateAccessKey answers LimitExceeded.User.AccessKey beyond it).
ACCESS_KEY_LIMIT = 2
KeyLimitPolicy = Literal["delete_oldest_inactive", "refuse"]
KEY_LIMIT_POLICIES: tuple[KeyLimitPolicy, ...] = ("delete_oldest_inactive", "refuse")
#: Seed 000 step 6's first two checks: the key authenticates and the project is accessible with it.
VERIFY_CHECKS = ("authentication", "project_accessible")
#: Extras that describe *how the admin authenticates*, never copied into the reader's connection.
_CREDENTIAL_EXTRAS = frozenset({"sts_token", "role_arn", "role_session_name"})
_LEGACY_PREFIX = "extra__clarityq_maxcompute__"

Stage = Literal["ok", "unverified", "config", "authentication", "project", "unreachable"]
Action = Literal["unchanged", "created", "rotated", "completed"]


class TaskLogger(Protocol):
    """What the manager logs through: a stdlib logger or an Airflow task's ``self.log`` (%-style args)."""

    def info(self, event: Any, *args: Any) -> Any: ...

    def warning(self, event: Any, *args: Any) -> Any: ...


# --------------------------------------------------------------------------------------------------
# Errors


class AccessKeyError(ClarityQError):
    """An AccessKey step failed; the message says what state it left and what the next run does."""


class KeyLimitError(AccessKeyError):
    """The user already has 2 AccessKeys and the policy (or their status) forbids freeing a slot."""


class VerificationError(AccessKeyError):
    """A key did not pass authentication + project access; ``stage`` says which part failed."""

    def __init__(self, message: str, *, stage: Stage) -> None:
        super().__init__(message)
        self.stage = stage

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_verification_error, (str(self), self.stage))


def _rebuild_verification_error(message: str, stage: Stage) -> VerificationError:
    return VerificationError(message, stage=stage)


class UserNotFoundError(ConfigurationError):
    """The RAM user does not exist (create it first); a plan run reports it instead of failing."""


class SinkConflictError(AccessKeyError):
    """The sink entry holds a working key that is not the RAM user's: it is not ours to overwrite."""


class SinkMismatchError(AccessKeyError):
    """The store written is not where the consumer (Airflow) reads the connection from; nothing was retired."""


# --------------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class KeyRecord:
    """One AccessKey as ListAccessKeys shows it (never a secret)."""

    access_key_id: str
    status: str
    create_date: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == "Active"


@dataclass(frozen=True)
class NewAccessKey:
    """A key just created: the only moment its secret exists outside the sink."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    create_date: datetime | None = None


@dataclass(frozen=True)
class Verification:
    """Whether a key works: ``stage`` is ``ok`` or the first thing that failed; ``reason`` is secret-free."""

    ok: bool
    stage: Stage
    reason: str

    @property
    def worth_retrying(self) -> bool:
        """A fresh key may not have propagated yet; an unreachable service may come back."""
        return not self.ok and self.stage in ("authentication", "unreachable")


@dataclass(frozen=True)
class AccessKeyOptions:
    """How keys are replaced.

    :param on_key_limit: with 2 keys: ``delete_oldest_inactive`` or ``refuse``.
    :param grace_period: how long a deactivated key is kept (re-activatable) before it is deleted.
    :param verify_attempts: tries of the new key's verification (propagation takes a few seconds).
    :param verify_backoff_s: first wait between tries; doubled each time up to ``verify_backoff_max_s``.
    """

    on_key_limit: KeyLimitPolicy = "delete_oldest_inactive"
    grace_period: timedelta = timedelta(days=7)
    verify_attempts: int = 5
    verify_backoff_s: float = 2.0
    verify_backoff_max_s: float = 15.0

    def __post_init__(self) -> None:
        if self.on_key_limit not in KEY_LIMIT_POLICIES:
            raise ConfigurationError(
                "on_key_limit", f"is {self.on_key_limit!r}", f"use one of {', '.join(KEY_LIMIT_POLICIES)}"
            )
        if not isinstance(self.grace_period, timedelta) or self.grace_period < timedelta(0):
            raise ConfigurationError("grace_period", "must be a duration >= 0", "give e.g. 7 days")
        if (
            not isinstance(self.verify_attempts, int)
            or isinstance(self.verify_attempts, bool)
            or self.verify_attempts < 1
        ):
            raise ConfigurationError("verify_attempts", "must be an integer >= 1", "give e.g. 5")
        for name in ("verify_backoff_s", "verify_backoff_max_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigurationError(name, "must be a number of seconds >= 0", "give e.g. 2")


@dataclass
class AccessKeyResult:
    """What a run did; JSON-safe through :meth:`to_dict` and free of secrets (it is the task's XCom)."""

    action: Action
    access_key_id: str | None
    user_name: str
    sink_conn_id: str
    dry_run: bool = False
    verified: bool = False
    created: str | None = None
    deactivated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    pending_deletion: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    resolved_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_key_id": self.access_key_id,
            "action": self.action,
            "user_name": self.user_name,
            "sink_conn_id": self.sink_conn_id,
            "dry_run": self.dry_run,
            "verified": self.verified,
            "created": self.created,
            "deactivated": list(self.deactivated),
            "deleted": list(self.deleted),
            "pending_deletion": [dict(p) for p in self.pending_deletion],
            "notes": list(self.notes),
            "resolved_from": self.resolved_from,
        }


# --------------------------------------------------------------------------------------------------
# Backend protocol and the RAM adapter


class KeyBackend(Protocol):
    """The RAM operations the manager needs, plus a way to test a key (plain fakes implement it in tests)."""

    def list_keys(self, user_name: str) -> list[KeyRecord]: ...

    def create_key(self, user_name: str) -> NewAccessKey:
        """Create a key; implementations hand the secret to their ``on_secret`` before returning."""
        ...

    def set_key_status(self, user_name: str, access_key_id: str, status: Literal["Active", "Inactive"]) -> None: ...

    def delete_key(self, user_name: str, access_key_id: str) -> None:
        """Delete a key; a key that is already gone is not an error."""
        ...

    def last_used(self, user_name: str, access_key_id: str) -> datetime | None: ...

    def user_comments(self, user_name: str) -> str | None:
        """The RAM user's Comments (the provider's mark and intent journal); None when the user does not exist."""
        ...

    def set_user_comments(self, user_name: str, comments: str) -> None: ...

    def verify(self, fields: Mapping[str, Any]) -> Verification:
        """Test the connection ``fields`` (``login``/``password`` are the key); never raise for a refusal."""
        ...


def parse_ram_date(value: object) -> datetime | None:
    """RAM's ISO 8601 UTC dates (``2026-11-23T10:00:00Z``) as aware datetimes; None when absent or odd."""
    return parse_iso_utc(value)


def _error_code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return str(code) if code not in (None, "None") else ""


def _error_text(exc: BaseException) -> str:
    data = getattr(exc, "data", None)
    message = data.get("Message") if isinstance(data, dict) else None
    return one_line(str(message or exc))[:200]


class RamKeyBackend:
    """:class:`KeyBackend` over the RAM OpenAPI client (``alibabacloud_ram20150501``) of an admin connection.

    :param ram_client: e.g. ``MaxComputeHook(...).ram_client`` (main account or ``AliyunRAMFullAccess``).
    :param verifier: tests connection fields; default :func:`health_verifier`.
    :param on_secret: called with the new secret as soon as CreateAccessKey returns (``mask_secret``).
    """

    def __init__(
        self,
        ram_client: Any,
        *,
        verifier: Callable[[Mapping[str, Any]], Verification] | None = None,
        on_secret: Callable[[str], None] | None = None,
    ) -> None:
        self.client = ram_client
        self.on_secret = on_secret
        self.verifier = verifier or health_verifier(on_secret=on_secret)

    def __repr__(self) -> str:
        return "RamKeyBackend()"

    def _fail(self, exc: Exception, action: str, user_name: str) -> Exception:
        code = _error_code(exc)
        if code.startswith("LimitExceeded.User.AccessKey"):
            return KeyLimitError(
                f"RAM refused CreateAccessKey for user {user_name!r}: it already has {ACCESS_KEY_LIMIT} AccessKeys "
                "(another process may have created one meanwhile); re-run to re-plan."
            )
        if code == "EntityNotExist.User":
            return UserNotFoundError(
                "ram_user",
                f"names RAM user {user_name!r}, which does not exist",
                "create it first (RamUserOperator, the ensure_ram_user task of clarityq_provision_access)",
            )
        label = code or type(exc).__name__
        return AccessKeyError(f"RAM {action} for user {user_name!r} failed ({label}): {_error_text(exc)}")

    def list_keys(self, user_name: str) -> list[KeyRecord]:
        from alibabacloud_ram20150501 import models

        try:
            body = self.client.list_access_keys(models.ListAccessKeysRequest(user_name=user_name)).body
        except Exception as exc:
            raise self._fail(exc, "ListAccessKeys", user_name) from exc
        keys = getattr(getattr(body, "access_keys", None), "access_key", None) or []
        return [KeyRecord(str(k.access_key_id), str(k.status or ""), parse_ram_date(k.create_date)) for k in keys]

    def create_key(self, user_name: str) -> NewAccessKey:
        from alibabacloud_ram20150501 import models

        try:
            body = self.client.create_access_key(models.CreateAccessKeyRequest(user_name=user_name)).body
        except Exception as exc:
            raise self._fail(exc, "CreateAccessKey", user_name) from exc
        key = getattr(body, "access_key", None)
        secret = getattr(key, "access_key_secret", None)
        if isinstance(secret, str) and secret and self.on_secret is not None:
            self.on_secret(secret)  # before anything else can see it
        key_id = getattr(key, "access_key_id", None)
        if not key_id or not isinstance(secret, str) or not secret:
            raise AccessKeyError(f"RAM CreateAccessKey for user {user_name!r} answered without a key pair")
        return NewAccessKey(str(key_id), secret, parse_ram_date(getattr(key, "create_date", None)))

    def set_key_status(self, user_name: str, access_key_id: str, status: Literal["Active", "Inactive"]) -> None:
        from alibabacloud_ram20150501 import models

        request = models.UpdateAccessKeyRequest(user_name=user_name, user_access_key_id=access_key_id, status=status)
        try:
            self.client.update_access_key(request)
        except Exception as exc:
            raise self._fail(exc, f"UpdateAccessKey({access_key_id} -> {status})", user_name) from exc

    def delete_key(self, user_name: str, access_key_id: str) -> None:
        from alibabacloud_ram20150501 import models

        request = models.DeleteAccessKeyRequest(user_name=user_name, user_access_key_id=access_key_id)
        try:
            self.client.delete_access_key(request)
        except Exception as exc:
            if _error_code(exc) == "EntityNotExist.User.AccessKey":
                return
            raise self._fail(exc, f"DeleteAccessKey({access_key_id})", user_name) from exc

    def last_used(self, user_name: str, access_key_id: str) -> datetime | None:
        from alibabacloud_ram20150501 import models

        request = models.GetAccessKeyLastUsedRequest(user_name=user_name, user_access_key_id=access_key_id)
        try:
            body = self.client.get_access_key_last_used(request).body
        except Exception as exc:
            raise self._fail(exc, f"GetAccessKeyLastUsed({access_key_id})", user_name) from exc
        return parse_ram_date(getattr(getattr(body, "access_key_last_used", None), "last_used_date", None))

    def user_comments(self, user_name: str) -> str | None:
        from alibabacloud_ram20150501 import models

        try:
            user = self.client.get_user(models.GetUserRequest(user_name=user_name)).body.user
        except Exception as exc:
            if _error_code(exc) == "EntityNotExist.User":
                return None
            raise self._fail(exc, "GetUser", user_name) from exc
        return str(getattr(user, "comments", None) or "")

    def set_user_comments(self, user_name: str, comments: str) -> None:
        from alibabacloud_ram20150501 import models

        try:
            self.client.update_user(models.UpdateUserRequest(user_name=user_name, new_comments=comments))
        except Exception as exc:
            raise self._fail(exc, "UpdateUser", user_name) from exc

    def verify(self, fields: Mapping[str, Any]) -> Verification:
        return self.verifier(fields)


# --------------------------------------------------------------------------------------------------
# Verification through the health checks


def verification_from_report(report: Any) -> Verification:
    """Map a :class:`~.health.report.HealthReport` of :data:`VERIFY_CHECKS` to a :class:`Verification`."""
    if report.verdict in ("HEALTHY", "DEGRADED"):
        return Verification(True, "ok", report.summary_line())
    problem = report.first_problem()
    if problem is None:  # pragma: no cover - a failing verdict always has a problem
        return Verification(False, "config", f"verdict {report.verdict}")
    unreachable = problem.category == "unreachable"
    stage: Stage
    if unreachable:
        stage = "unreachable"
    elif problem.name == "connection":
        stage = "config"
    elif problem.name == "authentication":
        stage = "authentication"
    else:
        stage = "project"
    fix = f" Fix: {problem.remediation}" if problem.remediation else ""
    return Verification(False, stage, f"{problem.name} {problem.code}: {problem.message}{fix}")


def health_verifier(
    *, timeout_s: float = 60.0, on_secret: Callable[[str], None] | None = None
) -> Callable[[Mapping[str, Any]], Verification]:
    """A verifier running the health checks ``authentication`` + ``project_accessible`` on connection fields.

    They are seed 000 step 6's "authentication succeeds" and "project is accessible": STS
    GetCallerIdentity (MaxCompute ``whoami`` when STS is unreachable) and ``GET /projects/<p>`` signed
    with the key under test.
    """

    def verify(fields: Mapping[str, Any]) -> Verification:
        from airflow_provider_clarityq.core.health.options import HealthOptions
        from airflow_provider_clarityq.core.health.probe import check_connection_fields

        options = HealthOptions(checks=VERIFY_CHECKS, timeout_s=timeout_s)
        report = check_connection_fields(fields, options, on_new_secret=on_secret)
        return verification_from_report(report)

    return verify


# --------------------------------------------------------------------------------------------------
# The connection fields delivered


def reader_connection_template(admin: Mapping[str, Any]) -> dict[str, Any]:
    """Fields of a new sink entry, taken from the admin connection: same endpoint, project and service
    endpoints, but none of the admin's credentials (login, password, STS token, AssumeRole settings)."""
    raw_extra = admin.get("extra")
    if isinstance(raw_extra, str):
        import json

        try:
            raw_extra = json.loads(raw_extra) if raw_extra.strip() else {}
        except ValueError:
            raw_extra = {}
    extra: dict[str, Any] = {}
    if isinstance(raw_extra, Mapping):
        for key, value in raw_extra.items():
            name = key[len(_LEGACY_PREFIX) :] if isinstance(key, str) and key.startswith(_LEGACY_PREFIX) else key
            if name not in _CREDENTIAL_EXTRAS and value not in (None, ""):
                extra[str(name)] = value
    template: dict[str, Any] = {"conn_type": admin.get("conn_type") or "clarityq_maxcompute"}
    for name in ("host", "schema"):
        if admin.get(name):
            template[name] = admin[name]
    if extra:
        template["extra"] = extra
    return template


# --------------------------------------------------------------------------------------------------
# The manager


@dataclass
class _Survey:
    """What a run starts from: the connection as the consumer resolves it, the user's keys and Comments."""

    entry: dict[str, Any] | None
    keys: list[KeyRecord]
    sink_key: KeyRecord | None
    comments: ManagedComments = field(default_factory=lambda: ManagedComments(True))
    place: str | None = None
    sink_had_entry: bool = True

    @property
    def login(self) -> str | None:
        login = (self.entry or {}).get("login")
        return login if isinstance(login, str) and login else None

    def readable(self) -> bool:
        password = (self.entry or {}).get("password")
        return isinstance(password, str) and bool(password)


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sort_key(record: KeyRecord) -> tuple[datetime, str]:
    return (record.create_date or datetime.min.replace(tzinfo=timezone.utc), record.access_key_id)


class AccessKeyManager:
    """Ensure or rotate the AccessKey of one RAM user, delivered to one sink entry (see module docstring).

    :param backend: RAM operations and verification (:class:`RamKeyBackend`).
    :param sink: where the secret goes.
    :param user_name: the RAM user (``clarityq``).
    :param sink_conn_id: the sink entry (``clarityq_reader``).
    :param template: fields for a *new* sink entry (:func:`reader_connection_template`); an existing entry
        keeps its own fields and only gets ``login``/``password`` replaced.
    :param on_secret: called with every secret the manager sees (the new key's and the one read from the
        sink) before it is used; Airflow's ``mask_secret``.
    :param resolver: how the consumer resolves ``sink_conn_id`` (Airflow's own connection lookup, in the
        operators). What it returns is what the reader holds; an old key is only retired once it returns the
        new key and that key works. Default: the sink itself (for a store nothing else shadows).
    :param preflight: given what the resolver returned, whether a write to the sink reaches the consumer: True
        (it does), a reason why it cannot (the run stops before anything changes), or None (cannot be told; then
        a sink without the entry the consumer resolves elsewhere is refused too, before anything changes).
    :param now: clock for the grace period; ``sleep``: for verification back-off (tests pass fakes).
    """

    def __init__(
        self,
        backend: KeyBackend,
        sink: SecretSink,
        *,
        user_name: str,
        sink_conn_id: str,
        template: Mapping[str, Any] | None = None,
        options: AccessKeyOptions | None = None,
        on_secret: Callable[[str], None] | None = None,
        logger: TaskLogger | None = None,
        resolver: Callable[[str], ResolvedConnection | None] | None = None,
        preflight: Callable[[ResolvedConnection | None], Literal[True] | str | None] | None = None,
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.backend = backend
        self.sink = sink
        self.resolve = resolver or sink_resolver(sink)
        self.preflight = preflight
        self._settled: set[str] = set()  # new keys deleted or deactivated again in this run
        self.user_name = validate_ram_user_name(user_name, field="ram_user")
        if not isinstance(sink_conn_id, str) or not sink_conn_id.strip():
            raise ConfigurationError("sink_conn_id", "is empty", "name the connection that receives the key")
        self.sink_conn_id = sink_conn_id.strip()
        self.template = dict(template or {"conn_type": "clarityq_maxcompute"})
        self.options = options or AccessKeyOptions()
        self.on_secret = on_secret
        self.log: TaskLogger = logger or log
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.sleep = sleep

    # -- public ---------------------------------------------------------------------------------------

    def ensure(self, *, dry_run: bool = False) -> AccessKeyResult:
        """Create and deliver a key only when the sink holds no working key of the user."""
        survey = self._survey(dry_run)
        if survey is None:
            return self._user_missing_plan()
        self._guard_foreign(survey)
        result = self._result(survey, dry_run)
        self._housekeep(survey, result, dry_run)
        current = survey.sink_key
        if current is not None and current.active:
            verification = self._check_current(survey)
            if verification.ok:
                result.verified = verification.stage == "ok"
                self.log.info(
                    "Connection %s already holds AccessKey %s of RAM user %s (%s); nothing to create.",
                    self.sink_conn_id,
                    current.access_key_id,
                    self.user_name,
                    "verified" if result.verified else "not verifiable: the sink does not reveal secrets",
                )
                return result
            self.log.warning(
                "AccessKey %s in connection %s does not authenticate (%s); creating a new one.",
                current.access_key_id,
                self.sink_conn_id,
                verification.reason,
            )
        return self._replace(survey, result, deactivate_others=False)

    def rotate(self, *, dry_run: bool = False) -> AccessKeyResult:
        """Replace the sink's key and deactivate the user's other Active keys (or finish an interrupted rotation)."""
        survey = self._survey(dry_run)
        if survey is None:
            return self._user_missing_plan()
        self._guard_foreign(survey)
        result = self._result(survey, dry_run)
        self._housekeep(survey, result, dry_run)
        current = survey.sink_key
        superseded = self._superseded(survey)
        if current is not None and current.active and superseded:
            verification = self._check_current(survey)
            if verification.ok:
                ids = ", ".join(k.access_key_id for k in superseded)
                self.log.info(
                    "Finishing an earlier rotation: connection %s holds the newer, working key %s; deactivating %s.",
                    self.sink_conn_id,
                    current.access_key_id,
                    ids,
                )
                result.action = "completed"
                result.verified = verification.stage == "ok"
                self._deactivate(superseded, result, new_key=current)
                return result
        return self._replace(survey, result, deactivate_others=True)

    # -- reading --------------------------------------------------------------------------------------

    def _survey(self, dry_run: bool) -> _Survey | None:
        """The user's mark and keys, and the reader connection as the consumer resolves it; None in a plan run
        for a user that does not exist yet. Refuses a user the provider does not manage, and a sink that holds
        a different key than the consumer reads, before anything changes."""
        raw_comments = self.backend.user_comments(self.user_name)
        if raw_comments is None:
            if dry_run:
                return None
            raise UserNotFoundError(
                "ram_user",
                f"names RAM user {self.user_name!r}, which does not exist",
                "create it first (the ensure_ram_user task of clarityq_provision_access)",
            )
        comments = parse_comments(raw_comments)
        if not comments.managed:
            raise unmanaged_user_error(self.user_name)
        resolved = self.resolve(self.sink_conn_id)
        entry = dict(resolved.fields) if resolved is not None else None
        self._mask_entry(entry)
        sink_had_entry = self._refuse_shadowed_sink(resolved)
        keys = sorted(self.backend.list_keys(self.user_name), key=_sort_key)
        login = (entry or {}).get("login")
        sink_key = next((k for k in keys if k.access_key_id == login), None)
        listing = ", ".join(f"{k.access_key_id} ({k.status})" for k in keys) or "none"
        self.log.info(
            "RAM user %s has %d AccessKey(s): %s; connection %s, as %s resolves it, holds %s.",
            self.user_name,
            len(keys),
            listing,
            self.sink_conn_id,
            resolved.place if resolved else "Airflow",
            f"key {login}" if login else "no key",
        )
        return _Survey(entry, keys, sink_key, comments, resolved.place if resolved else None, sink_had_entry)

    def _mask_entry(self, entry: Mapping[str, Any] | None) -> None:
        password = (entry or {}).get("password")
        if isinstance(password, str) and password and self.on_secret is not None:
            self.on_secret(password)

    def _refuse_shadowed_sink(self, resolved: ResolvedConnection | None) -> bool:
        """Refuse when the sink holds an entry the consumer does not return: writing it again would change nothing
        the reader sees. Returns whether the sink holds an entry."""
        reach = self.preflight(resolved) if self.preflight is not None else None
        if isinstance(reach, str):
            raise SinkMismatchError(
                f"the key step writes {self.sink!r}, but {reach}. A new key delivered there would not reach "
                f"the reader {self.sink_conn_id!r}, so nothing was created or retired: point [clarityq] secret_sink "
                "at the place Airflow reads (docs/access-keys.md)."
            )
        stored = self.sink.read(self.sink_conn_id)
        if stored is None:
            if resolved is not None and reach is not True:
                raise SinkMismatchError(
                    f"the key step writes {self.sink!r}, which has no entry {self.sink_conn_id!r}, but Airflow "
                    f"resolves it from {resolved.place}. Nothing was created or retired: if that sink is where "
                    "Airflow reads, copy the entry there first; otherwise point [clarityq] secret_sink at that "
                    "place (docs/access-keys.md)."
                )
            return False
        self._mask_entry(stored)
        stored_login = stored.get("login")
        if resolved is not None and resolved.login == stored_login:
            return True
        seen = f"from {resolved.place} with AccessKey {resolved.login}" if resolved else "nowhere (not defined)"
        raise SinkMismatchError(
            f"the key step writes {self.sink!r}, which holds AccessKey {stored_login} for {self.sink_conn_id!r}, but "
            f"Airflow resolves {self.sink_conn_id!r} {seen}. A new key delivered there would not reach the reader, "
            "so nothing was created or retired: point [clarityq] secret_sink at the place Airflow reads "
            "(docs/access-keys.md), or remove the stale entry."
        )

    def _user_missing_plan(self) -> AccessKeyResult:
        note = f"RAM user {self.user_name} does not exist yet: once it does, an AccessKey would be created"
        self.log.info("Plan: %s.", note)
        return AccessKeyResult(
            action="created",
            access_key_id=None,
            user_name=self.user_name,
            sink_conn_id=self.sink_conn_id,
            dry_run=True,
            notes=[note],
        )

    def _result(self, survey: _Survey, dry_run: bool) -> AccessKeyResult:
        return AccessKeyResult(
            action="unchanged",
            access_key_id=survey.sink_key.access_key_id if survey.sink_key else None,
            user_name=self.user_name,
            sink_conn_id=self.sink_conn_id,
            dry_run=dry_run,
            resolved_from=survey.place,
        )

    def _superseded(self, survey: _Survey) -> list[KeyRecord]:
        """Active keys not newer than the sink's key: a rotation that stopped before deactivating them.

        CreateDate has a resolution of one second, so a key created in the same second as the sink's key
        counts as older: deactivating it is reversible, deleting it never happens without the grace period.
        """
        current = survey.sink_key
        if current is None:
            return []
        return [k for k in survey.keys if k.active and k is not current and not self._undelivered(k, current)]

    def _check_current(self, survey: _Survey) -> Verification:
        """Test the sink's own entry; a sink that hides secrets is trusted by key ID (``unverified``)."""
        if not survey.readable():
            return Verification(True, "unverified", "the sink does not reveal the secret; trusted by key ID")
        assert survey.entry is not None
        verification = self.backend.verify(survey.entry)
        if verification.ok or verification.stage == "authentication":
            return verification
        # The key signs fine (or cannot be tested now): a new key would fail the same way.
        raise VerificationError(
            f"connection {self.sink_conn_id!r} (AccessKey {survey.login}) fails verification at "
            f"{verification.stage}: {verification.reason}. No key was created or changed"
            + (" - retry when the service is reachable." if verification.stage == "unreachable" else "."),
            stage=verification.stage,
        )

    def _guard_foreign(self, survey: _Survey) -> None:
        """Refuse to overwrite an entry whose key works but belongs to someone else (e.g. the admin's)."""
        if survey.entry is None or survey.login is None or survey.sink_key is not None:
            return
        what = f"connection {self.sink_conn_id!r} holds AccessKey {survey.login}, which is not a key of RAM user"
        if not survey.readable():
            raise SinkConflictError(
                f"{what} {self.user_name!r}, and the sink does not reveal its secret to test it. Refusing to "
                "overwrite it: point sink_conn_id at the reader's own connection, or delete this entry."
            )
        verification = self.backend.verify(survey.entry)
        if verification.stage == "authentication" or verification.stage == "config":
            self.log.warning("%s %s and does not authenticate; it will be replaced.", what, self.user_name)
            return
        if verification.stage == "unreachable":
            raise VerificationError(
                f"{what} {self.user_name!r} and could not be tested ({verification.reason}); nothing was changed.",
                stage="unreachable",
            )
        raise SinkConflictError(
            f"{what} {self.user_name!r} but works (it belongs to another identity). Refusing to overwrite it: "
            "point sink_conn_id at the reader's own connection (e.g. clarityq_reader)."
        )

    # -- housekeeping ---------------------------------------------------------------------------------

    def _housekeep(self, survey: _Survey, result: AccessKeyResult, dry_run: bool) -> None:
        """Clear keys an interrupted run left behind, deactivate undelivered keys, delete retired keys whose grace
        period is over, note the others."""
        current = survey.sink_key
        intent = survey.comments.intent
        for key in list(survey.keys):
            if key is current or not key.active:
                continue
            if self._orphaned(key, intent):
                self._clear_orphan(survey, key, result, dry_run)
            elif self._undelivered(key, current):
                self._retire(survey, key, result, dry_run, why="undelivered: newer than the sink's key")
        if intent is not None and not dry_run:  # the interrupted run is accounted for
            survey.comments = survey.comments.without_intent()
            self._journal(survey.comments)
        now = self.now()
        for key in list(survey.keys):
            if key is current or key.active:
                continue
            delete_after = self._delete_after(key, current)
            if now >= delete_after:
                self._delete(
                    survey, key, result, dry_run, why=f"Inactive, grace period over since {_utc(delete_after)}"
                )
            elif not any(p["access_key_id"] == key.access_key_id for p in result.pending_deletion):
                result.pending_deletion.append({"access_key_id": key.access_key_id, "delete_after": _utc(delete_after)})
                self.log.info(
                    "Inactive AccessKey %s is kept until %s (grace period); a later run deletes it.",
                    key.access_key_id,
                    _utc(delete_after),
                )

    def _delete_after(self, key: KeyRecord, current: KeyRecord | None) -> datetime:
        """End of a retired key's grace period: from the latest of the sink key's creation, its own, its last use."""
        used = self.backend.last_used(self.user_name, key.access_key_id)
        starts = [d for d in (current.create_date if current else None, key.create_date, used) if d is not None]
        return max(starts, default=self.now()) + self.options.grace_period

    @staticmethod
    def _orphaned(key: KeyRecord, intent: KeyIntent | None) -> bool:
        """A key the journal says a run created and never delivered (the run was interrupted)."""
        if intent is None:
            return False
        if intent.access_key_id is not None:
            return key.access_key_id == intent.access_key_id
        # Killed between CreateAccessKey and recording its ID: a key created from the announced moment on.
        return key.create_date is not None and key.create_date >= intent.started - timedelta(seconds=1)

    def _clear_orphan(self, survey: _Survey, key: KeyRecord, result: AccessKeyResult, dry_run: bool) -> None:
        """Delete an orphaned key nobody ever used; only deactivate (reversibly) one that was used."""
        assert survey.comments.intent is not None
        announced = _utc(survey.comments.intent.started)
        used = self.backend.last_used(self.user_name, key.access_key_id)
        if used is None:
            why = f"created by a run interrupted before delivery (announced {announced}) and never used"
            self.log.warning("AccessKey %s was %s: deleting it.", key.access_key_id, why)
            self._delete(survey, key, result, dry_run, why=why)
            return
        self._retire(
            survey,
            key,
            result,
            dry_run,
            why=f"created by a run interrupted before delivery (announced {announced}) but used at {_utc(used)}, "
            "so it is not deleted now",
        )

    def _journal(self, comments: ManagedComments) -> None:
        """Write the user's Comments (mark + intent). A failure is logged: the next run reads the older entry."""
        try:
            self.backend.set_user_comments(self.user_name, comments.render())
        except Exception as exc:
            self.log.warning("Could not record the AccessKey intent on RAM user %s (%s).", self.user_name, _safe(exc))

    @staticmethod
    def _undelivered(key: KeyRecord, current: KeyRecord | None) -> bool:
        """An Active key created after the sink's key: a delivery that failed (nothing should rely on it)."""
        if current is None or key.create_date is None or current.create_date is None:
            return False
        return key.create_date > current.create_date

    def _retire(self, survey: _Survey, key: KeyRecord, result: AccessKeyResult, dry_run: bool, *, why: str) -> None:
        """Deactivate a key (reversible until its grace period ends) and track it as retired."""
        survey.keys[survey.keys.index(key)] = KeyRecord(key.access_key_id, "Inactive", key.create_date)
        if dry_run:
            result.notes.append(f"would deactivate AccessKey {key.access_key_id}: {why}")
            self.log.info("Plan: deactivate AccessKey %s (%s).", key.access_key_id, why)
            return
        self.backend.set_key_status(self.user_name, key.access_key_id, "Inactive")
        result.deactivated.append(key.access_key_id)
        self.log.warning(
            "Deactivated AccessKey %s of RAM user %s: %s. Re-activate it in the RAM console within the grace "
            "period if something needs it.",
            key.access_key_id,
            self.user_name,
            why,
        )

    def _delete(self, survey: _Survey, key: KeyRecord, result: AccessKeyResult, dry_run: bool, *, why: str) -> None:
        if dry_run:
            survey.keys.remove(key)
            result.notes.append(f"would delete AccessKey {key.access_key_id}: {why}")
            self.log.info("Plan: delete AccessKey %s (%s).", key.access_key_id, why)
            return
        self.backend.delete_key(self.user_name, key.access_key_id)
        survey.keys.remove(key)
        result.deleted.append(key.access_key_id)
        self.log.info("Deleted AccessKey %s of RAM user %s: %s.", key.access_key_id, self.user_name, why)

    # -- replacing ------------------------------------------------------------------------------------

    def _make_room(self, survey: _Survey, result: AccessKeyResult) -> None:
        keys = list(survey.keys)
        if len(keys) < ACCESS_KEY_LIMIT:
            return
        inactive = sorted((k for k in keys if not k.active), key=_sort_key)
        described = "; ".join(self._describe(k, survey) for k in keys)
        if self.options.on_key_limit == "delete_oldest_inactive" and inactive:
            victim = inactive[0]
            if any(p["access_key_id"] == victim.access_key_id for p in result.pending_deletion):
                self.log.warning(
                    "Key limit reached: deleting Inactive AccessKey %s before its grace period ends (policy "
                    "delete_oldest_inactive).",
                    victim.access_key_id,
                )
                result.pending_deletion = [
                    p for p in result.pending_deletion if p["access_key_id"] != victim.access_key_id
                ]
            self._delete(
                survey, victim, result, result.dry_run, why="key limit reached (policy delete_oldest_inactive)"
            )
            return
        if inactive:
            how = (
                f"policy on_key_limit='refuse' keeps Inactive key {inactive[0].access_key_id}: delete it in the RAM "
                "console (or wait for its grace period to end), or run with on_key_limit='delete_oldest_inactive'"
            )
        else:
            how = (
                "both keys are Active, so no policy may delete one: deactivate the key nothing uses any more "
                "(check its last use in the RAM console), then re-run"
            )
        raise KeyLimitError(
            f"RAM user {self.user_name!r} already has {ACCESS_KEY_LIMIT} AccessKeys ({described}) and RAM allows no "
            f"more: {how}. Nothing was changed."
        )

    def _describe(self, key: KeyRecord, survey: _Survey) -> str:
        where = "in the sink" if key is survey.sink_key else "not in the sink"
        created = f", created {_utc(key.create_date)}" if key.create_date else ""
        return f"{key.access_key_id} {key.status}, {where}{created}"

    def _replace(self, survey: _Survey, result: AccessKeyResult, *, deactivate_others: bool) -> AccessKeyResult:
        self._make_room(survey, result)
        old_active = [k for k in survey.keys if k.active]
        action: Action = "rotated" if deactivate_others and survey.sink_key is not None else "created"
        if result.dry_run:
            result.action = action
            retiring = [k.access_key_id for k in old_active] if deactivate_others else []
            then = f" and deactivate {', '.join(retiring)}" if retiring else ""
            result.notes.append(
                f"would create an AccessKey for {self.user_name}, verify it, deliver it to {self.sink_conn_id}{then}"
            )
            self.log.info("Plan: %s", result.notes[-1])
            return result

        # Announce the key before creating it: a run killed after CreateAccessKey leaves the announcement, and
        # the next run recognises the key nobody holds (see _housekeep).
        announced = survey.comments.with_intent(self.now())
        self._journal(announced)
        new = self.backend.create_key(self.user_name)
        if self.on_secret is not None:
            self.on_secret(new.access_key_secret)
        self.log.info("Created AccessKey %s for RAM user %s.", new.access_key_id, self.user_name)
        result.created = new.access_key_id
        assert announced.intent is not None
        self._journal(announced.with_intent(announced.intent.started, new.access_key_id))
        delivered = False
        try:
            self._verify_and_deliver(new, survey)
            delivered = True
            result.action = action
            result.access_key_id = new.access_key_id
            result.verified = True
            if deactivate_others:
                record = KeyRecord(new.access_key_id, "Active", new.create_date or self.now())
                self._deactivate(old_active, result, new_key=record)
        except BaseException as exc:
            # Interrupted (a timeout, a bug) before the consumer held the key: it must not stay behind.
            if not delivered and not isinstance(exc, AccessKeyError | SinkError):
                self.log.warning("Interrupted before delivery (%s): %s", type(exc).__name__, self._discard(new))
            raise
        finally:
            if delivered or new.access_key_id in self._settled:  # else the next run must find the key
                self._journal(survey.comments.without_intent())
        result.resolved_from = survey.place
        return result

    def _verify_and_deliver(self, new: NewAccessKey, survey: _Survey) -> None:
        """Verify the new key on the reader's fields, deliver it, then confirm the consumer resolves and can use
        it. Every failure deletes the new key again and leaves the reader's current key as it was."""
        entry = survey.entry or {}
        # A new entry gets the template; an existing one keeps its fields and only gains missing ones.
        missing = {k: v for k, v in self.template.items() if entry.get(k) in (None, "")}
        delivery: dict[str, Any] = {**missing, "login": new.access_key_id, "password": new.access_key_secret}
        fields = {**entry, **delivery}

        verification = self._verify_new(fields)
        if not verification.ok:
            cleanup = self._discard(new)
            raise VerificationError(
                f"the new AccessKey {new.access_key_id} failed verification at {verification.stage}: "
                f"{verification.reason}. {cleanup} The sink was not changed and the current key "
                f"{survey.login or '(none)'} keeps its status.",
                stage=verification.stage,
            )
        self._deliver(new, delivery)
        self._confirm_resolved(new, survey)
        self.log.info(
            "Delivered AccessKey %s to connection %s, where Airflow reads it (%s); verified: authentication, "
            "project access.",
            new.access_key_id,
            self.sink_conn_id,
            survey.place or "resolved",
        )

    def _confirm_resolved(self, new: NewAccessKey, survey: _Survey) -> None:
        """The invariant that protects the live key: the consumer's own lookup returns the new key, and it works."""
        resolved = self.resolve(self.sink_conn_id)
        if resolved is not None:
            self._mask_entry(resolved.fields)
        if resolved is None or resolved.login != new.access_key_id:
            seen = f"from {resolved.place} with AccessKey {resolved.login}" if resolved else "nowhere"
            cleanup = self._discard(new)
            if survey.sink_had_entry:
                self._restore(survey)
            else:
                self._unwrite()
            raise SinkMismatchError(
                f"AccessKey {new.access_key_id} was written to {self.sink!r}, but Airflow resolves "
                f"{self.sink_conn_id!r} {seen}. {cleanup} Nothing was deactivated: the reader keeps AccessKey "
                f"{survey.login or '(none)'}. Point [clarityq] secret_sink at the place Airflow reads "
                "(docs/access-keys.md)."
            )
        survey.place = resolved.place
        if not resolved.fields.get("password"):  # a resolver that hides secrets: the key was verified before
            self.log.info("%s does not reveal the secret; the delivered key is trusted by its ID.", resolved.place)
            return
        verification = self._verify_new(resolved.fields)
        if not verification.ok:
            self._restore(survey)
            cleanup = self._discard(new)
            raise VerificationError(
                f"connection {self.sink_conn_id!r} as Airflow resolves it ({resolved.place}) holds the new AccessKey "
                f"{new.access_key_id} but fails at {verification.stage}: {verification.reason}. {cleanup} The "
                "previous key was written back and keeps its status.",
                stage=verification.stage,
            )

    def _unwrite(self) -> None:
        """Remove the entry this run created in a sink the consumer does not read (best effort)."""
        remove = getattr(self.sink, "remove", None)
        if callable(remove):
            try:
                remove(self.sink_conn_id)
            except Exception as exc:
                self.log.warning("Could not remove %s from %r (%s).", self.sink_conn_id, self.sink, _safe(exc))

    def _restore(self, survey: _Survey) -> None:
        """Put the reader's previous key back into the sink (best effort; it was never deactivated)."""
        entry = survey.entry or {}
        login, password = entry.get("login"), entry.get("password")
        if not (isinstance(login, str) and login and isinstance(password, str) and password):
            return
        try:
            self.sink.deliver(self.sink_conn_id, {"login": login, "password": password})
        except Exception as exc:
            self.log.warning("Could not write the previous key back to %s (%s).", self.sink_conn_id, _safe(exc))

    def _verify_new(self, fields: Mapping[str, Any]) -> Verification:
        delay = self.options.verify_backoff_s
        verification = Verification(False, "unreachable", "not verified")
        for attempt in range(1, self.options.verify_attempts + 1):
            verification = self.backend.verify(fields)
            if verification.ok or not verification.worth_retrying or attempt == self.options.verify_attempts:
                return verification
            self.log.info(
                "New key not verified yet (attempt %d/%d, %s); retrying in %.1f s.",
                attempt,
                self.options.verify_attempts,
                verification.stage,
                delay,
            )
            self.sleep(delay)
            delay = min(delay * 2, self.options.verify_backoff_max_s)
        return verification

    def _deliver(self, new: NewAccessKey, delivery: Mapping[str, Any]) -> None:
        try:
            self.sink.deliver(self.sink_conn_id, delivery)
        except Exception as exc:
            failure = f"delivering it to {self.sink_conn_id!r} failed ({_safe(exc)})"
            landed = self._landed(new)
            if landed is None:
                raise SinkError(
                    f"AccessKey {new.access_key_id} was created but {failure}, and the sink cannot be read back to "
                    f"tell whether it was stored. The key is left Active and the old key untouched; the next run "
                    f"finishes the rotation if the sink holds it, or deletes it as undelivered."
                ) from None
            if not landed:
                cleanup = self._discard(new)
                raise SinkError(f"AccessKey {new.access_key_id} was created but {failure}. {cleanup}") from None
            self.log.warning("Delivery reported %s, but the sink holds the new key; carrying on.", type(exc).__name__)
            return
        landed = self._landed(new)
        if landed is False:
            cleanup = self._discard(new)
            raise SinkError(
                f"connection {self.sink_conn_id!r} does not hold AccessKey {new.access_key_id} after a delivery "
                f"the sink reported as done (read back). {cleanup} The old key keeps its status."
            )
        if landed is None:
            raise SinkError(
                f"AccessKey {new.access_key_id} was delivered to {self.sink_conn_id!r} but the sink cannot be read "
                "back to confirm it. The key is left Active and the old key untouched; the next run finishes the "
                "rotation if the sink holds it, or deactivates it as undelivered."
            )

    def _landed(self, new: NewAccessKey) -> bool | None:
        """Does the sink hold the new key? None when the sink cannot be read."""
        try:
            entry = self.sink.read(self.sink_conn_id)
        except Exception:
            return None
        if entry is None or entry.get("login") != new.access_key_id:
            return False
        password = entry.get("password")
        return password is None or password == new.access_key_secret

    def _discard(self, new: NewAccessKey) -> str:
        """Delete a key that must not stay (undelivered or not working); say what happened."""
        try:
            self.backend.delete_key(self.user_name, new.access_key_id)
            self._settled.add(new.access_key_id)
        except Exception as exc:
            try:
                self.backend.set_key_status(self.user_name, new.access_key_id, "Inactive")
                self._settled.add(new.access_key_id)
            except Exception:
                return (
                    f"Deleting the new key failed too ({_safe(exc)}): AccessKey {new.access_key_id} is left Active "
                    "but nobody holds its secret. Delete it in the RAM console; otherwise a later run deactivates it "
                    "(as undelivered or superseded) and deletes it after the grace period."
                )
            return (
                f"Deleting the new key failed ({_safe(exc)}), so AccessKey {new.access_key_id} was deactivated "
                "instead; the next run deletes it."
            )
        return f"The new key {new.access_key_id} was deleted again."

    def _deactivate(self, keys: Sequence[KeyRecord], result: AccessKeyResult, *, new_key: KeyRecord) -> None:
        for key in keys:
            if key.access_key_id == new_key.access_key_id or not key.active:
                continue
            try:
                self.backend.set_key_status(self.user_name, key.access_key_id, "Inactive")
            except Exception as exc:
                raise AccessKeyError(
                    f"AccessKey {new_key.access_key_id} is delivered to {self.sink_conn_id!r} and works, but "
                    f"deactivating the old key {key.access_key_id} failed ({_safe(exc)}). It is still Active; the "
                    "next rotation run deactivates it before doing anything else."
                ) from exc
            result.deactivated.append(key.access_key_id)
            delete_after = _utc(self._delete_after(key, new_key))
            result.pending_deletion.append({"access_key_id": key.access_key_id, "delete_after": delete_after})
            self.log.info(
                "Deactivated AccessKey %s; it can be re-activated until %s, when a later run deletes it.",
                key.access_key_id,
                delete_after,
            )


def _safe(exc: BaseException) -> str:
    """A failure's description for messages: our own errors are secret-free, others show only their type."""
    if isinstance(exc, ClarityQError):
        return one_line(str(exc))[:300]
    return type(exc).__name__

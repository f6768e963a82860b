"""What the AccessKey manager works with: errors, values, options, the run's result (no I/O, no Airflow)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Protocol

from airflow_provider_clarityq.core.connection import CREDENTIAL_EXTRAS
from airflow_provider_clarityq.core.defaults import CONN_TYPE
from airflow_provider_clarityq.core.errors import ClarityQError, ConfigurationError, one_line
from airflow_provider_clarityq.core.managed_user import ManagedComments

__all__ = [
    "ACCESS_KEY_LIMIT",
    "KEY_LIMIT_POLICIES",
    "VERIFY_CHECKS",
    "AccessKeyError",
    "AccessKeyOptions",
    "AccessKeyResult",
    "KeyLimitError",
    "KeyRecord",
    "NewAccessKey",
    "SinkConflictError",
    "SinkMismatchError",
    "TaskLogger",
    "UserNotFoundError",
    "Verification",
    "VerificationError",
    "reader_connection_template",
]

log = logging.getLogger(__name__)

#: RAM's quota of AccessKeys per RAM user (CreateAccessKey answers LimitExceeded.User.AccessKey beyond it).
ACCESS_KEY_LIMIT = 2
KeyLimitPolicy = Literal["delete_oldest_inactive", "refuse"]
KEY_LIMIT_POLICIES: tuple[KeyLimitPolicy, ...] = ("delete_oldest_inactive", "refuse")
#: Seed 000 step 6's first two checks: the key authenticates and the project is accessible with it.
VERIFY_CHECKS = ("authentication", "project_accessible")
#: Extras that describe *how the admin authenticates*, never copied into the reader's connection.
_LEGACY_PREFIX = "extra__clarityq_maxcompute__"

Stage = Literal["ok", "unverified", "config", "authentication", "project", "unreachable"]
Action = Literal["unchanged", "created", "rotated", "completed"]


class TaskLogger(Protocol):
    """What the manager logs through: a stdlib logger or an Airflow task's ``self.log`` (%-style args)."""

    def info(self, event: Any, *args: Any) -> Any: ...

    def warning(self, event: Any, *args: Any) -> Any: ...


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


def reader_connection_template(admin: Mapping[str, Any]) -> dict[str, Any]:
    """Fields of a new sink entry, taken from the admin connection: same endpoint, project and service
    endpoints, but none of the admin's credentials (login, password, STS token, AssumeRole, RRSA or ECS role
    settings): the reader signs with its own AccessKey."""
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
            if name not in CREDENTIAL_EXTRAS and value not in (None, ""):
                extra[str(name)] = value
    template: dict[str, Any] = {"conn_type": admin.get("conn_type") or CONN_TYPE}
    for name in ("host", "schema"):
        if admin.get(name):
            template[name] = admin[name]
    if extra:
        template["extra"] = extra
    return template


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


def _safe(exc: BaseException) -> str:
    """A failure's description for messages: our own errors are secret-free, others show only their type."""
    if isinstance(exc, ClarityQError):
        return one_line(str(exc))[:300]
    return type(exc).__name__

"""Identity state behind the emulated RAM and STS services: the account, RAM users, keys, roles.

Pure state with no HTTP. The RAM/STS handlers (``acs``) and the MaxCompute routes both resolve
signing keys here, so one store answers "who signed this request" for every emulated service.
Records are frozen and replaced on change, so a reader never sees a half-updated user or key.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from clarityq_emulator.acs.nonces import NonceCache
from clarityq_emulator.ram.errors import (
    DeleteConflictError,
    EntityAlreadyExistsError,
    EntityNotExistError,
    IdentityError,
    InvalidParameterError,
    LimitExceededError,
    NoPermissionError,
    format_date,
)
from clarityq_emulator.ram.federation import Federation
from clarityq_emulator.ram.seed import load_ram_seed
from clarityq_emulator.sts.models import (
    STS_KEY_RETENTION,
    StsSession,
    check_duration,
    validate_session_name,
)

__all__ = [
    "ACCESS_KEY_LIMIT",
    "AccessKey",
    "Caller",
    "DeleteConflictError",
    "EntityAlreadyExistsError",
    "EntityNotExistError",
    "IdentityError",
    "IdentityStore",
    "InvalidParameterError",
    "KeyInfo",
    "LimitExceededError",
    "NoPermissionError",
    "RamRole",
    "RamUser",
    "StsSession",
    "format_date",
]

#: RAM allows at most two AccessKeys per user (reference section 3 and the RAM limits page).
ACCESS_KEY_LIMIT = 2
#: A role's MaxSessionDuration range (RAM CreateRole: 3600-43200, default 3600).
MIN_ROLE_SESSION_DURATION = 3600
MAX_ROLE_SESSION_DURATION = 43200
#: How far a request's x-acs-date / Timestamp may stray from the wall clock (seconds).
DEFAULT_MAX_CLOCK_SKEW = 900.0

_ALNUM = string.ascii_letters + string.digits
_USER_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
_ROLE_NAME_RE = re.compile(r"[A-Za-z0-9.-]+")
_STATE_VERSION = 1

KeyStatus = Literal["Active", "Inactive"]
CallerKind = Literal["account", "ram_user", "assumed_role"]


def _random_alnum(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _random_digits(length: int, first: str) -> str:
    return first + "".join(secrets.choice(string.digits) for _ in range(length - 1))


@dataclass(frozen=True)
class Caller:
    """Who signed a request, as RAM/STS and MaxCompute see it."""

    kind: CallerKind
    account_id: str
    user_id: str
    name: str
    access_key_id: str
    arn: str


@dataclass(frozen=True)
class KeyInfo:
    """A signing key and the identity behind it, resolved at lookup time."""

    access_key_id: str
    secret: str
    status: KeyStatus
    caller: Caller
    security_token: str | None = None
    expires_at: float | None = None

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True)
class RamUser:
    user_id: str
    user_name: str
    display_name: str
    create_date: float
    update_date: float
    comments: str = ""
    email: str = ""
    mobile_phone: str = ""


@dataclass(frozen=True)
class AccessKey:
    """A permanent AccessKey of a RAM user. ``secret`` leaves the emulator only in CreateAccessKey."""

    access_key_id: str
    secret: str
    status: KeyStatus
    user_id: str
    create_date: float
    last_used_date: float | None = None
    last_used_service: str | None = None


@dataclass(frozen=True)
class RamRole:
    role_id: str
    role_name: str
    max_session_duration: int
    create_date: float
    description: str = ""

    def arn(self, account_id: str) -> str:
        # Real RAM prints role ARNs with the name lower-cased.
        return f"acs:ram::{account_id}:role/{self.role_name.lower()}"


def validate_user_name(name: str) -> None:
    """RAM user names: 1-64 characters of ``[A-Za-z0-9._-]``."""
    if not 1 <= len(name) <= 64:
        raise InvalidParameterError(
            "InvalidParameter.UserName.Length", "The parameter UserName beyond the length limit."
        )
    if not _USER_NAME_RE.fullmatch(name):
        raise InvalidParameterError(
            "InvalidParameter.UserName.InvalidChars", "The parameter UserName contains invalid chars."
        )


def _check_length(param: str, value: str, low: int, high: int) -> None:
    if not low <= len(value) <= high:
        raise InvalidParameterError(
            f"InvalidParameter.{param}.Length", f"The parameter {param} beyond the length limit."
        )


class IdentityStore:
    """The emulated account: owner key, RAM users and their keys, RAM roles and live STS sessions.

    Every mutation holds :attr:`lock` (an ``RLock``, so callers may group several calls under it).
    """

    def __init__(
        self,
        *,
        account_id: str | None = None,
        owner_access_key_id: str | None = None,
        owner_access_key_secret: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        #: Maximum |wall clock - request date| in seconds; None disables the check.
        self.max_clock_skew: float | None = DEFAULT_MAX_CLOCK_SKEW
        self.account_id = account_id or _random_digits(16, first="1")
        self.owner_access_key_id = owner_access_key_id or "LTAI" + _random_alnum(20)
        self.owner_access_key_secret = owner_access_key_secret or _random_alnum(30)
        self._users: dict[str, RamUser] = {}  # uid -> user
        self._names: dict[str, str] = {}  # lower-case name -> uid
        self._keys: dict[str, AccessKey] = {}  # key id -> key
        self._roles: dict[str, RamRole] = {}  # lower-case name -> role
        self._sts: dict[str, StsSession] = {}  # key id -> session
        self._nonces = NonceCache()
        #: Trust policies, OIDC providers, attached policies, the ECS instance's role.
        self.federation = Federation()

    # ----------------------------------------------------------------- lookups

    def now(self) -> float:
        return self.clock()

    def lookup_key(self, access_key_id: str) -> KeyInfo | None:
        """Resolve any signing key: owner, RAM user, or STS (expired STS keys included)."""
        with self.lock:
            if access_key_id == self.owner_access_key_id:
                return KeyInfo(
                    access_key_id=access_key_id,
                    secret=self.owner_access_key_secret,
                    status="Active",
                    caller=self._account_caller(),
                )
            key = self._keys.get(access_key_id)
            if key is not None:
                user = self._users[key.user_id]
                caller = Caller(
                    kind="ram_user",
                    account_id=self.account_id,
                    user_id=user.user_id,
                    name=user.user_name,
                    access_key_id=access_key_id,
                    arn=f"acs:ram::{self.account_id}:user/{user.user_name}",
                )
                return KeyInfo(access_key_id, key.secret, key.status, caller)
            session = self._sts.get(access_key_id)
            if session is not None:
                caller = Caller(
                    kind="assumed_role",
                    account_id=self.account_id,
                    user_id=session.role_id,
                    name=f"{session.role_name}/{session.session_name}",
                    access_key_id=access_key_id,
                    arn=(f"acs:ram::{self.account_id}:assumed-role/{session.role_name}/{session.session_name}"),
                )
                return KeyInfo(
                    access_key_id,
                    session.secret,
                    "Active",
                    caller,
                    security_token=session.security_token,
                    expires_at=session.expires_at,
                )
            return None

    def _account_caller(self) -> Caller:
        return Caller(
            kind="account",
            account_id=self.account_id,
            user_id=self.account_id,
            name=self.account_id,
            access_key_id=self.owner_access_key_id,
            arn=f"acs:ram::{self.account_id}:root",
        )

    def record_key_use(self, access_key_id: str, service: str) -> None:
        """Note a successful use of a RAM user's key (feeds GetAccessKeyLastUsed); others are ignored."""
        with self.lock:
            key = self._keys.get(access_key_id)
            if key is not None:
                self._keys[access_key_id] = replace(key, last_used_date=self.clock(), last_used_service=service)

    def get_user(self, name_or_uid: str) -> RamUser | None:
        """By user name (case-insensitive, as RAM treats names) or by numeric UID."""
        with self.lock:
            uid = self._names.get(name_or_uid.lower())
            if uid is not None:
                return self._users[uid]
            return self._users.get(name_or_uid)

    def get_role(self, name: str) -> RamRole | None:
        with self.lock:
            return self._roles.get(name.lower())

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        with self.lock:
            return self._keys.get(access_key_id)

    def list_users(self) -> list[RamUser]:
        """All users ordered by lower-cased name, the order ListUsers pages through."""
        with self.lock:
            return sorted(self._users.values(), key=lambda u: (u.user_name.lower(), u.user_id))

    def list_roles(self) -> list[RamRole]:
        with self.lock:
            return sorted(self._roles.values(), key=lambda r: r.role_name.lower())

    def require_user(self, name: str) -> RamUser:
        """The user with exactly this name (any case); raise ``EntityNotExist.User`` otherwise."""
        user = self.get_user(name)
        if user is None or user.user_name.lower() != name.lower():
            raise EntityNotExistError("EntityNotExist.User", "The user does not exist.")
        return user

    def _require_user_key(self, user_name: str, access_key_id: str) -> AccessKey:
        user = self.require_user(user_name)
        key = self._keys.get(access_key_id)
        if key is None or key.user_id != user.user_id:
            raise EntityNotExistError("EntityNotExist.User.AccessKey", "The user access key does not exist.")
        return key

    # ----------------------------------------------------------------- RAM users

    def create_user(
        self,
        name: str,
        *,
        display_name: str | None = None,
        comments: str = "",
        email: str = "",
        mobile_phone: str = "",
        user_id: str | None = None,
    ) -> RamUser:
        """Create a RAM user; ``display_name`` defaults to the name (real RAM requires one)."""
        validate_user_name(name)
        display = name if display_name is None else display_name
        _check_length("DisplayName", display, 1, 128)
        _check_length("Comments", comments, 0, 128)
        _check_length("Email", email, 0, 128)
        _check_length("MobilePhone", mobile_phone, 0, 32)
        with self.lock:
            if name.lower() in self._names:
                raise EntityAlreadyExistsError("EntityAlreadyExists.User", "The user does already EXIST.")
            if user_id is None:
                user_id = self._new_uid(first="2")
            elif not user_id.isdigit() or user_id in self._users:
                raise InvalidParameterError("InvalidParameter.UserId", f"User id {user_id!r} is unusable.")
            now = self.clock()
            user = RamUser(
                user_id=user_id,
                user_name=name,
                display_name=display,
                create_date=now,
                update_date=now,
                comments=comments,
                email=email,
                mobile_phone=mobile_phone,
            )
            self._users[user_id] = user
            self._names[name.lower()] = user_id
            return user

    def update_user(
        self,
        name: str,
        *,
        new_user_name: str | None = None,
        new_display_name: str | None = None,
        new_comments: str | None = None,
        new_email: str | None = None,
        new_mobile_phone: str | None = None,
    ) -> RamUser:
        """Rename or re-describe a user; its keys (and their callers' names) follow the rename."""
        if new_user_name is not None:
            validate_user_name(new_user_name)
        if new_display_name is not None:
            _check_length("DisplayName", new_display_name, 1, 128)
        if new_comments is not None:
            _check_length("Comments", new_comments, 0, 128)
        if new_email is not None:
            _check_length("Email", new_email, 0, 128)
        if new_mobile_phone is not None:
            _check_length("MobilePhone", new_mobile_phone, 0, 32)
        with self.lock:
            user = self.require_user(name)
            changes: dict[str, Any] = {}
            if new_user_name is not None and new_user_name != user.user_name:
                owner = self._names.get(new_user_name.lower())
                if owner is not None and owner != user.user_id:
                    raise EntityAlreadyExistsError("EntityAlreadyExists.User", "The user does already EXIST.")
                del self._names[user.user_name.lower()]
                self._names[new_user_name.lower()] = user.user_id
                changes["user_name"] = new_user_name
            for attr, value in (
                ("display_name", new_display_name),
                ("comments", new_comments),
                ("email", new_email),
                ("mobile_phone", new_mobile_phone),
            ):
                if value is not None:
                    changes[attr] = value
            updated = replace(user, update_date=self.clock(), **changes)
            self._users[user.user_id] = updated
            return updated

    def delete_user(self, name: str) -> None:
        with self.lock:
            user = self.require_user(name)
            if any(key.user_id == user.user_id for key in self._keys.values()):
                raise DeleteConflictError(
                    "DeleteConflict.User.AccessKey",
                    "The user CAN NOT has any access key while deleting the user.",
                )
            del self._users[user.user_id]
            del self._names[user.user_name.lower()]

    # ----------------------------------------------------------------- access keys

    def create_access_key(
        self,
        user_name: str,
        *,
        access_key_id: str | None = None,
        secret: str | None = None,
        status: KeyStatus = "Active",
    ) -> AccessKey:
        """Mint a permanent key for a user (at most :data:`ACCESS_KEY_LIMIT`); ids may be pinned by seeds."""
        if status not in ("Active", "Inactive"):
            raise InvalidParameterError("InvalidParameter.Status", "The parameter Status is invalid.")
        with self.lock:
            user = self.require_user(user_name)
            if len(self.list_access_keys(user.user_name)) >= ACCESS_KEY_LIMIT:
                raise LimitExceededError(
                    "LimitExceeded.User.AccessKey",
                    "The access key count of the user access keys beyond the current limits.",
                )
            if access_key_id is None:
                access_key_id = self._new_key_id("LTAI", 20)
            elif not access_key_id or self._key_taken(access_key_id):
                raise InvalidParameterError(
                    "InvalidParameter.AccessKeyId", f"AccessKey id {access_key_id!r} is unusable."
                )
            key = AccessKey(
                access_key_id=access_key_id,
                secret=secret or _random_alnum(30),
                status=status,
                user_id=user.user_id,
                create_date=self.clock(),
            )
            self._keys[access_key_id] = key
            return key

    def list_access_keys(self, user_name: str) -> list[AccessKey]:
        with self.lock:
            user = self.require_user(user_name)
            keys = [key for key in self._keys.values() if key.user_id == user.user_id]
            return sorted(keys, key=lambda k: (k.create_date, k.access_key_id))

    def update_access_key(self, user_name: str, access_key_id: str, status: str) -> AccessKey:
        if status not in ("Active", "Inactive"):
            raise InvalidParameterError("InvalidParameter.Status", "The parameter Status is invalid.")
        with self.lock:
            key = self._require_user_key(user_name, access_key_id)
            updated = replace(key, status="Active" if status == "Active" else "Inactive")
            self._keys[access_key_id] = updated
            return updated

    def delete_access_key(self, user_name: str, access_key_id: str) -> None:
        with self.lock:
            self._require_user_key(user_name, access_key_id)
            del self._keys[access_key_id]

    def get_access_key_last_used(self, user_name: str, access_key_id: str) -> float | None:
        with self.lock:
            return self._require_user_key(user_name, access_key_id).last_used_date

    def _key_taken(self, access_key_id: str) -> bool:
        return access_key_id == self.owner_access_key_id or access_key_id in self._keys or access_key_id in self._sts

    def _new_key_id(self, prefix: str, length: int) -> str:
        while True:
            candidate = prefix + _random_alnum(length)
            if not self._key_taken(candidate):
                return candidate

    def _new_uid(self, first: str) -> str:
        taken = set(self._users) | {role.role_id for role in self._roles.values()} | {self.account_id}
        while True:
            candidate = _random_digits(16, first=first)
            if candidate not in taken:
                return candidate

    # ----------------------------------------------------------------- roles and STS

    def add_role(
        self,
        name: str,
        *,
        max_session_duration: int = 3600,
        description: str = "",
        role_id: str | None = None,
    ) -> RamRole:
        """Register a RAM role that RAM users may assume (from seeds; the emulator has no CreateRole)."""
        if not 1 <= len(name) <= 64 or not _ROLE_NAME_RE.fullmatch(name):
            raise InvalidParameterError(
                "InvalidParameter.RoleName", "The parameter RoleName must be 1-64 of [A-Za-z0-9.-]."
            )
        if not MIN_ROLE_SESSION_DURATION <= max_session_duration <= MAX_ROLE_SESSION_DURATION:
            raise InvalidParameterError(
                "InvalidParameter.MaxSessionDuration",
                f"MaxSessionDuration must be {MIN_ROLE_SESSION_DURATION}-{MAX_ROLE_SESSION_DURATION}.",
            )
        with self.lock:
            if name.lower() in self._roles:
                raise EntityAlreadyExistsError("EntityAlreadyExists.Role", "The role does already EXIST.")
            if role_id is None:
                role_id = self._new_uid(first="3")
            role = RamRole(
                role_id=role_id,
                role_name=name,
                max_session_duration=max_session_duration,
                create_date=self.clock(),
                description=description,
            )
            self._roles[name.lower()] = role
            return role

    def assume_role(
        self,
        role_name: str,
        session_name: str,
        *,
        duration_seconds: int = 3600,
        source_identity: str = "",
    ) -> StsSession:
        """Mint temporary credentials for a role. Who may call this is the STS handler's business."""
        validate_session_name(session_name)
        with self.lock:
            role = self.get_role(role_name)
            if role is None:
                raise EntityNotExistError("EntityNotExist.Role", "The role not exists.")
            check_duration(duration_seconds, role.max_session_duration)
            now = self.clock()
            self._prune_sts(now)
            session = StsSession(
                access_key_id=self._new_key_id("STS.", 24),
                secret=_random_alnum(44),
                security_token="CAIS" + _random_alnum(156),
                role_id=role.role_id,
                role_name=role.role_name,
                session_name=session_name,
                issued_at=now,
                expires_at=now + duration_seconds,
                source_identity=source_identity,
            )
            self._sts[session.access_key_id] = session
            return session

    def _prune_sts(self, now: float) -> None:
        stale = [kid for kid, s in self._sts.items() if now - s.expires_at > STS_KEY_RETENTION]
        for kid in stale:
            del self._sts[kid]

    def remember_nonce(self, nonce: str, now: float | None = None) -> bool:
        """Record a signature nonce; False when it was already seen (a replay). Not persisted."""
        with self.lock:
            return self._nonces.add(nonce, time.time() if now is None else now)

    # ----------------------------------------------------------------- persistence

    def dump(self) -> dict[str, Any]:
        """JSON-safe snapshot of everything, secrets included (it is the emulator's own state file)."""
        with self.lock:
            return {
                "version": _STATE_VERSION,
                "account_id": self.account_id,
                "owner_access_key_id": self.owner_access_key_id,
                "owner_access_key_secret": self.owner_access_key_secret,
                "users": [asdict(u) for u in self._users.values()],
                "access_keys": [asdict(k) for k in self._keys.values()],
                "roles": [asdict(r) for r in self._roles.values()],
                "sts_sessions": [asdict(s) for s in self._sts.values()],
                "federation": self.federation.dump(),
            }

    def load(self, data: dict[str, Any]) -> None:
        """Replace all state (account and owner key included) with a :meth:`dump` snapshot."""
        if data.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported identity state version: {data.get('version')!r}")
        users = [RamUser(**u) for u in data["users"]]
        keys = [AccessKey(**k) for k in data["access_keys"]]
        roles = [RamRole(**r) for r in data["roles"]]
        sessions = [StsSession(**s) for s in data["sts_sessions"]]
        uids = {u.user_id for u in users}
        if any(k.user_id not in uids for k in keys):
            raise ValueError("identity state has an access key whose user is missing")
        with self.lock:
            self.account_id = str(data["account_id"])
            self.owner_access_key_id = str(data["owner_access_key_id"])
            self.owner_access_key_secret = str(data["owner_access_key_secret"])
            self._users = {u.user_id: u for u in users}
            self._names = {u.user_name.lower(): u.user_id for u in users}
            self._keys = {k.access_key_id: k for k in keys}
            self._roles = {r.role_name.lower(): r for r in roles}
            self._sts = {s.access_key_id: s for s in sessions}
            self.federation = Federation()
            self.federation.load(data.get("federation", {}))

    def load_seed(self, seed: dict[str, Any]) -> None:
        """Add the seed's RAM users, keys and roles; those that already exist are kept.

        Accepts a whole seed (its optional ``"ram"`` object is used) or that object itself:
        ``{"users": [{"name", "display_name"?, "user_id"?, "access_keys": [{"id"?, "secret"?,
        "status"?}]}], "roles": [{"name", "max_session_duration"?, "role_id"?, "description"?}]}``.
        Raises ``ValueError`` for a malformed shape and :class:`IdentityError` for a broken rule.
        """
        load_ram_seed(self, seed)

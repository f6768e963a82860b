"""Credential sources (no Airflow, no SDK import).

A :class:`CredentialSource` hands out the :class:`Credential` to sign the next request with. One
source object serves both client families:

* pyodps: ``airflow_provider_clarityq.core.alibaba.clients`` wraps it in an ``odps`` account that asks the
  source on every request (no pyodps token reloading, no environment lookups).
* Alibaba OpenAPI SDK (RAM, STS): the source itself is passed as ``Config(credential=...)``; the SDK
  calls :meth:`CredentialSource.get_credential` per request and reads ``access_key_id``,
  ``access_key_secret``, ``security_token`` and ``type`` from the result.

Sources: :class:`StaticCredentials` (a RAM user's AccessKey, optionally with an STS security token),
:class:`AssumeRoleCredentials` (temporary credentials from STS AssumeRole) and :class:`FetchedCredentials`
(RRSA / OIDC, the ECS instance role, the default chain: no AccessKey in the connection), the last two
refreshed before they expire by :class:`RefreshingCredentials`. Secrets never appear in ``repr``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from airflow_provider_clarityq.core.errors import CredentialsError, one_line, redact

if TYPE_CHECKING:
    from airflow_provider_clarityq.core.connection import MaxComputeSettings

__all__ = [
    "AssumeRoleCaller",
    "AssumeRoleCredentials",
    "Credential",
    "CredentialSource",
    "FetchedCredentials",
    "FetcherFactory",
    "RefreshingCredentials",
    "StaticCredentials",
    "credentials_from_settings",
]

log = logging.getLogger(__name__)

#: Refresh temporary credentials when less than max(MIN_REMAINING_SECONDS, REFRESH_FRACTION *
#: lifetime) of their lifetime is left.
MIN_REMAINING_SECONDS = 300.0
REFRESH_FRACTION = 0.2
#: AssumeRole DurationSeconds (STS allows 900 s up to the role's maximum session duration).
DEFAULT_DURATION_SECONDS = 3600


@dataclass(frozen=True)
class Credential:
    """One AccessKey pair, optionally with an STS security token and its expiry (epoch seconds).

    Attribute names and getters match what pyodps' credential providers and the Alibaba SDK's
    ``CredentialModel`` expose, so either library can consume it directly.
    """

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    expiration: float | None = None
    provider_name: str | None = None
    bearer_token: None = None

    @property
    def type(self) -> str:
        """The SDK's credential type: ``sts`` when a security token is present, else ``access_key``."""
        return "sts" if self.security_token else "access_key"

    def get_access_key_id(self) -> str:
        return self.access_key_id

    def get_access_key_secret(self) -> str:
        return self.access_key_secret

    def get_security_token(self) -> str | None:
        return self.security_token

    def get_provider_name(self) -> str | None:
        return self.provider_name

    def secret_values(self) -> tuple[str, ...]:
        return tuple(v for v in (self.access_key_secret, self.security_token) if v)


class CredentialSource:
    """Base class: subclasses implement :meth:`get_credential`; the rest adapts it for the SDK."""

    def get_credential(self) -> Credential:
        raise NotImplementedError

    # The Alibaba OpenAPI client calls these on a ``Config(credential=...)`` object.
    async def get_credential_async(self) -> Credential:
        return self.get_credential()

    def get_access_key_id(self) -> str:
        return self.get_credential().access_key_id

    async def get_access_key_id_async(self) -> str:
        return self.get_access_key_id()

    def get_access_key_secret(self) -> str:
        return self.get_credential().access_key_secret

    async def get_access_key_secret_async(self) -> str:
        return self.get_access_key_secret()

    def get_security_token(self) -> str | None:
        return self.get_credential().security_token

    async def get_security_token_async(self) -> str | None:
        return self.get_security_token()

    def get_bearer_token(self) -> None:
        return None

    def get_type(self) -> str:
        return self.get_credential().type


class StaticCredentials(CredentialSource):
    """A fixed AccessKey (and optional STS token) taken from the connection."""

    def __init__(self, access_key_id: str, access_key_secret: str, security_token: str | None = None) -> None:
        self._credential = Credential(access_key_id, access_key_secret, security_token or None)

    def get_credential(self) -> Credential:
        return self._credential

    def __repr__(self) -> str:
        token = ", security_token=***" if self._credential.security_token else ""
        key_id = self._credential.access_key_id
        return f"StaticCredentials(access_key_id={key_id!r}, access_key_secret=***{token})"


class AssumeRoleCaller(Protocol):
    """Calls STS AssumeRole signed with ``base`` and returns the temporary credential.

    The real implementation lives in ``core.alibaba.clients`` (it needs the SDK); tests pass a plain function.
    ``expiration`` of the result must be set (epoch seconds).
    """

    def __call__(self, base: Credential, *, role_arn: str, session_name: str, duration_seconds: int) -> Credential: ...


class RefreshingCredentials(CredentialSource):
    """Temporary credentials fetched by :meth:`_fetch`, cached, and fetched again before they expire.

    Refresh policy: a new fetch is made when less than ``max(300 s, 20 % of the lifetime)`` remains, but
    never earlier than half-way through the lifetime (so a short-lived or clock-skewed answer is not
    re-requested on every signature). If a refresh fails while the cached credential is still valid for at
    least ``min_remaining_on_error`` seconds, the cached one is used and the refresh is retried on the next
    call; otherwise :class:`CredentialsError` is raised. A credential without an expiration (an AccessKey
    found by the default chain) is kept. Thread-safe: one lock guards the cache, so concurrent callers
    trigger at most one fetch.
    """

    #: What the source is called in logs, messages and the health report.
    source_name = "temporary"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        on_new_secret: Callable[[str], None] | None = None,
        min_remaining_on_error: float = 60.0,
    ) -> None:
        self._clock = clock
        self._on_new_secret = on_new_secret
        self._min_remaining_on_error = min_remaining_on_error
        self._lock = threading.Lock()
        self._cached: Credential | None = None
        self._refresh_at = 0.0
        #: Number of successful fetches (useful for health reports and tests).
        self.refresh_count = 0

    @staticmethod
    def refresh_threshold(lifetime: float) -> float:
        """Seconds before expiry at which a credential with ``lifetime`` seconds is refreshed."""
        return max(MIN_REMAINING_SECONDS, REFRESH_FRACTION * lifetime)

    def _fetch(self) -> Credential:
        raise NotImplementedError

    def get_credential(self) -> Credential:
        with self._lock:
            now = self._clock()
            if self._cached is not None and now < self._refresh_at:
                return self._cached
            try:
                fresh = self._fetch()
            except CredentialsError:
                cached = self._cached
                if cached is not None and (cached.expiration or 0) - now >= self._min_remaining_on_error:
                    log.warning(
                        "Refreshing the %s credentials failed; using the cached ones, which expire in %d s.",
                        self.source_name,
                        int((cached.expiration or now) - now),
                    )
                    return cached
                raise
            if fresh.expiration is None:
                self._refresh_at = float("inf")
            else:
                lifetime = max(fresh.expiration - now, 0.0)
                self._refresh_at = now + max(lifetime - self.refresh_threshold(lifetime), lifetime / 2)
                log.info("New %s credentials, valid for %d s.", self.source_name, int(lifetime))
            if self._on_new_secret is not None:
                for secret in fresh.secret_values():
                    self._on_new_secret(secret)
            self._cached = fresh
            self.refresh_count += 1
            return fresh


class AssumeRoleCredentials(RefreshingCredentials):
    """Temporary credentials for ``role_arn``, obtained with the base credentials (STS AssumeRole)."""

    source_name = "assume_role"

    def __init__(
        self,
        base: CredentialSource,
        *,
        role_arn: str,
        session_name: str,
        assume_role: AssumeRoleCaller,
        duration_seconds: int = DEFAULT_DURATION_SECONDS,
        clock: Callable[[], float] = time.time,
        on_new_secret: Callable[[str], None] | None = None,
        min_remaining_on_error: float = 60.0,
    ) -> None:
        super().__init__(clock=clock, on_new_secret=on_new_secret, min_remaining_on_error=min_remaining_on_error)
        self._base = base
        self.role_arn = role_arn
        self.session_name = session_name
        self._assume_role = assume_role
        self.duration_seconds = duration_seconds

    def __repr__(self) -> str:
        return (
            f"AssumeRoleCredentials(role_arn={self.role_arn!r}, session_name={self.session_name!r}, "
            f"cached={self._cached is not None})"
        )

    def _fetch(self) -> Credential:
        base = self._base.get_credential()
        try:
            fresh = self._assume_role(
                base,
                role_arn=self.role_arn,
                session_name=self.session_name,
                duration_seconds=self.duration_seconds,
            )
        except CredentialsError:
            raise
        except Exception as exc:
            raise CredentialsError(self._failure(exc, base)) from exc
        if not fresh.security_token or fresh.expiration is None:
            raise CredentialsError(
                f"STS AssumeRole for {self.role_arn} returned no security token or expiration: "
                "check the STS endpoint in the connection."
            )
        return fresh

    def _failure(self, exc: BaseException, base: Credential) -> str:
        code = getattr(exc, "code", None)
        detail = redact(one_line(str(exc)), base.secret_values())
        what = f"{type(exc).__name__}{f' {code}' if code and code != 'None' else ''}"
        return (
            f"STS AssumeRole for {self.role_arn} failed ({what}: {detail}): check that the role ARN is "
            "right, that the role's trust policy allows this AccessKey's account, and that the RAM user has "
            "the AliyunSTSAssumeRoleAccess permission."
        )


class FetchedCredentials(RefreshingCredentials):
    """Credentials a fetcher obtains without any AccessKey of the connection: RRSA, the ECS role, the chain.

    The fetcher (built in ``core.alibaba.federated``, where the SDKs live) raises :class:`CredentialsError`
    with the fix; each call must fetch anew (caching and refresh are done here, on this object's clock).
    """

    def __init__(
        self,
        fetch: Callable[[], Credential],
        *,
        source_name: str,
        clock: Callable[[], float] = time.time,
        on_new_secret: Callable[[str], None] | None = None,
        min_remaining_on_error: float = 60.0,
    ) -> None:
        super().__init__(clock=clock, on_new_secret=on_new_secret, min_remaining_on_error=min_remaining_on_error)
        self._fetcher = fetch
        self.source_name = source_name

    def __repr__(self) -> str:
        return f"FetchedCredentials(source={self.source_name!r}, cached={self._cached is not None})"

    def _fetch(self) -> Credential:
        return self._fetcher()


#: Builds the fetcher of a source that needs no AccessKey (``core.alibaba.federated.fetcher_for``).
FetcherFactory = Callable[["MaxComputeSettings"], Callable[[], Credential]]


def credentials_from_settings(
    settings: MaxComputeSettings,
    *,
    assume_role: AssumeRoleCaller | None = None,
    fetcher_for: FetcherFactory | None = None,
    on_new_secret: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> CredentialSource:
    """The credential source a connection asks for.

    ``static`` / ``assume_role``: the connection's AccessKey (plus STS token if given) is the base. The
    other sources fetch temporary credentials through ``fetcher_for``. With a role ARN (other than the
    RRSA role itself), the result is an :class:`AssumeRoleCredentials` on top of the base; ``assume_role``
    must then be given (see ``core.alibaba.clients.sts_assume_role_caller``).
    """
    base: CredentialSource
    if settings.uses_access_key:
        assert settings.access_key_id is not None and settings.access_key_secret is not None  # parse_connection
        token = settings.sts_token.get_secret_value() if settings.sts_token is not None else None
        base = StaticCredentials(settings.access_key_id, settings.access_key_secret.get_secret_value(), token)
    else:
        if fetcher_for is None:
            raise ValueError(f"the credential source {settings.credential_source} needs a fetcher factory")
        base = FetchedCredentials(
            fetcher_for(settings), source_name=settings.credential_source, clock=clock, on_new_secret=on_new_secret
        )
    if not settings.role_arn or settings.credential_source == "oidc_role_arn":
        return base
    if assume_role is None:
        raise ValueError("a role ARN is set, so an assume_role caller is required")
    return AssumeRoleCredentials(
        base,
        role_arn=settings.role_arn,
        session_name=settings.role_session_name,
        assume_role=assume_role,
        on_new_secret=on_new_secret,
        clock=clock,
    )

"""The clients of one connection - pyodps for MaxCompute, the RAM and STS OpenAPI SDKs - built in one place.

:class:`ClientBundle` is what the hook, the health probe and the grant and key backends share: built from a
connection's settings and credentials, each client on first use, then cached (thread-safe). No Airflow import.

``odps`` and ``alibabacloud_*`` are imported inside the functions only: DAG files import our
operators, and a top-level pyodps import alone costs ~0.8 s per parse.

Decisions:

* pyodps gets an account that asks the :class:`CredentialSource` for the credential on every request.
  pyodps' own ``StsAccount``/``CredentialProviderAccount`` are avoided for temporary credentials:
  they re-read ``ODPS_STS_*`` environment variables on reload and log the token at INFO.
* ``ODPS(..., overwrite_global=False)``: otherwise pyodps stores our account in its process-wide
  ``options``, where any later ``ODPS()`` without credentials would silently pick it up.
* Other pyodps defaults are left alone (including its ``/logview/host`` lookup); only
  ``tunnel_endpoint``, ``region_name`` (when the region is set explicitly) and the default schema are
  passed.
* OpenAPI SDK clients get ``endpoint="host[:port]"`` plus ``protocol`` (a scheme inside ``endpoint``
  ends up in the signed Host header), explicit timeouts, and retries for throttling only (retrying a
  timed-out ``CreateUser`` could run it twice). Proxy environment variables are not touched here.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_clarityq.core.credentials import (
    AssumeRoleCaller,
    Credential,
    CredentialSource,
    StaticCredentials,
)
from airflow_provider_clarityq.core.dates import parse_iso_utc

if TYPE_CHECKING:
    from airflow_provider_clarityq.core.connection import MaxComputeSettings
    from airflow_provider_clarityq.core.identifiers import ServiceEndpoint

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_MS",
    "DEFAULT_READ_TIMEOUT_MS",
    "ClientBundle",
    "build_odps",
    "build_openapi_client",
    "odps_account",
    "sts_assume_role_caller",
]

DEFAULT_CONNECT_TIMEOUT_MS = 5_000
DEFAULT_READ_TIMEOUT_MS = 15_000
#: Error codes the OpenAPI SDK may retry: the request was refused before it did anything.
THROTTLING_CODES = ("Throttling", "Throttling.User", "Throttling.Api", "ServiceUnavailable")


# --------------------------------------------------------------------------------------------------
# pyodps


@functools.cache
def _source_account_class() -> type:
    """Define (once, lazily) a pyodps account class that signs with a CredentialSource."""
    from odps.accounts import CloudAccount

    class SourceAccount(CloudAccount):  # type: ignore[misc]
        """A pyodps ``CloudAccount`` whose key pair and STS token come from a CredentialSource.

        Each request fetches the current credential (the source caches and refreshes it), swaps it in
        under pyodps' signature lock (resetting its cached v4 signing key when the key changes) and adds
        the ``authorization-sts-token`` header when there is a token. No environment lookups, no logs.
        """

        access_id: str | None
        secret_access_key: str | None

        def __init__(self, source: CredentialSource) -> None:
            super().__init__(None, None)
            self.source = source
            self.sts_token: str | None = None

        def __repr__(self) -> str:
            return f"<SourceAccount {self.source!r}>"

        def __reduce__(self) -> tuple[Any, ...]:
            return odps_account, (self.source,)

        def sign_request(self, req: Any, endpoint: str, region_name: str | None = None) -> None:
            credential = self.source.get_credential()
            with self._signature_lock:
                if (credential.access_key_id, credential.access_key_secret) != (
                    self.access_id,
                    self.secret_access_key,
                ):
                    self.access_id = credential.access_key_id
                    self.secret_access_key = credential.access_key_secret
                    self._last_signature_date = None
                    self._last_signature_key = None
                self.sts_token = credential.security_token
                super().sign_request(req, endpoint, region_name=region_name)
                if credential.security_token:
                    req.headers["authorization-sts-token"] = credential.security_token

    return SourceAccount


def odps_account(credentials: CredentialSource) -> Any:
    """The pyodps account for a credential source.

    A plain AccessKey uses pyodps' own ``CloudAccount``; anything with a token or a refresh uses the
    source-backed account described in :func:`_source_account_class`.
    """
    if isinstance(credentials, StaticCredentials) and not credentials.get_credential().security_token:
        from odps.accounts import CloudAccount

        credential = credentials.get_credential()
        return CloudAccount(credential.access_key_id, credential.access_key_secret)
    return _source_account_class()(credentials)


def build_odps(settings: MaxComputeSettings, credentials: CredentialSource) -> Any:
    """Build the pyodps ``ODPS`` entry object for the connection's project (no request is made for
    the project itself; pyodps only looks up its logview host)."""
    from odps import ODPS

    kwargs: dict[str, Any] = {
        "account": odps_account(credentials),
        "project": settings.project,
        "endpoint": settings.endpoint,
        "overwrite_global": False,
    }
    if settings.tunnel_endpoint:
        kwargs["tunnel_endpoint"] = settings.tunnel_endpoint
    if settings.region:
        kwargs["region_name"] = settings.region
    if settings.default_schema:
        kwargs["schema"] = settings.default_schema
    return ODPS(**kwargs)


# --------------------------------------------------------------------------------------------------
# Alibaba OpenAPI (RAM, STS)


def _openapi_config(
    settings: MaxComputeSettings,
    credentials: CredentialSource | None,
    endpoint: ServiceEndpoint,
    *,
    connect_timeout_ms: int,
    read_timeout_ms: int,
) -> Any:
    from alibabacloud_tea_openapi.utils_models import Config
    from darabonba.policy.retry import RetryOptions

    retry = RetryOptions(
        {
            "retryable": True,
            "retryCondition": [
                {
                    "maxAttempts": 3,
                    "errorCode": list(THROTTLING_CODES),
                    "backoff": {"policy": "ExponentialWithEqualJitter", "period": 200, "cap": 5_000},
                    "maxDelay": 10_000,
                }
            ],
        }
    )
    return Config(
        credential=credentials,
        endpoint=endpoint.host,
        protocol=endpoint.protocol,
        region_id=settings.effective_region,
        connect_timeout=connect_timeout_ms,
        read_timeout=read_timeout_ms,
        retry_options=retry,
    )


def build_openapi_client(
    service: str,
    settings: MaxComputeSettings,
    credentials: CredentialSource | None,
    *,
    connect_timeout_ms: int = DEFAULT_CONNECT_TIMEOUT_MS,
    read_timeout_ms: int = DEFAULT_READ_TIMEOUT_MS,
) -> Any:
    """The RAM (``alibabacloud_ram20150501``) or STS (``alibabacloud_sts20150401``) client for the connection's
    endpoint of that service (``credentials`` None: for anonymous actions such as AssumeRoleWithOIDC)."""
    if service == "ram":
        from alibabacloud_ram20150501.client import Client

        endpoint = settings.ram_endpoint
    elif service == "sts":
        from alibabacloud_sts20150401.client import Client

        endpoint = settings.sts_endpoint
    else:
        raise ValueError(f"unknown OpenAPI service {service!r}")
    config = _openapi_config(
        settings, credentials, endpoint, connect_timeout_ms=connect_timeout_ms, read_timeout_ms=read_timeout_ms
    )
    return Client(config)


def sts_assume_role_caller(
    settings: MaxComputeSettings,
    *,
    connect_timeout_ms: int = DEFAULT_CONNECT_TIMEOUT_MS,
    read_timeout_ms: int = DEFAULT_READ_TIMEOUT_MS,
) -> AssumeRoleCaller:
    """An :class:`AssumeRoleCaller` that calls the connection's STS endpoint with the base credential."""

    def assume_role(base: Credential, *, role_arn: str, session_name: str, duration_seconds: int) -> Credential:
        from alibabacloud_sts20150401.models import AssumeRoleRequest

        client = build_openapi_client(
            "sts",
            settings,
            StaticCredentials(base.access_key_id, base.access_key_secret, base.security_token),
            connect_timeout_ms=connect_timeout_ms,
            read_timeout_ms=read_timeout_ms,
        )
        response = client.assume_role(
            AssumeRoleRequest(role_arn=role_arn, role_session_name=session_name, duration_seconds=duration_seconds)
        )
        body = getattr(response, "body", None)
        temporary = getattr(body, "credentials", None)
        if temporary is None or not temporary.access_key_id or not temporary.expiration:
            raise ValueError("the STS response has no Credentials element")
        return Credential(
            temporary.access_key_id,
            temporary.access_key_secret,
            temporary.security_token,
            expiration=_epoch(temporary.expiration),
        )

    return assume_role


def _epoch(value: str) -> float:
    """STS ``Expiration`` (ISO 8601 UTC) as epoch seconds."""
    moment = parse_iso_utc(value)
    if moment is None:
        raise ValueError("the STS response has an unreadable Expiration")
    return moment.timestamp()


# --------------------------------------------------------------------------------------------------
# The bundle


class ClientBundle:
    """One connection's clients, each built on first use and cached; safe to share between threads.

    :param settings: the validated connection settings.
    :param credentials: where signatures come from; default: the connection's own (static AccessKey, with
        STS token, or AssumeRole refreshed before expiry).
    :param on_new_secret: called with every secret a credential refresh brings (Airflow's ``mask_secret``).
    :param prebuilt: clients to use as they are, by name (``odps``, ``ram``, ``sts``): stand-ins in tests,
        or a client built elsewhere.
    """

    def __init__(
        self,
        settings: MaxComputeSettings,
        credentials: CredentialSource | None = None,
        *,
        on_new_secret: Callable[[str], None] | None = None,
        prebuilt: Mapping[str, Any] | None = None,
    ) -> None:
        from airflow_provider_clarityq.core.credentials import credentials_from_settings

        self.settings = settings
        from airflow_provider_clarityq.core.alibaba.federated import fetcher_for

        self.credentials = credentials or credentials_from_settings(
            settings,
            assume_role=sts_assume_role_caller(settings) if settings.role_arn else None,
            fetcher_for=lambda s: fetcher_for(s, lambda: build_openapi_client("sts", s, None)),
            on_new_secret=on_new_secret,
        )
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = dict(prebuilt or {})

    def __repr__(self) -> str:
        return f"ClientBundle(project={self.settings.project!r}, endpoint={self.settings.endpoint!r})"

    def _get(self, name: str, build: Callable[[], Any]) -> Any:
        with self._lock:
            if name not in self._clients:
                self._clients[name] = build()
            return self._clients[name]

    @property
    def odps(self) -> Any:
        """The pyodps ``ODPS`` entry object for the connection's project."""
        return self._get("odps", lambda: build_odps(self.settings, self.credentials))

    @property
    def ram_client(self) -> Any:
        """The RAM OpenAPI client."""
        return self._get("ram", lambda: build_openapi_client("ram", self.settings, self.credentials))

    @property
    def sts_client(self) -> Any:
        """The STS OpenAPI client, signed with the same credentials as every other call."""
        return self._get("sts", lambda: build_openapi_client("sts", self.settings, self.credentials))

"""Client builders for MaxCompute (pyodps) and the RAM/STS OpenAPI SDKs (no Airflow import).

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
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_clarityq.core.credentials import (
    AssumeRoleCaller,
    Credential,
    CredentialSource,
    StaticCredentials,
)

if TYPE_CHECKING:
    from airflow_provider_clarityq.core.connection import MaxComputeSettings
    from airflow_provider_clarityq.core.identifiers import ServiceEndpoint

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_MS",
    "DEFAULT_READ_TIMEOUT_MS",
    "build_odps",
    "build_ram_client",
    "build_sts_client",
    "odps_account",
    "parse_sts_expiration",
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
    credentials: CredentialSource,
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


def build_ram_client(
    settings: MaxComputeSettings,
    credentials: CredentialSource,
    *,
    connect_timeout_ms: int = DEFAULT_CONNECT_TIMEOUT_MS,
    read_timeout_ms: int = DEFAULT_READ_TIMEOUT_MS,
) -> Any:
    """RAM API client (``alibabacloud_ram20150501``) for the connection's RAM endpoint."""
    from alibabacloud_ram20150501.client import Client

    return Client(
        _openapi_config(
            settings,
            credentials,
            settings.ram_endpoint,
            connect_timeout_ms=connect_timeout_ms,
            read_timeout_ms=read_timeout_ms,
        )
    )


def build_sts_client(
    settings: MaxComputeSettings,
    credentials: CredentialSource,
    *,
    connect_timeout_ms: int = DEFAULT_CONNECT_TIMEOUT_MS,
    read_timeout_ms: int = DEFAULT_READ_TIMEOUT_MS,
) -> Any:
    """STS API client (``alibabacloud_sts20150401``) for the connection's STS endpoint."""
    from alibabacloud_sts20150401.client import Client

    return Client(
        _openapi_config(
            settings,
            credentials,
            settings.sts_endpoint,
            connect_timeout_ms=connect_timeout_ms,
            read_timeout_ms=read_timeout_ms,
        )
    )


def parse_sts_expiration(value: str) -> float:
    """STS ``Expiration`` (ISO 8601 UTC, e.g. ``2026-11-23T18:16:12Z``) as epoch seconds."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def sts_assume_role_caller(
    settings: MaxComputeSettings,
    *,
    connect_timeout_ms: int = DEFAULT_CONNECT_TIMEOUT_MS,
    read_timeout_ms: int = DEFAULT_READ_TIMEOUT_MS,
) -> AssumeRoleCaller:
    """An :class:`AssumeRoleCaller` that calls the connection's STS endpoint with the base credential."""

    def assume_role(base: Credential, *, role_arn: str, session_name: str, duration_seconds: int) -> Credential:
        from alibabacloud_sts20150401.models import AssumeRoleRequest

        client = build_sts_client(
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
            expiration=parse_sts_expiration(temporary.expiration),
        )

    return assume_role

"""Credentials without an AccessKey in the connection: RRSA (OIDC), the ECS instance role, the default chain.

Each ``*_fetcher`` returns a function that fetches a fresh :class:`Credential` on every call; caching and
refresh before expiry are :class:`~airflow_provider_clarityq.core.credentials.FetchedCredentials`' job, on
its own clock. Every failure is a :class:`CredentialsError` carrying the health code and the fix, raised
before any MaxCompute request is signed.

Decisions:

* RRSA: the token file is read and its claims decoded locally (PyJWT, signature not checked: STS does that)
  so an unreadable, malformed or expired token is named without a request. The exchange is the STS SDK's
  ``AssumeRoleWithOIDC`` (anonymous) at the connection's STS endpoint and scheme. ``alibabacloud-credentials``'
  ``OIDCRoleArnCredentialsProvider`` always speaks HTTPS to a host it derives itself, so it could not follow
  the connection's STS endpoint (a VPC endpoint, a proxy, the emulator).
* ECS role: ``alibabacloud-credentials``' ``EcsRamRoleCredentialsProvider`` (IMDSv2 token, role discovery,
  ``Code: Success`` check), one new provider per fetch and ``async_update_enabled=False`` so no background
  scheduler thread is started in a worker. The metadata service has a fixed address; an
  ``ecs_metadata_endpoint`` receives the requests as the library's HTTP proxy, its one public seam.
* Default chain: the documented order (environment, RRSA, CLI/profile file, ECS role), evaluated here so that
  the environment is read when credentials are needed (the library reads it once, at import) and the RRSA
  and ECS links use the connection's endpoints. The link that answered is named in ``provider_name``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_clarityq.core.credentials import Credential
from airflow_provider_clarityq.core.errors import CredentialsError, one_line

if TYPE_CHECKING:
    from airflow_provider_clarityq.core.connection import MaxComputeSettings

__all__ = ["default_chain_fetcher", "ecs_role_fetcher", "fetcher_for", "oidc_fetcher"]

Fetch = Callable[[], Credential]
#: Builds an STS client for anonymous actions at the connection's STS endpoint (``clients.build_openapi_client``).
StsClientFactory = Callable[[], Any]

#: The address of the ECS instance metadata service (HTTP only).
ECS_METADATA_HOST = "100.100.100.200"
_MAX_TOKEN_BYTES = 20_000
_ROLE_TRUST_FIX = (
    "the RAM role's trust policy must allow this: a Statement with Action sts:AssumeRole, Effect Allow, Principal "
    '{"Federated": ["<OIDC provider ARN>"]} and Condition StringEquals oidc:aud = sts.aliyuncs.com, '
    "oidc:iss = the cluster's issuer URL, oidc:sub = system:serviceaccount:<namespace>:<service account> "
    "(see docs/credentials.md)"
)
#: STS error codes of AssumeRoleWithOIDC -> (health code, fix).
_OIDC_ERRORS: Mapping[str, tuple[str, str]] = {
    "AuthenticationFail.OIDCToken.Expired": (
        "OIDC_TOKEN_EXPIRED",
        "the kubelet rewrites the projected token before it expires: check that oidc_token_file is the path "
        "the RRSA volume is mounted at, and that the pod's service account token volume is projected",
    ),
    "AuthenticationFail.OIDCToken.AudienceNotMatch": (
        "OIDC_AUDIENCE_MISMATCH",
        "the token's audience (aud) must be one of the OIDC provider's Client IDs: mount a token with audience "
        "sts.aliyuncs.com (RRSA's default), or add the token's audience to the provider's Client IDs in RAM",
    ),
    "AuthenticationFail.OIDCToken.Invalid": (
        "OIDC_TOKEN_INVALID",
        "the file is not a valid OIDC token: point oidc_token_file at the RRSA token "
        "(/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token on ACK)",
    ),
    "AuthenticationFail.OIDCToken.InvalidSignature": (
        "OIDC_ISSUER_UNTRUSTED",
        "the token was not signed by the OIDC provider's issuer: check that oidc_provider_arn names this "
        "cluster's provider (ack-rrsa-<cluster id>) and that its issuer URL matches the cluster's",
    ),
    "AuthenticationFail.OIDCToken.IssuerNotMatch": (
        "OIDC_ISSUER_UNTRUSTED",
        "the token's issuer (iss) is not the OIDC provider's issuer URL: check that oidc_provider_arn names this "
        "cluster's provider (ack-rrsa-<cluster id>)",
    ),
    "AuthenticationFail.NoPermission": ("ROLE_NOT_ASSUMABLE", _ROLE_TRUST_FIX),
    "NoPermission": ("ROLE_NOT_ASSUMABLE", _ROLE_TRUST_FIX),
    "EntityNotExist.Role": ("ROLE_NOT_ASSUMABLE", "the role does not exist: copy its ARN from the RAM console"),
}


def fetcher_for(settings: MaxComputeSettings, sts_client: StsClientFactory) -> Fetch:
    """The fetcher of the connection's credential source (one that needs no AccessKey)."""
    if settings.credential_source == "oidc_role_arn":
        return oidc_fetcher(settings, sts_client)
    if settings.credential_source == "ecs_ram_role":
        return ecs_role_fetcher(settings)
    if settings.credential_source == "default_chain":
        return default_chain_fetcher(settings, sts_client)
    raise ValueError(f"the credential source {settings.credential_source} signs with the connection's AccessKey")


# --------------------------------------------------------------------------------------------------
# RRSA: STS AssumeRoleWithOIDC


def oidc_fetcher(
    settings: MaxComputeSettings,
    sts_client: StsClientFactory,
    *,
    role_arn: str | None = None,
    provider_arn: str | None = None,
    token_file: str | None = None,
    clock: Callable[[], float] = time.time,
) -> Fetch:
    """Exchange the OIDC token in the token file for the role's temporary credentials."""
    role = role_arn or settings.role_arn
    provider = provider_arn or settings.oidc_provider_arn
    path = token_file or settings.oidc_token_file
    if not (role and provider and path):
        raise ValueError("oidc_role_arn needs a role ARN, an OIDC provider ARN and a token file")

    def fetch() -> Credential:
        token = _read_token(path)
        claims = _token_claims(token, path, clock())
        from alibabacloud_sts20150401.models import AssumeRoleWithOIDCRequest

        client = sts_client()
        request = AssumeRoleWithOIDCRequest(
            role_arn=role,
            oidcprovider_arn=provider,
            oidctoken=token,
            role_session_name=settings.role_session_name,
        )
        try:
            response = client.assume_role_with_oidc(request)
        except Exception as exc:
            raise _oidc_failure(exc, role, claims, token) from None
        body = getattr(response, "body", None)
        return _sts_credential(getattr(body, "credentials", None), "oidc_role_arn")

    return fetch


def _read_token(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise CredentialsError(
            f"the OIDC token file {path} cannot be read ({exc.strerror or type(exc).__name__})",
            diagnosis="OIDC_TOKEN_UNREADABLE",
            fix="run the worker in a pod with RRSA enabled for its service account (ACK mounts the token at "
            "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token), or correct oidc_token_file",
        ) from None
    text = raw.decode("ascii", errors="replace").strip()
    if not text or len(raw) > _MAX_TOKEN_BYTES or text.count(".") != 2:
        raise CredentialsError(
            f"the OIDC token file {path} does not hold a JWT (three dot-separated parts, at most 20,000 bytes)",
            diagnosis="OIDC_TOKEN_INVALID",
            fix="point oidc_token_file at the RRSA token file, not at a directory or another secret",
        )
    return text


def _token_claims(token: str, path: str, now: float) -> dict[str, Any]:
    """The token's claims, decoded without verifying the signature (STS verifies it); expiry checked here."""
    import jwt

    try:  # without the signature check PyJWT checks no claim either: the expiry is compared below
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise CredentialsError(
            f"the OIDC token in {path} cannot be decoded ({type(exc).__name__})",
            diagnosis="OIDC_TOKEN_INVALID",
            fix="point oidc_token_file at the RRSA token file",
        ) from None
    expires = claims.get("exp")
    if isinstance(expires, (int, float)) and expires <= now:
        when = datetime.fromtimestamp(expires, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise CredentialsError(
            f"the OIDC token in {path} expired at {when} (issuer {claims.get('iss')!s:.200}, "
            f"subject {claims.get('sub')!s:.200})",
            diagnosis="OIDC_TOKEN_EXPIRED",
            fix=_OIDC_ERRORS["AuthenticationFail.OIDCToken.Expired"][1],
        )
    return claims


def _oidc_failure(exc: BaseException, role: str, claims: Mapping[str, Any], token: str) -> CredentialsError:
    code = str(getattr(exc, "code", "") or "")
    diagnosis, fix = _OIDC_ERRORS.get(
        code,
        ("OIDC_EXCHANGE_FAILED", "check the STS endpoint, the role ARN and the OIDC provider ARN in the connection"),
    )
    message = one_line(str(getattr(exc, "message", None) or exc)).replace(token, "***")[:300]
    who = f"issuer {claims.get('iss')!s:.200}, audience {claims.get('aud')!s:.200}, subject {claims.get('sub')!s:.200}"
    return CredentialsError(
        f"STS AssumeRoleWithOIDC for {role} failed ({code or type(exc).__name__}: {message}; token {who})",
        diagnosis=diagnosis,
        fix=fix,
    )


def _sts_credential(temporary: Any, provider_name: str) -> Credential:
    from airflow_provider_clarityq.core.dates import parse_iso_utc

    expiration = parse_iso_utc(getattr(temporary, "expiration", None) or "")
    if temporary is None or not temporary.access_key_id or not temporary.security_token or expiration is None:
        raise CredentialsError(
            "STS answered without temporary credentials or their expiration",
            diagnosis="OIDC_EXCHANGE_FAILED",
            fix="check that the STS endpoint in the connection is Alibaba Cloud STS",
        )
    return Credential(
        temporary.access_key_id,
        temporary.access_key_secret,
        temporary.security_token,
        expiration=expiration.timestamp(),
        provider_name=provider_name,
    )


# --------------------------------------------------------------------------------------------------
# ECS instance RAM role


def ecs_role_fetcher(settings: MaxComputeSettings, *, role_name: str | None = None) -> Fetch:
    """The instance role's credentials from the metadata service, through ``alibabacloud-credentials``."""
    role = role_name or settings.ecs_role_name
    endpoint = settings.ecs_metadata_endpoint
    where = f"{endpoint.protocol}://{endpoint.host}" if endpoint is not None else f"http://{ECS_METADATA_HOST}"

    def fetch() -> Credential:
        from alibabacloud_credentials.http import HttpOptions
        from alibabacloud_credentials.provider import EcsRamRoleCredentialsProvider

        options = HttpOptions(proxy=where) if endpoint is not None else None
        try:
            provider = EcsRamRoleCredentialsProvider(
                role_name=role or None, http_options=options, async_update_enabled=False
            )
            answer = provider.get_credentials()
        except Exception as exc:
            raise CredentialsError(
                f"the ECS metadata service at {where} gave no credentials for "
                f"{f'role {role}' if role else 'the instance role'} ({type(exc).__name__}: "
                f"{one_line(str(exc))[:300]})",
                diagnosis="ECS_ROLE_UNAVAILABLE",
                fix="attach the RAM role to the ECS instance the worker runs on (ECS console -> instance -> "
                "Attach/Detach RAM Role); the role's trust policy must allow the service ecs.aliyuncs.com; set "
                "ecs_role_name to that role, or leave it empty to use the attached one",
            ) from None
        expires = answer.get_expiration()
        return Credential(
            answer.get_access_key_id(),
            answer.get_access_key_secret(),
            answer.get_security_token(),
            expiration=float(expires) if expires else None,
            provider_name="ecs_ram_role",
        )

    return fetch


# --------------------------------------------------------------------------------------------------
# The default chain


def default_chain_fetcher(
    settings: MaxComputeSettings, sts_client: StsClientFactory, *, env: Mapping[str, str] | None = None
) -> Fetch:
    """Environment -> RRSA -> CLI/profile file -> ECS role; the first link that answers wins."""

    def fetch() -> Credential:
        environ = os.environ if env is None else env
        reasons: list[str] = []
        for name, link in _chain_links(settings, sts_client, environ):
            if link is None:
                continue
            try:
                found = link()
            except CredentialsError as exc:
                reasons.append(f"{name}: {exc}")
                continue
            return Credential(
                found.access_key_id,
                found.access_key_secret,
                found.security_token,
                expiration=found.expiration,
                provider_name=f"default_chain/{name}",
            )
        raise CredentialsError(
            "the default credential chain found no credentials (" + "; ".join(reasons or ["no link applies"]) + ")",
            diagnosis="NO_CREDENTIALS",
            fix="set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, enable RRSA for the pod "
            "(ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE), or attach a "
            "RAM role to the ECS instance; or pick one credential_source explicitly",
        )

    return fetch


def _chain_links(
    settings: MaxComputeSettings, sts_client: StsClientFactory, env: Mapping[str, str]
) -> list[tuple[str, Fetch | None]]:
    key_id, secret = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID"), env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    environment: Fetch | None = None
    if key_id and secret:
        token = env.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None

        def environment() -> Credential:
            return Credential(key_id, secret, token)

    rrsa = [env.get(v) for v in ("ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN")]
    token_file = env.get("ALIBABA_CLOUD_OIDC_TOKEN_FILE")
    oidc = (
        oidc_fetcher(settings, sts_client, role_arn=rrsa[0], provider_arn=rrsa[1], token_file=token_file)
        if rrsa[0] and rrsa[1] and token_file
        else None
    )
    ecs_disabled = env.get("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "").lower() == "true"
    ecs = None if ecs_disabled else ecs_role_fetcher(settings, role_name=env.get("ALIBABA_CLOUD_ECS_METADATA"))
    return [("environment", environment), ("oidc_role_arn", oidc), ("profile", _profile), ("ecs_ram_role", ecs)]


def _profile() -> Credential:
    """The Alibaba Cloud CLI's config (``~/.aliyun/config.json``) or the credentials file, via the library."""
    from alibabacloud_credentials.provider import CLIProfileCredentialsProvider, ProfileCredentialsProvider

    reasons = []
    for provider_class in (CLIProfileCredentialsProvider, ProfileCredentialsProvider):
        try:
            answer = provider_class().get_credentials()
        except Exception as exc:
            reasons.append(f"{provider_class.__name__}: {one_line(str(exc))[:200]}")
            continue
        expires = getattr(answer, "get_expiration", lambda: None)()
        return Credential(
            answer.get_access_key_id(),
            answer.get_access_key_secret(),
            answer.get_security_token() or None,
            expiration=float(expires) if expires else None,
        )
    raise CredentialsError("no usable profile (" + "; ".join(reasons) + ")", diagnosis="NO_CREDENTIALS")

"""STS (API version 2015-04-01) action handlers: GetCallerIdentity, AssumeRole and AssumeRoleWithOIDC."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from clarityq_emulator.ram.models import (
    Caller,
    EntityNotExistError,
    IdentityStore,
    InvalidParameterError,
    NoPermissionError,
    RamRole,
    format_date,
)
from clarityq_emulator.ram.responses import Handler, require_param

__all__ = ["ACTIONS", "ANONYMOUS_ACTIONS", "assume_role_with_oidc"]

_ROLE_ARN = re.compile(r"acs:ram::([0-9]+):role/([^/]+)", re.IGNORECASE)
_DEFAULT_DURATION = 3600
_MAX_POLICY_LENGTH = 2048


def _session_name(caller: Caller) -> str:
    return caller.name.split("/", 1)[1]


def get_caller_identity(
    params: Mapping[str, str], caller: Caller, identity: IdentityStore
) -> tuple[dict[str, Any], bool]:
    """Any verified caller may ask who it is; ``AccountId`` is the main account whoever calls."""
    payload: dict[str, Any] = {"AccountId": caller.account_id, "Arn": caller.arn}
    if caller.kind == "account":
        payload.update(UserId=caller.user_id, PrincipalId=caller.user_id, IdentityType="Account")
    elif caller.kind == "ram_user":
        payload.update(UserId=caller.user_id, PrincipalId=caller.user_id, IdentityType="RAMUser")
    else:
        payload.update(
            UserId=caller.user_id,
            PrincipalId=f"{caller.user_id}:{_session_name(caller)}",
            RoleId=caller.user_id,
            IdentityType="AssumedRoleUser",
        )
    return payload, False


def _role(role_arn: str, identity: IdentityStore) -> RamRole:
    """The role a ``RoleArn`` names, in this account."""
    match = _ROLE_ARN.fullmatch(role_arn)
    if match is None:
        raise InvalidParameterError("InvalidParameter.RoleArn", "The parameter RoleArn is invalid.")
    account_id, role_name = match.groups()
    role = identity.get_role(role_name) if account_id == identity.account_id else None
    if role is None:
        raise EntityNotExistError("EntityNotExist.Role", "The role not exists.")
    return role


def assume_role(params: Mapping[str, str], caller: Caller, identity: IdentityStore) -> tuple[dict[str, Any], bool]:
    """Mint temporary credentials; RAM users (and assumed roles, chaining) may call it, root may not."""
    if caller.kind == "account":
        raise NoPermissionError("NoPermission", "Roles may not be assumed by root accounts.")
    role_arn = require_param(params, "RoleArn")
    session_name = require_param(params, "RoleSessionName")
    role = _role(role_arn, identity)
    if not identity.federation.may_assume(role.role_name, account_id=identity.account_id, caller_arn=caller.arn):
        raise NoPermissionError(
            "NoPermission", "You are not authorized to do this action. You should be authorized by RAM."
        )
    return _issue(params, identity, role.role_name, role.role_id, session_name), True


def assume_role_with_oidc(params: Mapping[str, str], identity: IdentityStore) -> tuple[dict[str, Any], bool]:
    """RRSA: an OIDC token for a role whose trust policy names the token's provider; no signature needed."""
    role_arn = require_param(params, "RoleArn")
    provider_arn = require_param(params, "OIDCProviderArn")
    token = require_param(params, "OIDCToken")
    session_name = params.get("RoleSessionName") or f"oidc-{int(identity.now())}"
    federation = identity.federation
    provider = federation.provider_for(provider_arn, identity.account_id)
    if provider is None:
        raise NoPermissionError("AuthenticationFail.NoPermission", "No such OIDC Provider registered.")
    if not 4 <= len(token) <= 20_000:
        raise InvalidParameterError("AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.")
    claims = federation.verify_token(token, provider, identity.now())
    role = _role(role_arn, identity)
    if not federation.trusts_token(role.role_name, provider.arn(identity.account_id), claims):
        raise NoPermissionError("AuthenticationFail.NoPermission", "There is no permission")
    audience = claims.get("aud")
    payload = _issue(params, identity, role.role_name, role.role_id, session_name)
    payload["OIDCTokenInfo"] = {
        "Subject": str(claims.get("sub", "")),
        "Issuer": str(claims.get("iss", "")),
        "ClientIds": audience if isinstance(audience, str) else ",".join(audience or []),
        "ExpirationTime": format_date(float(claims["exp"])),
        "IssuanceTime": format_date(float(claims.get("iat", claims["exp"]))),
        "VerificationInfo": "Success",
    }
    return payload, True


def _issue(
    params: Mapping[str, str], identity: IdentityStore, role_name: str, role_id: str, session_name: str
) -> dict[str, Any]:
    """Temporary credentials for a role session, in the response shape of AssumeRole and its siblings."""
    duration = _parse_duration(params.get("DurationSeconds"))
    policy = params.get("Policy")
    if policy:
        _check_policy(policy)
    source_identity = params.get("SourceIdentity", "")
    session = identity.assume_role(role_name, session_name, duration_seconds=duration, source_identity=source_identity)
    payload: dict[str, Any] = {
        "AssumedRoleUser": {
            "Arn": f"acs:ram::{identity.account_id}:role/{role_name.lower()}/{session_name}",
            "AssumedRoleId": f"{role_id}:{session_name}",
        },
        "Credentials": {
            "AccessKeyId": session.access_key_id,
            "AccessKeySecret": session.secret,
            "SecurityToken": session.security_token,
            "Expiration": format_date(session.expires_at),
        },
    }
    if source_identity:
        payload["SourceIdentity"] = source_identity
    return payload


def _parse_duration(raw: str | None) -> int:
    if raw is None or raw == "":
        return _DEFAULT_DURATION
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise InvalidParameterError(
            "InvalidParameter.DurationSeconds", "The parameter DurationSeconds must be an integer."
        )
    return int(raw)


def _check_policy(policy: str) -> None:
    """An inline session policy must at least be a JSON object of bounded size (it is not enforced)."""
    if len(policy) > _MAX_POLICY_LENGTH:
        raise InvalidParameterError("InvalidParameter.PolicyLength", "The parameter Policy is too long.")
    try:
        document = json.loads(policy)
    except ValueError:
        document = None
    if not isinstance(document, dict) or "Statement" not in document:
        raise InvalidParameterError("InvalidParameter.PolicyGrammar", "The parameter Policy has not a valid grammar.")


ACTIONS: dict[str, Handler] = {
    "GetCallerIdentity": get_caller_identity,
    "AssumeRole": assume_role,
    "AssumeRoleWithOIDC": lambda params, caller, identity: assume_role_with_oidc(params, identity),
}
#: Actions served without a signature: the OIDC token is the proof (the SDK sends them anonymously).
ANONYMOUS_ACTIONS = frozenset({"AssumeRoleWithOIDC"})

"""Who may become a RAM role, and what a user or role may do in RAM: trust policies, OIDC providers, policies.

* A role's trust policy (``AssumeRolePolicyDocument``) names who may assume it: ``RAM`` principals (an
  account's ``root`` or a user ARN), ``Federated`` OIDC providers (RRSA) with ``oidc:aud``/``oidc:iss``/
  ``oidc:sub`` conditions (``StringEquals`` / ``StringLike``), or a ``Service`` such as ``ecs.aliyuncs.com``.
  A role seeded without one keeps the emulator's older rule: any RAM user of the account may assume it.
* An OIDC provider (RAM > SSO > OIDC) has an issuer URL and client IDs; the emulator is also its issuer: it
  holds the RSA key, serves the JWKS and mints tokens for tests (:meth:`Federation.mint_token`).
* Attached system policies decide RAM API access of users and roles (``AdministratorAccess``,
  ``AliyunRAMFullAccess``, ``AliyunRAMReadOnlyAccess``); the account itself may do everything.

Decisions where the docs are silent are listed in docs/emulator-security.md ("Federation").
"""

from __future__ import annotations

import fnmatch
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clarityq_emulator.ram.errors import InvalidParameterError, NoPermissionError

__all__ = ["SYSTEM_POLICIES", "Federation", "OidcProvider", "TokenRejected"]

#: System policies the emulator knows, as the RAM actions (fnmatch patterns) they allow.
SYSTEM_POLICIES: Mapping[str, tuple[str, ...]] = {
    "AdministratorAccess": ("*",),
    "AliyunRAMFullAccess": ("ram:*",),
    "AliyunRAMReadOnlyAccess": ("ram:Get*", "ram:List*"),
}
_PROVIDER_ARN_RE = re.compile(r"acs:ram::(?P<account>[0-9]+):oidc-provider/(?P<name>[A-Za-z0-9._-]{1,128})")
_ECS_SERVICE = "ecs.aliyuncs.com"


class TokenRejected(NoPermissionError):
    """STS refused an OIDC token (``AuthenticationFail.*``)."""

    status = 400


@dataclass
class OidcProvider:
    """A RAM OIDC identity provider, and the signing key of the issuer the emulator plays."""

    name: str
    issuer_url: str
    client_ids: tuple[str, ...]
    key_pem: str = field(repr=False)
    kid: str

    def arn(self, account_id: str) -> str:
        return f"acs:ram::{account_id}:oidc-provider/{self.name}"

    def private_key(self) -> Any:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        return load_pem_private_key(self.key_pem.encode(), password=None)

    def jwks(self) -> dict[str, Any]:
        from jwt.algorithms import RSAAlgorithm

        public = RSAAlgorithm.to_jwk(self.private_key().public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}


def new_rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class Federation:
    """Trust policies, OIDC providers, attached policies and the ECS instance's role of one account."""

    def __init__(self) -> None:
        self.providers: dict[str, OidcProvider] = {}  # lower-case name -> provider
        self.trust: dict[str, dict[str, Any]] = {}  # lower-case role name -> trust policy document
        self.policies: dict[str, set[str]] = {}  # "user/<name>" or "role/<name>" (lower) -> policy names
        self.instance_role: str | None = None  # the RAM role attached to "the" ECS instance
        self.instance_tokens_required = False  # the instance's metadata service demands IMDSv2 tokens

    # ---- seeding and persistence

    def add_provider(self, name: str, issuer_url: str, client_ids: Iterable[str] = ("sts.aliyuncs.com",)) -> None:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", name):
            raise InvalidParameterError("InvalidParameter.OIDCProviderName", "The OIDC provider name is invalid.")
        if not issuer_url.startswith("https://"):
            raise InvalidParameterError("InvalidParameter.IssuerUrl", "The issuer URL must start with https://.")
        self.providers[name.lower()] = OidcProvider(
            name, issuer_url, tuple(client_ids), new_rsa_pem(), uuid.uuid4().hex[:16]
        )

    def set_trust_policy(self, role: str, document: Mapping[str, Any]) -> None:
        statements = document.get("Statement")
        if not isinstance(statements, list) or not all(isinstance(s, Mapping) for s in statements):
            raise InvalidParameterError(
                "MalformedPolicyDocument", "The policy document must have a Statement list of objects."
            )
        self.trust[role.lower()] = dict(document)

    def attach(self, kind: str, name: str, policies: Iterable[str]) -> None:
        for policy in policies:
            if policy not in SYSTEM_POLICIES:
                raise InvalidParameterError("EntityNotExist.Policy", f"The policy {policy} does not exist.")
            self.policies.setdefault(f"{kind}/{name.lower()}", set()).add(policy)

    def dump(self) -> dict[str, Any]:
        return {
            "providers": [vars(p) for p in self.providers.values()],
            "trust": self.trust,
            "policies": {k: sorted(v) for k, v in self.policies.items()},
            "instance_role": self.instance_role,
            "instance_tokens_required": self.instance_tokens_required,
        }

    def load(self, data: Mapping[str, Any]) -> None:
        self.providers = {p["name"].lower(): OidcProvider(**p) for p in data.get("providers", [])}
        for provider in self.providers.values():
            provider.client_ids = tuple(provider.client_ids)
        self.trust = dict(data.get("trust", {}))
        self.policies = {k: set(v) for k, v in dict(data.get("policies", {})).items()}
        self.instance_role = data.get("instance_role")
        self.instance_tokens_required = bool(data.get("instance_tokens_required", False))

    # ---- RAM API access

    def allows(self, kind: str, name: str, action: str) -> bool:
        """Whether a user's or role's attached policies allow ``ram:<Action>``."""
        held = self.policies.get(f"{kind}/{name.lower()}", set())
        return any(fnmatch.fnmatchcase(action, p) for policy in held for p in SYSTEM_POLICIES[policy])

    # ---- trust

    def may_assume(self, role: str, *, account_id: str, caller_arn: str) -> bool:
        """AssumeRole by a RAM user: a role without a trust policy trusts the whole account."""
        document = self.trust.get(role.lower())
        if document is None:
            return True
        root = f"acs:ram::{account_id}:root"
        return any(
            principal in (root, caller_arn) or principal == account_id
            for statement in _allowing(document)
            for principal in _principals(statement, "RAM")
        )

    def trusts_service(self, role: str, service: str = _ECS_SERVICE) -> bool:
        document = self.trust.get(role.lower())
        return document is not None and any(service in _principals(s, "Service") for s in _allowing(document))

    def trusts_token(self, role: str, provider_arn: str, claims: Mapping[str, Any]) -> bool:
        document = self.trust.get(role.lower())
        if document is None:
            return False
        for statement in _allowing(document):
            if provider_arn in _principals(statement, "Federated") and _conditions_hold(statement, claims):
                return True
        return False

    # ---- OIDC

    def provider_for(self, arn: str, account_id: str) -> OidcProvider | None:
        match = _PROVIDER_ARN_RE.fullmatch(arn)
        if match is None or match["account"] != account_id:
            return None
        return self.providers.get(match["name"].lower())

    def mint_token(
        self,
        provider: str,
        *,
        subject: str,
        now: float,
        audience: str | None = None,
        ttl_seconds: int = 3600,
        issuer: str | None = None,
        foreign_key: bool = False,
    ) -> str:
        """A token the provider's issuer would sign (``foreign_key``: signed by another key, for tests)."""
        import jwt

        found = self.providers[provider.lower()]
        claims = {
            "iss": issuer or found.issuer_url,
            "sub": subject,
            "aud": audience or found.client_ids[0],
            "iat": int(now),
            "exp": int(now) + int(ttl_seconds),
        }
        key = new_rsa_pem() if foreign_key else found.key_pem
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": found.kid})

    def verify_token(self, token: str, provider: OidcProvider, now: float) -> dict[str, Any]:
        """STS' checks of an OIDC token, in the order the error codes suggest; the claims when it passes."""
        import jwt

        if token.count(".") != 2:
            raise TokenRejected("AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.") from None
        if header.get("alg") != "RS256":
            raise TokenRejected("AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                provider.private_key().public_key(),
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iss": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError:
            raise TokenRejected(
                "AuthenticationFail.OIDCToken.InvalidSignature", "The signature of the OIDC token is invalid."
            ) from None
        except jwt.PyJWTError:
            raise TokenRejected("AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.") from None
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= now:
            raise TokenRejected("AuthenticationFail.OIDCToken.Expired", "This JsonWebToken is expired.")
        if claims.get("iss") != provider.issuer_url:
            raise TokenRejected("AuthenticationFail.OIDCToken.IssuerNotMatch", "Invalid issuer.")
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        if not set(audiences) & set(provider.client_ids):
            raise TokenRejected("AuthenticationFail.OIDCToken.AudienceNotMatch", "Invalid audience.")
        return claims


def _allowing(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    result = []
    for statement in document.get("Statement") or []:
        actions = statement.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Allow" and any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            result.append(statement)
    return result


def _principals(statement: Mapping[str, Any], kind: str) -> list[str]:
    principal = statement.get("Principal") or {}
    values = principal.get(kind, []) if isinstance(principal, Mapping) else []
    return [values] if isinstance(values, str) else [str(v) for v in values]


def _conditions_hold(statement: Mapping[str, Any], claims: Mapping[str, Any]) -> bool:
    """``StringEquals`` / ``StringLike`` on ``oidc:aud``, ``oidc:iss``, ``oidc:sub``; any other operator fails."""
    for operator, tests in dict(statement.get("Condition") or {}).items():
        if operator not in ("StringEquals", "StringLike") or not isinstance(tests, Mapping):
            return False
        for key, wanted in tests.items():
            claim = claims.get(str(key).removeprefix("oidc:"))
            have = [claim] if isinstance(claim, str) else [str(c) for c in claim or []]
            options = [wanted] if isinstance(wanted, str) else [str(w) for w in wanted]
            match = fnmatch.fnmatchcase if operator == "StringLike" else str.__eq__
            if not any(match(h, w) for h in have for w in options):
                return False
    return True

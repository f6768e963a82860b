"""The ECS instance metadata service's RAM-role routes, for "the" instance the emulator plays.

| route | answer |
| --- | --- |
| ``PUT /latest/api/token`` (header ``X-aliyun-ecs-metadata-token-ttl-seconds``: 1-21600) | a token (text) |
| ``GET /latest/meta-data/ram/security-credentials/`` | the attached role's name (text), 404 without one |
| ``GET /latest/meta-data/ram/security-credentials/<role>`` | the role's STS credentials (JSON, ``Code: Success``) |

A read may carry the token as ``X-aliyun-ecs-metadata-token`` (IMDSv2); an unknown or expired one is 401. With
the seed's ``ecs.http_tokens: required`` a read without a token is 401 too (``ModifyInstanceMetadataOptions``
``HttpTokens=required``). The attached role (seed ``ram.ecs.instance_role``) must trust the service
``ecs.aliyuncs.com``; its credentials expire on the emulator clock like any STS session. The real service
listens on ``100.100.100.200``: clients reach the emulator through it as an HTTP proxy (an absolute-form
request target, which the app accepts), or on the emulator's own address.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.ram.models import IdentityStore, format_date

__all__ = ["METADATA_PREFIX", "MetadataService"]

METADATA_PREFIX = "/latest/"
_CREDENTIALS_PATH = "/latest/meta-data/ram/security-credentials/"
_TOKEN_PATH = "/latest/api/token"  # noqa: S105 - a URL path, not a secret
_MAX_TOKEN_TTL = 21600
_SESSION_SECONDS = 3600


_text = Response.text


class MetadataService:
    """Metadata tokens (IMDSv2) and the instance role's credentials."""

    def __init__(self, identity_of: Callable[[], IdentityStore]) -> None:
        self._identity_of = identity_of  # the live store: a reset replaces it
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def identity(self) -> IdentityStore:
        return self._identity_of()

    def handle(self, req: Request) -> Response:
        path = req.path
        if path == _TOKEN_PATH:
            return self._token(req)
        if req.method not in ("GET", "HEAD"):
            return _text("Method Not Allowed", 405)
        if not path.startswith(_CREDENTIALS_PATH):
            return _text("Not Found", 404)
        refused = self._check_token(req)
        if refused is not None:
            return refused
        role = self.identity.federation.instance_role
        wanted = path[len(_CREDENTIALS_PATH) :]
        if not wanted:
            return _text(role) if role else _text("Not Found", 404)
        if role is None or wanted.lower() != role.lower():
            return _text("Not Found", 404)
        return self._credentials(role)

    def _token(self, req: Request) -> Response:
        if req.method != "PUT":
            return _text("Method Not Allowed", 405)
        raw = req.header("x-aliyun-ecs-metadata-token-ttl-seconds")
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= _MAX_TOKEN_TTL:
            return _text("Bad Request: X-aliyun-ecs-metadata-token-ttl-seconds must be 1-21600", 400)
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self.identity.now()
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + int(raw)
        return _text(token)

    def _check_token(self, req: Request) -> Response | None:
        token = req.header("x-aliyun-ecs-metadata-token")
        if not token:
            return _text("Unauthorized", 401) if self.identity.federation.instance_tokens_required else None
        with self._lock:
            expires = self._tokens.get(token)
        if expires is None or expires <= self.identity.now():
            return _text("Unauthorized", 401)
        return None

    def _credentials(self, role: str) -> Response:
        identity = self.identity
        if not identity.federation.trusts_service(role):
            body = {"Code": "RoleNotTrusted", "Message": f"The role {role} does not trust ecs.aliyuncs.com."}
            return Response.json(body, status=403)
        session = identity.assume_role(role, "ecs-instance", duration_seconds=_SESSION_SECONDS)
        body = {
            "AccessKeyId": session.access_key_id,
            "AccessKeySecret": session.secret,
            "Expiration": format_date(session.expires_at),
            "SecurityToken": session.security_token,
            "LastUpdated": format_date(session.issued_at),
            "Code": "Success",
        }
        return Response.json(body)

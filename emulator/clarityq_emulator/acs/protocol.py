"""Entry point for the emulated RAM and STS OpenAPI: routing, signature checks, JSON errors.

The real Alibaba SDKs POST to ``/`` with the action and version in ``x-acs-*`` headers
(ACS3-HMAC-SHA256) or in the query (v2 RPC, HMAC-SHA1). :func:`handle` verifies the signature
against the :class:`~.identity.IdentityStore`, dispatches to ``ram``/``sts`` and always answers
with JSON, so the SDK keeps the status and code of every error. The one unsigned request served is
STS ``AssumeRoleWithOIDC``, whose proof is the OIDC token (as on Alibaba Cloud).
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from clarityq_emulator.acs.signing import (
    ACS3_ALGORITHM,
    MalformedAuthorization,
    acs3_canonical_request,
    acs3_signature,
    acs3_string_to_sign,
    parse_acs3_authorization,
    parse_query_pairs,
    rpc_signature,
    rpc_string_to_sign,
    sha256_hex,
)
from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.ram import responses as ram
from clarityq_emulator.ram.models import IdentityError, IdentityStore, KeyInfo
from clarityq_emulator.sts import responses as sts

__all__ = ["AcsError", "AcsResult", "error_response", "handle", "is_acs_request", "throttling_response"]

logger = logging.getLogger(__name__)

Service = Literal["ram", "sts"]

#: API version -> service, as the SDKs send them in ``x-acs-version`` / ``Version``.
VERSIONS: dict[str, Service] = {"2015-05-01": "ram", "2015-04-01": "sts"}
_HOSTS: dict[Service, str] = {"ram": "ram.aliyuncs.com", "sts": "sts.aliyuncs.com"}
_PRODUCTS: dict[Service, str] = {"ram": "Ram", "sts": "Sts"}
_HANDLERS: dict[Service, dict[str, ram.Handler]] = {"ram": ram.ACTIONS, "sts": sts.ACTIONS}

#: Bound on the request target and on the body; anything larger is refused before parsing.
MAX_REQUEST_BYTES = 64 * 1024
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: Headers every ACS3 request must sign, besides any other ``x-acs-*`` header it carries.
_ALWAYS_SIGNED = frozenset(
    {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"}
)
_RPC_REQUIRED = ("AccessKeyId", "SignatureMethod", "SignatureVersion", "Timestamp", "SignatureNonce")


class AcsError(Exception):
    """A request-level failure (routing, signing, size) to report as an Alibaba JSON error."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class AcsResult:
    service: Service
    action: str | None
    response: Response
    mutated: bool


def is_acs_request(request: Request) -> bool:
    """Alibaba OpenAPI RPC calls: ``POST`` (or ``GET``) to ``/`` naming an action."""
    if request.method.upper() not in ("POST", "GET") or request.raw_path not in ("/", ""):
        return False
    return bool(request.header("x-acs-action")) or "Action" in request.query


def _new_request_id() -> str:
    return str(uuid.uuid4()).upper()


def error_response(
    service: Service,
    code: str,
    message: str,
    status: int,
    *,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    access_denied_detail: Mapping[str, str] | None = None,
) -> Response:
    """The JSON error body RAM and STS send (the SDK reads Code, Message, RequestId from it)."""
    rid = request_id or _new_request_id()
    body: dict[str, Any] = {
        "RequestId": rid,
        "HostId": _HOSTS[service],
        "Code": code,
        "Message": message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product={_PRODUCTS[service]}",
    }
    if access_denied_detail:
        body["AccessDeniedDetail"] = dict(access_denied_detail)
    return Response.json(body, status=status, headers={"x-acs-request-id": rid, **(headers or {})})


def throttling_response(service: str, retry_after_ms: int = 1000) -> Response:
    """A rate-limited RAM/STS answer; ``x-acs-retry-after`` (ms) makes the SDK raise ThrottlingException."""
    return error_response(
        "sts" if service == "sts" else "ram",
        "Throttling.User",
        "Request was denied due to user flow control.",
        400,
        headers={"x-acs-retry-after": str(max(1, int(retry_after_ms)))},
    )


def handle(request: Request, identity: IdentityStore) -> AcsResult:
    """Verify, authorise and run one RAM/STS call. Client errors come back as JSON, never raised."""
    request_id = _new_request_id()
    service: Service = VERSIONS.get(request.header("x-acs-version") or request.query.get("Version", ""), "ram")
    action: str | None = None
    key_id = "-"
    try:
        _check_size(request)
        params, pairs = _parameters(request)
        signed_v2 = not request.header("authorization") and "Signature" in params
        service, action = _route(request, params, signed_v2)
        if action in sts.ANONYMOUS_ACTIONS and not signed_v2 and not request.header("authorization"):
            payload, mutated = sts.assume_role_with_oidc(params, identity)  # a signed call is checked as usual
        else:
            key = (
                _authenticate_v2(request, pairs, params, identity)
                if signed_v2
                else _authenticate_acs3(request, pairs, identity)
            )
            key_id = key.access_key_id
            identity.record_key_use(key.access_key_id, service)
            payload, mutated = _HANDLERS[service][action](params, key.caller, identity)
    except AcsError as exc:
        logger.info("%s %s by %s refused: %s", service, action or "-", key_id, exc.code)
        response = error_response(service, exc.code, exc.message, exc.status, request_id=request_id)
        return AcsResult(service, action, response, mutated=False)
    except IdentityError as exc:
        logger.info("%s %s by %s failed: %s", service, action or "-", key_id, exc.code)
        response = error_response(
            service, exc.code, exc.message, exc.status, request_id=request_id, access_denied_detail=exc.detail
        )
        return AcsResult(service, action, response, mutated=False)
    except Exception:  # a bug here must still reach the SDK as a ServerException, not a dropped socket
        logger.exception("%s %s by %s crashed", service, action or "-", key_id)
        response = error_response(
            service,
            "InternalError",
            "The request processing has failed due to some unknown error.",
            500,
            request_id=request_id,
        )
        return AcsResult(service, action, response, mutated=False)
    logger.debug("%s %s by %s ok", service, action, key_id)
    body = {"RequestId": request_id, **payload}
    return AcsResult(service, action, Response.json(body, headers={"x-acs-request-id": request_id}), mutated)


def _check_size(request: Request) -> None:
    if len(request.raw_target) > MAX_REQUEST_BYTES or len(request.body) > MAX_REQUEST_BYTES:
        raise AcsError("InvalidParameter", "The request query or body exceeds 64 KiB.")


def _parameters(request: Request) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """API parameters from the query plus any form body; a repeated name is refused (ambiguous)."""
    pairs = parse_query_pairs(request.raw_query)
    if request.header("content-type").lower().startswith("application/x-www-form-urlencoded") and request.body:
        try:
            pairs += parse_query_pairs(request.body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise AcsError("InvalidParameter", "The form body is not valid UTF-8.") from exc
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise AcsError("InvalidParameter", f"The parameter {key} is repeated.")
        params[key] = value
    return params, pairs


def _route(request: Request, params: Mapping[str, str], signed_v2: bool) -> tuple[Service, str]:
    """Action and version from the signed place: ``x-acs-*`` headers (ACS3) or the query (v2)."""
    if signed_v2:
        action, version = params.get("Action", ""), params.get("Version", "")
        for header, value in (("x-acs-action", action), ("x-acs-version", version)):
            if request.header(header) and request.header(header) != value:
                raise AcsError("IncompleteSignature", f"Header {header} contradicts the signed query parameter.")
    else:
        action = request.header("x-acs-action") or params.get("Action", "")
        version = request.header("x-acs-version") or params.get("Version", "")
    service = VERSIONS.get(version)
    if service is None:
        raise AcsError("InvalidVersion", f"Specified parameter Version is not valid: {version!r}.")
    if action not in _HANDLERS[service]:
        raise AcsError("InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
    return service, action


def _lookup(identity: IdentityStore, access_key_id: str) -> KeyInfo:
    key = identity.lookup_key(access_key_id)
    if key is None:
        raise AcsError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
    if key.status != "Active":
        raise AcsError("InvalidAccessKeyId.Inactive", "Specified access key is disabled.")
    return key


def _authenticate_acs3(request: Request, pairs: list[tuple[str, str]], identity: IdentityStore) -> KeyInfo:
    headers = request.headers
    value = request.header("authorization")
    if not value:
        raise AcsError("IncompleteSignature", "The request signature does not conform to Aliyun standards.")
    try:
        auth = parse_acs3_authorization(value)
    except MalformedAuthorization as exc:
        raise AcsError(
            "IncompleteSignature", f"The request signature does not conform to Aliyun standards: {exc}."
        ) from exc
    if auth.algorithm != ACS3_ALGORITHM:
        raise AcsError("IncompleteSignature", f"Unsupported signature algorithm {auth.algorithm!r}.")
    absent = [name for name in auth.signed_headers if name not in headers]
    if absent:
        raise AcsError("IncompleteSignature", f"Signed header {absent[0]} is not in the request.")
    must_sign = _ALWAYS_SIGNED | {name for name in headers if name.startswith("x-acs-")}
    unsigned = sorted(must_sign - set(auth.signed_headers))
    if unsigned:
        raise AcsError("IncompleteSignature", f"Header {unsigned[0]} is required and must be signed.")
    key = _lookup(identity, auth.access_key_id)
    if headers["x-acs-content-sha256"] != sha256_hex(request.body):
        raise AcsError("SignatureDoesNotMatch", "The x-acs-content-sha256 header does not match the request body.")
    canonical = acs3_canonical_request(
        request.method, request.raw_path, pairs, headers, auth.signed_headers, headers["x-acs-content-sha256"]
    )
    string_to_sign = acs3_string_to_sign(canonical)
    if not hmac.compare_digest(acs3_signature(key.secret, string_to_sign), auth.signature):
        raise _signature_mismatch(string_to_sign)
    _check_token(identity, key, request.header("x-acs-security-token"), request.header("x-acs-accesskey-id") or None)
    _check_freshness(identity, headers["x-acs-date"], headers["x-acs-signature-nonce"])
    return key


def _authenticate_v2(
    request: Request, pairs: list[tuple[str, str]], params: Mapping[str, str], identity: IdentityStore
) -> KeyInfo:
    missing = [name for name in _RPC_REQUIRED if not params.get(name)]
    if missing:
        raise AcsError("IncompleteSignature", f"The signed request is missing {missing[0]}.")
    if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
        raise AcsError("IncompleteSignature", "Only SignatureMethod=HMAC-SHA1, SignatureVersion=1.0 are supported.")
    key = _lookup(identity, params["AccessKeyId"])
    string_to_sign = rpc_string_to_sign(request.method, [(k, v) for k, v in pairs if k != "Signature"])
    if not hmac.compare_digest(rpc_signature(key.secret, string_to_sign), params["Signature"]):
        raise _signature_mismatch(string_to_sign)
    _check_token(identity, key, params.get("SecurityToken", ""), None)
    _check_freshness(identity, params["Timestamp"], params["SignatureNonce"])
    return key


def _signature_mismatch(string_to_sign: str) -> AcsError:
    return AcsError(
        "SignatureDoesNotMatch",
        "Specified signature is not matched with our calculation. server string to sign is:" + string_to_sign,
    )


def _check_token(identity: IdentityStore, key: KeyInfo, token: str, bound_key_id: str | None) -> None:
    """STS keys need their own token and expire; permanent keys must not carry one."""
    if key.security_token is None:
        if token:
            raise AcsError(
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            )
        return
    if not token:
        raise AcsError("MissingSecurityToken", "SecurityToken is mandatory for this AccessKey.")
    if not hmac.compare_digest(token, key.security_token) or (
        bound_key_id is not None and bound_key_id != key.access_key_id
    ):
        raise AcsError(
            "InvalidSecurityToken.MismatchWithAccessKey",
            "Specified SecurityToken mismatch with the AccessKey.",
        )
    if key.is_expired(identity.now()):
        raise AcsError("InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")


def _check_freshness(identity: IdentityStore, stamp: str, nonce: str) -> None:
    """Date skew against the real wall clock (clients stamp real time), then nonce replay."""
    try:
        signed_at = datetime.strptime(stamp, _DATE_FORMAT).replace(tzinfo=timezone.utc).timestamp()
    except ValueError as exc:
        raise AcsError("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.") from exc
    now = time.time()
    if identity.max_clock_skew is not None and abs(now - signed_at) > identity.max_clock_skew:
        raise AcsError("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
    if not identity.remember_nonce(nonce, now):
        raise AcsError("SignatureNonceUsed", "Specified signature nonce was used already.")

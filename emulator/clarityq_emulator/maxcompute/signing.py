"""Server-side check of the ``Authorization: ODPS ...`` header pyodps sends.

Two schemes share one canonical string: the default ("v2", HMAC-SHA1 keyed with the secret)
and v4 (HMAC-SHA1 keyed with a date/region-scoped HMAC-SHA256 chain), used by pyodps when a
region is known. The canonical resource is the request target minus the endpoint path
(``/api`` for REST, nothing for the tunnel), decoded once as a whole; the query is decoded a
second time and sorted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

V4_PREFIX = "aliyun_v4"


class SignatureFormatError(ValueError):
    """The Authorization header is missing or is not an ODPS header."""


@dataclass(frozen=True)
class OdpsAuthorization:
    """The parts of a parsed ``Authorization: ODPS ...`` header."""

    access_key_id: str
    signature: str
    day: str | None = None
    region: str | None = None

    @property
    def is_v4(self) -> bool:
        return self.region is not None


def parse_authorization(header: str) -> OdpsAuthorization:
    """Split ``ODPS <ak>:<sig>`` or ``ODPS <ak>/<day>/<region>/odps/<prefix>_request:<sig>``."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != "ODPS" or ":" not in rest:
        raise SignatureFormatError("The Authorization header is invalid or missing")
    credential, signature = rest.rsplit(":", 1)
    if not credential or not signature:
        raise SignatureFormatError("The Authorization header is invalid or missing")
    if "/" not in credential:
        return OdpsAuthorization(access_key_id=credential, signature=signature)
    parts = credential.split("/")
    if len(parts) != 5 or parts[3] != "odps" or parts[4] != f"{V4_PREFIX}_request" or not parts[0]:
        raise SignatureFormatError("The Authorization header is invalid or missing")
    return OdpsAuthorization(access_key_id=parts[0], signature=signature, day=parts[1], region=parts[2])


def canonical_string(method: str, raw_target: str, headers: dict[str, str], endpoint_path: str) -> str:
    """Rebuild the string pyodps signed for this request.

    ``headers`` must have lower-case names. ``endpoint_path`` is the path part of the
    endpoint the client was given (``/api``), which the client leaves out of what it signs.
    """
    relative = raw_target[len(endpoint_path) :] if raw_target.startswith(endpoint_path) else raw_target
    decoded = unquote(relative)
    path, _, query = decoded.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    resource = path
    if query:
        resource += "?" + "&".join(k if v == "" else f"{k}={v}" for k, v in sorted(params.items()))
    signed: dict[str, str] = {
        k: v for k, v in headers.items() if k in ("content-type", "content-md5") or k.startswith("x-odps-")
    }
    signed.setdefault("content-type", "")
    signed.setdefault("content-md5", "")
    signed["date"] = headers.get("date", "")
    signed.update({k: v for k, v in params.items() if k.startswith("x-odps-")})
    lines = [method.upper()]
    lines += [f"{k}:{v}" if k.startswith("x-odps-") else v for k, v in sorted(signed.items())]
    lines.append(resource)
    return "\n".join(lines)


def _v4_key(secret: str, day: str, region: str) -> bytes:
    k = hmac.new((V4_PREFIX + secret).encode(), day.encode(), hashlib.sha256).digest()
    k = hmac.new(k, region.encode(), hashlib.sha256).digest()
    k = hmac.new(k, b"odps", hashlib.sha256).digest()
    return hmac.new(k, (V4_PREFIX + "_request").encode(), hashlib.sha256).digest()


def expected_signature(auth: OdpsAuthorization, secret: str, canonical: str) -> str:
    key = _v4_key(secret, auth.day or "", auth.region or "") if auth.is_v4 else secret.encode()
    return base64.b64encode(hmac.new(key, canonical.encode("utf-8"), hashlib.sha1).digest()).decode()


def signature_matches(auth: OdpsAuthorization, secret: str, canonical: str) -> bool:
    return hmac.compare_digest(expected_signature(auth, secret, canonical), auth.signature)

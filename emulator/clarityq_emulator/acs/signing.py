"""Pure signing maths for Alibaba Cloud OpenAPI requests: ACS3-HMAC-SHA256 and the v2 RPC HMAC-SHA1.

Both sides live here: the emulator verifies with the same functions tests use to forge requests,
so a test can prove that any tampered header, query value or body breaks the signature.
Reference: ``ram-sts-protocol.md`` sections 4 and 5.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_plus, urlencode

__all__ = [
    "ACS3_ALGORITHM",
    "EMPTY_SHA256",
    "Acs3Authorization",
    "MalformedAuthorization",
    "acs3_canonical_request",
    "acs3_signature",
    "acs3_string_to_sign",
    "canonical_query",
    "parse_acs3_authorization",
    "parse_query_pairs",
    "percent_encode",
    "rpc_signature",
    "rpc_string_to_sign",
    "sha256_hex",
    "sign_acs3",
    "sign_rpc",
]

ACS3_ALGORITHM = "ACS3-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class MalformedAuthorization(ValueError):
    """The Authorization header is not a well-formed ACS3 credential line."""


@dataclass(frozen=True)
class Acs3Authorization:
    algorithm: str
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def percent_encode(value: str) -> str:
    """RFC 3986 encoding (only ``A-Za-z0-9-_.~`` bare): a space is ``%20`` and ``+`` is ``%2B``."""
    return quote(value, safe="~", encoding="utf-8")


def parse_query_pairs(raw: str) -> list[tuple[str, str]]:
    """Decode a wire query or form body (``+`` is a space), keeping blank values and repeats."""
    pairs: list[tuple[str, str]] = []
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Decoded params sorted by key and re-encoded; the wire string itself is never signed."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(pairs))


def acs3_canonical_request(
    method: str,
    path: str,
    pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    hashed_payload: str,
) -> str:
    """The ACS3 canonical request; ``headers`` must have lower-case names and hold every signed one."""
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(pairs),
            canonical_headers,
            ";".join(signed_headers),
            hashed_payload,
        ]
    )


def acs3_string_to_sign(canonical_request: str) -> str:
    return f"{ACS3_ALGORITHM}\n{sha256_hex(canonical_request.encode('utf-8'))}"


def acs3_signature(secret: str, string_to_sign: str) -> str:
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_acs3_authorization(value: str) -> Acs3Authorization:
    """Split ``<algo> Credential=..,SignedHeaders=..,Signature=..``; raise on anything missing."""
    algorithm, sep, rest = value.strip().partition(" ")
    if not sep or not rest.strip():
        raise MalformedAuthorization("Authorization must be '<algorithm> Credential=...,...'")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, eq, item_value = item.strip().partition("=")
        if not eq:
            raise MalformedAuthorization(f"Authorization part {item.strip()!r} has no '='")
        parts[name] = item_value.strip()
    credential = parts.get("Credential", "")
    signed = parts.get("SignedHeaders", "")
    signature = parts.get("Signature", "")
    if not credential or not signed or not signature:
        raise MalformedAuthorization("Authorization needs Credential, SignedHeaders and Signature")
    names = tuple(signed.split(";"))
    if any(not n or n != n.lower() for n in names):
        raise MalformedAuthorization("SignedHeaders must be non-empty lower-case names")
    return Acs3Authorization(algorithm, credential, names, signature)


def rpc_string_to_sign(method: str, pairs: Iterable[tuple[str, str]]) -> str:
    """v2 RPC: ``METHOD&%2F&pct(canonical query)``; ``pairs`` must already exclude ``Signature``."""
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(pairs))}"


def rpc_signature(secret: str, string_to_sign: str) -> str:
    digest = hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_acs3(
    *,
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    access_key_id: str,
    secret: str,
) -> tuple[str, dict[str, str]]:
    """Client side, for tests and tools: sign every given header plus the body hash.

    Returns the wire query string and the headers to send (``x-acs-content-sha256`` and
    ``authorization`` added).
    """
    out = {k.lower(): v for k, v in headers.items()}
    out["x-acs-content-sha256"] = sha256_hex(body)
    signed = sorted(out)
    canonical = acs3_canonical_request(method, path, query, out, signed, out["x-acs-content-sha256"])
    signature = acs3_signature(secret, acs3_string_to_sign(canonical))
    out["authorization"] = (
        f"{ACS3_ALGORITHM} Credential={access_key_id},SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    return urlencode(list(query)), out


def sign_rpc(method: str, params: Sequence[tuple[str, str]], secret: str) -> str:
    """Client side, for tests and tools: the wire query with the v2 ``Signature`` appended."""
    signature = rpc_signature(secret, rpc_string_to_sign(method, params))
    return urlencode([*params, ("Signature", signature)])

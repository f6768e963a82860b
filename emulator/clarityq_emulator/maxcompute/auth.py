"""Who signed a MaxCompute request: the ``Authorization: ODPS ...`` header checked against the key store.

Order: the header parses, a ``Date`` header is present and parses, the key exists, the signature
matches, the key is active, an STS token matches and has not expired, the date is within 15
minutes of the server's clock. ``Date`` is required because it is the only signed timestamp: a
request without one could be replayed forever. ``x-odps-date`` is not accepted in its place: no
SDK sends it and no documentation of the service mentions it (pyodps and the Java SDK always send
``Date``, which the canonical string signs).
"""

from __future__ import annotations

import email.utils
import time

from clarityq_emulator.core.http import Request
from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute import signing
from clarityq_emulator.ram.models import Caller, IdentityStore

#: How far a request's ``Date`` may be from the server's wall clock.
MAX_CLOCK_SKEW_S = 15 * 60


def request_time(req: Request) -> float:
    """Epoch seconds of the request's ``Date`` header; refused when missing or malformed."""
    sent = req.header("date")
    if not sent:
        raise odps_errors.missing_date()
    try:
        return email.utils.parsedate_to_datetime(sent).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        raise odps_errors.malformed_date(sent) from None


def authenticate(req: Request, identity: IdentityStore, endpoint_path: str, now: float) -> Caller:
    """The caller who signed ``req``; ``now`` is the STS clock (the emulator's, possibly moved)."""
    header = req.header("authorization")
    if not header:
        raise odps_errors.missing_authorization()
    try:
        auth = signing.parse_authorization(header)
    except signing.SignatureFormatError:
        raise odps_errors.missing_authorization() from None
    sent_at = request_time(req)
    key = identity.lookup_key(auth.access_key_id)
    if key is None:
        raise odps_errors.unknown_access_key()
    canonical = signing.canonical_string(req.method, req.raw_target, req.headers, endpoint_path)
    if not signing.signature_matches(auth, key.secret, canonical):
        raise odps_errors.signature_mismatch()
    if key.status != "Active":
        raise odps_errors.inactive_access_key()
    if key.security_token is not None:
        if req.header("authorization-sts-token") != key.security_token:
            raise odps_errors.sts_token_invalid()
        if key.expires_at is not None and key.expires_at <= now:
            raise odps_errors.sts_token_expired()
    if abs(time.time() - sent_at) > MAX_CLOCK_SKEW_S:
        raise odps_errors.time_skewed()
    identity.record_key_use(auth.access_key_id, "odps")
    return key.caller

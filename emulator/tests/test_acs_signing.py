"""Signature maths (the reference's test vectors) and request verification in ``acs.handle``.

No sockets here: requests are forged with the same helpers the verifier uses, then tampered.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest
from clarityq_emulator.acs import protocol as acs
from clarityq_emulator.acs.signing import (
    EMPTY_SHA256,
    MalformedAuthorization,
    acs3_canonical_request,
    acs3_signature,
    acs3_string_to_sign,
    parse_acs3_authorization,
    parse_query_pairs,
    rpc_signature,
    rpc_string_to_sign,
    sha256_hex,
    sign_acs3,
    sign_rpc,
)
from clarityq_emulator.core.http import Request
from clarityq_emulator.ram.models import IdentityStore

AK = "LTAIexampleKEY000001"
SECRET = "exampleSecret/with+chars="
NONCE = "00000000000000000000000000000001"
VECTOR_HEADERS = {
    "accept": "application/json",
    "host": "127.0.0.1:8080",
    "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
    "x-acs-action": "CreateUser",
    "x-acs-content-sha256": EMPTY_SHA256,
    "x-acs-credentials-provider": "static_ak",
    "x-acs-date": "2026-01-01T00:00:00Z",
    "x-acs-signature-nonce": NONCE,
    "x-acs-version": "2015-05-01",
}
VECTOR_CANONICAL = "\n".join(
    [
        "POST",
        "/",
        "Comments=a%20b%2Bc&UserName=clarityq",
        "accept:application/json",
        "host:127.0.0.1:8080",
        "user-agent:AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        "x-acs-action:CreateUser",
        f"x-acs-content-sha256:{EMPTY_SHA256}",
        "x-acs-credentials-provider:static_ak",
        "x-acs-date:2026-01-01T00:00:00Z",
        f"x-acs-signature-nonce:{NONCE}",
        "x-acs-version:2015-05-01",
        "",
        "accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;"
        "x-acs-date;x-acs-signature-nonce;x-acs-version",
        EMPTY_SHA256,
    ]
)
V2_PARAMS = [
    ("Action", "CreateUser"),
    ("Format", "json"),
    ("Version", "2015-05-01"),
    ("Timestamp", "2026-01-01T00:00:00Z"),
    ("SignatureNonce", NONCE),
    ("UserName", "clarityq"),
    ("Comments", "a b+c"),
    ("SignatureMethod", "HMAC-SHA1"),
    ("SignatureVersion", "1.0"),
    ("AccessKeyId", AK),
]


class TestVectors:
    def test_acs3_canonical_request_hash_and_signature(self) -> None:
        pairs = parse_query_pairs("UserName=clarityq&Comments=a+b%2Bc")
        canonical = acs3_canonical_request("POST", "/", pairs, VECTOR_HEADERS, sorted(VECTOR_HEADERS), EMPTY_SHA256)
        assert canonical == VECTOR_CANONICAL
        assert sha256_hex(canonical.encode()) == "210f9b31251a9ac797e7d5bd9f8ddcfcfc42392bafe10c6d1b8f9bf6b4620e3b"
        assert (
            acs3_signature(SECRET, acs3_string_to_sign(canonical))
            == "ddcaeeaf456e7f07b566ca16f0e9d09f24b6a0caa5018e032ad990dd6ae05436"
        )

    def test_v2_string_to_sign_and_signature(self) -> None:
        string_to_sign = rpc_string_to_sign("POST", V2_PARAMS)
        assert string_to_sign == (
            "POST&%2F&AccessKeyId%3DLTAIexampleKEY000001%26Action%3DCreateUser%26Comments%3Da%2520b%252Bc"
            "%26Format%3Djson%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D00000000000000000000000000000001"
            "%26SignatureVersion%3D1.0%26Timestamp%3D2026-01-01T00%253A00%253A00Z%26UserName%3Dclarityq"
            "%26Version%3D2015-05-01"
        )
        assert rpc_signature(SECRET, string_to_sign) == "6Lh3zb1EjUw484c+yaSiW+qEqwA="

    def test_sign_acs3_reproduces_the_vector(self) -> None:
        headers = {k: v for k, v in VECTOR_HEADERS.items() if k != "x-acs-content-sha256"}
        query, signed = sign_acs3(
            method="POST",
            path="/",
            query=[("UserName", "clarityq"), ("Comments", "a b+c")],
            headers=headers,
            body=b"",
            access_key_id=AK,
            secret=SECRET,
        )
        assert query == "UserName=clarityq&Comments=a+b%2Bc"
        assert signed["authorization"].endswith(
            ",Signature=ddcaeeaf456e7f07b566ca16f0e9d09f24b6a0caa5018e032ad990dd6ae05436"
        )

    def test_wire_plus_is_a_space_and_tilde_stays_bare(self) -> None:
        pairs = parse_query_pairs("a=x+y&b=%7E~&c=&d")
        assert pairs == [("a", "x y"), ("b", "~~"), ("c", ""), ("d", "")]
        pairs_canon = acs3_canonical_request("POST", "/", pairs, {}, [], EMPTY_SHA256).split("\n")[2]
        assert pairs_canon == "a=x%20y&b=~~&c=&d="

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "ACS3-HMAC-SHA256",
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host",
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=Host,Signature=ab",
            "ACS3-HMAC-SHA256 Credential=AK;SignedHeaders=host;Signature=ab",
        ],
    )
    def test_malformed_authorization(self, value: str) -> None:
        with pytest.raises(MalformedAuthorization):
            parse_acs3_authorization(value)


# --------------------------------------------------------------------------- verification via handle()


@pytest.fixture
def store() -> IdentityStore:
    return IdentityStore(account_id="1234567890123456", owner_access_key_id=AK, owner_access_key_secret=SECRET)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def acs3_request(
    action: str = "GetCallerIdentity",
    version: str = "2015-04-01",
    query: list[tuple[str, str]] | None = None,
    *,
    ak: str = AK,
    secret: str = SECRET,
    extra: dict[str, str] | None = None,
    date: str | None = None,
    nonce: str | None = None,
    body: bytes = b"",
) -> Request:
    headers = {
        "host": "127.0.0.1:8080",
        "accept": "application/json",
        "user-agent": "test",
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": date or _now(),
        "x-acs-signature-nonce": nonce or secrets.token_hex(16),
        **(extra or {}),
    }
    raw_query, signed = sign_acs3(
        method="POST",
        path="/",
        query=query or [],
        headers=headers,
        body=body,
        access_key_id=ak,
        secret=secret,
    )
    return Request("POST", "/?" + raw_query if raw_query else "/", signed, body)


def v2_request(
    action: str = "GetCallerIdentity",
    version: str = "2015-04-01",
    params: list[tuple[str, str]] | None = None,
    *,
    ak: str = AK,
    secret: str = SECRET,
) -> Request:
    common = [
        ("Action", action),
        ("Format", "json"),
        ("Version", version),
        ("Timestamp", _now()),
        ("SignatureNonce", secrets.token_hex(16)),
    ]
    tail = [("SignatureMethod", "HMAC-SHA1"), ("SignatureVersion", "1.0"), ("AccessKeyId", ak)]
    raw_query = sign_rpc("POST", [*common, *(params or []), *tail], secret)
    headers = {"host": "127.0.0.1:8080", "x-acs-action": action, "x-acs-version": version, "user-agent": "t"}
    return Request("POST", "/?" + raw_query, headers, b"")


def body_of(result: acs.AcsResult) -> dict[str, Any]:
    data = json.loads(result.response.body)
    assert isinstance(data, dict)
    return data


def assert_error(result: acs.AcsResult, status: int, code: str) -> dict[str, Any]:
    body = body_of(result)
    assert (result.response.status, body["Code"]) == (status, code), body
    assert set(body) >= {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert result.mutated is False
    return body


class TestVerification:
    def test_a_correct_acs3_request_is_served(self, store: IdentityStore) -> None:
        result = acs.handle(acs3_request(), store)
        assert result.response.status == 200
        assert body_of(result)["AccountId"] == "1234567890123456"
        assert (result.service, result.action, result.mutated) == ("sts", "GetCallerIdentity", False)

    def test_a_correct_v2_request_is_served(self, store: IdentityStore) -> None:
        result = acs.handle(v2_request("CreateUser", "2015-05-01", [("UserName", "a b")]), store)
        assert result.response.status == 400  # the space is a bad char: proves params were decoded
        assert body_of(result)["Code"] == "InvalidParameter.UserName.InvalidChars"
        result = acs.handle(v2_request("CreateUser", "2015-05-01", [("UserName", "ok"), ("Comments", "a b+c~")]), store)
        assert result.response.status == 200, result.response.body
        assert body_of(result)["User"]["Comments"] == "a b+c~"
        assert result.mutated is True

    def test_tampered_header_is_a_mismatch_with_the_server_string_to_sign(self, store: IdentityStore) -> None:
        request = acs3_request()
        request.headers["user-agent"] = "someone else"
        body = assert_error(acs.handle(request, store), 400, "SignatureDoesNotMatch")
        assert "server string to sign is:ACS3-HMAC-SHA256\n" in body["Message"]

    def test_tampered_query_is_a_mismatch(self, store: IdentityStore) -> None:
        request = acs3_request("CreateUser", "2015-05-01", [("UserName", "alice")])
        forged = Request("POST", request.raw_target.replace("alice", "mallory"), request.headers, b"")
        assert_error(acs.handle(forged, store), 400, "SignatureDoesNotMatch")
        assert store.get_user("mallory") is None

    def test_tampered_body_fails_the_content_hash(self, store: IdentityStore) -> None:
        request = acs3_request(body=b"x=1", extra={"content-type": "application/x-www-form-urlencoded"})
        forged = Request("POST", request.raw_target, request.headers, b"x=2")
        body = assert_error(acs.handle(forged, store), 400, "SignatureDoesNotMatch")
        assert "x-acs-content-sha256" in body["Message"]

    def test_tampered_v2_query_is_a_mismatch(self, store: IdentityStore) -> None:
        request = v2_request("CreateUser", "2015-05-01", [("UserName", "alice")])
        forged = Request("POST", request.raw_target.replace("alice", "mallory"), request.headers, b"")
        body = assert_error(acs.handle(forged, store), 400, "SignatureDoesNotMatch")
        assert "server string to sign is:POST&%2F&" in body["Message"]

    def test_wrong_secret(self, store: IdentityStore) -> None:
        assert_error(acs.handle(acs3_request(secret="nope"), store), 400, "SignatureDoesNotMatch")
        assert_error(acs.handle(v2_request(secret="nope"), store), 400, "SignatureDoesNotMatch")

    def test_unsigned_request_is_never_served(self, store: IdentityStore) -> None:
        headers = {"host": "h", "x-acs-action": "GetCallerIdentity", "x-acs-version": "2015-04-01"}
        assert_error(acs.handle(Request("POST", "/", headers, b""), store), 400, "IncompleteSignature")

    def test_garbled_authorization(self, store: IdentityStore) -> None:
        request = acs3_request()
        request.headers["authorization"] = "ACS3-HMAC-SHA256 garbage"
        assert_error(acs.handle(request, store), 400, "IncompleteSignature")
        request.headers["authorization"] = "HMAC-SHA1 Credential=a,SignedHeaders=host,Signature=x"
        assert_error(acs.handle(request, store), 400, "IncompleteSignature")

    def test_action_header_must_be_signed(self, store: IdentityStore) -> None:
        request = acs3_request()
        auth = request.headers["authorization"]
        request.headers["authorization"] = auth.replace("x-acs-action;", "")
        body = assert_error(acs.handle(request, store), 400, "IncompleteSignature")
        assert "x-acs-action" in body["Message"]

    def test_v2_action_header_cannot_contradict_the_signed_action(self, store: IdentityStore) -> None:
        request = v2_request()
        request.headers["x-acs-action"] = "AssumeRole"
        assert_error(acs.handle(request, store), 400, "IncompleteSignature")

    def test_unknown_key(self, store: IdentityStore) -> None:
        assert_error(acs.handle(acs3_request(ak="LTAIunknown"), store), 404, "InvalidAccessKeyId.NotFound")

    def test_stale_date(self, store: IdentityStore) -> None:
        stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 16 * 60))
        assert_error(acs.handle(acs3_request(date=stale), store), 400, "InvalidTimeStamp.Expired")
        store.max_clock_skew = None
        assert acs.handle(acs3_request(date=stale), store).response.status == 200

    def test_garbled_date(self, store: IdentityStore) -> None:
        assert_error(acs.handle(acs3_request(date="yesterday"), store), 400, "InvalidTimeStamp.Format")

    def test_nonce_reuse(self, store: IdentityStore) -> None:
        assert acs.handle(acs3_request(nonce="n" * 32), store).response.status == 200
        assert_error(acs.handle(acs3_request(nonce="n" * 32), store), 400, "SignatureNonceUsed")

    def test_a_forged_request_does_not_burn_its_nonce(self, store: IdentityStore) -> None:
        assert_error(acs.handle(acs3_request(nonce="m" * 32, secret="bad"), store), 400, "SignatureDoesNotMatch")
        assert acs.handle(acs3_request(nonce="m" * 32), store).response.status == 200

    def test_security_token_on_a_permanent_key(self, store: IdentityStore) -> None:
        request = acs3_request(extra={"x-acs-security-token": "CAISxyz", "x-acs-accesskey-id": AK})
        assert_error(acs.handle(request, store), 400, "InvalidSecurityToken.MismatchWithAccessKey")

    def test_oversized_requests(self, store: IdentityStore) -> None:
        request = acs3_request("CreateUser", "2015-05-01", [("Comments", "x" * 70_000)])
        body = assert_error(acs.handle(request, store), 400, "InvalidParameter")
        assert "64 KiB" in body["Message"]

    def test_repeated_parameter_is_refused(self, store: IdentityStore) -> None:
        request = acs3_request("CreateUser", "2015-05-01", [("UserName", "a"), ("UserName", "b")])
        assert_error(acs.handle(request, store), 400, "InvalidParameter")


class TestRouting:
    def test_is_acs_request(self) -> None:
        assert acs.is_acs_request(Request("POST", "/", {"x-acs-action": "GetUser"}, b""))
        assert acs.is_acs_request(Request("GET", "/?Action=GetUser", {}, b""))
        assert not acs.is_acs_request(Request("POST", "/api/projects", {"x-acs-action": "GetUser"}, b""))
        assert not acs.is_acs_request(Request("PUT", "/", {"x-acs-action": "GetUser"}, b""))
        assert not acs.is_acs_request(Request("POST", "/", {}, b""))

    def test_unknown_version(self, store: IdentityStore) -> None:
        assert_error(acs.handle(acs3_request(version="2099-01-01"), store), 400, "InvalidVersion")

    def test_unknown_action(self, store: IdentityStore) -> None:
        result = acs.handle(acs3_request("CreateBucket"), store)
        body = assert_error(result, 400, "InvalidAction.NotFound")
        assert body["HostId"] == "sts.aliyuncs.com"
        assert result.action is None

    def test_ram_action_on_the_sts_version_is_unknown(self, store: IdentityStore) -> None:
        assert_error(acs.handle(acs3_request("CreateUser", "2015-04-01"), store), 400, "InvalidAction.NotFound")

    def test_success_carries_a_request_id(self, store: IdentityStore) -> None:
        result = acs.handle(acs3_request(), store)
        assert body_of(result)["RequestId"] == result.response.headers["x-acs-request-id"]


def test_throttling_response_shape() -> None:
    response = acs.throttling_response("sts", retry_after_ms=250)
    body = json.loads(response.body)
    assert response.status == 400
    assert response.headers["x-acs-retry-after"] == "250"
    assert body["Code"] == "Throttling.User"
    assert body["HostId"] == "sts.aliyuncs.com"
    assert body["Message"] == "Request was denied due to user flow control."

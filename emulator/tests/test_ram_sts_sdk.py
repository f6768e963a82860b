"""The real, unmodified RAM and STS SDKs against the emulator over HTTP.

The emulator runs in-process with a fixed account ID; its clock can be moved and throttling is
injected through the same fault mechanism every other test uses.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException
from alibabacloud_tea_openapi.utils import Utils as OpenApiUtils
from alibabacloud_tea_openapi.utils_models import Config
from clarityq_emulator import RunningEmulator, start_emulator
from clarityq_emulator.core.state import Clock, default_seed
from clarityq_emulator.ram.models import IdentityStore

ACCOUNT_ID = "1234567890123456"
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_MUTATING = ("Create", "Update", "Delete", "Assume")


class _Throttle:
    """``emulator.throttle.append(ms)`` queues one throttled RAM/STS answer with that retry-after."""

    def __init__(self, running: RunningEmulator) -> None:
        self.running = running

    def append(self, retry_after_ms: int) -> None:
        self.running.add_fault(service="ram", status=400, code="Throttling.User", retry_after_ms=retry_after_ms)


@dataclass
class Emulator:
    running: RunningEmulator

    @property
    def store(self) -> IdentityStore:
        return self.running.state.identity

    @property
    def clock(self) -> Clock:
        return self.running.state.clock

    @property
    def port(self) -> int:
        return self.running.port

    @property
    def throttle(self) -> _Throttle:
        return _Throttle(self.running)

    @property
    def mutations(self) -> list[str]:
        """Successful state-changing RAM/STS actions, from the emulator's request log."""
        return [
            str(e["action"])
            for e in self.running.requests()
            if e["service"] in ("ram", "sts") and e["status"] == 200 and str(e["action"]).startswith(_MUTATING)
        ]

    def config(self, ak: str, secret: str, **extra: Any) -> Config:
        return Config(
            access_key_id=ak,
            access_key_secret=secret,
            endpoint=f"127.0.0.1:{self.port}",
            protocol="http",
            read_timeout=5000,
            **extra,
        )

    def ram(self, ak: str | None = None, secret: str | None = None, **extra: Any) -> RamClient:
        return RamClient(
            self.config(ak or self.store.owner_access_key_id, secret or self.store.owner_access_key_secret, **extra)
        )

    def sts(self, ak: str | None = None, secret: str | None = None, **extra: Any) -> StsClient:
        return StsClient(
            self.config(ak or self.store.owner_access_key_id, secret or self.store.owner_access_key_secret, **extra)
        )


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    seed = {**default_seed(), "account": {"id": ACCOUNT_ID}}
    with start_emulator(seed=seed) as running:
        yield Emulator(running)


def _create_user_with_key(emulator: Emulator, name: str = "clarityq") -> tuple[str, str]:
    ram = emulator.ram()
    ram.create_user(ram_models.CreateUserRequest(user_name=name, display_name=name.title()))
    key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name=name)).body.access_key
    return key.access_key_id, key.access_key_secret


def _client_error(exc_info: pytest.ExceptionInfo[ClientException], status: int, code: str) -> ClientException:
    exc = exc_info.value
    assert (exc.status_code, exc.code) == (status, code), exc.data
    assert exc.request_id
    assert exc.request_id != "None"
    return exc


# --------------------------------------------------------------------------- seed 000, steps 1-3


def test_seed_000_steps_1_to_3(emulator: Emulator) -> None:
    """Owner creates ``clarityq`` + an AccessKey; the key then learns its account and user UIDs."""
    ram = emulator.ram()
    created = ram.create_user(ram_models.CreateUserRequest(user_name="clarityq", display_name="ClarityQ"))
    assert created.status_code == 200
    user = created.body.user
    assert user.user_name == "clarityq"
    assert user.display_name == "ClarityQ"
    assert user.user_id.isdigit()
    assert user.create_date.endswith("Z")

    key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="clarityq")).body.access_key
    assert key.access_key_id.startswith("LTAI")
    assert len(key.access_key_secret) == 30
    assert key.status == "Active"

    listed = ram.list_access_keys(ram_models.ListAccessKeysRequest(user_name="clarityq")).body
    assert [k.access_key_id for k in listed.access_keys.access_key] == [key.access_key_id]
    assert json.dumps(listed.to_map()).find(key.access_key_secret) == -1  # the secret is shown once

    me = emulator.sts(key.access_key_id, key.access_key_secret).get_caller_identity().body
    assert me.account_id == ACCOUNT_ID
    assert me.identity_type == "RAMUser"
    assert me.user_id == user.user_id
    assert me.principal_id == user.user_id
    assert me.arn == f"acs:ram::{ACCOUNT_ID}:user/clarityq"

    fetched = ram.get_user(ram_models.GetUserRequest(user_name="clarityq")).body.user
    assert fetched.user_id == user.user_id
    assert fetched.update_date.endswith("Z")
    assert emulator.mutations == ["CreateUser", "CreateAccessKey"]


def test_owner_is_the_account(emulator: Emulator) -> None:
    me = emulator.sts().get_caller_identity().body
    assert (me.account_id, me.user_id, me.identity_type) == (ACCOUNT_ID, ACCOUNT_ID, "Account")
    assert me.arn == f"acs:ram::{ACCOUNT_ID}:root"
    assert me.role_id is None


# --------------------------------------------------------------------------- RAM error table


def test_user_errors(emulator: Emulator) -> None:
    ram = emulator.ram()
    ram.create_user(ram_models.CreateUserRequest(user_name="clarityq"))
    with pytest.raises(ClientException) as exc_info:
        ram.create_user(ram_models.CreateUserRequest(user_name="CLARITYQ"))
    exc = _client_error(exc_info, 409, "EntityAlreadyExists.User")
    assert exc.data["Message"] == "The user does already EXIST."
    assert exc.data["HostId"] == "ram.aliyuncs.com"

    with pytest.raises(ClientException) as exc_info:
        ram.get_user(ram_models.GetUserRequest(user_name="ghost"))
    _client_error(exc_info, 404, "EntityNotExist.User")

    with pytest.raises(ClientException) as exc_info:
        ram.create_user(ram_models.CreateUserRequest(user_name="no spaces"))
    _client_error(exc_info, 400, "InvalidParameter.UserName.InvalidChars")

    with pytest.raises(ClientException) as exc_info:
        ram.create_user(ram_models.CreateUserRequest(user_name="x" * 65))
    _client_error(exc_info, 400, "InvalidParameter.UserName.Length")

    with pytest.raises(ClientException) as exc_info:
        ram.create_user(ram_models.CreateUserRequest())
    _client_error(exc_info, 400, "MissingParameter")


def test_access_key_limit_and_delete_conflict(emulator: Emulator) -> None:
    ram = emulator.ram()
    ram.create_user(ram_models.CreateUserRequest(user_name="u"))
    keys = [
        ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="u")).body.access_key.access_key_id
        for _ in range(2)
    ]
    with pytest.raises(ClientException) as exc_info:
        ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="u"))
    _client_error(exc_info, 409, "LimitExceeded.User.AccessKey")

    with pytest.raises(ClientException) as exc_info:
        ram.delete_user(ram_models.DeleteUserRequest(user_name="u"))
    _client_error(exc_info, 409, "DeleteConflict.User.AccessKey")

    for key_id in keys:
        ram.delete_access_key(ram_models.DeleteAccessKeyRequest(user_name="u", user_access_key_id=key_id))
    assert ram.delete_user(ram_models.DeleteUserRequest(user_name="u")).body.request_id
    with pytest.raises(ClientException) as exc_info:
        ram.get_user(ram_models.GetUserRequest(user_name="u"))
    _client_error(exc_info, 404, "EntityNotExist.User")


def test_access_key_errors(emulator: Emulator) -> None:
    ram = emulator.ram()
    ram.create_user(ram_models.CreateUserRequest(user_name="u"))
    key_id = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="u")).body.access_key.access_key_id
    with pytest.raises(ClientException) as exc_info:
        ram.update_access_key(
            ram_models.UpdateAccessKeyRequest(user_name="u", user_access_key_id="LTAInope", status="Inactive")
        )
    _client_error(exc_info, 404, "EntityNotExist.User.AccessKey")
    with pytest.raises(ClientException) as exc_info:
        ram.update_access_key(
            ram_models.UpdateAccessKeyRequest(user_name="u", user_access_key_id=key_id, status="Disabled")
        )
    _client_error(exc_info, 400, "InvalidParameter.Status")
    with pytest.raises(ClientException) as exc_info:
        ram.get_access_key_last_used(
            ram_models.GetAccessKeyLastUsedRequest(user_name="ghost", user_access_key_id=key_id)
        )
    _client_error(exc_info, 404, "EntityNotExist.User")


def test_ram_user_may_not_administer_ram(emulator: Emulator) -> None:
    ak, secret = _create_user_with_key(emulator)
    with pytest.raises(ClientException) as exc_info:
        emulator.ram(ak, secret).create_user(ram_models.CreateUserRequest(user_name="sneaky"))
    exc = _client_error(exc_info, 403, "NoPermission")
    assert exc.data["Message"] == "You are not authorized to do this action."
    assert exc.access_denied_detail["AuthAction"] == "ram:CreateUser"
    assert emulator.store.get_user("sneaky") is None


# --------------------------------------------------------------------------- signing-key failures


def test_unknown_key_and_wrong_secret(emulator: Emulator) -> None:
    with pytest.raises(ClientException) as exc_info:
        emulator.sts("LTAIdoesnotexist0000000", "x" * 30).get_caller_identity()
    _client_error(exc_info, 404, "InvalidAccessKeyId.NotFound")

    with pytest.raises(ClientException) as exc_info:
        emulator.sts(emulator.store.owner_access_key_id, "wrong-secret").get_caller_identity()
    exc = _client_error(exc_info, 400, "SignatureDoesNotMatch")
    assert "server string to sign is:ACS3-HMAC-SHA256" in exc.data["Message"]


def test_inactive_then_deleted_signing_key_is_refused(emulator: Emulator) -> None:
    ak, secret = _create_user_with_key(emulator)
    ram = emulator.ram()
    ram.update_access_key(
        ram_models.UpdateAccessKeyRequest(user_name="clarityq", user_access_key_id=ak, status="Inactive")
    )
    listed = ram.list_access_keys(ram_models.ListAccessKeysRequest(user_name="clarityq")).body.access_keys
    assert [k.status for k in listed.access_key] == ["Inactive"]
    with pytest.raises(ClientException) as exc_info:
        emulator.sts(ak, secret).get_caller_identity()
    exc = _client_error(exc_info, 400, "InvalidAccessKeyId.Inactive")
    assert exc.data["Message"] == "Specified access key is disabled."

    ram.update_access_key(
        ram_models.UpdateAccessKeyRequest(user_name="clarityq", user_access_key_id=ak, status="Active")
    )
    assert emulator.sts(ak, secret).get_caller_identity().body.identity_type == "RAMUser"

    ram.delete_access_key(ram_models.DeleteAccessKeyRequest(user_name="clarityq", user_access_key_id=ak))
    with pytest.raises(ClientException) as exc_info:
        emulator.sts(ak, secret).get_caller_identity()
    _client_error(exc_info, 404, "InvalidAccessKeyId.NotFound")


def test_stale_timestamp_and_replayed_nonce(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    sts = emulator.sts()
    stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    with monkeypatch.context() as patch:
        patch.setattr(OpenApiUtils, "get_timestamp", staticmethod(lambda: stale))
        with pytest.raises(ClientException) as exc_info:
            sts.get_caller_identity()
    _client_error(exc_info, 400, "InvalidTimeStamp.Expired")

    with monkeypatch.context() as patch:
        patch.setattr(OpenApiUtils, "get_nonce", staticmethod(lambda: "f" * 32))
        assert sts.get_caller_identity().body.account_id == ACCOUNT_ID
        with pytest.raises(ClientException) as exc_info:
            sts.get_caller_identity()
    _client_error(exc_info, 400, "SignatureNonceUsed")


def test_unsigned_http_request_gets_a_json_error(emulator: Emulator) -> None:
    """No SDK can send this, so raw HTTP: the answer must still be Alibaba-shaped JSON."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{emulator.port}/",
        data=b"",
        method="POST",
        headers={"x-acs-action": "GetCallerIdentity", "x-acs-version": "2015-04-01"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as exc_info:
        opener.open(request, timeout=5)
    assert exc_info.value.code == 400
    body = json.loads(exc_info.value.read())
    assert body["Code"] == "IncompleteSignature"


def test_throttling_raises_throttling_exception(emulator: Emulator) -> None:
    emulator.throttle.append(1500)
    with pytest.raises(ThrottlingException) as exc_info:
        emulator.ram().list_users(ram_models.ListUsersRequest())
    exc = exc_info.value
    assert (exc.code, exc.status_code, exc.retry_after) == ("Throttling.User", 400, 1500)
    assert emulator.ram().list_users(ram_models.ListUsersRequest()).body.is_truncated is False


# --------------------------------------------------------------------------- paging, updates, last use


def test_list_users_pages_with_an_opaque_marker(emulator: Emulator) -> None:
    ram = emulator.ram()
    names = ["carol", "Alice", "eve", "bob", "dave"]
    for name in names:
        ram.create_user(ram_models.CreateUserRequest(user_name=name))
    seen: list[str] = []
    marker: str | None = ""  # an empty Marker is the first page
    pages = 0
    while marker is not None:
        body = ram.list_users(ram_models.ListUsersRequest(marker=marker, max_items=2)).body
        pages += 1
        seen += [u.user_name for u in body.users.user]
        assert body.is_truncated is (body.marker is not None)
        marker = body.marker
    assert pages == 3
    assert seen == ["Alice", "bob", "carol", "dave", "eve"]

    everyone = ram.list_users(ram_models.ListUsersRequest()).body
    assert (len(everyone.users.user), everyone.is_truncated, everyone.marker) == (5, False, None)

    for bad in (ram_models.ListUsersRequest(max_items=0), ram_models.ListUsersRequest(max_items=1001)):
        with pytest.raises(ClientException) as exc_info:
            ram.list_users(bad)
        _client_error(exc_info, 400, "InvalidParameter.MaxItems")
    with pytest.raises(ClientException) as exc_info:
        ram.list_users(ram_models.ListUsersRequest(marker="not-a-marker"))
    _client_error(exc_info, 400, "InvalidParameter.Marker")


def test_update_user_renames(emulator: Emulator) -> None:
    ak, secret = _create_user_with_key(emulator, "old")
    ram = emulator.ram()
    updated = ram.update_user(
        ram_models.UpdateUserRequest(user_name="old", new_user_name="new", new_display_name="New Name")
    ).body.user
    assert (updated.user_name, updated.display_name) == ("new", "New Name")
    assert emulator.sts(ak, secret).get_caller_identity().body.arn.endswith(":user/new")
    with pytest.raises(ClientException) as exc_info:
        ram.get_user(ram_models.GetUserRequest(user_name="old"))
    _client_error(exc_info, 404, "EntityNotExist.User")


def test_get_access_key_last_used_reflects_a_use(emulator: Emulator) -> None:
    ak, secret = _create_user_with_key(emulator)
    ram = emulator.ram()
    request = ram_models.GetAccessKeyLastUsedRequest(user_name="clarityq", user_access_key_id=ak)
    assert ram.get_access_key_last_used(request).body.access_key_last_used.last_used_date is None
    emulator.clock.offset = 120.0
    emulator.sts(ak, secret).get_caller_identity()
    used = ram.get_access_key_last_used(request).body.access_key_last_used.last_used_date
    used_at = calendar.timegm(time.strptime(used, "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(used_at - emulator.clock()) < 5  # the store's (shifted) clock, not the wall clock


# --------------------------------------------------------------------------- STS AssumeRole


def _assume(emulator: Emulator, ak: str, secret: str, **kwargs: Any) -> sts_models.AssumeRoleResponseBody:
    request = sts_models.AssumeRoleRequest(role_arn=f"acs:ram::{ACCOUNT_ID}:role/clarityq-reader", **kwargs)
    return emulator.sts(ak, secret).assume_role(request).body


def test_assume_role_temporary_key_works_until_it_expires(emulator: Emulator) -> None:
    role = emulator.store.add_role("clarityq-reader", max_session_duration=7200)
    ak, secret = _create_user_with_key(emulator)
    body = _assume(emulator, ak, secret, role_session_name="airflow", duration_seconds=1800)
    creds = body.credentials
    assert creds.access_key_id.startswith("STS.")
    assert creds.security_token
    assert creds.expiration.endswith("Z")
    assert body.assumed_role_user.arn == f"acs:ram::{ACCOUNT_ID}:role/clarityq-reader/airflow"
    assert body.assumed_role_user.assumed_role_id == f"{role.role_id}:airflow"
    assert "AssumeRole" in emulator.mutations

    temp = emulator.sts(creds.access_key_id, creds.access_key_secret, security_token=creds.security_token)
    me = temp.get_caller_identity().body
    assert me.identity_type == "AssumedRoleUser"
    assert me.account_id == ACCOUNT_ID
    assert me.role_id == role.role_id
    assert me.principal_id == f"{role.role_id}:airflow"
    assert me.arn == f"acs:ram::{ACCOUNT_ID}:assumed-role/clarityq-reader/airflow"

    with pytest.raises(ClientException) as exc_info:
        emulator.ram(creds.access_key_id, creds.access_key_secret, security_token=creds.security_token).list_users(
            ram_models.ListUsersRequest()
        )
    _client_error(exc_info, 403, "NoPermission")

    with pytest.raises(ClientException) as exc_info:
        emulator.sts(creds.access_key_id, creds.access_key_secret).get_caller_identity()  # token left out
    _client_error(exc_info, 400, "MissingSecurityToken")

    emulator.clock.offset = 1800.0
    with pytest.raises(ClientException) as exc_info:
        temp.get_caller_identity()
    exc = _client_error(exc_info, 400, "InvalidSecurityToken.Expired")
    assert exc.data["Message"] == "Specified SecurityToken is expired."


def test_assume_role_errors(emulator: Emulator) -> None:
    emulator.store.add_role("clarityq-reader")
    ak, secret = _create_user_with_key(emulator)

    with pytest.raises(ClientException) as exc_info:
        _assume(
            emulator,
            emulator.store.owner_access_key_id,
            emulator.store.owner_access_key_secret,
            role_session_name="root",
        )
    exc = _client_error(exc_info, 403, "NoPermission")
    assert exc.data["Message"] == "Roles may not be assumed by root accounts."

    with pytest.raises(ClientException) as exc_info:
        emulator.sts(ak, secret).assume_role(
            sts_models.AssumeRoleRequest(role_arn=f"acs:ram::{ACCOUNT_ID}:role/ghost", role_session_name="s1")
        )
    _client_error(exc_info, 404, "EntityNotExist.Role")

    cases: list[tuple[dict[str, Any], str]] = [
        ({"role_session_name": "x"}, "InvalidParameter.RoleSessionName"),
        ({"role_session_name": "bad name"}, "InvalidParameter.RoleSessionName"),
        ({"role_session_name": "ok", "duration_seconds": 899}, "InvalidParameter.DurationSeconds"),
        ({"role_session_name": "ok", "duration_seconds": 3601}, "InvalidParameter.DurationSeconds"),
        ({"role_session_name": "ok", "policy": "{not json"}, "InvalidParameter.PolicyGrammar"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ClientException) as exc_info:
            _assume(emulator, ak, secret, **kwargs)
        _client_error(exc_info, 400, code)


# --------------------------------------------------------------------------- other signing modes


def test_v2_signing_for_ram_and_sts(emulator: Emulator) -> None:
    emulator.store.add_role("clarityq-reader")
    ram = emulator.ram(signature_algorithm="v2")
    user = ram.create_user(
        ram_models.CreateUserRequest(user_name="v2user", display_name="V 2", comments="a b+c~/é")
    ).body.user
    assert user.comments == "a b+c~/é"
    key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="v2user")).body.access_key
    me = emulator.sts(key.access_key_id, key.access_key_secret, signature_algorithm="v2").get_caller_identity().body
    assert me.user_id == user.user_id

    with pytest.raises(ClientException) as exc_info:
        emulator.sts(key.access_key_id, "wrong", signature_algorithm="v2").get_caller_identity()
    exc = _client_error(exc_info, 400, "SignatureDoesNotMatch")
    assert "server string to sign is:POST&%2F&" in exc.data["Message"]

    creds = _assume(emulator, key.access_key_id, key.access_key_secret, role_session_name="v2").credentials
    temp = emulator.sts(
        creds.access_key_id,
        creds.access_key_secret,
        security_token=creds.security_token,
        signature_algorithm="v2",
    )
    assert temp.get_caller_identity().body.identity_type == "AssumedRoleUser"


def test_async_client(emulator: Emulator) -> None:
    """aiohttp adds an unsigned Content-Type; the verifier must not mind."""

    async def call() -> str:
        body = (await emulator.sts().get_caller_identity_async()).body
        return str(body.account_id)

    assert asyncio.run(call()) == ACCOUNT_ID

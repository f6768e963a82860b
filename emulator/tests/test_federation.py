"""RRSA and the ECS instance role through the real SDKs: STS AssumeRoleWithOIDC against the emulator's
OIDC provider, the ECS metadata service through alibabacloud-credentials, trust policies and RAM policies."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_credentials.http import HttpOptions
from alibabacloud_credentials.provider import EcsRamRoleCredentialsProvider
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils_models import Config
from clarityq_emulator import RunningEmulator, start_emulator
from clarityq_emulator.core.state import default_seed
from odps import ODPS

ACCOUNT = "1234567890123456"
ISSUER = "https://oidc-ack.cn-shanghai.aliyuncs.com/c1"
PROVIDER = "ack-rrsa-c1"
PROVIDER_ARN = f"acs:ram::{ACCOUNT}:oidc-provider/{PROVIDER}"
SUBJECT = "system:serviceaccount:airflow:worker"
RRSA_ROLE = f"acs:ram::{ACCOUNT}:role/rrsa-admin"


def _seed() -> dict[str, Any]:
    rrsa_trust = {
        "Version": "1",
        "Statement": [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Federated": [PROVIDER_ARN]},
                "Condition": {
                    "StringEquals": {"oidc:aud": "sts.aliyuncs.com", "oidc:iss": ISSUER},
                    "StringLike": {"oidc:sub": "system:serviceaccount:airflow:*"},
                },
            }
        ],
    }
    ecs_trust = {
        "Version": "1",
        "Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["ecs.aliyuncs.com"]}}],
    }
    return {
        **default_seed(),
        "account": {"id": ACCOUNT},
        "ram": {
            "oidc_providers": [{"name": PROVIDER, "issuer_url": ISSUER}],
            "roles": [
                {"name": "rrsa-admin", "trust_policy": rrsa_trust, "policies": ["AliyunRAMFullAccess"]},
                {"name": "ecs-admin", "trust_policy": ecs_trust, "policies": ["AliyunRAMReadOnlyAccess"]},
            ],
            "ecs": {"instance_role": "ecs-admin"},
        },
    }


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with start_emulator(seed=_seed()) as running:
        yield running


def _config(emu: RunningEmulator, **credentials: Any) -> Config:
    return Config(endpoint=emu.info.ram_endpoint, protocol="http", read_timeout=5000, **credentials)


def _oidc(emu: RunningEmulator, token: str, role_arn: str = RRSA_ROLE) -> sts_models.AssumeRoleWithOIDCResponseBody:
    request = sts_models.AssumeRoleWithOIDCRequest(
        role_arn=role_arn, oidcprovider_arn=PROVIDER_ARN, oidctoken=token, role_session_name="airflow-worker"
    )
    return StsClient(_config(emu)).assume_role_with_oidc(request).body


def _refused(emu: RunningEmulator, token: str, role_arn: str = RRSA_ROLE) -> str:
    with pytest.raises(ClientException) as info:
        _oidc(emu, token, role_arn)
    return str(info.value.code)


def test_oidc_token_becomes_role_credentials_that_work_in_ram_and_sts(emu: RunningEmulator) -> None:
    answer = _oidc(emu, emu.mint_oidc_token(PROVIDER, SUBJECT))
    assert answer.credentials.access_key_id.startswith("STS.")
    assert answer.oidctoken_info.subject == SUBJECT and answer.oidctoken_info.issuer == ISSUER
    assert answer.assumed_role_user.arn.endswith("role/rrsa-admin/airflow-worker")
    creds = answer.credentials
    temporary = _config(
        emu,
        access_key_id=creds.access_key_id,
        access_key_secret=creds.access_key_secret,
        security_token=creds.security_token,
    )
    who = StsClient(temporary).get_caller_identity().body
    assert who.identity_type == "AssumedRoleUser"
    RamClient(temporary).create_user(ram_models.CreateUserRequest(user_name="made-by-rrsa"))  # AliyunRAMFullAccess
    assert emu.state.identity.get_user("made-by-rrsa") is not None
    sts_log = [r for r in emu.requests() if r["action"] == "AssumeRoleWithOIDC"]
    assert [r["status"] for r in sts_log] == [200]


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"ttl_seconds": -10}, "AuthenticationFail.OIDCToken.Expired"),
        ({"audience": "someone-else"}, "AuthenticationFail.OIDCToken.AudienceNotMatch"),
        ({"foreign_key": True}, "AuthenticationFail.OIDCToken.InvalidSignature"),
        ({"issuer": "https://evil.example"}, "AuthenticationFail.OIDCToken.IssuerNotMatch"),
    ],
)
def test_bad_tokens_are_refused_with_sts_codes(emu: RunningEmulator, claims: dict[str, Any], code: str) -> None:
    assert _refused(emu, emu.mint_oidc_token(PROVIDER, SUBJECT, **claims)) == code


def test_garbage_and_untrusted_subjects_are_refused(emu: RunningEmulator) -> None:
    assert _refused(emu, "not.a-jwt") == "AuthenticationFail.OIDCToken.Invalid"
    other_namespace = emu.mint_oidc_token(PROVIDER, "system:serviceaccount:default:intruder")
    assert _refused(emu, other_namespace) == "AuthenticationFail.NoPermission"
    token = emu.mint_oidc_token(PROVIDER, SUBJECT)
    assert _refused(emu, token, f"acs:ram::{ACCOUNT}:role/ecs-admin") == "AuthenticationFail.NoPermission"


def test_the_credentials_library_request_shape_is_served(emu: RunningEmulator) -> None:
    """alibabacloud-credentials' OIDC provider sends an unsigned GET with the parameters in the query."""
    query = urllib.parse.urlencode(
        {
            "Action": "AssumeRoleWithOIDC",
            "Format": "JSON",
            "Version": "2015-04-01",
            "DurationSeconds": "3600",
            "RoleArn": RRSA_ROLE,
            "OIDCProviderArn": PROVIDER_ARN,
            "OIDCToken": emu.mint_oidc_token(PROVIDER, SUBJECT),
            "RoleSessionName": "credentials-python-1",
            "Timestamp": "2026-12-05T00:00:00Z",
        }
    )
    with urllib.request.urlopen(f"http://{emu.info.ram_endpoint}/?{query}", timeout=10) as response:
        body = json.loads(response.read())
    assert body["Credentials"]["Expiration"].endswith("Z") and body["Credentials"]["SecurityToken"]


def test_jwks_serves_the_issuer_key(emu: RunningEmulator) -> None:
    with urllib.request.urlopen(f"http://{emu.info.ram_endpoint}/_emulator/oidc/{PROVIDER}/jwks.json") as r:
        keys = json.loads(r.read())["keys"]
    assert [k["kty"] for k in keys] == ["RSA"] and keys[0]["alg"] == "RS256"


def test_oidc_credentials_expire_on_the_emulator_clock(emu: RunningEmulator) -> None:
    creds = _oidc(emu, emu.mint_oidc_token(PROVIDER, SUBJECT)).credentials
    temporary = _config(
        emu,
        access_key_id=creds.access_key_id,
        access_key_secret=creds.access_key_secret,
        security_token=creds.security_token,
    )
    emu.advance_clock(3700)
    with pytest.raises(ClientException) as info:
        StsClient(temporary).get_caller_identity()
    assert info.value.code == "InvalidSecurityToken.Expired"


# ---- the ECS metadata service


def _ecs(emu: RunningEmulator, role: str | None = None) -> EcsRamRoleCredentialsProvider:
    options = HttpOptions(proxy=f"http://{emu.info.ram_endpoint}")
    return EcsRamRoleCredentialsProvider(role_name=role, http_options=options, async_update_enabled=False)


def test_ecs_role_credentials_through_the_credentials_library_work_in_maxcompute(emu: RunningEmulator) -> None:
    owner = ODPS(
        emu.info.access_key_id, emu.info.access_key_secret, emu.info.project, endpoint=emu.info.maxcompute_endpoint
    )
    owner.execute_security_query(f"ADD USER `RAM${ACCOUNT}:role/ecs-admin`")
    creds = _ecs(emu).get_credentials()  # the role name comes from the metadata service
    assert creds.get_access_key_id().startswith("STS.") and creds.get_expiration()
    from odps.accounts import StsAccount

    account = StsAccount(creds.get_access_key_id(), creds.get_access_key_secret(), creds.get_security_token())
    as_role = ODPS(account=account, project=emu.info.project, endpoint=emu.info.maxcompute_endpoint)
    assert as_role.exist_project(emu.info.project)
    metadata = [r for r in emu.requests() if r["service"] == "ecs"]
    assert [r["method"] for r in metadata][:2] == ["PUT", "GET"]  # IMDSv2 token first
    assert all(r["status"] == 200 for r in metadata)


def test_ecs_metadata_refuses_other_roles_and_reads_without_token_when_required(emu: RunningEmulator) -> None:
    with pytest.raises(Exception, match="Failed to get RAM session credentials"):
        _ecs(emu, "rrsa-admin").get_credentials()
    emu.state.identity.federation.instance_tokens_required = True
    request = urllib.request.Request(
        f"http://{emu.info.ram_endpoint}/latest/meta-data/ram/security-credentials/ecs-admin"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert info.value.code == 401
    assert _ecs(emu, "ecs-admin").get_credentials().get_security_token()  # the library sends the token


def test_role_trust_policy_limits_assume_role_by_ram_users(emu: RunningEmulator) -> None:
    identity = emu.state.identity
    identity.create_user("someone")
    key = identity.create_access_key("someone")
    sts = StsClient(_config(emu, access_key_id=key.access_key_id, access_key_secret=key.secret))
    request = sts_models.AssumeRoleRequest(role_arn=RRSA_ROLE, role_session_name="try")
    with pytest.raises(ClientException) as info:
        sts.assume_role(request)
    assert info.value.code == "NoPermission"


def test_ram_read_only_policy_allows_reads_only(emu: RunningEmulator) -> None:
    creds = _ecs(emu).get_credentials()
    config = _config(
        emu,
        access_key_id=creds.get_access_key_id(),
        access_key_secret=creds.get_access_key_secret(),
        security_token=creds.get_security_token(),
    )
    ram = RamClient(config)
    assert ram.list_users(ram_models.ListUsersRequest()).body is not None
    with pytest.raises(ClientException) as info:
        ram.create_user(ram_models.CreateUserRequest(user_name="nope"))
    assert info.value.code == "NoPermission"

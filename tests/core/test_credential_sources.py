"""Credential sources without an AccessKey: connection parsing, the fetchers' local checks, refresh on a clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import pytest

from airflow_provider_clarityq.core.alibaba.federated import default_chain_fetcher, oidc_fetcher
from airflow_provider_clarityq.core.connection import parse_connection
from airflow_provider_clarityq.core.credentials import Credential, FetchedCredentials, credentials_from_settings
from airflow_provider_clarityq.core.errors import ConfigurationError, CredentialsError

ACCOUNT = "1234567890123456"
ROLE_ARN = f"acs:ram::{ACCOUNT}:role/clarityq-admin"
PROVIDER_ARN = f"acs:ram::{ACCOUNT}:oidc-provider/ack-rrsa-c123"
NOW = 1_800_000_000.0


def fields(**extra: str) -> dict[str, Any]:
    return {"host": "https://service.cn-shanghai.maxcompute.aliyun.com/api", "schema": "sales", "extra": extra}


def oidc(path: str = "/var/run/token", **more: str) -> dict[str, Any]:
    return fields(
        credential_source="oidc_role_arn",
        role_arn=ROLE_ARN,
        oidc_provider_arn=PROVIDER_ARN,
        oidc_token_file=path,
        **more,
    )


# ---- parsing


def test_oidc_source_needs_no_access_key() -> None:
    settings = parse_connection(oidc(), env={})
    assert (settings.credential_source, settings.auth_mode, settings.uses_access_key) == (
        "oidc_role_arn",
        "oidc_role_arn",
        False,
    )
    assert settings.access_key_id is None and settings.secret_values() == ()


def test_oidc_values_default_to_the_rrsa_environment() -> None:
    env = {
        "ALIBABA_CLOUD_ROLE_ARN": ROLE_ARN,
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": PROVIDER_ARN,
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE": "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token",
    }
    settings = parse_connection(fields(credential_source="oidc_role_arn"), env=env)
    assert (settings.role_arn, settings.oidc_provider_arn) == (ROLE_ARN, PROVIDER_ARN)
    assert settings.oidc_token_file == env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"]


def test_missing_rrsa_value_names_the_field_and_the_variable() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_connection(fields(credential_source="oidc_role_arn", role_arn=ROLE_ARN), env={})
    assert "oidc_provider_arn" in str(info.value)
    assert "ALIBABA_CLOUD_OIDC_PROVIDER_ARN" in str(info.value)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"oidc_token_file": "relative/token"}, "oidc_token_file"),
        ({"oidc_provider_arn": "acs:ram::1:role/x"}, "oidc_provider_arn"),
        ({"credential_source": "instance_profile"}, "credential_source"),
    ],
)
def test_bad_source_values_name_their_field(extra: dict[str, str], field: str) -> None:
    values = oidc()
    values["extra"] = {**values["extra"], **extra}
    with pytest.raises(ConfigurationError) as info:
        parse_connection(values, env={})
    assert f"({field})" in str(info.value)


def test_an_access_key_beside_a_keyless_source_is_refused_not_ignored() -> None:
    values = {**fields(credential_source="ecs_ram_role"), "login": "LTAI5tExample", "password": "secret-value"}
    with pytest.raises(ConfigurationError) as info:
        parse_connection(values, env={})
    assert "(login)" in str(info.value) and "secret-value" not in str(info.value)


def test_an_extra_of_another_source_is_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_connection(fields(credential_source="ecs_ram_role", oidc_token_file="/t"), env={})
    assert "(oidc_token_file)" in str(info.value)


def test_ecs_role_name_defaults_to_the_ecs_metadata_variable() -> None:
    settings = parse_connection(
        fields(credential_source="ecs_ram_role", ecs_metadata_endpoint="http://127.0.0.1:8300"),
        env={"ALIBABA_CLOUD_ECS_METADATA": "clarityq-admin"},
    )
    assert settings.ecs_role_name == "clarityq-admin"
    assert settings.ecs_metadata_endpoint is not None and settings.ecs_metadata_endpoint.host == "127.0.0.1:8300"


def test_without_a_source_the_old_connections_keep_their_meaning() -> None:
    keyed = {**fields(), "login": "LTAI5tExample", "password": "secret-value"}
    assert parse_connection(keyed).credential_source == "static"
    keyed["extra"] = {"role_arn": ROLE_ARN}
    assert parse_connection(keyed).credential_source == "assume_role"


# ---- the RRSA fetcher's local checks: no request is sent for a token that cannot work


def _token(tmp_path: Path, **claims: Any) -> str:
    body = {"iss": "https://oidc.example", "aud": "sts.aliyuncs.com", "sub": "system:serviceaccount:a:b", **claims}
    path = tmp_path / "token"
    path.write_text(jwt.encode(body, "k" * 32, algorithm="HS256"))
    return str(path)


def _no_sts() -> Any:
    raise AssertionError("no STS request may be sent")


def test_unreadable_token_file_is_named_with_the_fix(tmp_path: Path) -> None:
    settings = parse_connection(oidc(str(tmp_path / "missing")), env={})
    with pytest.raises(CredentialsError) as info:
        oidc_fetcher(settings, _no_sts)()
    assert info.value.diagnosis == "OIDC_TOKEN_UNREADABLE"
    assert "rrsa-tokens" in (info.value.fix or "")


def test_a_file_that_is_not_a_jwt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("not a token")
    settings = parse_connection(oidc(str(path)), env={})
    with pytest.raises(CredentialsError) as info:
        oidc_fetcher(settings, _no_sts)()
    assert info.value.diagnosis == "OIDC_TOKEN_INVALID"


def test_an_expired_token_is_refused_locally(tmp_path: Path) -> None:
    settings = parse_connection(oidc(_token(tmp_path, exp=int(NOW) - 60)), env={})
    with pytest.raises(CredentialsError) as info:
        oidc_fetcher(settings, _no_sts, clock=lambda: NOW)()
    assert info.value.diagnosis == "OIDC_TOKEN_EXPIRED"
    assert "system:serviceaccount:a:b" in str(info.value)


# ---- the default chain


def test_default_chain_takes_the_environment_first_and_names_the_link() -> None:
    settings = parse_connection(fields(credential_source="default_chain"), env={})
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tEnv", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret"}
    found = default_chain_fetcher(settings, _no_sts, env=env)()
    assert (found.access_key_id, found.provider_name, found.expiration) == (
        "LTAI5tEnv",
        "default_chain/environment",
        None,
    )


# ---- refresh on the source's clock


def test_fetched_credentials_refresh_before_expiry_and_keep_a_keyless_answer() -> None:
    clock = [NOW]
    answers = iter(range(10))

    def fetch() -> Credential:
        n = next(answers)
        return Credential(f"STS.k{n}", f"s{n}", f"t{n}", expiration=clock[0] + 3600, provider_name="ecs_ram_role")

    seen: list[str] = []
    source = FetchedCredentials(fetch, source_name="ecs_ram_role", clock=lambda: clock[0], on_new_secret=seen.append)
    assert source.get_credential().access_key_id == "STS.k0"
    clock[0] += 2000
    assert source.get_credential().access_key_id == "STS.k0"
    clock[0] += 1000  # 600 s left: under max(300 s, 20 % of 3600 s)
    assert source.get_credential().access_key_id == "STS.k1"
    assert seen == ["s0", "t0", "s1", "t1"]
    assert "s1" not in repr(source)


def test_a_keyless_source_needs_a_fetcher_factory() -> None:
    settings = parse_connection(fields(credential_source="ecs_ram_role"), env={})
    with pytest.raises(ValueError, match="fetcher factory"):
        credentials_from_settings(settings)
    source = credentials_from_settings(
        settings, fetcher_for=lambda s: lambda: Credential("STS.x", "y", "z", expiration=NOW + 3600)
    )
    assert isinstance(source, FetchedCredentials) and source.source_name == "ecs_ram_role"
    assert source.get_credential().access_key_id == "STS.x"

"""Credential sources: static keys, AssumeRole caching/refresh (driven by a plain fake STS function and a
fake clock), and the adapters pyodps and the Alibaba SDK use. No network, no mocks of library classes."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_clarityq.core.alibaba.clients import odps_account
from airflow_provider_clarityq.core.connection import parse_connection
from airflow_provider_clarityq.core.credentials import (
    AssumeRoleCredentials,
    Credential,
    StaticCredentials,
    credentials_from_settings,
)
from airflow_provider_clarityq.core.errors import CredentialsError

BASE_SECRET = "BaseSecretValue0001"
ROLE_ARN = "acs:ram::1234567890123456:role/clarityq-reader"


@dataclass
class FakeClock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeSts:
    """A plain AssumeRole stand-in: hands out numbered temporary credentials valid for ``lifetime`` s."""

    clock: FakeClock
    lifetime: float = 3600.0
    fail_with: BaseException | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0

    def __call__(self, base: Credential, *, role_arn: str, session_name: str, duration_seconds: int) -> Credential:
        self.calls.append(
            {"base": base, "role_arn": role_arn, "session_name": session_name, "duration": duration_seconds}
        )
        if self.delay:
            time.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        n = len(self.calls)
        return Credential(
            f"STS.temp{n}",
            f"TempSecret{n:04d}",
            f"TempToken{n:04d}",
            expiration=self.clock.now + self.lifetime,
        )


def make_source(lifetime: float = 3600.0, **kwargs: Any) -> tuple[AssumeRoleCredentials, FakeSts, FakeClock, list[str]]:
    clock = FakeClock()
    sts = FakeSts(clock, lifetime=lifetime)
    masked: list[str] = []
    source = AssumeRoleCredentials(
        StaticCredentials("LTAI5tBase", BASE_SECRET),
        role_arn=ROLE_ARN,
        session_name="clarityq-airflow",
        assume_role=sts,
        clock=clock,
        on_new_secret=masked.append,
        **kwargs,
    )
    return source, sts, clock, masked


# --------------------------------------------------------------------------------------------------
# Static


def test_static_credentials_and_sdk_interface() -> None:
    source = StaticCredentials("LTAI5tKey", BASE_SECRET, "TokenValue1")
    credential = source.get_credential()
    assert (credential.access_key_id, credential.access_key_secret, credential.security_token) == (
        "LTAI5tKey",
        BASE_SECRET,
        "TokenValue1",
    )
    assert credential.type == "sts"
    assert source.get_type() == "sts"
    assert source.get_access_key_id() == "LTAI5tKey"
    assert source.get_access_key_secret() == BASE_SECRET
    assert source.get_security_token() == "TokenValue1"
    assert source.get_bearer_token() is None
    assert asyncio.run(source.get_credential_async()) is credential
    assert StaticCredentials("LTAI5tKey", BASE_SECRET).get_credential().type == "access_key"


def test_reprs_hide_secrets() -> None:
    source = StaticCredentials("LTAI5tKey", BASE_SECRET, "TokenValue1")
    for text in (repr(source), repr(source.get_credential()), str(source.get_credential())):
        assert BASE_SECRET not in text
        assert "TokenValue1" not in text
    assert "LTAI5tKey" in repr(source)


def test_credentials_from_settings_picks_the_mode() -> None:
    conn = {"login": "LTAI5tKey", "password": BASE_SECRET, "host": "http://127.0.0.1:1/api", "schema": "proj"}
    static = credentials_from_settings(parse_connection(conn))
    assert isinstance(static, StaticCredentials)
    assert static.get_credential().security_token is None

    with_token = credentials_from_settings(parse_connection(conn | {"extra": {"sts_token": "TokenValue1"}}))
    assert with_token.get_credential().security_token == "TokenValue1"

    clock = FakeClock()
    settings = parse_connection(conn | {"extra": {"role_arn": ROLE_ARN, "role_session_name": "s-1"}})
    with pytest.raises(ValueError, match="assume_role"):
        credentials_from_settings(settings)
    sts = FakeSts(clock)
    assumed = credentials_from_settings(settings, assume_role=sts, clock=clock)
    assert isinstance(assumed, AssumeRoleCredentials)
    assert assumed.get_credential().access_key_id == "STS.temp1"
    assert sts.calls[0]["role_arn"] == ROLE_ARN
    assert sts.calls[0]["session_name"] == "s-1"
    assert sts.calls[0]["base"].access_key_secret == BASE_SECRET


# --------------------------------------------------------------------------------------------------
# AssumeRole refresh policy


def test_first_use_assumes_the_role_and_caches() -> None:
    source, sts, clock, _ = make_source()
    first = source.get_credential()
    clock.now += 60
    assert source.get_credential() is first
    assert len(sts.calls) == 1
    assert sts.calls[0]["duration"] == 3600
    assert first.security_token == "TempToken0001"


def test_refresh_when_less_than_max_300s_or_20_percent_remains() -> None:
    # 3600 s lifetime: threshold = max(300, 720) = 720 s -> refresh from 2880 s after issue.
    source, _sts, clock, _ = make_source(lifetime=3600)
    start = clock.now
    source.get_credential()
    clock.now = start + 2879
    assert source.get_credential().access_key_id == "STS.temp1"
    clock.now = start + 2880
    assert source.get_credential().access_key_id == "STS.temp2"
    assert source.refresh_count == 2


def test_short_lifetime_uses_the_300s_floor() -> None:
    # 900 s lifetime (STS minimum): threshold = max(300, 180) = 300 s -> refresh from 600 s.
    source, sts, clock, _ = make_source(lifetime=900)
    start = clock.now
    source.get_credential()
    clock.now = start + 599
    source.get_credential()
    assert len(sts.calls) == 1
    clock.now = start + 600
    source.get_credential()
    assert len(sts.calls) == 2


def test_degenerate_lifetime_is_not_refetched_on_every_call() -> None:
    # A 100 s credential (skewed clock) is kept for half its life instead of refreshing every time.
    source, sts, clock, _ = make_source(lifetime=100)
    start = clock.now
    source.get_credential()
    clock.now = start + 49
    source.get_credential()
    assert len(sts.calls) == 1
    clock.now = start + 50
    source.get_credential()
    assert len(sts.calls) == 2


def test_thresholds() -> None:
    assert AssumeRoleCredentials.refresh_threshold(900) == 300
    assert AssumeRoleCredentials.refresh_threshold(3600) == 720
    assert AssumeRoleCredentials.refresh_threshold(43200) == 8640


def test_new_temporary_secrets_are_reported_for_masking() -> None:
    source, _, clock, masked = make_source()
    source.get_credential()
    assert masked == ["TempSecret0001", "TempToken0001"]
    clock.now += 3600
    source.get_credential()
    assert masked[-2:] == ["TempSecret0002", "TempToken0002"]


def test_failed_first_assume_role_raises_credentials_error_without_secrets() -> None:
    source, sts, _, _ = make_source()
    sts.fail_with = RuntimeError(f"code: 403, not authorized; signed with {BASE_SECRET}")
    with pytest.raises(CredentialsError) as exc_info:
        source.get_credential()
    message = str(exc_info.value)
    assert ROLE_ARN in message
    assert "trust policy" in message
    assert BASE_SECRET not in message
    assert "***" in message


def test_failed_refresh_keeps_a_still_valid_credential(caplog: pytest.LogCaptureFixture) -> None:
    source, sts, clock, _ = make_source(lifetime=3600)
    start = clock.now
    first = source.get_credential()
    clock.now = start + 3000  # refresh due, 600 s left
    sts.fail_with = RuntimeError("throttled")
    with caplog.at_level(logging.WARNING, logger="airflow_provider_clarityq.core.credentials"):
        assert source.get_credential() is first
    assert "using the cached ones" in caplog.text
    sts.fail_with = None
    assert source.get_credential().access_key_id == "STS.temp3"  # retried on the next call


def test_failed_refresh_of_an_almost_expired_credential_raises() -> None:
    source, sts, clock, _ = make_source(lifetime=3600)
    start = clock.now
    source.get_credential()
    clock.now = start + 3590  # 10 s left, below the 60 s grace
    sts.fail_with = RuntimeError("sts down")
    with pytest.raises(CredentialsError, match="sts down"):
        source.get_credential()


def test_answer_without_token_is_refused() -> None:
    clock = FakeClock()

    def no_token(base: Credential, *, role_arn: str, session_name: str, duration_seconds: int) -> Credential:
        return Credential("STS.x", "s", None, expiration=clock.now + 3600)

    source = AssumeRoleCredentials(
        StaticCredentials("LTAI5tBase", BASE_SECRET),
        role_arn=ROLE_ARN,
        session_name="s-1",
        assume_role=no_token,
        clock=clock,
    )
    with pytest.raises(CredentialsError, match="no security token"):
        source.get_credential()


def test_concurrent_callers_trigger_a_single_assume_role() -> None:
    source, sts, _, _ = make_source()
    sts.delay = 0.05
    results: list[Credential] = []
    threads = [threading.Thread(target=lambda: results.append(source.get_credential())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sts.calls) == 1
    assert len({id(r) for r in results}) == 1


def test_assume_role_repr_hides_secrets() -> None:
    source, _, _, _ = make_source()
    source.get_credential()
    assert "TempSecret" not in repr(source)
    assert "TempToken" not in repr(source)
    assert BASE_SECRET not in repr(source)


# --------------------------------------------------------------------------------------------------
# pyodps adapter: signs exactly like pyodps' own accounts, without logging secrets


def _request() -> Any:
    import requests

    return requests.Request(
        "GET",
        "http://127.0.0.1:1/api/projects/proj1?curr_project=proj1",
        headers={"Date": "Mon, 23 Nov 2026 18:16:12 GMT", "x-odps-user-agent": "test"},
    ).prepare()


@pytest.mark.parametrize("region", [None, "cn-shanghai"], ids=["v2", "v4"])
def test_source_account_signs_like_pyodps_sts_account(region: str | None) -> None:
    from odps.accounts import StsAccount

    ours, theirs = _request(), _request()
    odps_account(StaticCredentials("LTAI5tKey", BASE_SECRET, "TokenValue1")).sign_request(
        ours, "http://127.0.0.1:1/api", region_name=region
    )
    StsAccount("LTAI5tKey", BASE_SECRET, "TokenValue1", expired_hours=None).sign_request(
        theirs, "http://127.0.0.1:1/api", region_name=region
    )
    assert ours.headers["Authorization"] == theirs.headers["Authorization"]
    assert ours.headers["authorization-sts-token"] == "TokenValue1"


def test_plain_access_key_uses_pyodps_cloud_account() -> None:
    from odps.accounts import CloudAccount

    account = odps_account(StaticCredentials("LTAI5tKey", BASE_SECRET))
    assert type(account) is CloudAccount
    request = _request()
    account.sign_request(request, "http://127.0.0.1:1/api")
    assert request.headers["Authorization"].startswith("ODPS LTAI5tKey:")
    assert "authorization-sts-token" not in request.headers


def test_source_account_follows_refreshed_credentials_and_logs_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from odps.accounts import CloudAccount

    source, _, clock, _ = make_source()
    account = odps_account(source)
    endpoint = "http://127.0.0.1:1/api"
    with caplog.at_level(logging.DEBUG):
        for expected in ("STS.temp1", "STS.temp2"):
            ours, reference = _request(), _request()
            account.sign_request(ours, endpoint, region_name="cn-shanghai")
            current = source.get_credential()
            CloudAccount(current.access_key_id, current.access_key_secret).sign_request(
                reference, endpoint, region_name="cn-shanghai"
            )
            assert ours.headers["Authorization"] == reference.headers["Authorization"]
            assert f"ODPS {expected}/" in ours.headers["Authorization"]
            assert ours.headers["authorization-sts-token"] == current.security_token
            clock.now += 3600
    for secret in (BASE_SECRET, "TempSecret0001", "TempToken0001", "TempSecret0002", "TempToken0002"):
        assert secret not in caplog.text
    assert BASE_SECRET not in repr(account)


def test_source_account_ignores_odps_sts_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # pyodps' StsAccount would reload these on its own schedule and log the token.
    monkeypatch.setenv("ODPS_STS_ACCESS_KEY_ID", "EnvKey")
    monkeypatch.setenv("ODPS_STS_ACCESS_KEY_SECRET", "EnvSecret")
    monkeypatch.setenv("ODPS_STS_TOKEN", "EnvToken")
    request = _request()
    odps_account(StaticCredentials("LTAI5tKey", BASE_SECRET, "TokenValue1")).sign_request(
        request, "http://127.0.0.1:1/api"
    )
    assert request.headers["Authorization"].startswith("ODPS LTAI5tKey:")
    assert request.headers["authorization-sts-token"] == "TokenValue1"

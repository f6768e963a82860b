"""The admin connection without any AccessKey: RRSA (OIDC) and the ECS instance role, end to end.

Provisioning (the example DAG) runs with the admin connection on each source, the reader's health DAG then
passes; temporary credentials are fetched again once the emulator clock passes their expiry; a bad token file,
a wrong audience and an expired token each stop the health check with a configuration error naming the cause,
before any MaxCompute request. Real STS/RAM SDKs, alibabacloud-credentials, pyodps and the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clarityq_emulator import RunningEmulator, start_emulator
from clarityq_emulator.core.state import default_seed
from odps import ODPS
from support import ADMIN_CONN_ID, READER_CONN_ID, provision_user_without_key, run_dag, secret_hits, user_keys

from airflow_provider_clarityq.core.alibaba.clients import ClientBundle, build_openapi_client
from airflow_provider_clarityq.core.alibaba.federated import fetcher_for
from airflow_provider_clarityq.core.connection import parse_connection
from airflow_provider_clarityq.core.credentials import FetchedCredentials
from airflow_provider_clarityq.core.health.options import HealthOptions
from airflow_provider_clarityq.core.health.probe import MaxComputeProbe
from airflow_provider_clarityq.core.health.runner import run_health_checks

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

PROVISION, HEALTH = "clarityq_provision_access", "clarityq_connection_health"
ISSUER = "https://oidc-ack.cn-shanghai.aliyuncs.com/c1"
PROVIDER = "ack-rrsa-c1"
SUBJECT = "system:serviceaccount:airflow:worker"


def _seed() -> dict[str, Any]:
    seed: dict[str, Any] = default_seed()
    account = "1234567890123456"
    seed["account"] = {"id": account}
    provider_arn = f"acs:ram::{account}:oidc-provider/{PROVIDER}"
    seed["ram"] = {
        "oidc_providers": [{"name": PROVIDER, "issuer_url": ISSUER}],
        "roles": [
            {
                "name": "rrsa-admin",
                "policies": ["AliyunRAMFullAccess"],
                "trust_policy": {
                    "Statement": [
                        {
                            "Action": "sts:AssumeRole",
                            "Effect": "Allow",
                            "Principal": {"Federated": [provider_arn]},
                            "Condition": {
                                "StringEquals": {
                                    "oidc:aud": "sts.aliyuncs.com",
                                    "oidc:iss": ISSUER,
                                    "oidc:sub": SUBJECT,
                                }
                            },
                        }
                    ]
                },
            },
            {
                "name": "ecs-admin",
                "policies": ["AliyunRAMFullAccess"],
                "trust_policy": {
                    "Statement": [
                        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["ecs.aliyuncs.com"]}}
                    ]
                },
            },
        ],
        "ecs": {"instance_role": "ecs-admin", "http_tokens": "required"},
    }
    return seed


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with start_emulator(seed=_seed()) as emu:
        owner = ODPS(
            emu.info.access_key_id,
            emu.info.access_key_secret,
            emu.info.project,
            endpoint=emu.info.maxcompute_endpoint,
            overwrite_global=False,
        )
        for role in ("rrsa-admin", "ecs-admin"):  # the owner makes each role a project Admin (seed 001)
            principal = f"`RAM${emu.info.account_id}:role/{role}`"
            owner.execute_security_query(f"ADD USER {principal}")
            owner.execute_security_query(f"GRANT admin TO {principal}")
        yield emu


def _token_file(tmp_path: Path, emu: RunningEmulator, **claims: Any) -> Path:
    path = tmp_path / "rrsa-token"
    subject = claims.pop("subject", SUBJECT)
    path.write_text(emu.mint_oidc_token(PROVIDER, subject, **claims))
    return path


def _fields(emu: RunningEmulator, **extra: str) -> dict[str, Any]:
    service = f"http://{emu.info.ram_endpoint}"
    return {
        "conn_type": "clarityq_maxcompute",
        "host": emu.info.maxcompute_endpoint,
        "schema": emu.info.project,
        "extra": {"ram_endpoint": service, "sts_endpoint": service, **extra},
    }


def oidc_fields(emu: RunningEmulator, token_file: Path) -> dict[str, Any]:
    return _fields(
        emu,
        credential_source="oidc_role_arn",
        role_arn=f"acs:ram::{emu.info.account_id}:role/rrsa-admin",
        oidc_provider_arn=f"acs:ram::{emu.info.account_id}:oidc-provider/{PROVIDER}",
        oidc_token_file=str(token_file),
    )


def ecs_fields(emu: RunningEmulator) -> dict[str, Any]:
    return _fields(emu, credential_source="ecs_ram_role", ecs_metadata_endpoint=f"http://{emu.info.ram_endpoint}")


@pytest.mark.parametrize("source", ["oidc_role_arn", "ecs_ram_role"])
def test_provisioning_and_health_with_an_admin_connection_without_accesskey(
    source: str,
    emulator: RunningEmulator,
    airflow_connections_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    emu = emulator
    fields = oidc_fields(emu, _token_file(tmp_path, emu)) if source == "oidc_role_arn" else ecs_fields(emu)
    assert "login" not in fields and "password" not in fields
    monkeypatch.setenv(f"AIRFLOW_CONN_{ADMIN_CONN_ID.upper()}", json.dumps(fields))
    monkeypatch.delenv(f"AIRFLOW_CONN_{READER_CONN_ID.upper()}", raising=False)
    provision_user_without_key(emu)

    state, _ = run_dag(PROVISION)
    assert state == "success"
    stored = json.loads(airflow_connections_file.read_text())[READER_CONN_ID]
    assert user_keys(emu) == {stored["login"]: "Active"}
    assert run_dag(HEALTH)[0] == "success"

    log = emu.requests()
    fetched = [r for r in log if r["action"] == "AssumeRoleWithOIDC" or r["service"] == "ecs"]
    assert fetched and all(r["status"] == 200 for r in fetched)

    # No temporary secret, security token or OIDC token in any log, table or XCom.
    sessions = emu.state.identity.dump()["sts_sessions"]
    secrets = [s["secret"] for s in sessions] + [s["security_token"] for s in sessions]
    if source == "oidc_role_arn":
        secrets.append(Path(fields["extra"]["oidc_token_file"]).read_text())
    assert len(sessions) >= 3  # one session per task process at least
    assert secret_hits(emu, secrets) == []

    # The admin connection's own health report names the source and when its credentials expire.
    probe = MaxComputeProbe(ClientBundle(parse_connection(fields)))
    auth = run_health_checks(probe).check("authentication")
    assert auth.status == "pass", auth.message
    assert auth.details["credential_source"] == source
    assert auth.details["identity_type"] == "AssumedRoleUser"
    assert auth.details["credentials_expire_at"].endswith("Z")


@pytest.mark.parametrize("source", ["oidc_role_arn", "ecs_ram_role"])
def test_temporary_credentials_are_fetched_again_after_expiry(
    source: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    emu = emulator
    token = _token_file(tmp_path, emu)
    settings = parse_connection(oidc_fields(emu, token) if source == "oidc_role_arn" else ecs_fields(emu))
    fetch = fetcher_for(settings, lambda: build_openapi_client("sts", settings, None))
    # The credential source reads the emulator's clock, so moving that clock ages both sides.
    credentials = FetchedCredentials(fetch, source_name=source, clock=emu.state.clock)
    bundle = ClientBundle(settings, credentials)
    first = credentials.get_credential().access_key_id
    assert bundle.odps.exist_project(emu.info.project)
    emu.advance_clock(4000)  # past the one-hour sessions: the first credentials are refused from now on
    if source == "oidc_role_arn":
        token.write_text(emu.mint_oidc_token(PROVIDER, SUBJECT))  # the kubelet rewrites the projected token
    assert bundle.odps.exist_project(emu.info.project)
    assert credentials.refresh_count == 2 and credentials.get_credential().access_key_id != first
    assert bundle.sts_client.get_caller_identity().body.identity_type == "AssumedRoleUser"  # the SDKs alike


@pytest.mark.parametrize(
    ("claims", "code", "words"),
    [
        ({"ttl_seconds": -60}, "OIDC_TOKEN_EXPIRED", "expired"),
        ({"audience": "not-sts"}, "OIDC_AUDIENCE_MISMATCH", "audience"),
        ({"foreign_key": True}, "OIDC_ISSUER_UNTRUSTED", "oidc_provider_arn"),
        ({"subject": "system:serviceaccount:default:other"}, "ROLE_NOT_ASSUMABLE", "trust policy"),
        (None, "OIDC_TOKEN_UNREADABLE", "oidc_token_file"),
    ],
    ids=["expired", "wrong-audience", "untrusted-issuer", "role-not-assumable", "no-token-file"],
)
def test_bad_tokens_are_config_errors_before_any_maxcompute_request(
    claims: dict[str, Any] | None,
    code: str,
    words: str,
    emulator: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    emu = emulator
    token = _token_file(tmp_path, emu, **claims) if claims is not None else tmp_path / "missing"
    monkeypatch.setenv(f"AIRFLOW_CONN_{READER_CONN_ID.upper()}", json.dumps(oidc_fields(emu, token)))
    emu.clear_requests()
    health = run_dag(HEALTH, "check_connection")
    assert health[0] == "failed"
    report = health[1]
    assert report is None or report["verdict"] == "CONFIG_ERROR"
    probe = MaxComputeProbe(ClientBundle(parse_connection(oidc_fields(emu, token))))
    auth = run_health_checks(probe).check("authentication")
    assert (auth.status, auth.code, auth.category) == ("fail", code, "config")
    assert words in (auth.message + " " + (auth.remediation or "")).lower()
    assert [r for r in emu.requests() if r["service"] == "maxcompute"] == []


@pytest.mark.parametrize("link", ["oidc_role_arn", "ecs_ram_role"])
def test_default_chain_names_the_link_that_answered(
    link: str, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    emu = emulator
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ECS_METADATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
    monkeypatch.setenv("HOME", str(tmp_path))  # no CLI config or credentials file to find
    if link == "oidc_role_arn":
        monkeypatch.setenv("ALIBABA_CLOUD_ROLE_ARN", f"acs:ram::{emu.info.account_id}:role/rrsa-admin")
        monkeypatch.setenv(
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", f"acs:ram::{emu.info.account_id}:oidc-provider/{PROVIDER}"
        )
        monkeypatch.setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", str(_token_file(tmp_path, emu)))
    fields = _fields(emu, credential_source="default_chain", ecs_metadata_endpoint=f"http://{emu.info.ram_endpoint}")
    probe = MaxComputeProbe(ClientBundle(parse_connection(fields)))
    report = run_health_checks(probe, HealthOptions(checks=("project_accessible",)))
    auth = report.check("authentication")
    assert auth.status == "pass", auth.message
    assert auth.details["credential_source"] == f"default_chain/{link}"
    assert report.check("project_accessible").status == "pass"

"""The checks and their runner over a plain fake Probe (no network, no SDK).

Service failures are plain exceptions whose class names and texts follow pyodps / the Alibaba SDK, which
is all the classifier reads.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_clarityq.core.alibaba.identity import CallerIdentity
from airflow_provider_clarityq.core.errors import ConfigurationError, CredentialsError
from airflow_provider_clarityq.core.health.checks import probe_query
from airflow_provider_clarityq.core.health.options import CHECK_NAMES, HealthOptions, ValidationQuery
from airflow_provider_clarityq.core.health.protocol import (
    AccessKeyInfo,
    Column,
    CredentialInfo,
    ProjectInfo,
    QueryResult,
    TableInfo,
    Whoami,
)
from airflow_provider_clarityq.core.health.runner import run_health_checks, unusable_connection_report

ACCOUNT = "1234567890123456"
UID = "2345678901234567"
PRINCIPAL = f"RAM${ACCOUNT}:{UID}"
KEY = "LTAI5tReaderKey0001"
SECRET = "ReaderSecretValue0123456789"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


class NoPermission(Exception):
    code = "NoPermission"


class SignatureNotMatch(Exception):
    code = "SignatureNotMatch"


class ServiceUnavailable(Exception):
    code = "ServiceUnavailable"
    status_code = 503


def not_member() -> NoPermission:
    return NoPermission(
        "ODPS-0420095: Access Denied - Authorization Failed [4002], You don't exist in project sales. "
        f"--->Tips: Pricipal:RAM${ACCOUNT}:clarityq;"
    )


def no_privilege(action: str, resource: str) -> NoPermission:
    return NoPermission(
        f"ODPS-0420095: Access Denied - Authorization Failed [4019], You have NO privilege 'odps:{action}' on "
        f"{{acs:odps:*:projects/{resource}}}."
    )


CLEAN_GRANTS = {
    "Roles": ["clarityq_reader"],
    "Implicit": [],
    "ACL": {
        "": [
            {
                "Principal": ["role/clarityq_reader"],
                "Resource": ["projects/sales"],
                "Action": ["List", "CreateInstance"],
                "Effect": "Allow",
            },
            {
                "Principal": ["role/clarityq_reader"],
                "Resource": ["projects/sales/tables/*"],
                "Action": ["Describe", "Select"],
                "Effect": "Allow",
            },
        ]
    },
    "Policy": {},
}

TABLES = {
    "customers": TableInfo("customers", (Column("customer_id", "BIGINT"), Column("name", "STRING")), record_count=5),
    "orders": TableInfo("orders", (Column("order_id", "BIGINT"),), partition_keys=(Column("ds", "STRING"),)),
}


@dataclass
class FakeProbe:
    """Answers like a healthy project unless told otherwise; records every call."""

    project: str = "sales"
    endpoint: str = "https://service.cn-shanghai.maxcompute.aliyun.com/api"
    access_key_id: str = KEY
    secrets: tuple[str, ...] = (SECRET,)
    identity: CallerIdentity = field(
        default_factory=lambda: CallerIdentity(ACCOUNT, "RAMUser", f"acs:ram::{ACCOUNT}:user/clarityq", UID)
    )
    tables: list[str] = field(default_factory=lambda: ["customers", "orders"])
    partitions: dict[str, dict[str, str] | None] = field(default_factory=dict)
    grants: object = field(default_factory=lambda: CLEAN_GRANTS)
    user_label: int = 0
    download_control: bool = False
    credential: CredentialInfo = field(default_factory=lambda: CredentialInfo("access_key"))
    keys: list[AccessKeyInfo] = field(default_factory=lambda: [AccessKeyInfo(KEY, "Active", NOW - timedelta(days=10))])
    results: dict[str, QueryResult] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)
    hooks: dict[str, Any] = field(default_factory=dict)  # method -> callable run before answering
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def _enter(self, method: str, arg: Any = None) -> None:
        self.calls.append((method, arg))
        if method in self.hooks:
            self.hooks[method]()
        if method in self.errors:
            raise self.errors[method]

    def caller_identity(self) -> CallerIdentity:
        self._enter("caller_identity")
        return self.identity

    def credential_info(self) -> CredentialInfo:
        self._enter("credential_info")
        return self.credential

    def whoami(self) -> Whoami:
        self._enter("whoami")
        return Whoami(UID, PRINCIPAL)

    def get_project(self) -> ProjectInfo:
        self._enter("get_project")
        return ProjectInfo(self.project, f"ALIYUN${ACCOUNT}", download_control=self.download_control)

    def list_tables(self, limit: int) -> list[str]:
        self._enter("list_tables", limit)
        return self.tables[:limit]

    def describe_table(self, name: str) -> TableInfo:
        self._enter("describe_table", name)
        return TABLES.get(name) or TableInfo(name, (Column("x", "BIGINT"),))

    def first_partition(self, table: str) -> dict[str, str] | None:
        self._enter("first_partition", table)
        return self.partitions.get(table)

    def run_query(self, sql: str) -> QueryResult:
        self._enter("run_query", sql)
        for needle, result in self.results.items():
            if needle in sql:
                return result
        return QueryResult(("customer_id", "name"), (("1", "Acme"),))

    def open_download(self, table: str, partition: dict[str, str] | None) -> None:
        self._enter("open_download", table)

    def show_grants(self) -> object:
        self._enter("show_grants")
        return self.grants

    def show_label_grants(self) -> object:
        self._enter("show_label_grants")
        return {"UserLabel": self.user_label, "Grants": []}

    def list_access_keys(self, user_name: str) -> list[AccessKeyInfo]:
        self._enter("list_access_keys", user_name)
        return self.keys

    def access_key_last_used(self, user_name: str, access_key_id: str) -> datetime | None:
        self._enter("access_key_last_used", access_key_id)
        return NOW - timedelta(hours=1) if access_key_id == KEY else None

    def called(self, method: str) -> list[Any]:
        return [arg for name, arg in self.calls if name == method]


def run(probe: FakeProbe, options: HealthOptions | None = None, **kwargs: Any) -> Any:
    return run_health_checks(probe, options, now=lambda: NOW, **kwargs)


def statuses(report: Any) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.code) for c in report.checks}


# --------------------------------------------------------------------------------------------------
# Healthy path


def test_healthy_project_passes_every_check() -> None:
    probe = FakeProbe()
    report = run(probe)
    assert report.verdict == "HEALTHY", report.summary_table()
    assert [c.name for c in report.checks] == list(CHECK_NAMES)
    assert all(c.status == "pass" for c in report.checks)
    assert report.principal == PRINCIPAL
    assert report.project == "sales"
    assert report.started_at == "2026-11-23T12:00:00.000Z"
    query = report.check("query_works")
    assert query.details["sql"] == "SELECT * FROM `customers` LIMIT 1"
    assert probe.called("describe_table") == ["customers"]
    assert probe.called("first_partition") == []  # not partitioned: no extra request
    assert probe.called("list_tables") == [100]
    assert "authenticated as RAM user clarityq" in report.check("authentication").message


def test_the_four_seed_checks_make_five_probe_calls() -> None:
    probe = FakeProbe()
    report = run(probe, HealthOptions(checks=("query_works",)))  # prerequisites come along
    assert [c.name for c in report.checks] == [
        "authentication",
        "project_accessible",
        "metadata_discoverable",
        "query_works",
    ]
    assert [name for name, _ in probe.calls] == [
        "credential_info",  # no request for an AccessKey; the credential fetch for temporary sources
        "caller_identity",
        "get_project",
        "list_tables",
        "describe_table",
        "run_query",
    ]


def test_independent_checks_run_concurrently() -> None:
    """least_privilege and metadata_discoverable both need only the project: they meet at a barrier."""
    barrier = threading.Barrier(2, timeout=5)
    pair = threading.Barrier(2, timeout=5)
    probe = FakeProbe(hooks={"show_grants": barrier.wait, "list_tables": barrier.wait})
    # key_hygiene (needs authentication) runs alongside project_accessible.
    probe.hooks.update({"get_project": pair.wait, "list_access_keys": pair.wait})
    report = run(probe)
    assert report.verdict == "HEALTHY", report.summary_table()


def test_sequential_workers_would_deadlock_at_the_barrier() -> None:
    """The same barrier with one worker thread times out: the concurrency test can fail."""
    barrier = threading.Barrier(2, timeout=0.3)
    probe = FakeProbe(hooks={"show_grants": barrier.wait, "list_tables": barrier.wait})
    report = run(probe, HealthOptions(max_workers=1))
    assert report.verdict == "CONFIG_ERROR"
    assert "BrokenBarrierError" in report.check("metadata_discoverable").message


# --------------------------------------------------------------------------------------------------
# Failures block what depends on them


def test_authentication_failure_blocks_everything_else() -> None:
    probe = FakeProbe(errors={"caller_identity": SignatureNotMatch("signature dose not match")})
    report = run(probe)
    assert report.verdict == "CONFIG_ERROR"
    auth = report.check("authentication")
    assert (auth.status, auth.code, auth.category, auth.retryable) == (
        "fail",
        "AUTH_SIGNATURE_MISMATCH",
        "config",
        False,
    )
    assert "AccessKey Secret (password)" in (auth.remediation or "")
    for name in CHECK_NAMES[1:]:
        assert report.check(name).status == "skipped" and report.check(name).code == "BLOCKED"
    assert report.summary_line().startswith("CONFIG_ERROR: authentication failed: the AccessKey Secret")
    assert [name for name, _ in probe.calls] == ["credential_info", "caller_identity"]


def test_temporary_credentials_name_their_source_and_expiry() -> None:
    expires = NOW + timedelta(minutes=50)
    probe = FakeProbe(credential=CredentialInfo("oidc_role_arn", expires))
    auth = run(probe).check("authentication")
    assert "credentials from oidc_role_arn, temporary, expiring 2026-11-23T12:50:00.000Z" in auth.message
    assert auth.details["credential_source"] == "oidc_role_arn"
    assert auth.details["credentials_expire_at"] == "2026-11-23T12:50:00.000Z"


def test_a_credential_source_failure_is_a_config_error_before_any_request() -> None:
    failure = CredentialsError(
        "the OIDC token in /var/run/token expired at 2026-11-23T11:00:00Z",
        diagnosis="OIDC_TOKEN_EXPIRED",
        fix="check that oidc_token_file is the path the RRSA volume is mounted at",
    )
    probe = FakeProbe(errors={"credential_info": failure})
    report = run(probe)
    auth = report.check("authentication")
    assert (report.verdict, auth.status, auth.code, auth.category) == (
        "CONFIG_ERROR",
        "fail",
        "OIDC_TOKEN_EXPIRED",
        "config",
    )
    assert "oidc_token_file" in (auth.remediation or "")
    assert [name for name, _ in probe.calls] == ["credential_info"]


def test_sts_unreachable_falls_back_to_maxcompute_whoami() -> None:
    probe = FakeProbe(errors={"caller_identity": ConnectionRefusedError(111, "Connection refused")})
    report = run(probe)
    assert report.verdict == "HEALTHY", report.summary_table()
    auth = report.check("authentication")
    assert "via MaxCompute (STS unavailable: cannot reach the service" in auth.message
    assert report.principal == PRINCIPAL


def test_sts_unreachable_and_not_a_member_still_proves_the_key() -> None:
    probe = FakeProbe(
        errors={
            "caller_identity": ConnectionRefusedError(111, "Connection refused"),
            "whoami": not_member(),
            "get_project": not_member(),
        }
    )
    report = run(probe)
    assert statuses(report)["authentication"] == ("pass", "OK")
    project = report.check("project_accessible")
    assert project.code == "NOT_A_PROJECT_MEMBER"
    assert f"ADD USER RAM${ACCOUNT}:clarityq;" in (project.remediation or "")  # from the denial's tip


def test_everything_unreachable_is_retryable() -> None:
    down = ConnectionRefusedError(111, "Connection refused")
    probe = FakeProbe(errors={"caller_identity": down, "whoami": down})
    report = run(probe)
    assert report.verdict == "UNREACHABLE"
    assert report.retryable
    auth = report.check("authentication")
    assert (auth.status, auth.code, auth.category, auth.retryable) == ("fail", "UNREACHABLE", "unreachable", True)


def test_not_a_member_names_add_user_with_the_real_uids() -> None:
    report = run(FakeProbe(errors={"get_project": not_member()}))
    project = report.check("project_accessible")
    assert project.code == "NOT_A_PROJECT_MEMBER"
    assert (project.remediation or "").startswith(f"as the project owner run, in project sales: ADD USER {PRINCIPAL};")
    assert statuses(report)["key_hygiene"] == ("pass", "OK")  # needs only authentication


def test_missing_create_instance_is_a_config_error_with_the_grant() -> None:
    probe = FakeProbe(errors={"run_query": no_privilege("CreateInstance", "sales")})
    report = run(probe)
    assert report.verdict == "CONFIG_ERROR"
    query = report.check("query_works")
    assert query.code == "MISSING_PRIVILEGE"
    assert "GRANT CreateInstance ON PROJECT sales TO ROLE clarityq_reader;" in (query.remediation or "")
    assert statuses(report)["metadata_discoverable"] == ("pass", "OK")


def test_describe_denied_names_the_table_grant() -> None:
    probe = FakeProbe(errors={"describe_table": no_privilege("Describe", "sales/tables/customers")})
    report = run(probe, HealthOptions(role="bi_reader"))
    metadata = report.check("metadata_discoverable")
    assert "GRANT Describe, Select ON TABLE customers TO ROLE bi_reader;" in (metadata.remediation or "")
    assert statuses(report)["query_works"] == ("skipped", "BLOCKED")


def test_unknown_table_option() -> None:
    class NoSuchObject(Exception):
        pass

    probe = FakeProbe(errors={"describe_table": NoSuchObject("not found")})
    report = run(probe, HealthOptions(table="ordres"))
    metadata = report.check("metadata_discoverable")
    assert metadata.code == "TABLE_NOT_FOUND" and "ordres" in metadata.message


def test_service_errors_are_unreachable() -> None:
    report = run(FakeProbe(errors={"list_tables": ServiceUnavailable("ODPS-0420153: unavailable")}))
    assert report.verdict == "UNREACHABLE"
    assert report.check("metadata_discoverable").code == "SERVICE_ERROR"


def test_time_limit_fails_the_hanging_check_as_unreachable() -> None:
    release = threading.Event()
    probe = FakeProbe(hooks={"list_tables": lambda: release.wait(10)})
    started = time.monotonic()
    try:
        report = run(probe, HealthOptions(timeout_s=0.3))
    finally:
        release.set()
    assert time.monotonic() - started < 3
    metadata = report.check("metadata_discoverable")
    assert (metadata.status, metadata.code, metadata.retryable) == ("fail", "CHECK_TIMEOUT", True)
    assert statuses(report)["query_works"] == ("skipped", "BLOCKED")
    assert report.verdict == "UNREACHABLE"


def test_secrets_never_reach_the_report() -> None:
    leak = RuntimeError(f"server echoed {SECRET}")
    probe = FakeProbe(errors={"get_project": leak})
    text = json.dumps(run(probe).to_dict())
    assert SECRET not in text
    assert "***" in text


# --------------------------------------------------------------------------------------------------
# Metadata and query details


def test_partitioned_table_gets_a_partition_predicate() -> None:
    probe = FakeProbe(tables=["orders"], partitions={"orders": {"ds": "20261101"}})
    report = run(probe)
    assert report.check("query_works").details["sql"] == "SELECT * FROM `orders` WHERE `ds` = '20261101' LIMIT 1"
    assert probe.called("first_partition") == ["orders"]
    assert "partitioned by ds" in report.check("metadata_discoverable").message


def test_probe_query_without_partitions_or_with_odd_values_uses_the_sentinel() -> None:
    orders = TABLES["orders"]
    sentinel = "SELECT * FROM `orders` WHERE `ds` = '__clarityq_health_probe__' LIMIT 1"
    assert probe_query(orders, None) == sentinel
    assert probe_query(orders, {"ds": "x' OR '1'='1"}) == sentinel
    assert probe_query(orders, {"other": "1"}) == sentinel
    two = TableInfo("t", (), partition_keys=(Column("ds", "STRING"), Column("hh", "STRING")))
    assert probe_query(two, {"DS": "20261101", "hh": "01"}) == (
        "SELECT * FROM `t` WHERE `ds` = '20261101' AND `hh` = '01' LIMIT 1"
    )
    with pytest.raises(ConfigurationError):
        probe_query(TableInfo("bad name", ()))


def test_table_option_is_described_even_if_not_listed_first() -> None:
    probe = FakeProbe()
    run(probe, HealthOptions(table="Orders"))
    assert probe.called("describe_table") == ["orders"]


def test_invalid_listed_names_are_skipped() -> None:
    probe = FakeProbe(tables=["bad-name", "customers"])
    run(probe)
    assert probe.called("describe_table") == ["customers"]


def test_no_tables_is_a_warning_and_the_query_is_skipped() -> None:
    report = run(FakeProbe(tables=[]))
    assert statuses(report)["metadata_discoverable"] == ("warn", "NO_TABLES")
    assert statuses(report)["query_works"] == ("skipped", "NO_TABLE")
    assert report.verdict == "DEGRADED"


def test_download_control_off_costs_no_tunnel_request() -> None:
    probe = FakeProbe()
    assert run(probe).verdict == "HEALTHY"
    assert probe.called("open_download") == []


def test_download_control_on_and_granted_passes_after_one_tunnel_session() -> None:
    probe = FakeProbe(download_control=True)
    report = run(probe)
    assert statuses(report)["query_works"] == ("pass", "OK")
    assert "download control is on" in report.check("query_works").message
    assert probe.called("open_download") == ["customers"]


def test_download_control_without_download_grant_warns_with_the_grant() -> None:
    denied = no_privilege("Download", "sales/tables/customers")
    report = run(FakeProbe(download_control=True, errors={"open_download": denied}))
    query = report.check("query_works")
    assert (query.status, query.code) == ("warn", "DOWNLOAD_NOT_GRANTED")
    assert "10,000 rows" in query.message
    assert "GRANT Download ON TABLE customers TO ROLE clarityq_reader;" in query.remediation
    assert report.verdict == "DEGRADED"


# --------------------------------------------------------------------------------------------------
# Least privilege


def excess_grants() -> dict[str, Any]:
    grants = json.loads(json.dumps(CLEAN_GRANTS))
    grants["Roles"] = ["clarityq_reader", "etl", "Admin"]
    grants["ACL"][""] += [
        {"Principal": ["role/clarityq_reader"], "Resource": ["projects/sales/tables/orders"], "Action": ["Update"]},
        {"Principal": ["role/etl"], "Resource": ["projects/sales/tables/products"], "Action": ["Drop"]},
        {"Principal": [f"user/{PRINCIPAL}"], "Resource": ["projects/sales"], "Action": ["CreateTable"]},
        {
            "Principal": ["role/clarityq_reader"],
            "Resource": ["projects/sales/tables/x"],
            "Action": ["All"],
            "Effect": "Deny",
        },
    ]
    grants["Policy"] = {
        "": [
            {
                "Principal": ["role/clarityq_reader"],
                "Resource": ["projects/sales/tables/tmp_*"],
                "Action": ["odps:Alter"],
            }
        ]
    }
    return grants


def test_excess_privileges_warn_with_exact_revokes() -> None:
    report = run(FakeProbe(grants=excess_grants()))
    check = report.check("least_privilege")
    assert (check.status, check.code) == ("warn", "EXCESS_PRIVILEGES")
    assert report.verdict == "DEGRADED"
    fix = check.remediation or ""
    for statement in (
        f"REVOKE admin FROM {PRINCIPAL};",
        "REVOKE Update ON TABLE orders FROM ROLE clarityq_reader;",
        f"REVOKE etl FROM {PRINCIPAL};",
        f"REVOKE CreateTable ON PROJECT sales FROM USER {PRINCIPAL};",
        "remove the Allow for odps:Alter on projects/sales/tables/tmp_*",
    ):
        assert statement in fix
    assert "Deny" not in check.message  # a Deny is not an excess
    assert check.details["roles"] == ["admin", "clarityq_reader", "etl"]
    assert len(check.details["findings"]) == 5


def test_text_layout_gives_the_same_audit() -> None:
    text = (
        "[roles]\nclarityq_reader\netl\n\n"
        "Authorization Type: ACL\n"
        "[role/clarityq_reader]\n"
        "A\tprojects/sales: List | CreateInstance\n"
        "A\tprojects/sales/tables/*: Describe | Select\n"
        "A\tprojects/sales/tables/orders: Update\tExpires:2027-01-01T00:00:00+0800\n"
        "[role/etl]\n"
        "A       projects/sales/tables/products: Drop\n"
        "D\tprojects/sales/tables/secret: Select\n"
    )
    report = run(FakeProbe(grants=text))
    fix = report.check("least_privilege").remediation or ""
    assert "REVOKE Update ON TABLE orders FROM ROLE clarityq_reader;" in fix
    assert f"REVOKE etl FROM {PRINCIPAL};" in fix


def test_the_audit_lists_every_grant_it_read_for_the_history() -> None:
    """The history shows grant drift between nights from these entries (additive key of report v1)."""
    text = (
        "[roles]\nclarityq_reader\n\n"
        "Authorization Type: ACL\n"
        "[role/clarityq_reader]\n"
        "A\tprojects/sales: List | CreateInstance\n"
        "A\tprojects/sales/tables/*: Describe | Select\n"
        "D\tprojects/sales/tables/secret: Select\n"
    )
    check = run(FakeProbe(grants=text)).check("least_privilege")
    assert check.status == "pass"
    grantee = "role/clarityq_reader"
    assert check.to_dict()["details"]["grants"] == [
        {"section": "acl", "grantee": grantee, "object_type": "project", "object": "sales",
         "actions": ["List", "CreateInstance"], "effect": "Allow"},
        {"section": "acl", "grantee": grantee, "object_type": "table", "object": "*",
         "actions": ["Describe", "Select"], "effect": "Allow"},
        {"section": "acl", "grantee": grantee, "object_type": "table", "object": "secret",
         "actions": ["Select"], "effect": "Deny"},
    ]  # fmt: skip


def test_main_account_key_is_flagged() -> None:
    identity = CallerIdentity(ACCOUNT, "Account", f"acs:ram::{ACCOUNT}:root", ACCOUNT)
    report = run(FakeProbe(identity=identity))
    assert statuses(report)["least_privilege"] == ("warn", "MAIN_ACCOUNT_KEY")
    assert statuses(report)["key_hygiene"] == ("skipped", "NOT_APPLICABLE")
    assert report.principal == f"ALIYUN${ACCOUNT}"


def test_unreadable_or_unavailable_grants_skip_the_audit() -> None:
    assert statuses(run(FakeProbe(grants={"Weird": 1})))["least_privilege"] == ("skipped", "GRANTS_UNREADABLE")
    denied = run(FakeProbe(errors={"show_grants": NoPermission("denied")}))
    assert statuses(denied)["least_privilege"] == ("skipped", "AUDIT_UNAVAILABLE")
    assert denied.verdict == "HEALTHY"
    flaky = run(FakeProbe(errors={"show_grants": ServiceUnavailable("503")}))
    assert statuses(flaky)["least_privilege"] == ("fail", "SERVICE_ERROR")
    assert flaky.verdict == "UNREACHABLE"


# --------------------------------------------------------------------------------------------------
# Key hygiene


def test_old_key_and_second_keys_warn() -> None:
    keys = [
        AccessKeyInfo(KEY, "Active", NOW - timedelta(days=400)),
        AccessKeyInfo("LTAI5tOtherKey00002", "Active", NOW - timedelta(days=3)),
    ]
    report = run(FakeProbe(keys=keys))
    check = report.check("key_hygiene")
    assert (check.status, check.code) == ("warn", "KEY_TOO_OLD")
    assert "is 400 days old (limit 90)" in check.message
    assert "second active AccessKey LTAI...0002 (never used)" in check.message
    assert KEY not in json.dumps(report.to_dict())  # key ids only masked
    assert check.details["keys"][0]["last_used"] == "2026-11-23T11:00:00.000Z"


def test_inactive_key_and_unlisted_key() -> None:
    inactive = run(FakeProbe(keys=[AccessKeyInfo(KEY, "Active", NOW), AccessKeyInfo("LTAI5tOld0000003", "Inactive")]))
    assert statuses(inactive)["key_hygiene"] == ("warn", "INACTIVE_KEY_PRESENT")
    unlisted = run(FakeProbe(keys=[AccessKeyInfo("LTAI5tSomeoneElse04", "Active", NOW)]))
    assert statuses(unlisted)["key_hygiene"] == ("warn", "KEY_NOT_LISTED")


def test_key_hygiene_is_skipped_when_not_readable_or_not_applicable() -> None:
    denied = run(FakeProbe(errors={"list_access_keys": NoPermission("ram:ListAccessKeys denied")}))
    check = denied.check("key_hygiene")
    assert (check.status, check.code) == ("skipped", "KEY_INFO_UNAVAILABLE")
    assert f"acs:ram:*:{ACCOUNT}:user/clarityq" in (check.remediation or "")
    assert denied.verdict == "HEALTHY"
    sts = run(FakeProbe(access_key_id="STS.NTemporaryKey"))
    assert statuses(sts)["key_hygiene"] == ("skipped", "NOT_APPLICABLE")
    role = CallerIdentity(ACCOUNT, "AssumedRoleUser", f"acs:ram::{ACCOUNT}:assumed-role/clarityq-role/airflow", "3001")
    assumed = run(FakeProbe(identity=role))
    assert statuses(assumed)["key_hygiene"] == ("skipped", "NOT_APPLICABLE")
    assert assumed.principal == f"RAM${ACCOUNT}:role/clarityq-role"


# --------------------------------------------------------------------------------------------------
# Custom validations


def test_validations_pass_and_fail() -> None:
    probe = FakeProbe(
        results={
            "count(*)": QueryResult(("_c0",), (("6",),)),
            "currency": QueryResult(("c",), (("CNY",),)),
            "regions": QueryResult(("r",), (("n",), ("s",))),
            "empty": QueryResult(("x",), ()),
            "flag": QueryResult(("b",), (("true",),)),
        }
    )
    validations = [
        ValidationQuery("six_orders", "select count(*) from orders;", "equals", 6),
        ValidationQuery("six_point_oh", "select count(*) from orders", "equals", 6.0),
        ValidationQuery("cny", "select currency from t", "equals", "CNY"),
        ValidationQuery("two_regions", "select r from regions", "row_count", 2),
        ValidationQuery("not_empty", "select x from empty"),
        ValidationQuery("flag", "select b from flag", "equals", True),
        ValidationQuery("wrong_count", "select r from regions", "row_count", 3),
    ]
    report = run(probe, validations=validations)
    result = statuses(report)
    assert result["validation:six_orders"] == ("pass", "OK")
    assert result["validation:six_point_oh"] == ("pass", "OK")
    assert result["validation:cny"] == ("pass", "OK")
    assert result["validation:two_regions"] == ("pass", "OK")
    assert result["validation:flag"] == ("pass", "OK")
    assert result["validation:not_empty"] == ("fail", "EXPECTATION_FAILED")
    assert result["validation:wrong_count"] == ("fail", "EXPECTATION_FAILED")
    failed = report.check("validation:wrong_count")
    assert failed.category == "expectation" and "returned 2 row(s), expected 3" in failed.message
    assert report.verdict == "CONFIG_ERROR"
    assert "select count(*) from orders" in probe.called("run_query")  # trailing ';' dropped


def test_validation_sql_errors_and_dependencies() -> None:
    class ParseError(Exception):
        pass

    probe = FakeProbe(
        errors={
            "describe_table": no_privilege("Describe", "sales/tables/customers"),
            "run_query": ParseError("ODPS-0130161:[1,8] Parse exception - invalid token"),
        }
    )
    report = run(probe, validations=[ValidationQuery("typo", "select * form t")])
    check = report.check("validation:typo")
    assert check.code == "SQL_ERROR" and check.remediation == "fix the SQL of validation 'typo'."
    assert check.details == {"sql": "select * form t"}
    # Validations need only the project: they ran although metadata_discoverable failed.
    assert statuses(report)["metadata_discoverable"][0] == "fail"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name", "sql": "select 1"}, "is not a valid name"),
        ({"name": "n", "sql": " ; "}, "is empty"),
        ({"name": "n", "sql": "select 1", "expect": "maybe"}, "use one of"),
        ({"name": "n", "sql": "select 1", "expect": "row_count", "value": "3"}, "must be a row count"),
        ({"name": "n", "sql": "select 1", "expect": "equals"}, "must be a string, number or boolean"),
    ],
)
def test_validation_query_rules(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ValidationQuery(**kwargs)


def test_validation_from_value() -> None:
    value = {"name": "n", "sql": "select 1", "expect": "row_count", "value": 1}
    assert ValidationQuery.from_value(value).to_dict() == value
    with pytest.raises(ConfigurationError, match="unknown keys"):
        ValidationQuery.from_value({"name": "n", "sql": "select 1", "expected": 1})
    with pytest.raises(ConfigurationError, match="must be mappings"):
        ValidationQuery.from_value("select 1")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="used twice"):
        run(FakeProbe(), validations=[ValidationQuery("n", "select 1"), ValidationQuery("n", "select 2")])


# --------------------------------------------------------------------------------------------------
# Options and unusable connections


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"role": "bad role"}, "role"),
        ({"table": "a;b"}, "table"),
        ({"checks": ("authentication", "vibes")}, "checks"),
        ({"list_limit": 0}, "list_limit"),
        ({"max_workers": True}, "max_workers"),
        ({"timeout_s": 0}, "timeout_s"),
    ],
)
def test_options_are_validated(kwargs: dict[str, Any], field_name: str) -> None:
    with pytest.raises(ConfigurationError) as exc_info:
        HealthOptions(**kwargs)
    assert exc_info.value.field == field_name


def test_options_round_trip_as_json() -> None:
    options = HealthOptions(role="BI_Reader", table="Orders", checks=("least_privilege",), timeout_s=30)
    assert (options.role, options.table) == ("bi_reader", "orders")
    again = HealthOptions.from_dict(json.loads(json.dumps(options.to_dict())))
    assert again == options


def test_unusable_connection_report() -> None:
    err = ConfigurationError("schema", "is empty", "set the project name", label="Project name")
    report = unusable_connection_report(err, conn_id="clarityq_reader", secrets=[SECRET])
    assert report.verdict == "CONFIG_ERROR"
    first = report.checks[0]
    assert (first.name, first.code, first.category) == ("connection", "CONNECTION_INVALID", "config")
    assert first.message == "connection 'clarityq_reader': Field 'Project name' (schema) is empty"
    assert first.remediation == "set the project name"
    assert [c.code for c in report.checks[1:]] == ["BLOCKED"] * len(CHECK_NAMES)
    odd = unusable_connection_report(RuntimeError(f"boom {SECRET}"), secrets=[SECRET])
    assert odd.checks[0].code == "CONNECTION_UNREADABLE" and SECRET not in odd.to_json()


def test_label_clearance_above_the_spec_warns_with_set_label() -> None:
    report = run(FakeProbe(user_label=5), HealthOptions(label_access_level=2))
    check = report.check("least_privilege")
    assert (check.status, check.code) == ("warn", "EXCESS_PRIVILEGES")
    assert "label access level 5" in check.message
    assert "SET LABEL 2 TO USER" in (check.remediation or "")
    assert check.details["label_access_level"] == 5


def test_label_clearance_the_spec_asks_for_passes() -> None:
    report = run(FakeProbe(user_label=2), HealthOptions(label_access_level=2))
    assert report.check("least_privilege").status == "pass"

"""Failure -> classified diagnosis with the exact fix (seed 000's troubleshooting made exact).

Exceptions are the real pyodps and Alibaba SDK classes, built locally with the texts the services (and
the emulator) send; nothing here touches the network.
"""

from __future__ import annotations

from typing import Any

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from hypothesis import given
from hypothesis import strategies as st
from odps import errors
from Tea.exceptions import RetryError, UnretryableException

from airflow_provider_clarityq.core.alibaba.failures import is_transient
from airflow_provider_clarityq.core.errors import ConfigurationError, CredentialsError
from airflow_provider_clarityq.core.health.remediation import (
    MissingPrivilege,
    RemediationContext,
    diagnose,
    grant_statement,
    mask_key_id,
    membership_statements,
    parse_missing_privilege,
    shown_principal,
)

PRINCIPAL = "RAM$1234567890123456:2345678901234567"
CTX = RemediationContext(
    project="sales_prod",
    endpoint="https://service.cn-shanghai.maxcompute.aliyun.com/api",
    principal=PRINCIPAL,
    access_key_id="LTAI5tAbCdEfGh1234",
    secrets=("TopSecretValue0123456789",),
)


def odps_error(name: str, message: str, code: str | None = None) -> BaseException:
    cls = getattr(errors, name)
    return cls(message, code=code or name)  # type: ignore[no-any-return]


def denial(action: str, resource: str, code: str = "4019", sql_form: bool = False) -> str:
    prefix = "ODPS-0130013:Authorization exception - " if sql_form else "ODPS-0420095: Access Denied - "
    return (
        f"{prefix}Authorization Failed [{code}], You have NO privilege 'odps:{action}' on {{{resource}}}. "
        "Context ID:x. --->Tips: CurrentProject:sales_prod; Pricipal:RAM$1234567890123456:clarityq;"
    )


# --------------------------------------------------------------------------------------------------
# Seed 000 "permission denied": the missing GRANT, exactly


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            denial("CreateInstance", "acs:odps:*:projects/sales_prod"),
            "GRANT CreateInstance ON PROJECT sales_prod TO ROLE clarityq_reader;",
        ),
        (denial("List", "acs:odps:*:projects/sales_prod"), "GRANT List ON PROJECT sales_prod TO ROLE clarityq_reader;"),
        (
            denial("Select", "acs:odps:*:projects/sales_prod/tables/orders", sql_form=True),
            "GRANT Describe, Select ON TABLE orders TO ROLE clarityq_reader;",
        ),
        (
            denial("Describe", "acs:odps:*:projects/sales_prod/tables/Customers"),
            "GRANT Describe, Select ON TABLE customers TO ROLE clarityq_reader;",
        ),
        (
            denial("Describe", "acs:odps:*:projects/sales_prod/schemas/default/tables/orders"),
            "GRANT Describe, Select ON TABLE orders TO ROLE clarityq_reader;",
        ),
        (
            denial("Download", "acs:odps:*:projects/sales_prod/tables/orders"),
            "GRANT Download ON TABLE orders TO ROLE clarityq_reader;",
        ),
    ],
)
def test_missing_privilege_becomes_the_exact_grant(text: str, expected: str) -> None:
    diagnosis = diagnose(odps_error("NoPermission", text), CTX)
    assert diagnosis.code == "MISSING_PRIVILEGE"
    assert diagnosis.category == "permission"
    assert not diagnosis.retryable
    assert diagnosis.remediation.startswith(f"as the project owner run: {expected}")
    assert f"GRANT clarityq_reader TO {PRINCIPAL};" in diagnosis.remediation  # the other possible cause
    assert "[4019]" in diagnosis.message


def test_table_denials_use_seed_000s_wording() -> None:
    text = denial("Select", "acs:odps:*:projects/sales_prod/tables/orders", sql_form=True)
    diagnosis = diagnose(odps_error("NoPermission", text, code="ODPS-0130013"), CTX)
    assert diagnosis.message.startswith(
        f"permission denied on tables: {PRINCIPAL} has no 'odps:Select' on table orders"
    )


def test_role_name_comes_from_the_context() -> None:
    ctx = RemediationContext(project="sales_prod", endpoint="e", role="Bi_Reader")
    diagnosis = diagnose(odps_error("NoPermission", denial("List", "acs:odps:*:projects/sales_prod")), ctx)
    assert "GRANT List ON PROJECT sales_prod TO ROLE bi_reader;" in diagnosis.remediation


def test_management_denials_have_no_made_up_grant() -> None:
    text = denial("CreateRole", "acs:odps:*:projects/sales_prod/roles/x")
    diagnosis = diagnose(odps_error("NoPermission", text), CTX)
    assert diagnosis.code == "MISSING_PRIVILEGE"
    assert "GRANT" not in diagnosis.remediation.split("grant")[0]
    assert "odps:CreateRole" in diagnosis.remediation


@pytest.mark.parametrize(
    "resource",
    [
        "acs:odps:*:projects/bad-project",  # not a valid project name
        "acs:odps:*:projects/sales_prod/tables/x;DROP",  # hostile table name
        "acs:odps:*:projects/sales_prod/tables/`x`",
    ],
)
def test_hostile_names_never_reach_a_statement(resource: str) -> None:
    diagnosis = diagnose(odps_error("NoPermission", denial("Select", resource)), CTX)
    assert diagnosis.code == "MISSING_PRIVILEGE"
    assert "GRANT " not in diagnosis.remediation  # no statement, only prose
    assert "on table x;DROP " not in diagnosis.remediation


def test_policy_deny_is_not_fixed_by_a_grant() -> None:
    text = denial("Select", "acs:odps:*:projects/sales_prod/tables/orders", code="4011").replace(
        ". Context", ". Explicitly denied by policy. Context"
    )
    diagnosis = diagnose(odps_error("NoPermission", text), CTX)
    assert diagnosis.code == "DENIED_BY_POLICY"
    assert "GET POLICY" in diagnosis.remediation
    assert not diagnosis.remediation.startswith("as the project owner run: GRANT")


def test_not_a_member_gives_add_user_then_the_grants() -> None:
    text = (
        "ODPS-0420095: Access Denied - Authorization Failed [4002], You don't exist in project sales_prod. "
        "Context ID:x. --->Tips: Pricipal:RAM$1234567890123456:clarityq;"
    )
    diagnosis = diagnose(odps_error("NoPermission", text), CTX)
    assert diagnosis.code == "NOT_A_PROJECT_MEMBER"
    fix = diagnosis.remediation
    expected = [
        f"ADD USER {PRINCIPAL};",
        "CREATE ROLE clarityq_reader;",
        "GRANT CreateInstance, List ON PROJECT sales_prod TO ROLE clarityq_reader;",
        "GRANT Describe, Select ON TABLE * TO ROLE clarityq_reader;",
        f"GRANT clarityq_reader TO {PRINCIPAL};",
    ]
    positions = [fix.index(statement) for statement in expected]
    assert positions == sorted(positions)  # ADD USER first, binding last
    # Without a known caller the tip's principal is used; without either, seed 000's placeholder.
    tip_only = diagnose(odps_error("NoPermission", text), RemediationContext(project="sales_prod", endpoint="e"))
    assert "ADD USER RAM$1234567890123456:clarityq;" in tip_only.remediation
    bare = odps_error("NoPermission", "Authorization Failed [4002], You don't exist in project sales_prod.")
    placeholder = diagnose(bare, RemediationContext(project="sales_prod", endpoint="e"))
    assert "ADD USER RAM$<main-account-uid>:<ram-user-uid>;" in placeholder.remediation


def test_membership_statements_for_a_ram_role_use_backticks() -> None:
    statements = membership_statements("sales_prod", "RAM$1234567890123456:role/clarityq-role")
    assert statements[0] == "ADD USER `RAM$1234567890123456:role/clarityq-role`;"
    assert statements[-1] == "GRANT clarityq_reader TO `RAM$1234567890123456:role/clarityq-role`;"


# --------------------------------------------------------------------------------------------------
# Seed 000 "authentication failed": which connection field to fix


@pytest.mark.parametrize(
    ("error", "code", "field"),
    [
        (
            lambda: odps_error("SignatureNotMatch", "ODPS-0410042:Invalid signature value"),
            "AUTH_SIGNATURE_MISMATCH",
            "AccessKey Secret (password)",
        ),
        (
            lambda: ClientException(status_code=400, code="SignatureDoesNotMatch", message="Specified signature"),
            "AUTH_SIGNATURE_MISMATCH",
            "AccessKey Secret (password)",
        ),
        (
            lambda: odps_error("Unauthorized", "ODPS-0410051:Invalid credentials - accessKeyId not found"),
            "AUTH_KEY_NOT_FOUND",
            "AccessKey ID (login)",
        ),
        (
            lambda: ClientException(status_code=404, code="InvalidAccessKeyId.NotFound", message="not found"),
            "AUTH_KEY_NOT_FOUND",
            "AccessKey ID (login)",
        ),
        (
            lambda: odps_error("Unauthorized", "ODPS-0410051:Invalid credentials - accessKeyId is disabled"),
            "AUTH_KEY_DISABLED",
            "Enable",
        ),
        (
            lambda: ClientException(status_code=403, code="InvalidAccessKeyId.Inactive", message="disabled"),
            "AUTH_KEY_DISABLED",
            "Enable",
        ),
        (
            lambda: odps_error("AuthenticationRequestExpired", "ODPS-0410031: security token expired"),
            "AUTH_TOKEN_EXPIRED",
            "sts_token",
        ),
        (
            lambda: ClientException(status_code=400, code="InvalidSecurityToken.MismatchWithAccessKey", message="x"),
            "AUTH_TOKEN_INVALID",
            "sts_token",
        ),
        (lambda: odps_error("RequestTimeTooSkewed", "ODPS-0410021 skewed"), "CLOCK_SKEW", "NTP"),
        (
            lambda: odps_error("AuthorizationRequired", "The Authorization header is invalid or missing"),
            "AUTH_REJECTED",
            "AccessKey Secret (password)",
        ),
    ],
)
def test_authentication_failures_name_the_field(error: Any, code: str, field: str) -> None:
    diagnosis = diagnose(error(), CTX)
    assert diagnosis.code == code
    assert diagnosis.category == "config"
    assert diagnosis.message.startswith("authentication failed")
    assert field in diagnosis.remediation
    assert "LTAI5tAbCdEfGh1234" not in diagnosis.message + diagnosis.remediation  # key id only masked


def test_assume_role_failure_names_role_arn_unless_it_was_the_network() -> None:
    refused = CredentialsError("STS AssumeRole failed")
    assert diagnose(refused, CTX).code == "ASSUME_ROLE_FAILED"
    wrapped = CredentialsError("STS AssumeRole failed (network)")
    wrapped.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert diagnose(wrapped, CTX).code == "UNREACHABLE"


# --------------------------------------------------------------------------------------------------
# Seed 000 "project not found", tables, SQL


def test_project_not_found_names_project_and_endpoint_region() -> None:
    diagnosis = diagnose(odps_error("NoSuchProject", "ODPS-0420111: Project not found - 'sales_prod'."), CTX)
    assert diagnosis.code == "PROJECT_NOT_FOUND"
    assert diagnosis.message.startswith("project not found: there is no project 'sales_prod' at https://service.")
    assert "Project name (schema)" in diagnosis.remediation and "case-sensitive" in diagnosis.remediation
    assert "Endpoint (host)" in diagnosis.remediation and "region" in diagnosis.remediation


def test_a_bare_404_means_what_the_caller_looked_up() -> None:
    bare = odps_error("NoSuchObject", "The specified object does not exist")
    assert diagnose(bare, CTX, missing="project").code == "PROJECT_NOT_FOUND"
    assert diagnose(bare, CTX, missing="table").code == "TABLE_NOT_FOUND"
    assert diagnose(bare, CTX).code == "UNEXPECTED_ERROR"


def test_table_not_found_and_sql_errors() -> None:
    ctx = RemediationContext(project="sales_prod", endpoint="e", table="ordres")
    missing = odps_error("NoSuchTable", "ODPS-0130131:Table not found - table sales_prod.ordres cannot be resolved")
    diagnosis = diagnose(missing, ctx)
    assert diagnosis.code == "TABLE_NOT_FOUND" and "ordres" in diagnosis.message and "`table`" in diagnosis.remediation
    parse = odps_error("ParseError", "ODPS-0130161:[1,8] Parse exception - invalid token 'FORM'")
    assert diagnose(parse, ctx).code == "SQL_ERROR"


def test_frozen_project() -> None:
    text = "ODPS-0420095: Access Denied - Project 'sales_prod' is frozen."
    assert diagnose(odps_error("NoPermission", text), CTX).code == "PROJECT_UNAVAILABLE"


# --------------------------------------------------------------------------------------------------
# Transient: unreachable, 5xx, throttling


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (lambda: ConnectionRefusedError(111, "Connection refused"), "UNREACHABLE"),
        (lambda: TimeoutError("timed out"), "UNREACHABLE"),
        (lambda: UnretryableException(None, RetryError("Max retries exceeded: Connection refused")), "UNREACHABLE"),
        (lambda: errors.ConnectTimeout("Connecting to endpoint timeout."), "UNREACHABLE"),
        (lambda: errors.WaitTimeoutError("Wait completion of instance x timed out"), "UNREACHABLE"),
        (lambda: odps_error("ServiceUnavailable", "ODPS-0420153: Service is temporarily unavailable"), "SERVICE_ERROR"),
        (lambda: odps_error("InternalServerError", "boom"), "SERVICE_ERROR"),
        (lambda: ServerException(status_code=503, code="ServiceUnavailable", message="x"), "SERVICE_ERROR"),
        (lambda: ThrottlingException(status_code=400, code="Throttling.User", message="flow control"), "THROTTLED"),
        (lambda: ClientException(status_code=429, code="TooMany", message="x"), "THROTTLED"),
    ],
)
def test_transient_failures_are_unreachable_and_retryable(error: Any, code: str) -> None:
    exc = error()
    diagnosis = diagnose(exc, CTX)
    assert diagnosis.code == code
    assert diagnosis.category == "unreachable"
    assert diagnosis.retryable
    assert is_transient(exc)


def test_implicit_context_is_not_a_cause() -> None:
    """A signature error raised while handling a network error is still a signature error."""
    exc = odps_error("SignatureNotMatch", "ODPS-0410042")
    exc.__context__ = ConnectionRefusedError(111, "Connection refused")
    assert diagnose(exc, CTX).code == "AUTH_SIGNATURE_MISMATCH"
    assert not is_transient(exc)


# --------------------------------------------------------------------------------------------------
# Everything else


def test_configuration_errors_and_missing_connections() -> None:
    err = ConfigurationError("password", "is empty", "paste the secret", label="AccessKey Secret")
    diagnosis = diagnose(err, CTX)
    assert diagnosis.code == "CONNECTION_INVALID"
    assert diagnosis.message == "Field 'AccessKey Secret' (password) is empty"
    assert diagnosis.remediation == "paste the secret"

    class AirflowNotFoundException(KeyError):
        pass

    missing = diagnose(AirflowNotFoundException("The conn_id `x` isn't defined"), CTX)
    assert missing.code == "CONNECTION_NOT_FOUND" and "AIRFLOW_CONN_<ID>" in missing.remediation
    # The reader's connection is made by the provisioning DAG: say so before "create it yourself".
    assert missing.remediation.startswith("run the DAG clarityq_provision_access first")


def test_unknown_errors_are_system_errors_and_not_retryable() -> None:
    diagnosis = diagnose(RuntimeError("weird"), CTX)
    assert (diagnosis.code, diagnosis.category, diagnosis.retryable) == ("UNEXPECTED_ERROR", "system", False)
    assert "RuntimeError: weird" in diagnosis.message


@given(st.sampled_from(["SignatureNotMatch", "NoPermission", "NoSuchProject", "InternalServerError", "ODPSError"]))
def test_secrets_never_survive_a_diagnosis(name: str) -> None:
    secret = CTX.secrets[0]
    exc = odps_error(name, f"server echoed {secret} back [4019] NO privilege 'odps:List' on {{projects/{secret}}}")
    diagnosis = diagnose(exc, CTX)
    assert secret not in diagnosis.message
    assert secret not in diagnosis.remediation


def test_tea_messages_are_trimmed() -> None:
    exc = ClientException(status_code=400, code="Odd", message="bad thing")
    exc.message = "Error: Odd bad thing Response: {'RequestId': 'x', 'Message': 'long'}"
    diagnosis = diagnose(RuntimeError(exc.message), CTX)
    assert "Response:" not in diagnosis.message


# --------------------------------------------------------------------------------------------------
# Renderers


def test_parse_missing_privilege_object_types() -> None:
    def parse(resource: str) -> MissingPrivilege | None:
        return parse_missing_privilege(f"You have NO privilege 'odps:Read' on {{{resource}}}")

    assert parse("acs:odps:*:projects/p1") == MissingPrivilege("Read", "p1", "project", None)
    assert parse("projects/p1/tables/t") == MissingPrivilege("Read", "p1", "table", "t")
    assert parse("acs:odps:*:projects/p1/registration/functions/f") == MissingPrivilege("Read", "p1", "function", "f")
    assert parse("acs:odps:*:projects/p1/resources/a.jar") == MissingPrivilege("Read", "p1", "resource", "a.jar")
    assert parse("acs:odps:*:projects/p1/roles/r") == MissingPrivilege("Read", "p1", None, "roles/r")
    assert parse("acs:odps:*:elsewhere") is None
    assert parse_missing_privilege("no privilege text here") is None


def test_grant_statement_refuses_unknown_actions() -> None:
    assert grant_statement(MissingPrivilege("Frobnicate", "proj1", "project", None)) is None
    assert grant_statement(MissingPrivilege("Select", "proj1", "project", None)) is None  # a table action
    assert grant_statement(MissingPrivilege("Read", "p1", "project", None)) is None  # invalid project name
    listed = grant_statement(MissingPrivilege("list", "proj1", "project", None))
    assert listed == "GRANT List ON PROJECT proj1 TO ROLE clarityq_reader;"


def test_shown_principal_and_key_masking() -> None:
    assert shown_principal("ram$1:2") == "RAM$1:2"
    assert shown_principal("RAM$1:x'; DROP") == "RAM$<main-account-uid>:<ram-user-uid>"
    assert shown_principal(None) == "RAM$<main-account-uid>:<ram-user-uid>"
    assert mask_key_id("LTAI5tAbCdEfGh1234") == "LTAI...1234"
    assert mask_key_id("short") == "***"
    assert mask_key_id(None) == "<none>"

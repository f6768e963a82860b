"""Denials by labels, packages, download control, the IP whitelist, project state and protection: the exact fix."""

from __future__ import annotations

import pytest
from odps import errors

from airflow_provider_clarityq.core.health.remediation import RemediationContext, diagnose

PRINCIPAL = "RAM$1234567890123456:2345678901234567"
CTX = RemediationContext(project="sales_prod", endpoint="https://mc.example/api", principal=PRINCIPAL)
TIPS = f" Context ID:x. --->Tips: CurrentProject:sales_prod; Pricipal:{PRINCIPAL};"


def _denied(text: str) -> BaseException:
    return errors.NoPermission(f"ODPS-0420095: Access Denied - {text}", code="NoPermission")  # type: ignore[no-any-return]


LABEL = (
    "Authorization Failed [4031], You have NO privilege 'odps:Select' on "
    "{acs:odps:*:projects/sales_prod/tables/orders}. CheckLabelSecurity failed. "
    "The sensitive label of column 'price' is 3, but your effective label is 1." + TIPS
)


def test_label_too_low_names_both_fixes() -> None:
    found = diagnose(_denied(LABEL), CTX)
    assert found.code == "LABEL_TOO_LOW"
    assert "labelled 3" in found.message and "label is 1" in found.message
    assert f"SET LABEL 3 TO USER {PRINCIPAL};" in found.remediation
    assert f"GRANT LABEL 3 ON TABLE orders(price) TO USER {PRINCIPAL} WITH EXP 180;" in found.remediation


def test_label_of_another_project_s_table_is_the_package_cap() -> None:
    text = LABEL.replace("projects/sales_prod/tables/orders", "projects/provider_p/tables/orders")
    found = diagnose(_denied(text), CTX)
    assert found.code == "PACKAGE_LABEL_CAP"
    assert "ALLOW PROJECT sales_prod TO INSTALL PACKAGE <package> USING LABEL 3;" in found.remediation
    assert "SET LABEL" not in found.remediation


def test_missing_package_read_names_the_grant() -> None:
    text = (
        f"Authorization Failed [4002], You don't exist in project provider_p.{TIPS} Resource has been intalled, "
        "You Need 'odps:Read' privilege on one of following packages provider_p.share"
    )
    found = diagnose(_denied(text), CTX)
    assert found.code == "PACKAGE_READ_MISSING"
    assert "GRANT Read ON PACKAGE provider_p.share TO ROLE clarityq_reader;" in found.remediation


def test_download_control_names_the_download_grant() -> None:
    text = (
        "Authorization Failed [4019], You have NO privilege 'odps:Download' on "
        "{acs:odps:*:projects/sales_prod/tables/orders}." + TIPS
    )
    found = diagnose(_denied(text), CTX)
    assert found.code == "MISSING_PRIVILEGE"
    assert "GRANT Download ON TABLE orders TO ROLE clarityq_reader;" in found.remediation


def test_ip_whitelist_separates_this_task_from_clarityq() -> None:
    text = "Access denied by project ip white list: sourceIP:'10.1.2.3' is not in white list. project: sales_prod"
    found = diagnose(_denied(text), CTX)
    assert found.code == "IP_NOT_WHITELISTED"
    assert "10.1.2.3" in found.message
    assert "ClarityQ's egress addresses" in found.remediation and "not this task's address" in found.remediation
    assert "SETPROJECT odps.security.ip.whitelist=" in found.remediation


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (
            "Authorization Failed [4093], You have NO privilege to do the restricted operation on "
            "{acs:odps:*:projects/sales_prod}. Access Mode is AllDenied. Project state: FROZEN.",
            "PROJECT_NOT_NORMAL",
        ),
        (
            "Authorization Failed [4021], You have NO privilege 'odps:Select' on "
            "{acs:odps:*:projects/sales_prod/tables/orders}. project 'sales_prod' is protected.",
            "PROJECT_PROTECTED",
        ),
    ],
)
def test_project_state_and_protection(text: str, code: str) -> None:
    assert diagnose(_denied(text), CTX).code == code


def test_plain_missing_select_is_still_a_missing_privilege() -> None:
    text = (
        "Authorization Failed [4019], You have NO privilege 'odps:Select' on "
        "{acs:odps:*:projects/sales_prod/tables/orders}." + TIPS
    )
    assert diagnose(_denied(text), CTX).code == "MISSING_PRIVILEGE"

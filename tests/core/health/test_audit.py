"""The least-privilege audit on the grants model: excess roles and actions, each with the renderer's exact fix."""

from __future__ import annotations

from airflow_provider_clarityq.core.grants.model import Grantee
from airflow_provider_clarityq.core.grants.state import GrantLine, GrantsReport
from airflow_provider_clarityq.core.health.audit import audit_grants, revoke_role_sql

PRINCIPAL = "RAM$1234567890123456:2345678901234567"
READER = Grantee.role("clarityq_reader")


def fixes(report: GrantsReport, principal: str | None = PRINCIPAL) -> dict[str, str]:
    return {f.what: f.fix for f in audit_grants(report, role="clarityq_reader", principal=principal, project="sales")}


def test_excess_actions_get_the_exact_revoke() -> None:
    report = GrantsReport(
        lines=(
            GrantLine("acl", READER, "projects/sales/tables/orders", ("update", "Drop", "Select")),
            GrantLine("acl", Grantee.user(PRINCIPAL), "projects/sales", ("CreateTable", "List")),
            GrantLine("acl", READER, "projects/sales/tables/secret", ("Update",), effect="Deny"),
        )
    )
    assert fixes(report) == {
        "Update, Drop on TABLE orders": "REVOKE Update, Drop ON TABLE orders FROM ROLE clarityq_reader;",
        "CreateTable on PROJECT sales": f"REVOKE CreateTable ON PROJECT sales FROM USER {PRINCIPAL};",
    }


def test_roles_are_judged_by_seed_003_and_explained() -> None:
    report = GrantsReport(roles=frozenset({"clarityq_reader", "role_project_dev", "role_project_guest", "admin"}))
    found = fixes(report)
    assert set(found) == {
        "holds role admin (a built-in admin role)",
        "holds role role_project_dev (DataWorks Development: all permissions on the project and its tables, "
        "functions, resources, instances and jobs (dev); none by default (prod))",
    }
    assert found["holds role admin (a built-in admin role)"] == f"REVOKE admin FROM {PRINCIPAL};"


def test_what_cannot_be_rendered_gets_a_plain_instruction() -> None:
    report = GrantsReport(lines=(GrantLine("acl", READER, "projects/sales/tables/o;x", ("Update",)),))
    assert fixes(report) == {"Update on TABLE o;x": "revoke Update on TABLE o;x from role/clarityq_reader."}
    assert revoke_role_sql("admin", None) is None
    assert revoke_role_sql("Admin", PRINCIPAL) == f"REVOKE admin FROM {PRINCIPAL};"
    assert fixes(GrantsReport(roles=frozenset({"admin"})), principal=None) == {
        "holds role admin (a built-in admin role)": "REVOKE admin FROM RAM$<main-account-uid>:<ram-user-uid>;"
    }

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


# ---- roles in seed 003's words, label clearance


def test_every_role_is_explained_with_its_dev_and_prod_meaning() -> None:
    from airflow_provider_clarityq.core.health.audit import explain_roles

    lines = explain_roles(
        ["clarityq_reader", "role_project_dev", "role_project_guest", "admin", "etl"], role="clarityq_reader"
    )
    by_role = {line.split(":", 1)[0]: line for line in lines}
    assert "Development" in by_role["role_project_dev"] and "(dev)" in by_role["role_project_dev"]
    assert "(prod)" in by_role["role_project_dev"] and "write/admin power" in by_role["role_project_dev"]
    assert "Visitor" in by_role["role_project_guest"] and "no read access" in by_role["role_project_guest"]
    assert "write/admin power" in by_role["admin"]
    assert "managed reader role" in by_role["clarityq_reader"]
    assert "custom role" in by_role["etl"]


def test_label_clearance_above_the_spec_is_flagged_with_the_set_label_fix() -> None:
    from airflow_provider_clarityq.core.health.audit import audit_label_clearance

    principal = "RAM$1234567890123456:2345678901234567"
    finding = audit_label_clearance(5, 2, principal=principal)
    assert finding is not None and "5" in finding.what
    assert finding.fix == f"SET LABEL 2 TO USER {principal};"
    assert audit_label_clearance(2, 2, principal=principal) is None
    assert audit_label_clearance(1, None, principal=principal) is None  # the spec says nothing about labels
    assert audit_label_clearance(None, None, principal=principal) is None

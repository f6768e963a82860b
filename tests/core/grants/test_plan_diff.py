"""The access plan as a readable diff: one line per grant, grouped by project and phase, from the plan JSON."""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants.model import Grantee, ObjectRef, ProjectAction, TableAction
from airflow_provider_clarityq.core.grants.plan import Plan
from airflow_provider_clarityq.core.grants.plan_diff import plan_diff
from airflow_provider_clarityq.core.grants.steps import (
    AddUser,
    CreateRamUser,
    CreateRole,
    GrantActions,
    GrantRole,
    RevokeActions,
    RevokeRole,
)
from airflow_provider_clarityq.core.identifiers import parse_principal

P, Q = "sales", "marketing"
USER = "RAM$1234567890123456:2345678901234567"
READER = Grantee.role("clarityq_reader")


def _plan(mode: str = "sync") -> dict[str, Any]:
    """A plan JSON as the planner writes it: additive steps in two projects, then revokes."""
    principal = parse_principal(USER)
    steps = [
        CreateRamUser(project=None, reason="the RAM user clarityq does not exist", user_name="clarityq"),
        AddUser(project=P, principal=principal, reason="not a member"),
        CreateRole(project=P, role="clarityq_reader", reason="role missing"),
        GrantActions(
            project=P,
            grantee=READER,
            object=ObjectRef.for_project(P),
            actions=(ProjectAction.CREATE_INSTANCE, ProjectAction.LIST),
            reason="the spec grants CreateInstance, List",
        ),
        GrantActions(
            project=P,
            grantee=READER,
            object=ObjectRef.for_table(P, "*"),
            actions=(TableAction.DESCRIBE, TableAction.SELECT),
            reason="the spec grants Describe, Select on every table",
        ),
        GrantRole(project=P, role="clarityq_reader", principal=principal, reason="role not held"),
        GrantActions(
            project=Q,
            grantee=READER,
            object=ObjectRef.for_table(Q, "campaigns"),
            actions=(TableAction.SELECT,),
            reason="the spec grants Select on campaigns",
        ),
        RevokeRole(project=P, role="etl", principal=principal, reason="beyond the spec"),
        RevokeActions(
            project=P,
            grantee=READER,
            object=ObjectRef.for_table(P, "orders"),
            actions=(TableAction.UPDATE, TableAction.DROP),
            reason="role clarityq_reader holds Update, Drop on orders beyond the spec",
        ),
    ]
    steps.sort(key=lambda step: step.phase)
    return Plan(mode=mode, principal=USER, steps=tuple(steps), warnings=("project sales: role shared",)).to_dict()  # type: ignore[arg-type]


def test_one_line_per_grant_grouped_by_project_then_phase() -> None:
    text = plan_diff(_plan()).to_text()
    assert text.splitlines() == [
        f"ClarityQ access plan (sync) for {USER}: 9 to add, 3 to revoke.",
        "RAM (account)",
        "  # phase 0: RAM user",
        "  + RAM user clarityq",
        "      ram:CreateUser UserName=clarityq Comments=managed-by:airflow-provider-clarityq",
        "project sales",
        "  # phase 1: project membership",
        f"  + member {USER}",
        f"      ADD USER {USER};",
        "  # phase 2: role",
        "  + role clarityq_reader",
        "      CREATE ROLE clarityq_reader;",
        "  # phase 3: project grants",
        "  + CreateInstance on project sales to role clarityq_reader",
        "  + List on project sales to role clarityq_reader",
        "      GRANT CreateInstance, List ON PROJECT sales TO ROLE clarityq_reader;",
        "  # phase 4: table grants",
        "  + Describe on every table (*) to role clarityq_reader",
        "  + Select on every table (*) to role clarityq_reader",
        "      GRANT Describe, Select ON TABLE * TO ROLE clarityq_reader;",
        "  # phase 7: role to user",
        f"  + role clarityq_reader to {USER}",
        f"      GRANT clarityq_reader TO {USER};",
        "  # phase 8: revoke roles",
        f"  - role etl from {USER}",
        f"      REVOKE etl FROM {USER};",
        "  # phase 10: revoke table grants",
        "  - Update on table orders from role clarityq_reader",
        "  - Drop on table orders from role clarityq_reader",
        "      REVOKE Update, Drop ON TABLE orders FROM ROLE clarityq_reader;",
        "project marketing",
        "  # phase 4: table grants",
        "  + Select on table campaigns to role clarityq_reader",
        "      GRANT Select ON TABLE campaigns TO ROLE clarityq_reader;",
        "! project sales: role shared",
    ]


def test_counts_are_the_plans_grants() -> None:
    plan = _plan()
    diff = plan_diff(plan)
    actions = sum(len(s["args"]["actions"]) for s in plan["steps"] if "actions" in s["args"])
    others = sum(1 for s in plan["steps"] if "actions" not in s["args"])
    assert diff.added + diff.removed == actions + others
    assert diff.removed == 3 == sum(len(s["args"].get("actions", [None])) for s in plan["steps"] if s["destructive"])


def test_markdown_is_a_diff_block_per_project() -> None:
    md = plan_diff(_plan()).to_markdown()
    assert md.count("```diff") == 3 and md.count("```") == 6
    block = md.split("#### project marketing", 1)[1]
    assert "+ Select on table campaigns to role clarityq\\_reader" not in block  # no escaping inside code
    assert "+ Select on table campaigns to role clarityq_reader" in block
    assert "#   GRANT Select ON TABLE campaigns TO ROLE clarityq_reader;" in block
    assert "- project sales: role shared" in md


def test_html_is_self_contained_and_escaped() -> None:
    plan = _plan()
    plan["warnings"] = ["<script>alert(1)</script>"]
    page = plan_diff(plan).to_html()
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "default-src 'none'" in page
    assert not re.search(r'(?:src|href)\s*=\s*"', page)
    assert page.count("<div class=add") == 9 and page.count("<div class=del") == 3
    assert 'title="role clarityq_reader holds Update, Drop on orders beyond the spec"' in page


def test_an_empty_plan_says_no_changes() -> None:
    diff = plan_diff(Plan(mode="apply", principal=USER).to_dict())
    assert (
        diff.to_text() == f"ClarityQ access plan (apply) for {USER}: No changes: live access already matches the spec."
    )
    assert "No changes" in diff.to_markdown() and "No changes" in diff.to_html()


def test_a_backtick_fence_in_a_reason_cannot_end_the_markdown_block() -> None:
    plan = _plan()
    plan["steps"][0]["statement"] = None
    plan["steps"][0]["kind"] = "future_kind"
    plan["steps"][0]["api_call"] = None
    plan["steps"][0]["args"] = {}
    plan["steps"][0]["reason"] = "x"
    plan["steps"][0]["destructive"] = False
    md = plan_diff(plan).to_markdown()
    assert "+ future_kind" in md  # an unknown kind still shows, by its name
    plan["steps"][0]["statement"] = "```\n# injected"
    md = plan_diff(plan).to_markdown()
    assert md.count("```") == 6


@pytest.mark.parametrize(
    "plan", [{}, {"format": "clarityq.access-plan/2", "steps": []}, {"format": "clarityq.access-plan/1"}]
)
def test_not_a_plan_is_refused_by_name(plan: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="plan"):
        plan_diff(plan)

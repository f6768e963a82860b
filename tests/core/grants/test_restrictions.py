"""Labels, Download, packages and the role policy: spec refusals, statements, read-back parsing and planning."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants import render
from airflow_provider_clarityq.core.grants.model import Grantee
from airflow_provider_clarityq.core.grants.parse import (
    parse_describe_role,
    parse_list_roles,
    parse_list_users,
    parse_show_label_grants,
    parse_show_packages,
    role_download_and_package_reads,
)
from airflow_provider_clarityq.core.grants.plan import Plan
from airflow_provider_clarityq.core.grants.planner import make_plan
from airflow_provider_clarityq.core.grants.restriction_plan import desired_role_policy, policy_key
from airflow_provider_clarityq.core.grants.spec import AccessSpec, load_spec
from airflow_provider_clarityq.core.grants.state import LiveState, ProjectState, ResolvedPrincipal, RestrictionState
from airflow_provider_clarityq.core.grants.steps import Phase, Step, step_from_args

P = "consumer_p"
ACCOUNT = "1234567890123456"
UID = "2345678901234567"
ME = ResolvedPrincipal(ACCOUNT, "clarityq", UID)
USER = f"RAM${ACCOUNT}:{UID}"
ROLE = Grantee.role("clarityq_reader")


def _spec(**options: Any) -> AccessSpec:
    return load_spec({"projects": [{"project": P, **options}]})


def _refused(**options: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        _spec(**options)
    return info.value


FULL = {
    "label_access_level": 2,
    "label_grants": [{"table": "sales", "columns": ["price"], "level": 3, "expiry_days": 30}],
    "download": True,
    "tables": ["sales"],
    "packages": [{"source_project": "provider_p", "package": "share"}],
    "role_policy": [{"actions": ["Select", "Describe"], "tables": ["sales_*"]}],
}


# ---- spec


def test_spec_accepts_every_new_option() -> None:
    grants = _spec(**FULL).projects[0]
    assert grants.label_access_level == 2
    assert grants.label_grants[0].columns == ("price",) and grants.label_grants[0].expiry_days == 30
    assert grants.download is True
    assert grants.packages[0].package == "share" and grants.packages[0].grant_read is True
    assert grants.role_policy[0].actions == ("Select", "Describe")


def test_label_grant_expiry_defaults_to_180_days() -> None:
    grants = _spec(label_grants=[{"table": "sales", "level": 1}]).projects[0]
    assert grants.label_grants[0].expiry_days == 180


@pytest.mark.parametrize("level", [-1, 10, "3", True])
def test_label_level_outside_0_to_9_is_refused(level: object) -> None:
    error = _refused(label_access_level=level)
    assert "label_access_level" in str(error)


@pytest.mark.parametrize("action", ["Update", "odps:Drop", "All", "Alter", "CreateTable", "odps:*"])
def test_role_policy_with_write_or_admin_power_is_refused(action: str) -> None:
    error = _refused(role_policy=[{"actions": ["Select", action], "tables": ["t"]}])
    text = str(error)
    assert "role_policy[0].actions[1]" in text and "write or admin power" in text


def test_role_policy_deny_is_refused() -> None:
    error = _refused(role_policy=[{"effect": "Deny", "actions": ["Select"], "tables": ["t"]}])
    assert "role_policy[0].effect" in str(error) and "Allow" in str(error)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"label_grants": [{"table": "t;drop", "level": 1}]}, "label_grants[0].table"),
        ({"label_grants": [{"table": "t", "columns": ["a b"], "level": 1}]}, "label_grants[0].columns[0]"),
        ({"packages": [{"source_project": "p", "package": "x"}]}, "packages[0].source_project"),
        ({"packages": [{"source_project": "provider_p", "package": "9x"}]}, "packages[0].package"),
        ({"role_policy": [{"tables": ["a`b"]}]}, "role_policy[0].tables[0]"),
        ({"packages": [{"source_project": "provider_p", "package": "x", "extra": 1}]}, "packages[0].extra"),
    ],
)
def test_bad_identifiers_name_the_field(options: dict[str, Any], field: str) -> None:
    assert field in str(_refused(**options))


# ---- render


def test_statements_follow_the_reference_syntax() -> None:
    assert render.set_user_label_statement(2, USER) == f"SET LABEL 2 TO USER {USER}"
    assert (
        render.grant_label_statement(3, "sales", ["price", "cost"], Grantee.user(USER), expiry_days=30)
        == f"GRANT LABEL 3 ON TABLE sales(price, cost) TO USER {USER} WITH EXP 30"
    )
    assert render.revoke_label_statement("sales", [], ROLE) == "REVOKE LABEL ON TABLE sales FROM ROLE clarityq_reader"
    assert render.grant_download_statement("*", ROLE) == "GRANT Download ON TABLE * TO ROLE clarityq_reader"
    assert render.install_package_statement("provider_p", "share") == "INSTALL PACKAGE provider_p.share"
    assert (
        render.grant_package_read_statement("provider_p", "share", ROLE)
        == "GRANT Read ON PACKAGE provider_p.share TO ROLE clarityq_reader"
    )
    assert render.allow_install_statement(P, "share") == f"ALLOW PROJECT {P} TO INSTALL PACKAGE share"


def test_download_on_every_table_is_for_roles_only() -> None:
    with pytest.raises(ConfigurationError, match="only to a role"):
        render.grant_download_statement("*", Grantee.user(USER))


@given(st.text(min_size=1, max_size=20))
def test_no_text_smuggles_a_statement_through_a_package_name(name: str) -> None:
    try:
        statement = render.install_package_statement("provider_p", name)
    except ConfigurationError:
        return
    assert statement == f"INSTALL PACKAGE provider_p.{name.lower()}"
    assert not set(name) & set(";`'\"\n ")


@given(st.integers(min_value=-5, max_value=15))
def test_label_levels_outside_0_to_9_never_render(level: int) -> None:
    if 0 <= level <= 9:
        assert render.set_user_label_statement(level, USER).startswith(f"SET LABEL {level} ")
    else:
        with pytest.raises(ConfigurationError):
            render.set_user_label_statement(level, USER)


# ---- parse

LABEL_JSON = {
    "UserLabel": 1,
    "EffectiveLabel": 1,
    "Grants": [
        {"Principal": f"user/{USER}", "Table": "sales", "Column": "price", "GrantedLabel": 3, "Expired": False},
        {"Principal": f"user/{USER}", "Table": "sales", "Column": "cost", "GrantedLabel": 3, "Expired": True},
    ],
}
LABEL_TEXT = """User Label: 1
+-------------+--------------+--------------------------+
| Column      | GrantedLabel | Expires                  |
+-------------+--------------+--------------------------+
| total_price | 3            | 2021-12-31T19:56:18+0800 |
+-------------+--------------+--------------------------+
"""


def test_label_grants_json_skips_expired_grants() -> None:
    assert parse_show_label_grants(LABEL_JSON) == (1, frozenset({("sales", "price", 3)}))
    assert parse_show_label_grants(json.dumps(LABEL_JSON)) == (1, frozenset({("sales", "price", 3)}))


def test_label_grants_documented_text_layout() -> None:
    assert parse_show_label_grants(LABEL_TEXT) == (1, frozenset({("", "total_price", 3)}))


def test_unknown_label_answer_is_an_error_not_empty() -> None:
    from airflow_provider_clarityq.core.grants.parse import StateParseError

    with pytest.raises(StateParseError):
        parse_show_label_grants({"Grants": [{"Table": "t"}]})
    with pytest.raises(StateParseError):
        parse_show_label_grants(42)


def test_installed_packages_json_and_text() -> None:
    doc = {"createdPackages": [], "installedPackages": [{"name": "Share", "sourceProject": "provider_p"}]}
    assert parse_show_packages(doc) == frozenset({"provider_p.share"})
    text = "Created Packages:\n\nInstalled Packages:\nprovider_p.share\t2026-01-01T00:00:00Z\n"
    assert parse_show_packages(text) == frozenset({"provider_p.share"})


def test_role_download_and_package_reads_from_describe_role() -> None:
    report = parse_describe_role(
        json.dumps(
            {
                "ACL": {
                    "": [
                        {"Action": ["odps:Download"], "Resource": [f"acs:odps:*:projects/{P}/tables/sales"]},
                        {"Action": ["odps:Read"], "Resource": [f"acs:odps:*:projects/{P}/packages/provider_p.share"]},
                        {"Action": ["odps:Select"], "Resource": [f"acs:odps:*:projects/{P}/tables/other"]},
                    ]
                }
            }
        ),
        "clarityq_reader",
        project=P,
    )
    downloads, reads = role_download_and_package_reads(report, "clarityq_reader")
    assert downloads == frozenset({"sales"})
    assert reads == frozenset({"provider_p.share"})


# ---- plan


def _state(restrictions: RestrictionState) -> ProjectState:
    acl = (
        "Authorization Type: ACL\n"
        f"A\tprojects/{P}: CreateInstance | List\n"
        f"A\tprojects/{P}/tables/sales: Describe | Select\n"
    )
    role = parse_describe_role(f"[users]\n{USER}\n\n{acl}", "clarityq_reader", project=P)
    state = ProjectState.build(
        P,
        users=parse_list_users(f"{USER}\n"),
        roles=parse_list_roles("clarityq_reader\n"),
        role_reports={"clarityq_reader": role},
        tables=["sales"],
    )
    return replace(state, restrictions=restrictions)


def _plan(state: ProjectState, mode: str = "apply") -> Plan:
    return make_plan(_spec(**FULL), LiveState.of(state), mode, ME)  # type: ignore[arg-type]


CONVERGED = RestrictionState(
    user_label=2,
    label_grants=frozenset({("sales", "price", 3)}),
    download_tables=frozenset({"sales"}),
    installed_packages=frozenset({"provider_p.share"}),
    package_reads=frozenset({"provider_p.share"}),
    role_policy=desired_role_policy(_spec(**FULL).projects[0]),
)


def test_missing_restrictions_become_ordered_additive_steps() -> None:
    plan = _plan(_state(RestrictionState()))
    assert [s.statement or s.kind for s in plan.steps] == [
        "INSTALL PACKAGE provider_p.share",
        f"SET LABEL 2 TO USER {USER}",
        f"GRANT LABEL 3 ON TABLE sales(price) TO USER {USER} WITH EXP 30",
        "GRANT Download ON TABLE sales TO ROLE clarityq_reader",
        "GRANT Read ON PACKAGE provider_p.share TO ROLE clarityq_reader",
        "put_role_policy",
    ]
    assert all(not s.destructive for s in plan.steps)
    assert [s.phase for s in plan.steps] == sorted(s.phase for s in plan.steps)
    assert plan.steps[0].phase is Phase.INSTALL_PACKAGES


@pytest.mark.parametrize("mode", ["apply", "sync"])
def test_converged_restrictions_plan_nothing(mode: str) -> None:
    assert _plan(_state(CONVERGED), mode).steps == ()


def test_a_higher_label_level_is_set_back_to_the_spec() -> None:
    plan = _plan(_state(replace(CONVERGED, user_label=9)))
    assert [s.statement for s in plan.steps] == [f"SET LABEL 2 TO USER {USER}"]


BEYOND = replace(
    CONVERGED,
    label_grants=frozenset({("sales", "price", 3), ("orders", "", 4)}),
    download_tables=frozenset({"sales", "orders"}),
    package_reads=frozenset({"provider_p.share", "provider_p.other"}),
)


def test_sync_revokes_what_the_reader_holds_beyond_the_spec_last() -> None:
    plan = _plan(_state(BEYOND), "sync")
    assert [s.statement for s in plan.steps] == [
        f"REVOKE LABEL ON TABLE orders FROM USER {USER}",
        "REVOKE Download ON TABLE orders FROM ROLE clarityq_reader",
        "REVOKE Read ON PACKAGE provider_p.other FROM ROLE clarityq_reader",
    ]
    assert all(s.destructive for s in plan.steps)


def test_apply_never_revokes_restrictions() -> None:
    assert _plan(_state(BEYOND), "apply").steps == ()


def test_sync_keeps_a_shared_role_s_download_and_package_reads() -> None:
    acl = (
        "Authorization Type: ACL\n"
        f"A\tprojects/{P}: CreateInstance | List\n"
        f"A\tprojects/{P}/tables/sales: Describe | Select\n"
    )
    other = f"RAM${ACCOUNT}:9999999999999999"
    role = parse_describe_role(f"[users]\n{USER}\n{other}\n\n{acl}", "clarityq_reader", project=P)
    state = ProjectState.build(
        P,
        users=parse_list_users(f"{USER}\n{other}\n"),
        roles=parse_list_roles("clarityq_reader\n"),
        role_reports={"clarityq_reader": role},
        tables=["sales"],
    )
    plan = _plan(replace(state, restrictions=BEYOND), "sync")
    assert [s.statement for s in plan.steps] == [f"REVOKE LABEL ON TABLE orders FROM USER {USER}"]


def test_policy_compared_by_meaning_not_spelling() -> None:
    desired = desired_role_policy(_spec(**FULL).projects[0])
    shuffled = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ODPS:describe", "odps:Select"],
                "Resource": [f"acs:odps:*:projects/{P}/tables/SALES_*"],
            }
        ],
        "Version": "1",
    }
    assert policy_key(shuffled) == policy_key(desired)
    assert _plan(_state(replace(CONVERGED, role_policy=shuffled))).steps == ()


def test_new_steps_round_trip_through_json() -> None:
    plan = _plan(_state(RestrictionState()))
    for step in plan.steps:
        data = json.loads(json.dumps(step.to_dict()))
        rebuilt: Step = step_from_args(data["kind"], data["project"], data["reason"], data["args"])
        assert rebuilt.to_dict() == step.to_dict()

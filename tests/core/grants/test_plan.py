"""Planning: seed 000 from scratch, convergence, sync's narrow scope, wildcard coverage, safety guards."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_clarityq.core.errors import ConfigurationError, InvalidIdentifierError
from airflow_provider_clarityq.core.grants.model import Grant, Grantee, ObjectRef, ProjectAction, TableAction
from airflow_provider_clarityq.core.grants.parse import (
    parse_describe_role,
    parse_list_roles,
    parse_list_users,
    parse_show_grants,
)
from airflow_provider_clarityq.core.grants.plan import Plan
from airflow_provider_clarityq.core.grants.planner import PlanError, make_plan
from airflow_provider_clarityq.core.grants.spec import AccessSpec, ProjectGrants, default_spec, load_spec
from airflow_provider_clarityq.core.grants.state import LiveState, ProjectState, ResolvedPrincipal
from airflow_provider_clarityq.core.grants.steps import (
    AddUser,
    CreateRamUser,
    GrantActions,
    GrantRole,
    Phase,
    RevokeActions,
)
from airflow_provider_clarityq.core.identifiers import Principal
from airflow_provider_clarityq.core.managed_user import MANAGED_MARKER

P = "my_project"
ACCOUNT = "1234567890123456"
UID = "2345678901234567"
ME = ResolvedPrincipal(ACCOUNT, "clarityq", UID)
USER = f"RAM${ACCOUNT}:{UID}"
READER = Grantee.role("clarityq_reader")

SEED_000 = [
    f"ADD USER {USER}",
    "CREATE ROLE clarityq_reader",
    f"GRANT CreateInstance, List ON PROJECT {P} TO ROLE clarityq_reader",
    "GRANT Describe, Select ON TABLE * TO ROLE clarityq_reader",
    f"GRANT clarityq_reader TO {USER}",
]


def _statements(plan: Plan) -> list[str | None]:
    return [step.statement for step in plan.steps]


def _converged(project: str = P, *, extra_acl: str = "", user_form: str = USER, **changes: Any) -> ProjectState:
    """Seed 000's end state, read through the parsers as the state reader would."""
    acl = (
        "Authorization Type: ACL\n"
        f"A\tprojects/{project}: CreateInstance | List\n"
        f"A\tprojects/{project}/tables/*: Describe | Select\n"
        f"{extra_acl}"
    )
    role = parse_describe_role(f"[users]\n{user_form}\n\n{acl}", "clarityq_reader", project=project)
    state = ProjectState.build(
        project,
        users=parse_list_users(f"ALIYUN${ACCOUNT}\n{user_form}\n"),
        roles=parse_list_roles("admin\nclarityq_reader\n"),
        role_reports={"clarityq_reader": role},
    )
    return ProjectState(**{**state.__dict__, **changes})


def _apply(plan: Plan, live: LiveState) -> LiveState:
    """A minimal executor over state (the property tests use a fuller one)."""
    for step in plan.steps:
        ps = live.project(step.project or P)
        if isinstance(step, AddUser):
            ps = ProjectState(**{**ps.__dict__, "members": ps.members | {str(step.principal)}})
        elif isinstance(step, GrantActions):
            ps = ProjectState(**{**ps.__dict__, "grants": ps.grants | step.grants()})
        elif isinstance(step, RevokeActions):
            ps = ProjectState(**{**ps.__dict__, "grants": ps.grants - step.grants()})
        elif isinstance(step, GrantRole):
            members = {
                **ps.role_members,
                step.role: ps.role_members.get(step.role, frozenset()) | {str(step.principal)},
            }
            ps = ProjectState(**{**ps.__dict__, "role_members": members})
        elif step.kind == "create_role":
            ps = ProjectState(**{**ps.__dict__, "roles": ps.roles | {step.args()["role"]}})
        live = live.with_project(ps)
    return live


# ---- seed 000


def test_empty_project_gives_exactly_seed_000_in_order() -> None:
    plan = make_plan(default_spec(P), LiveState(), "apply", ME)
    assert _statements(plan) == SEED_000
    assert [s.phase for s in plan.steps] == sorted(s.phase for s in plan.steps)
    assert all(s.mutating and not s.destructive and s.project == P for s in plan.steps)
    assert all(s.reason for s in plan.steps)


def test_missing_ram_user_comes_first_and_uses_the_name_form() -> None:
    plan = make_plan(default_spec(P), LiveState(), "apply", ResolvedPrincipal(ACCOUNT, "clarityq"))
    first, add_user = plan.steps[:2]
    assert isinstance(first, CreateRamUser)
    assert first.api_call == {
        "service": "ram",
        "action": "CreateUser",
        "params": {"UserName": "clarityq", "Comments": MANAGED_MARKER},
    }
    assert add_user.statement == f"ADD USER RAM${ACCOUNT}:clarityq"


def test_missing_ram_user_without_permission_to_create_it() -> None:
    spec = load_spec({"create_ram_user": False, "projects": [{"project": P}]})
    with pytest.raises(PlanError, match="create_ram_user"):
        make_plan(spec, LiveState(), "apply", ResolvedPrincipal(ACCOUNT, "clarityq"))


def test_converged_state_gives_an_empty_plan_in_every_mode() -> None:
    live = LiveState.of(_converged())
    for mode in ("plan", "apply", "sync"):
        plan = make_plan(default_spec(P), live, mode, ME)
        assert plan.is_empty, plan.to_text()
        assert plan.warnings == ()


def test_name_form_membership_counts_as_converged() -> None:
    live = LiveState.of(_converged(user_form=f"RAM${ACCOUNT}:clarityq"))
    assert make_plan(default_spec(P), live, "sync", ME).is_empty


def test_role_membership_from_show_grants_for_user_counts() -> None:
    user_report = parse_show_grants("[roles]\nclarityq_reader\n", Grantee.user(USER), project=P)
    live = LiveState.of(
        _converged(user_form="RAM$999:someone_else", members=frozenset({USER}), user_roles=user_report.roles)
    )
    plan = make_plan(default_spec(P), live, "apply", ME)
    assert plan.is_empty
    assert any("someone_else" in w for w in plan.warnings)


def test_second_run_issues_no_mutating_step() -> None:
    spec = default_spec(P)
    live = _apply(make_plan(spec, LiveState(), "apply", ME), LiveState())
    again = make_plan(spec, live, "apply", ME)
    assert [s for s in again.steps if s.mutating] == []


def test_partial_state_plans_only_the_difference() -> None:
    live = LiveState.of(
        ProjectState(
            P,
            members=frozenset({USER}),
            roles=frozenset({"clarityq_reader"}),
            grants=frozenset({Grant(READER, ObjectRef.for_table(P, "*"), TableAction.SELECT)}),
        )
    )
    assert _statements(make_plan(default_spec(P), live, "apply", ME)) == [
        f"GRANT CreateInstance, List ON PROJECT {P} TO ROLE clarityq_reader",
        "GRANT Describe ON TABLE * TO ROLE clarityq_reader",
        f"GRANT clarityq_reader TO {USER}",
    ]


def test_all_grant_on_the_live_side_is_understood() -> None:
    extra = ""
    live = LiveState.of(
        _converged(
            extra_acl=extra,
            grants=parse_describe_role(
                "Authorization Type: ACL\nA\tprojects/my_project: CreateInstance | List\n"
                "A\tprojects/my_project/tables/*: All\n",
                "clarityq_reader",
                project=P,
            ).grants,
        )
    )
    apply = make_plan(default_spec(P), live, "apply", ME)
    assert apply.is_empty
    assert len(apply.warnings) == 4  # Alter, Update, Drop, Download beyond the spec
    sync = make_plan(default_spec(P), live, "sync", ME)
    assert _statements(sync) == ["REVOKE Alter, Update, Drop, Download ON TABLE * FROM ROLE clarityq_reader"]


# ---- sync scope


def test_sync_removes_a_hand_added_grant_and_nothing_else() -> None:
    live = LiveState.of(_converged(extra_acl="A\tprojects/my_project/tables/orders: Alter\n"))
    assert make_plan(default_spec(P), live, "apply", ME).is_empty
    plan = make_plan(default_spec(P), live, "sync", ME)
    assert _statements(plan) == ["REVOKE Alter ON TABLE orders FROM ROLE clarityq_reader"]
    (step,) = plan.steps
    assert step.destructive and step.phase is Phase.REVOKE_TABLE_GRANTS


def test_unmanaged_roles_and_members_are_never_touched() -> None:
    analyst = Grantee.role("analyst")
    other_grants = {
        Grant(analyst, ObjectRef.for_table(P, "*"), TableAction.DROP),
        Grant(Grantee.user("RAM$1:bob"), ObjectRef.for_project(P), ProjectAction.LIST),
    }
    state = _converged()
    live = LiveState.of(
        ProjectState(
            **{
                **state.__dict__,
                "roles": state.roles | {"analyst"},
                "grants": state.grants | other_grants,
                "role_members": {
                    **state.role_members,
                    "clarityq_reader": state.role_members["clarityq_reader"] | {"RAM$1:bob"},
                    "analyst": frozenset({"RAM$1:bob"}),
                },
            }
        )
    )
    plan = make_plan(default_spec(P), live, "sync", ME)
    assert plan.is_empty
    assert any("RAM$1:bob" in w and "left as is" in w for w in plan.warnings)


def test_sync_revokes_extra_roles_and_direct_grants_of_the_managed_user() -> None:
    direct = Grant(Grantee.user(f"RAM${ACCOUNT}:clarityq"), ObjectRef.for_table(P, "orders"), TableAction.UPDATE)
    state = _converged()
    live = LiveState.of(
        ProjectState(
            **{
                **state.__dict__,
                "grants": state.grants | {direct},
                "role_members": {**state.role_members, "role_project_admin": frozenset({f"RAM${ACCOUNT}:clarityq"})},
            }
        )
    )
    apply = make_plan(default_spec(P), live, "apply", ME)
    assert apply.is_empty
    assert any("role_project_admin" in w for w in apply.warnings)
    sync = make_plan(default_spec(P), live, "sync", ME)
    assert _statements(sync) == [
        f"REVOKE role_project_admin FROM {USER}",
        f"REVOKE Update ON TABLE orders FROM USER RAM${ACCOUNT}:clarityq",
    ]
    assert "over-privileged" in sync.steps[0].reason


def test_sync_narrowing_from_star_to_tables_grants_first_and_revokes_last() -> None:
    spec = load_spec({"projects": [{"project": P, "tables": ["orders", "customers"]}]})
    live = LiveState.of(_converged())
    apply = make_plan(spec, live, "apply", ME)
    assert apply.is_empty  # tables/* already covers both tables (Permifrost #125)
    sync = make_plan(spec, live, "sync", ME)
    assert _statements(sync) == [
        "GRANT Describe, Select ON TABLE customers TO ROLE clarityq_reader",
        "GRANT Describe, Select ON TABLE orders TO ROLE clarityq_reader",
        "REVOKE Describe, Select ON TABLE * FROM ROLE clarityq_reader",
    ]
    assert make_plan(spec, _apply(sync, live), "sync", ME).is_empty


def test_self_lockout_is_refused() -> None:
    state = _converged()
    live = LiveState.of(
        ProjectState(**{**state.__dict__, "role_members": {**state.role_members, "admin": frozenset({USER})}})
    )
    with pytest.raises(PlanError, match="identity running this plan"):
        make_plan(default_spec(P), live, "sync", ME, admin=ResolvedPrincipal(ACCOUNT, "clarityq", UID))
    with pytest.raises(PlanError):
        make_plan(default_spec(P), live, "sync", ME, admin=Principal("ram_user", ACCOUNT, UID))
    other_admin = Principal("aliyun", ACCOUNT)
    assert len(make_plan(default_spec(P), live, "sync", ME, admin=other_admin).steps) == 1
    assert make_plan(default_spec(P), live, "apply", ME, admin=ME).is_empty


# ---- tables


def test_explicit_tables_missing_give_one_statement_per_table_with_grouped_actions() -> None:
    spec = load_spec({"projects": [{"project": P, "tables": ["t3", "t1", "t2"]}]})
    plan = make_plan(spec, LiveState(), "apply", ME)
    table_steps = [s.statement for s in plan.steps if s.phase is Phase.TABLE_GRANTS]
    assert table_steps == [f"GRANT Describe, Select ON TABLE {t} TO ROLE clarityq_reader" for t in ("t1", "t2", "t3")]


def test_wildcard_covers_ten_thousand_explicit_tables() -> None:
    tables = [f"t{i:05d}" for i in range(10_000)]
    spec = load_spec({"projects": [{"project": P, "tables": tables}]})
    assert make_plan(spec, LiveState.of(_converged()), "apply", ME).is_empty
    plan = make_plan(spec, LiveState(), "apply", ME)
    assert plan.summary["kind.grant_actions"] == 10_001  # one per table plus the project grant


def test_prefixes_expand_against_the_listed_tables() -> None:
    spec = load_spec({"projects": [{"project": P, "tables": ["sales_*", "hr_*", "orders"]}]})
    live = LiveState.of(ProjectState(P, tables=frozenset({"sales_eu", "sales_us", "orders", "other"})))
    plan = make_plan(spec, live, "apply", ME)
    assert [s.args()["object"]["name"] for s in plan.steps if s.phase is Phase.TABLE_GRANTS] == [
        "orders",
        "sales_eu",
        "sales_us",
    ]
    assert any("hr_*" in w for w in plan.warnings)


def test_prefixes_without_a_table_list_are_refused() -> None:
    spec = load_spec({"projects": [{"project": P, "tables": ["sales_*"]}]})
    with pytest.raises(PlanError, match=r"projects\[0\].tables"):
        make_plan(spec, LiveState(), "apply", ME)


def test_listed_tables_that_do_not_exist_are_skipped_with_a_warning() -> None:
    spec = load_spec({"projects": [{"project": P, "tables": ["orders", "gone"]}]})
    live = LiveState.of(ProjectState(P, tables=frozenset({"orders"})))
    plan = make_plan(spec, live, "apply", ME)
    assert [s.args()["object"]["name"] for s in plan.steps if s.phase is Phase.TABLE_GRANTS] == ["orders"]
    assert any("gone" in w for w in plan.warnings)


# ---- cross-project


def test_cross_project_spec_is_phase_major_and_per_project() -> None:
    spec = load_spec(
        {
            "projects": [
                {"project": "proj_a"},
                {"project": "proj_b", "project_actions": ["List"], "tables": ["prj_b_test_table"]},
            ]
        }
    )
    plan = make_plan(spec, LiveState(), "apply", ME)
    assert [(s.project, s.statement) for s in plan.steps] == [
        ("proj_a", f"ADD USER {USER}"),
        ("proj_b", f"ADD USER {USER}"),
        ("proj_a", "CREATE ROLE clarityq_reader"),
        ("proj_b", "CREATE ROLE clarityq_reader"),
        ("proj_a", "GRANT CreateInstance, List ON PROJECT proj_a TO ROLE clarityq_reader"),
        ("proj_b", "GRANT List ON PROJECT proj_b TO ROLE clarityq_reader"),
        ("proj_a", "GRANT Describe, Select ON TABLE * TO ROLE clarityq_reader"),
        ("proj_b", "GRANT Describe, Select ON TABLE prj_b_test_table TO ROLE clarityq_reader"),
        ("proj_a", f"GRANT clarityq_reader TO {USER}"),
        ("proj_b", f"GRANT clarityq_reader TO {USER}"),
    ]


# ---- extra roles


def test_extra_roles_are_granted_when_they_exist() -> None:
    spec = load_spec({"extra_roles": ["analyst"], "projects": [{"project": P}]})
    live = LiveState.of(_converged(roles=frozenset({"clarityq_reader", "analyst"})))
    assert _statements(make_plan(spec, live, "apply", ME)) == [f"GRANT analyst TO {USER}"]
    with pytest.raises(PlanError, match=r"extra_roles\[0\]"):
        make_plan(spec, LiveState.of(_converged()), "apply", ME)


def test_builtin_admin_extra_role_needs_no_listing() -> None:
    spec = load_spec({"extra_roles": ["admin"], "allow_admin_roles": True, "projects": [{"project": P}]})
    assert _statements(make_plan(spec, LiveState.of(_converged(roles=frozenset())), "apply", ME))[-1] == (
        f"GRANT admin TO {USER}"
    )


# ---- injection: refused before anything is rendered


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"role": "r; DROP ROLE admin"}, "role"),
        ({"role": "r`x"}, "role"),
        ({"role": "r'x"}, "role"),
        ({"role": 'r"x'}, "role"),
        ({"role": "r\nDROP ROLE admin"}, "role"),
        ({"role": "ｒole"}, "role"),
        ({"ram_user": "clarity\u200bq"}, "ram_user"),
        ({"projects": [{"project": P, "tables": ["ok", "t\u200b"]}]}, "projects[0].tables[1]"),
        ({"projects": [{"project": "p;roj"}]}, "projects[0].project"),
    ],
)
def test_injected_identifiers_fail_validation_naming_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        load_spec({"projects": [{"project": P}], **spec})
    assert info.value.field == field


def test_an_unvalidated_spec_still_cannot_reach_a_statement() -> None:
    """A spec built without validation (model_construct) is stopped when the plan builds typed objects."""
    spec = AccessSpec.model_construct(
        ram_user="clarityq",
        role="r; DROP ROLE admin",
        projects=(ProjectGrants(project=P),),
        extra_roles=(),
        create_ram_user=True,
        allow_write_actions=False,
        allow_admin_roles=False,
    )
    with pytest.raises(InvalidIdentifierError):
        make_plan(spec, LiveState(), "apply", ME)


def test_principal_must_be_resolved_for_the_spec_user() -> None:
    with pytest.raises(ConfigurationError, match="ram_user"):
        make_plan(default_spec(P), LiveState(), "apply", ResolvedPrincipal(ACCOUNT, "someone", UID))
    with pytest.raises(ConfigurationError, match="mode"):
        make_plan(default_spec(P), LiveState(), "destroy", ME)  # type: ignore[arg-type]


# ---- plan object


def test_plan_mode_is_a_dry_run_of_apply() -> None:
    live = LiveState.of(_converged(extra_acl="A\tprojects/my_project/tables/orders: Alter\n"))
    dry = make_plan(default_spec(P), live, "plan", ME)
    assert not dry.executable and dry.is_empty
    assert make_plan(default_spec(P), live, "apply", ME).executable
    fresh = make_plan(default_spec(P), LiveState(), "plan", ME)
    assert _statements(fresh) == SEED_000


def test_json_round_trip_and_schema() -> None:
    plan = make_plan(default_spec(P), LiveState(), "apply", ResolvedPrincipal(ACCOUNT, "clarityq"))
    data = json.loads(plan.to_json())
    assert set(data) == {"format", "mode", "principal", "summary", "steps", "warnings"}
    assert set(data["steps"][0]) == {
        "kind",
        "phase",
        "project",
        "statement",
        "api_call",
        "reason",
        "destructive",
        "mutating",
        "args",
    }
    assert data["summary"]["total"] == 6 and data["summary"]["api_calls"] == 1
    assert Plan.from_dict(data) == plan


def test_a_tampered_plan_is_refused() -> None:
    data = make_plan(default_spec(P), LiveState(), "apply", ME).to_dict()
    data["steps"][1]["statement"] = "DROP ROLE admin"
    with pytest.raises(ConfigurationError) as info:
        Plan.from_dict(data)
    assert info.value.field == "plan.steps[1].statement"
    data = make_plan(default_spec(P), LiveState(), "apply", ME).to_dict()
    data["steps"][1]["args"]["role"] = "r; DROP ROLE admin"
    with pytest.raises(InvalidIdentifierError):
        Plan.from_dict(data)
    data["steps"][1]["kind"] = "drop_role"
    with pytest.raises(ConfigurationError, match="unknown step kind"):
        Plan.from_dict(data)
    with pytest.raises(ConfigurationError):
        Plan.from_dict({**data, "format": "other"})


def test_text_rendering() -> None:
    live = LiveState.of(_converged(extra_acl="A\tprojects/my_project/tables/orders: Alter\n"))
    text = make_plan(load_spec({"projects": [{"project": P}, {"project": "proj_b"}]}), live, "sync", ME).to_text()
    assert "  + [proj_b] ADD USER" in text
    assert "  - [my_project] REVOKE Alter ON TABLE orders FROM ROLE clarityq_reader;" in text
    assert "Plan: 5 to add, 1 to revoke." in text
    assert "No changes" in make_plan(default_spec(P), LiveState.of(_converged()), "apply", ME).to_text()


def test_phases_group_independent_steps() -> None:
    spec = load_spec({"projects": [{"project": P, "tables": [f"t{i}" for i in range(5)]}]})
    phases = dict(make_plan(spec, LiveState(), "apply", ME).phases())
    assert len(phases[Phase.TABLE_GRANTS]) == 5
    assert list(phases) == sorted(phases)

"""Properties: identifier validation, convergence after apply/sync, JSON round trip, apply never destroys."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_provider_clarityq.core.errors import InvalidIdentifierError
from airflow_provider_clarityq.core.grants.model import (
    ACTIONS_BY_TYPE,
    Grant,
    Grantee,
    ObjectRef,
    covers,
    is_privileged_role,
)
from airflow_provider_clarityq.core.grants.plan import Plan
from airflow_provider_clarityq.core.grants.planner import make_plan
from airflow_provider_clarityq.core.grants.spec import AccessSpec, load_spec
from airflow_provider_clarityq.core.grants.state import LiveState, ProjectState, ResolvedPrincipal
from airflow_provider_clarityq.core.grants.steps import (
    AddUser,
    CreateRamUser,
    CreateRole,
    GrantActions,
    GrantRole,
    RevokeActions,
    RevokeRole,
)

ACCOUNT = "1234567890123456"
UID = "2345678901234567"
NEW_UID = "3456789012345678"
PROJECTS = ("proj_a", "proj_b")
TABLES = ("t1", "t2", "t3", "sales_eu", "sales_us")
MEMBER_POOL = (f"RAM${ACCOUNT}:{UID}", f"RAM${ACCOUNT}:clarityq", "RAM$1:bob", "p4_2652900123")
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- (1) identifier validation


ROLE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
FORBIDDEN = st.one_of(
    st.sampled_from(
        [
            "'",
            '"',
            "`",
            ";",
            "\\",
            " ",
            "\t",
            "\n",
            "\r",
            "\x00",
            "\x7f",
            "\u200b",
            "\u00a0",
            "\u0430",
            "\uff52",
            "\u2028",
        ]
    ),
    st.characters(min_codepoint=128),
)


def _role_spec(role: object) -> dict[str, Any]:
    return {"role": role, "projects": [{"project": "proj_a"}]}


@given(st.from_regex(ROLE_RE, fullmatch=True))
@SETTINGS
def test_every_name_of_the_allowed_alphabet_is_accepted(role: str) -> None:
    assume(not is_privileged_role(role))
    assert load_spec(_role_spec(role)).role == role.lower()


@given(st.from_regex(ROLE_RE, fullmatch=True), FORBIDDEN, st.integers(min_value=0, max_value=64))
@SETTINGS
def test_a_forbidden_character_anywhere_is_refused_naming_the_field(role: str, bad: str, at: int) -> None:
    hostile = role[:at] + bad + role[at:]
    with pytest.raises(InvalidIdentifierError) as info:
        load_spec(_role_spec(hostile))
    assert info.value.field == "role"
    table_spec = {"projects": [{"project": "proj_a", "tables": ["ok", hostile]}]}
    with pytest.raises(InvalidIdentifierError) as info:
        load_spec(table_spec)
    assert info.value.field == "projects[0].tables[1]"


@given(st.text(max_size=70))
@SETTINGS
def test_role_names_are_accepted_exactly_when_they_match_the_rule(role: str) -> None:
    assume(not is_privileged_role(role))
    if ROLE_RE.fullmatch(role):
        assert load_spec(_role_spec(role)).role == role.lower()
        return
    with pytest.raises(InvalidIdentifierError) as info:
        load_spec(_role_spec(role))
    assert info.value.field == "role"


# ---- random specs and live states


@st.composite
def specs(draw: st.DrawFn) -> AccessSpec:
    projects = draw(st.lists(st.sampled_from(PROJECTS), min_size=1, max_size=2, unique=True))
    entries = []
    for index, project in enumerate(projects):
        project_actions = draw(st.lists(st.sampled_from(["Read", "List", "CreateInstance"]), unique=True))
        if index == 0:
            project_actions.append("CreateInstance")
        tables = draw(
            st.one_of(
                st.just("*"),
                st.lists(st.sampled_from([*TABLES, "sales_*", "t*", "missing"]), min_size=1, max_size=5, unique=True),
            )
        )
        table_actions = draw(st.lists(st.sampled_from(["Describe", "Select", "Download"]), unique=True))
        entries.append(
            {"project": project, "project_actions": project_actions, "tables": tables, "table_actions": table_actions}
        )
    extra_roles = draw(st.sampled_from([[], ["analyst"]]))
    exclusive = draw(st.booleans())
    return load_spec({"projects": entries, "extra_roles": extra_roles, "exclusive_role": exclusive})


def _objects(project: str) -> list[ObjectRef]:
    return [
        ObjectRef.for_project(project),
        ObjectRef.for_table(project, "*"),
        ObjectRef.for_table(project, "sales_*"),
        *(ObjectRef.for_table(project, t) for t in TABLES),
    ]


GRANTEES = [
    Grantee.role("clarityq_reader"),
    Grantee.role("analyst"),
    Grantee.user(f"RAM${ACCOUNT}:clarityq"),
    Grantee.user("RAM$1:bob"),
]


@st.composite
def grants(draw: st.DrawFn, project: str) -> Grant:
    obj = draw(st.sampled_from(_objects(project)))
    return Grant(draw(st.sampled_from(GRANTEES)), obj, draw(st.sampled_from(ACTIONS_BY_TYPE[obj.type])))


@st.composite
def project_states(draw: st.DrawFn, project: str) -> ProjectState:
    subset = st.frozensets(st.sampled_from(MEMBER_POOL))
    return ProjectState(
        project=project,
        members=draw(subset),
        roles=draw(st.frozensets(st.sampled_from(["clarityq_reader", "role_project_admin"]))) | {"analyst"},
        role_members={"clarityq_reader": draw(subset), "role_project_admin": draw(subset)},
        user_roles=draw(st.frozensets(st.sampled_from(["clarityq_reader", "role_project_admin", "analyst"]))),
        grants=draw(st.frozensets(grants(project), max_size=12)),
        tables=draw(st.frozensets(st.sampled_from(TABLES))),
    )


@st.composite
def live_states(draw: st.DrawFn) -> LiveState:
    return LiveState.of(*(draw(project_states(p)) for p in PROJECTS))


principals = st.sampled_from([ResolvedPrincipal(ACCOUNT, "clarityq", UID), ResolvedPrincipal(ACCOUNT, "clarityq")])


# ---- a small pure simulator of MaxCompute + RAM


def simulate(plan: Plan, live: LiveState, principal: ResolvedPrincipal) -> tuple[LiveState, ResolvedPrincipal]:
    """Apply the plan's steps to the state the way the services would."""
    for step in plan.steps:
        if isinstance(step, CreateRamUser):
            principal = ResolvedPrincipal(principal.account_id, step.user_name, NEW_UID)
            continue
        assert step.project is not None
        live = live.with_project(_apply_step(step, live.project(step.project), principal))
    return live, principal


def _apply_step(step: Any, ps: ProjectState, principal: ResolvedPrincipal) -> ProjectState:
    if isinstance(step, AddUser):
        return replace(ps, members=ps.members | {str(step.principal)})
    if isinstance(step, CreateRole):
        return replace(ps, roles=ps.roles | {step.role})
    if isinstance(step, GrantActions):
        return replace(ps, grants=ps.grants | step.grants())
    if isinstance(step, RevokeActions):
        return replace(ps, grants=ps.grants - step.grants())
    if isinstance(step, GrantRole):
        members = ps.role_members.get(step.role, frozenset()) | {str(step.principal)}
        return replace(ps, role_members={**ps.role_members, step.role: members})
    if isinstance(step, RevokeRole):
        kept = frozenset(m for m in ps.role_members.get(step.role, frozenset()) if not principal.matches(m))
        return replace(ps, role_members={**ps.role_members, step.role: kept}, user_roles=ps.user_roles - {step.role})
    raise AssertionError(f"unknown step {step!r}")


# ---- (2) convergence


@given(specs(), live_states(), principals, st.sampled_from(["apply", "sync"]))
@SETTINGS
def test_after_applying_a_plan_the_same_spec_plans_nothing(
    spec: AccessSpec, live: LiveState, principal: ResolvedPrincipal, mode: str
) -> None:
    plan = make_plan(spec, live, mode, principal)  # type: ignore[arg-type]
    after, resolved = simulate(plan, live, principal)
    again = make_plan(spec, after, mode, resolved)  # type: ignore[arg-type]
    assert again.is_empty, again.to_text()
    assert make_plan(spec, after, "apply", resolved).is_empty
    if mode == "sync":
        _assert_exact(spec, after, resolved, before=live)


def _assert_exact(spec: AccessSpec, live: LiveState, principal: ResolvedPrincipal, *, before: LiveState) -> None:
    """After sync the user holds no extra role or direct grant, and the managed role no plain grant the spec does
    not want - unless others hold the role and the spec does not declare it exclusive: then it lost nothing."""
    reader = Grantee.role(spec.role)
    for grants_spec in spec.projects:
        ps = live.project(grants_spec.project)
        plain = {g for g in ps.grants if not (g.object.is_pattern and g.object.name != "*")}  # prefixes: reported only
        held = {g for g in plain if g.grantee == reader}
        was = before.project(grants_spec.project)
        others = [m for m in was.role_members.get(spec.role, frozenset()) if not principal.matches(m)]
        assert ps.roles_of(principal) <= {spec.role, *spec.extra_roles}
        assert not any(g.grantee.kind == "user" and principal.matches(g.grantee.name) for g in plain)
        if others and not spec.exclusive_role:
            assert {g for g in was.grants if g.grantee == reader} <= set(ps.grants)
            continue
        bare = LiveState.of(*(ProjectState(p, tables=live.project(p).tables) for p in PROJECTS))
        wanted_plan = make_plan(spec.model_copy(update={"extra_roles": ()}), bare, "apply", principal)
        wanted = set().union(
            *(s.grants() for s in wanted_plan.steps if isinstance(s, GrantActions) and s.project == grants_spec.project)
        )
        assert held <= wanted


@given(specs(), live_states(), principals)
@SETTINGS
def test_apply_grants_only_what_is_not_already_covered(
    spec: AccessSpec, live: LiveState, principal: ResolvedPrincipal
) -> None:
    plan = make_plan(spec, live, "apply", principal)
    for step in plan.steps:
        if isinstance(step, GrantActions):
            held = live.project(step.project).grants
            assert not any(covers(h, g) for g in step.grants() for h in held)


# ---- (3) JSON round trip


@given(specs(), live_states(), principals, st.sampled_from(["plan", "apply", "sync"]))
@SETTINGS
def test_plan_json_round_trip_is_identity(
    spec: AccessSpec, live: LiveState, principal: ResolvedPrincipal, mode: str
) -> None:
    plan = make_plan(spec, live, mode, principal)  # type: ignore[arg-type]
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


# ---- (4) apply never destroys


@given(specs(), live_states(), principals, st.sampled_from(["plan", "apply"]))
@SETTINGS
def test_apply_and_plan_modes_never_contain_a_destructive_step(
    spec: AccessSpec, live: LiveState, principal: ResolvedPrincipal, mode: str
) -> None:
    plan = make_plan(spec, live, mode, principal)  # type: ignore[arg-type]
    assert not any(step.destructive for step in plan.steps)


@given(specs(), live_states(), principals)
@SETTINGS
def test_sync_puts_every_destructive_step_after_every_additive_one(
    spec: AccessSpec, live: LiveState, principal: ResolvedPrincipal
) -> None:
    flags = [step.destructive for step in make_plan(spec, live, "sync", principal).steps]
    assert flags == sorted(flags)

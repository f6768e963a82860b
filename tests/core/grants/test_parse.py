"""Read-back parsers (odpscmd text and JSON) and principal matching across the UID and name forms."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_clarityq.core.errors import InvalidIdentifierError
from airflow_provider_clarityq.core.grants.model import Grant, Grantee, ObjectRef, ProjectAction, TableAction
from airflow_provider_clarityq.core.grants.parse import (
    StateParseError,
    parse_describe_role,
    parse_list_roles,
    parse_list_users,
    parse_show_acl,
    parse_show_grants,
)
from airflow_provider_clarityq.core.grants.state import (
    GrantsReport,
    LiveState,
    ProjectState,
    ResolvedPrincipal,
    principal_key,
)
from airflow_provider_clarityq.core.identifiers import Principal

P = "test_project_a"
WORKER = Grantee.role("worker")
ALLEN = Grantee.user("RAM$Bob@aliyun.com:Allen")
PROJECT = ObjectRef.for_project(P)
BANK = ObjectRef.for_table(P, "bank_data")
SIX_PROJECT_ACTIONS = {
    ProjectAction.CREATE_TABLE,
    ProjectAction.CREATE_RESOURCE,
    ProjectAction.CREATE_INSTANCE,
    ProjectAction.CREATE_FUNCTION,
    ProjectAction.LIST,
}

# ---- reference section 5, verbatim (D-QP)

SHOW_GRANTS_FOR_ROLE = """\
Authorization Type: ACL
[role/Worker]
A       projects/test_project_a: CreateTable | CreateResource | CreateInstance | CreateFunction | List
A       projects/test_project_a/tables/bank_data: Download | Describe | Select	Expires:20xx-xx-xxTxx:xx:xx+xxxx

Authorization Type: Policy
[role/Worker]
A       projects/test_project_a/tables/bak*: Download
A       projects/test_project_a/tables/tb_*: Download | Drop
"""

SHOW_GRANTS_FOR_USER = """\
[roles]
worker

Authorization Type: ACL
[user/RAM$Bob@aliyun.com:Allen]
A       projects/test_project_a: CreateTable | CreateResource | CreateInstance | CreateFunction | List
A       projects/test_project_a/packages/project_test_b.datashare: Read

Authorization Type: Policy
[role/worker]
A       projects/test_project_a/tables/tb_*: Drop | Download
"""

SHOW_ACL = """\
Authorization Type: Implicit
AG      project_owner/ALIYUN$Bob@aliyun.com: All
AG      admin/ALIYUN$Bob@aliyun.com: All
AG      object_creator/ALIYUN$Bob@aliyun.com: All          (not for type project)

Authorization Type: ACL
A       role/worker(projects/test_project_a): CreateTable | CreateResource | CreateInstance | CreateFunction | List
A       user/RAM$Bob@aliyun.com:Allen(acs:odps:*:projects/test_project_a/resources/udtf.jar): Read | Write
A       role/worker1(acs:odps:*:projects/test_project_a/registration/functions/udtfresource): Download
"""

# "describe role Worker; - same sections without [role/...] headers, preceded by [users] and one member per line"
DESCRIBE_ROLE = """\
[users]
RAM$Bob@aliyun.com:Allen

Authorization Type: ACL
A       projects/test_project_a: CreateTable | CreateResource | CreateInstance | CreateFunction | List
A       projects/test_project_a/tables/bank_data: Download | Describe | Select

Authorization Type: Policy
A       projects/test_project_a/tables/bak*: Download
"""

# The brief's tab-separated form of the seed 000 state.
SEED_000_TEXT = (
    "Authorization Type: ACL\n"
    "[role/clarityq_reader]\n"
    "A\tprojects/my_project: CreateInstance | List\n"
    "A\tprojects/my_project/tables/*: Describe | Select\n"
)


def _grants(report: GrantsReport, grantee: Grantee, obj: ObjectRef) -> set[Any]:
    return {g.action for g in report.grants if g.grantee == grantee and g.object == obj}


def test_show_grants_for_role_reference_sample() -> None:
    report = parse_show_grants(SHOW_GRANTS_FOR_ROLE, "worker", project=P)
    assert _grants(report, WORKER, PROJECT) == SIX_PROJECT_ACTIONS
    assert _grants(report, WORKER, BANK) == {TableAction.DOWNLOAD, TableAction.DESCRIBE, TableAction.SELECT}
    assert len(report.grants) == 8  # the Expires suffix is not an action; the Policy lines are not grants
    assert len(report.out_of_band) == 2
    assert all(line.startswith("policy:") for line in report.out_of_band)
    assert any("tb_*: Download | Drop" in line for line in report.out_of_band)


def test_show_grants_for_user_reference_sample() -> None:
    report = parse_show_grants(SHOW_GRANTS_FOR_USER, ALLEN, project=P)
    assert report.roles == {"worker"}
    assert _grants(report, ALLEN, PROJECT) == SIX_PROJECT_ACTIONS
    assert {g.grantee for g in report.grants} == {ALLEN}
    out = "\n".join(report.out_of_band)
    assert "packages/project_test_b.datashare" in out  # package object: reported, not managed
    assert "tb_*: Drop | Download" in out


def test_show_acl_reference_sample() -> None:
    report = parse_show_acl(SHOW_ACL, PROJECT)
    assert {(g.grantee, g.object) for g in report.grants} == {(WORKER, PROJECT)}
    assert _grants(report, WORKER, PROJECT) == SIX_PROJECT_ACTIONS
    out = "\n".join(report.out_of_band)
    assert out.count("implicit:") == 3
    assert "resources/udtf.jar" in out and "registration/functions/udtfresource" in out


def test_describe_role_reference_layout() -> None:
    report = parse_describe_role(DESCRIBE_ROLE, "Worker", project=P)
    assert report.members == ("RAM$Bob@aliyun.com:Allen",)
    assert _grants(report, WORKER, PROJECT) == SIX_PROJECT_ACTIONS
    assert _grants(report, WORKER, BANK) == {TableAction.DOWNLOAD, TableAction.DESCRIBE, TableAction.SELECT}
    assert report.out_of_band == ("policy: A       projects/test_project_a/tables/bak*: Download",)


def test_tab_separated_seed_000_state() -> None:
    report = parse_show_grants(SEED_000_TEXT, "clarityq_reader", project="my_project")
    reader = Grantee.role("clarityq_reader")
    assert report.grants == {
        Grant(reader, ObjectRef.for_project("my_project"), ProjectAction.CREATE_INSTANCE),
        Grant(reader, ObjectRef.for_project("my_project"), ProjectAction.LIST),
        Grant(reader, ObjectRef.for_table("my_project", "*"), TableAction.DESCRIBE),
        Grant(reader, ObjectRef.for_table("my_project", "*"), TableAction.SELECT),
    }
    assert report.out_of_band == ()


def test_older_layout_single_space_and_object_creator_section() -> None:
    text = (
        "Authorization Type: ACL\n[role/worker]\nA projects/test_project: List\n\n"
        "Authorization Type: ObjectCreator\n[user/odpstest1@aliyun.com]\nAG projects/test_project/tables/t6: All\n"
    )
    report = parse_show_grants(text, "worker", project="test_project")
    assert {g.action for g in report.grants} == {ProjectAction.LIST}
    assert report.out_of_band == ("objectcreator: AG projects/test_project/tables/t6: All",)


def test_all_is_expanded_and_project_case_follows_the_context() -> None:
    text = "Authorization Type: ACL\n[role/r]\nA\tprojects/MY_PROJECT/tables/T1: All\n"
    report = parse_show_grants(text, "r", project="my_project")
    assert {g.object for g in report.grants} == {ObjectRef.for_table("my_project", "t1")}
    assert {g.action for g in report.grants} == set(TableAction)


def test_owner_conditional_column_and_unknown_action_lines_are_reported_not_managed() -> None:
    text = (
        "Authorization Type: ACL\n[ALIYUN$Bob@aliyun.com]\nprojects/p_one: Project Owner\n"
        "[role/r]\n"
        "AC\tprojects/p_one/tables/t: Select\n"
        "A\tprojects/p_one/tables/t/customer_id: Select\n"
        "A\tprojects/p_one: List | CreateVolume\n"
    )
    report = parse_show_grants(text, "r", project="p_one")
    assert report.grants == {Grant(Grantee.role("r"), ObjectRef.for_project("p_one"), ProjectAction.LIST)}
    assert len(report.out_of_band) == 4
    assert "CreateVolume" in report.out_of_band[-1]


def test_lines_under_an_unparseable_header_are_not_attributed_to_anyone() -> None:
    text = "Authorization Type: ACL\n[user/not a principal]\nA\tprojects/p_one: List\n"
    report = parse_show_grants(text, "r", project="p_one")
    assert report.grants == frozenset()
    assert len(report.out_of_band) == 1


def test_empty_text_is_no_grants_but_garbage_is_an_error() -> None:
    assert parse_show_grants("  \n", "r", project="p_one") == GrantsReport()
    with pytest.raises(StateParseError, match="SHOW GRANTS"):
        parse_show_grants("ODPS-0420095: Access Denied", "r", project="p_one")
    with pytest.raises(StateParseError):
        parse_show_grants(42, "r", project="p_one")


# ---- JSON


def test_dbt_maxcompute_json_shape() -> None:
    doc = {
        "ACL": {
            "": [
                {
                    "Action": ["Select", "Describe"],
                    "Principal": [
                        "user/RAM$someone@example.aliyunid.com:test_user(acs:odps:*:projects/p_one/tables/t1)",
                        "role/clarityq_reader(projects/p_one/tables/t1)",
                    ],
                },
            ]
        }
    }
    report = parse_show_acl(doc, ObjectRef.for_table("p_one", "t1"))
    t1 = ObjectRef.for_table("p_one", "t1")
    assert _grants(report, Grantee.role("clarityq_reader"), t1) == {TableAction.SELECT, TableAction.DESCRIBE}
    assert _grants(report, Grantee.user("RAM$someone@example.aliyunid.com:test_user"), t1) == {
        TableAction.SELECT,
        TableAction.DESCRIBE,
    }


def test_dbt_json_principal_without_suffix_uses_the_object() -> None:
    doc = {"ACL": {"": [{"Action": ["Select"], "Principal": ["role/clarityq_reader"]}]}}
    report = parse_show_acl(json.dumps(doc), ObjectRef.for_table("p_one", "t1"))
    assert report.grants == {
        Grant(Grantee.role("clarityq_reader"), ObjectRef.for_table("p_one", "t1"), TableAction.SELECT)
    }


def test_role_grants_json_with_resources_conditions_and_policy() -> None:
    doc = {
        "ACL": {
            "": [
                {"Action": ["CreateInstance", "List"], "Resource": ["acs:odps:*:projects/p_one"]},
                {"Action": "Describe", "Resource": "projects/p_one/tables/*"},
            ],
            "acs:SourceIp=10.0.0.0/8": [{"Action": ["Select"], "Resource": ["projects/p_one/tables/*"]}],
        },
        "Policy": {"": [{"Action": ["Download"], "Resource": ["projects/p_one/tables/tb_*"]}]},
        "Roles": ["Worker"],
    }
    report = parse_show_grants(doc, "clarityq_reader", project="p_one")
    reader = Grantee.role("clarityq_reader")
    assert report.grants == {
        Grant(reader, ObjectRef.for_project("p_one"), ProjectAction.CREATE_INSTANCE),
        Grant(reader, ObjectRef.for_project("p_one"), ProjectAction.LIST),
        Grant(reader, ObjectRef.for_table("p_one", "*"), TableAction.DESCRIBE),
    }
    assert report.roles == {"worker"}
    assert len(report.out_of_band) == 2  # the conditional entry and the Policy section


def test_empty_json_object_is_no_grants() -> None:
    assert parse_show_grants({}, "r", project="p_one") == GrantsReport()


@pytest.mark.parametrize(
    "doc",
    [
        {"Grants": []},
        {"ACL": {"": [{"Resource": ["projects/p_one"]}]}},
        {"ACL": {"": "Select"}},
        {"ACL": {"": [{"Action": [1], "Resource": ["projects/p_one"]}]}},
        "{not json",
    ],
)
def test_unknown_json_shapes_are_errors(doc: Any) -> None:
    with pytest.raises(StateParseError):
        parse_show_grants(doc, "r", project="p_one")


# ---- lists


def test_list_users_forms() -> None:
    text = "RAM$1234567890123456:clarityq\nALIYUN$1234567890123456\np4_2652900123\n"
    assert parse_list_users(text) == ("RAM$1234567890123456:clarityq", "ALIYUN$1234567890123456", "p4_2652900123")
    assert parse_list_users('["RAM$1:a"]') == ("RAM$1:a",)
    assert parse_list_users({"Users": [{"ID": "9", "DisplayName": "RAM$1:a"}, {"ID": "8"}]}) == ("RAM$1:a", "8")
    assert parse_list_users([]) == ()


@pytest.mark.parametrize("bad", [{"Members": []}, [{"Foo": 1}], 3.5, [None]])
def test_list_users_unknown_shapes_are_errors(bad: Any) -> None:
    with pytest.raises(StateParseError, match="LIST USERS"):
        parse_list_users(bad)


def test_list_roles_are_lower_cased() -> None:
    assert parse_list_roles("Admin\nclarityq_reader\n") == {"admin", "clarityq_reader"}
    assert parse_list_roles({"Roles": [{"Name": "Role_Project_Admin"}]}) == {"role_project_admin"}


# ---- principals


ACCOUNT = "1234567890123456"
UID = "2345678901234567"
RESOLVED = ResolvedPrincipal(ACCOUNT, "clarityq", UID, frozenset({"Owner@Example.com"}))


@pytest.mark.parametrize(
    "form",
    [
        f"RAM${ACCOUNT}:{UID}",
        f"RAM${ACCOUNT}:clarityq",
        f"ram${ACCOUNT}:ClarityQ",
        "RAM$owner@example.com:clarityq",
        "RAM$clarityq",
        Principal("ram_user", ACCOUNT, UID),
    ],
)
def test_resolved_principal_matches_every_spelling(form: Principal | str) -> None:
    assert RESOLVED.matches(form)
    assert principal_key(form, [RESOLVED]) == principal_key(f"RAM${ACCOUNT}:{UID}", [RESOLVED])


@pytest.mark.parametrize(
    "form",
    [
        f"RAM$999:{UID}",
        f"RAM${ACCOUNT}:bob",
        f"ALIYUN${ACCOUNT}",
        f"RAM${ACCOUNT}:role/clarityq",
        "p4_26529",
        "RAM$bob",
    ],
)
def test_resolved_principal_rejects_others(form: str) -> None:
    assert not RESOLVED.matches(form)
    assert principal_key(form, [RESOLVED]) != principal_key(f"RAM${ACCOUNT}:{UID}", [RESOLVED])


def test_principal_forms_before_creation() -> None:
    pending = ResolvedPrincipal(ACCOUNT, "clarityq")
    assert not pending.exists
    assert str(pending.principal()) == f"RAM${ACCOUNT}:clarityq"
    assert str(RESOLVED.principal()) == f"RAM${ACCOUNT}:{UID}"
    assert not pending.matches(f"RAM${ACCOUNT}:{UID}")


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("account_id", {"account_id": "12;3"}),
        ("ram_user", {"user_name": "a b"}),
        ("user_uid", {"user_uid": "12a"}),
    ],
)
def test_resolved_principal_validates(field: str, kwargs: dict[str, str]) -> None:
    args = {"account_id": ACCOUNT, "user_name": "clarityq", "user_uid": UID, **kwargs}
    with pytest.raises(InvalidIdentifierError) as info:
        ResolvedPrincipal(args["account_id"], args["user_name"], args["user_uid"])
    assert info.value.field == field


# ---- assembling state


def test_project_state_build_merges_answers() -> None:
    role_report = parse_describe_role(DESCRIBE_ROLE, "worker", project=P)
    user_report = parse_show_grants(SHOW_GRANTS_FOR_USER, ALLEN, project=P)
    state = ProjectState.build(
        P,
        users=["RAM$Bob@aliyun.com:Allen"],
        roles=["Worker", "admin"],
        role_reports={"Worker": role_report},
        user_report=user_report,
    )
    assert state.roles == {"worker", "admin"}
    assert state.role_members == {"worker": frozenset({"RAM$Bob@aliyun.com:Allen"})}
    assert state.user_roles == {"worker"}
    assert state.grants == role_report.grants | user_report.grants
    assert len(state.out_of_band) == len(role_report.out_of_band) + len(user_report.out_of_band)
    assert state.tables is None


def test_holds_role_from_members_or_own_roles() -> None:
    by_member = ProjectState("p_one", role_members={"Clarityq_Reader": frozenset({f"RAM${ACCOUNT}:clarityq"})})
    by_roles = ProjectState("p_one", user_roles=frozenset({"clarityq_reader"}))
    assert by_member.holds_role("clarityq_reader", RESOLVED)
    assert by_roles.holds_role("CLARITYQ_READER", RESOLVED)
    assert not ProjectState("p_one").holds_role("clarityq_reader", RESOLVED)
    assert by_member.roles_of(RESOLVED) == {"clarityq_reader"}


def test_live_state_lookup_is_case_insensitive_and_defaults_to_empty() -> None:
    live = LiveState.of(ProjectState("My_Project", roles=frozenset({"r"})))
    assert live.project("my_project").roles == {"r"}
    assert live.project("other_one") == ProjectState("other_one")
    assert live.with_project(ProjectState("other_one", roles=frozenset({"x"}))).project("other_one").roles == {"x"}


def test_describe_role_json_descriptive_keys_are_not_out_of_band() -> None:
    from airflow_provider_clarityq.core.grants.parse import parse_describe_role

    doc = {
        "Name": "clarityq_reader",
        "Type": "resource",
        "Users": ["RAM$1234567890123456:clarityq"],
        "ACL": {"": [{"Action": ["List"], "Principal": ["role/clarityq_reader"], "Resource": ["projects/sales"]}]},
        "Policy": {"Statement": [{"Effect": "Allow"}]},
    }
    report = parse_describe_role(doc, "clarityq_reader", project="sales")
    assert report.members == ("RAM$1234567890123456:clarityq",)
    assert [line.split(":", 1)[0] for line in report.out_of_band] == ["Policy"]


# ---- every entry as printed (what the health audit reads), and the rules where readers once disagreed


def test_an_entry_before_any_section_belongs_to_the_statements_grantee() -> None:
    report = parse_show_grants("A       projects/p_one: List", "clarityq_reader", project="p_one")
    assert report.grants == {Grant(Grantee.role("clarityq_reader"), ObjectRef.for_project("p_one"), ProjectAction.LIST)}
    (line,) = report.lines
    assert (line.section, line.grantee, line.object_type, line.object_name) == (
        "acl",
        Grantee.role("clarityq_reader"),
        "project",
        "p_one",
    )


def test_policy_and_deny_entries_are_lines_but_never_managed_grants() -> None:
    text = "\n".join(
        [
            "Authorization Type: Policy",
            "[role/clarityq_reader]",
            "A       projects/p_one/tables/orders: Update",
            "D       projects/p_one/tables/salary: Select",
        ]
    )
    report = parse_show_grants(text, "clarityq_reader", project="p_one")
    assert report.grants == frozenset() and len(report.out_of_band) == 2
    assert [(line.section, line.effect, line.actions) for line in report.lines] == [
        ("policy", "Allow", ("Update",)),
        ("policy", "Deny", ("Select",)),
    ]
    assert report.lines[0].to_dict()["grantee"] == "role/clarityq_reader"


def test_implicit_and_creator_grants_are_lines_with_their_section() -> None:
    doc = {
        "Roles": [],
        "Implicit": [{"Principal": ["user/ALIYUN$1"], "Resource": ["projects/p"], "Action": ["Project Owner"]}],
        "ACL": {},
        "Policy": {},
    }
    report = parse_show_grants(doc, None, project="p")
    (line,) = report.lines
    assert (line.section, line.object_type, line.object_name, line.actions) == (
        "implicit",
        "project",
        "p",
        ("Project Owner",),
    )
    assert report.grants == frozenset()
    for bad in ("nonsense line", 42, '{"ACL": {"": "x"}}', "{not json"):
        with pytest.raises(StateParseError):
            parse_show_grants(bad, None, project="p")

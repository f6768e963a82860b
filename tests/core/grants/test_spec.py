"""The access spec: seed 000 defaults, the three input forms, and errors that name the field path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_clarityq.core.errors import ConfigurationError, InvalidIdentifierError
from airflow_provider_clarityq.core.grants.model import ProjectAction, TableAction
from airflow_provider_clarityq.core.grants.spec import AccessSpec, default_spec, load_spec

YAML_SPEC = """
ram_user: clarityq
role: clarityq_reader
projects:
  - project: sales_prod
    tables: [Orders, customers, sales_*]
  - project: shared_dim
    project_actions: [List]
    tables: ['*']
    table_actions: [Describe, Select]
"""


def _one(**project: Any) -> dict[str, Any]:
    return {"projects": [{"project": "my_project", **project}]}


def _error(source: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        load_spec(source)
    return info.value


def test_default_spec_is_seed_000() -> None:
    spec = default_spec("my_analytics_project")
    assert (spec.ram_user, spec.role, spec.extra_roles) == ("clarityq", "clarityq_reader", ())
    (grants,) = spec.projects
    assert grants.project == "my_analytics_project"
    assert grants.project_actions == (ProjectAction.CREATE_INSTANCE, ProjectAction.LIST)
    assert grants.tables == "*"
    assert grants.all_tables
    assert grants.table_actions == (TableAction.DESCRIBE, TableAction.SELECT)
    assert not spec.allow_write_actions and not spec.allow_admin_roles


def test_yaml_text_with_lists_prefixes_and_two_projects() -> None:
    spec = load_spec(YAML_SPEC)
    first, second = spec.projects
    assert first.tables == ("orders", "customers", "sales_*")
    assert first.explicit_tables == ("orders", "customers")
    assert first.prefixes == ("sales_",)
    assert second.tables == "*"
    assert second.project_actions == (ProjectAction.LIST,)
    assert spec.project("shared_dim") is second


def test_json_text_dict_and_files_give_the_same_spec(tmp_path: Path) -> None:
    data = {"projects": [{"project": "my_project", "tables": ["a", "b"]}]}
    expected = load_spec(data)
    (tmp_path / "spec.json").write_text(json.dumps(data))
    (tmp_path / "spec.yaml").write_text("projects:\n  - project: my_project\n    tables: [a, b]\n")
    assert load_spec(json.dumps(data)) == expected
    assert load_spec(tmp_path / "spec.json") == expected
    assert load_spec(tmp_path / "spec.yaml") == expected
    assert load_spec(str(tmp_path / "spec.yaml")) == expected
    assert load_spec(expected) is expected


def test_single_strings_are_one_element_lists_and_duplicates_collapse() -> None:
    spec = load_spec(_one(project_actions="CreateInstance", tables=["T1", "t1", "t2"], table_actions="Select"))
    (grants,) = spec.projects
    assert grants.project_actions == (ProjectAction.CREATE_INSTANCE,)
    assert grants.tables == ("t1", "t2")
    assert grants.table_actions == (TableAction.SELECT,)


def test_a_lone_star_in_a_list_means_every_table() -> None:
    assert load_spec(_one(tables=["*"])).projects[0].tables == "*"


def test_star_next_to_tables_is_refused() -> None:
    assert _error(_one(tables=["a", "*"])).field == "projects[0].tables[1]"


def test_empty_table_list_is_refused() -> None:
    assert _error(_one(tables=[])).field == "projects[0].tables"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"role": "r; DROP ROLE admin", "projects": [{"project": "my_project"}]}, "role"),
        ({"ram_user": "clarity q", "projects": [{"project": "my_project"}]}, "ram_user"),
        ({"projects": [{"project": "my_project"}, {"project": "bad`proj"}]}, "projects[1].project"),
        (_one(tables=["a", "b", "c", "d'; --"]), "projects[0].tables[3]"),
        (_one(tables=["a", "ｔable"]), "projects[0].tables[1]"),
        (_one(tables=["a\u200bb"]), "projects[0].tables[0]"),
        (_one(tables=["sales\n_*"]), "projects[0].tables[0]"),
        ({"extra_roles": ["ok", 'x"y'], "projects": [{"project": "my_project"}]}, "extra_roles[1]"),
    ],
)
def test_bad_identifiers_name_the_field_path(spec: dict[str, Any], field: str) -> None:
    error = _error(spec)
    assert isinstance(error, InvalidIdentifierError)
    assert error.field == field
    assert f"'{field}'" in str(error)
    assert str(error).startswith("Access spec field")


def test_invalid_action_for_object_type_names_the_element() -> None:
    error = _error(_one(project_actions=["CreateInstance", "Select"]))
    assert error.field == "projects[0].project_actions[1]"
    assert "table action" in str(error)


def test_write_actions_are_refused_unless_allowed() -> None:
    error = _error(_one(table_actions=["Select", "Drop"]))
    assert error.field == "projects[0].table_actions"
    assert "Drop" in str(error)
    assert "All" in _error(_one(table_actions=["All"])).fix
    spec = load_spec({**_one(table_actions=["All"]), "allow_write_actions": True})
    assert TableAction.DROP in spec.projects[0].table_actions


def test_project_write_actions_are_refused_too() -> None:
    assert _error(_one(project_actions=["CreateInstance", "CreateTable"])).field == "projects[0].project_actions"


def test_table_reads_need_create_instance() -> None:
    error = _error(_one(project_actions=["List"]))
    assert error.field == "projects[0].project_actions"
    assert "CreateInstance" in str(error) and "Select" in str(error)


def test_describe_only_does_not_need_create_instance() -> None:
    spec = load_spec(_one(project_actions=["List"], table_actions=["Describe"]))
    assert spec.projects[0].table_actions == (TableAction.DESCRIBE,)


def test_cross_project_reads_need_create_instance_in_one_project() -> None:
    spec = load_spec(YAML_SPEC)  # shared_dim has only List: its tables are read from jobs in sales_prod
    assert ProjectAction.CREATE_INSTANCE not in spec.projects[1].project_actions
    only_list = {
        "projects": [
            {"project": "proj_a", "project_actions": ["List"]},
            {"project": "proj_b", "project_actions": ["List"]},
        ]
    }
    assert _error(only_list).field == "projects[0].project_actions"


def test_with_grant_option_is_refused() -> None:
    error = _error(_one(with_grant_option=True))
    assert error.field == "projects[0].with_grant_option"
    assert "WITH GRANT OPTION" in str(error)


def test_the_managed_role_can_never_be_a_builtin_or_dataworks_role() -> None:
    for role in ("admin", "Super_Administrator", "role_project_admin"):
        error = _error({"role": role, "allow_admin_roles": True, "projects": [{"project": "my_project"}]})
        assert error.field == "role"


def test_admin_extra_roles_need_the_flag() -> None:
    base = {"extra_roles": ["analyst", "role_project_admin"], "projects": [{"project": "my_project"}]}
    assert _error(base).field == "extra_roles[1]"
    assert load_spec({**base, "allow_admin_roles": True}).extra_roles == ("analyst", "role_project_admin")


def test_extra_roles_must_not_repeat_the_managed_role() -> None:
    assert (
        _error({"extra_roles": ["Clarityq_Reader"], "projects": [{"project": "my_project"}]}).field == "extra_roles[0]"
    )


def test_flags_are_strict_booleans() -> None:
    error = _error({**_one(table_actions=["All"]), "allow_write_actions": "yes"})
    assert error.field == "allow_write_actions"


def test_duplicate_projects_are_refused() -> None:
    error = _error({"projects": [{"project": "proj_a"}, {"project": "PROJ_A"}]})
    assert error.field == "projects[1].project"


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"projects": []}, "projects"),
        ({}, "projects"),
        ({"projects": [{"project": "my_project", "table": "*"}]}, "projects[0].table"),
        ({"rol": "x", "projects": [{"project": "my_project"}]}, "rol"),
        ("projects: [unclosed", "spec"),
        ('{"projects": ', "spec"),
        ("- just\n- a list\n", "spec"),
    ],
)
def test_structural_errors_name_the_field(source: Any, field: str) -> None:
    assert _error(source).field == field


def test_rendered_dag_params_are_validated_like_any_value() -> None:
    """Airflow renders templates first; a hostile param then fails here, naming the field."""
    params = {"project": "my_project", "table": "orders`; DROP TABLE x"}
    rendered = {"projects": [{"project": params["project"], "tables": [params["table"]]}]}
    assert _error(rendered).field == "projects[0].tables[0]"


def test_spec_is_immutable_and_hashable() -> None:
    spec = default_spec("my_project")
    with pytest.raises(ValidationError):
        spec.role = "other"
    assert hash(spec) == hash(default_spec("my_project"))
    assert isinstance(spec, AccessSpec)

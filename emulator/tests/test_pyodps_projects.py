"""Projects, instances, resources and role policies through unmodified pyodps, as documented."""

from __future__ import annotations

import itertools
import json

import pytest
from odps import ODPS, errors
from odps.models import Instance

pytestmark = pytest.mark.integration

_N = itertools.count(1)


def test_project_properties_extended_properties_and_the_project_list(odps: ODPS) -> None:
    project = odps.get_project()
    project.reload()
    assert project.properties["odps.sql.type.system.odps2"] == "true"
    extended = project.extended_properties
    assert int(extended["tableCount"]) >= 3
    assert [p.name for p in odps.list_projects()] == ["clarityq_demo"]
    assert [p.name for p in odps.list_projects(prefix="nothing")] == []


def test_instances_are_listed_newest_first_and_filtered(odps: ODPS, member: tuple[ODPS, str]) -> None:
    other, principal = member
    odps.execute_security_query(f"grant CreateInstance, List on project clarityq_demo to user {principal}")
    mine = [odps.execute_sql(f"SELECT {i}").id for i in range(3)]
    theirs = other.execute_sql("SELECT 42").id
    listed = [i.id for i in odps.list_instances()]
    assert listed.index(theirs) < listed.index(mine[2]) < listed.index(mine[1]) < listed.index(mine[0])
    only_mine = [i.id for i in other.list_instances(only_owner=True)]
    assert only_mine == [theirs]
    assert {i.id for i in odps.list_instances(status="Terminated")} >= set(mine)
    assert list(odps.list_instances(status="Running")) == []
    assert list(odps.list_instance_queueing_infos()) == []
    terminated = [i.instance_id for i in odps.list_instance_queueing_infos(status="Terminated")]
    assert set(mine) <= set(terminated)
    assert odps.exist_instance(mine[0]) and not odps.exist_instance("20000101000000nothere")
    assert odps.get_instance(mine[0]).status == Instance.Status.TERMINATED


def test_stopping_a_terminated_instance_is_an_invalid_state(odps: ODPS) -> None:
    instance = odps.execute_sql("SELECT 1")
    with pytest.raises(errors.InvalidStateSetting):
        instance.stop()


def test_listing_instances_needs_list(member: tuple[ODPS, str]) -> None:
    other, _ = member
    with pytest.raises(errors.NoPermission, match="odps:List"):
        list(other.list_instances())


def test_resources_are_created_listed_read_updated_and_deleted(odps: ODPS) -> None:
    name = f"res{next(_N)}.txt"
    odps.create_resource(name, "file", fileobj="hello world", comment="greeting")
    assert odps.exist_resource(name)
    resource = odps.get_resource(name)
    assert (resource.type.value, resource.comment, resource.size) == ("FILE", "greeting", 11)
    with odps.open_resource(name) as fp:
        assert fp.read() == "hello world"
    with odps.open_resource(name, mode="w") as fp:
        fp.write("changed")
    with odps.open_resource(name) as fp:
        assert fp.read() == "changed"
    assert name in [r.name for r in odps.list_resources()]
    assert [r.name for r in odps.list_resources(prefix=name)] == [name]
    with pytest.raises(errors.ObjectAlreadyExists):
        odps.create_resource(name, "file", fileobj="again")
    odps.create_resource(f"{name}.tab", "table", table_name="customers")
    assert odps.get_resource(f"{name}.tab").source_table_name.endswith("customers")
    odps.delete_resource(name)
    assert not odps.exist_resource(name)


def test_resources_follow_seed_002(odps: ODPS, member: tuple[ODPS, str]) -> None:
    other, principal = member
    name = f"res{next(_N)}.py"
    with pytest.raises(errors.NoPermission, match="odps:CreateResource"):
        other.create_resource(name, "py", fileobj="print(1)")
    odps.create_resource(name, "py", fileobj="print(1)")
    with pytest.raises(errors.NoPermission, match="odps:Read"):
        other.open_resource(name).read()
    odps.execute_security_query(f"grant Read on resource {name} to user {principal}")
    with other.open_resource(name) as fp:
        assert fp.read() == "print(1)"
    with pytest.raises(errors.NoPermission, match="odps:Delete"):
        other.delete_resource(name)
    odps.execute_security_query(f"grant CreateResource on project clarityq_demo to user {principal}")
    own = f"own{next(_N)}.py"
    other.create_resource(own, "py", fileobj="x = 1")  # a creator may read and delete its own resource
    other.delete_resource(own)


def test_role_policies_take_the_full_action_vocabulary(odps: ODPS) -> None:
    role = f"jobs{next(_N)}"
    odps.execute_security_query(f"create role {role}")
    policy = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["odps:CreateJob", "odps:CreateVolume", "odps:CreateInstance", "odps:List"],
                "Resource": ["acs:odps:*:projects/clarityq_demo"],
            },
            {"Effect": "Deny", "Action": ["odps:Download"], "Resource": ["acs:odps:*:projects/clarityq_demo/tables/*"]},
        ],
    }
    odps.set_role_policy(role, json.dumps(policy))
    assert odps.get_role_policy(role) == policy
    policy["Statement"][0]["Action"] = ["odps:Fly"]
    with pytest.raises(errors.ODPSError, match="invalid Action value - odps:Fly"):
        odps.set_role_policy(role, json.dumps(policy))

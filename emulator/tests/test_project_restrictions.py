"""Download control, the IP whitelist and the project state through unmodified pyodps, and the order in
which seed 003 checks them: user -> IP whitelist -> project state -> permission."""

from __future__ import annotations

import warnings
from xml.sax.saxutils import escape

import pytest
from clarityq_emulator import RunningEmulator
from odps import ODPS, errors
from reader_setup import Setup, sql_rows, with_reader

pytestmark = pytest.mark.integration


def setproject(s: Setup, *, state: str | None = None, **properties: str) -> None:
    """What ``setproject k=v;`` sends: a PUT of the project XML with the changed properties
    (``_`` in a keyword stands for ``.``)."""
    props = "".join(
        f"<Property><Name>{escape(k.replace('_', '.'))}</Name><Value>{escape(v)}</Value></Property>"
        for k, v in properties.items()
    )
    state_xml = f"<State>{state}</State>" if state else ""
    body = f"<Project><Name>{s.emu.info.project}</Name>{state_xml}<Properties>{props}</Properties></Project>"
    s.owner.rest.put(s.owner.get_project().resource(), data=body.encode())


@pytest.fixture
def s(clarityq_emulator: RunningEmulator) -> Setup:
    return with_reader(
        clarityq_emulator,
        "grant CreateInstance on project {project} to user {p}",
        "grant Describe, Select on table customers to user {p}",
    )


def _tunnel_rows(o: ODPS) -> int:
    with o.get_table("customers").open_reader() as r:
        return len(list(r))


def _sql_rows(o: ODPS) -> int:
    return len(sql_rows(o, "select name from customers"))


WHITELIST = "odps_security_ip_whitelist"


def test_download_control_gates_table_tunnel_downloads(s: Setup) -> None:
    assert _tunnel_rows(s.reader) == 5
    setproject(s, odps_security_enabledownloadprivilege="true")
    assert s.owner.get_project().properties["odps.security.enabledownloadprivilege"] == "true"
    with pytest.raises(errors.NoPermission) as denied:
        _tunnel_rows(s.reader)
    assert "Authorization Failed [4019], You have NO privilege 'odps:Download' on" in str(denied.value)
    assert "acs:odps:*:projects/clarityq_demo/tables/customers" in str(denied.value)
    # a SQL result without Download on the instance: pyodps falls back to a limited read, with a warning
    with pytest.warns(UserWarning, match="10000 records will be limited"):
        assert _sql_rows(s.reader) == 5
    instance = s.reader.execute_sql("select name from customers")
    s.owner.execute_security_query(f"grant Download on instance {instance.id} to user {s.principal}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with instance.open_reader(tunnel=True) as r:
            assert len(list(r)) == 5
    assert _tunnel_rows(s.owner) == 5  # the owner is exempt
    s.owner.execute_security_query(f"grant Download on table customers to user {s.principal}")
    assert _tunnel_rows(s.reader) == 5
    acl = s.owner.execute_security_query(f"show grants for {s.principal}")["ACL"][""]
    assert ["Describe", "Select", "Download"] in [e["Action"] for e in acl]
    s.owner.execute_security_query(f"revoke Download on table customers from user {s.principal}")
    with pytest.raises(errors.NoPermission, match="odps:Download"):
        _tunnel_rows(s.reader)
    setproject(s, odps_security_enabledownloadprivilege="false")
    assert _tunnel_rows(s.reader) == 5


def test_ip_whitelist_that_leaves_out_the_caller_denies_every_call(s: Setup) -> None:
    setproject(s, **{WHITELIST: "10.0.0.0/8,192.168.1.1-192.168.1.9"})
    expected = (
        "Access denied by project ip white list: sourceIP:'127.0.0.1' is not in white list. project: clarityq_demo"
    )
    with pytest.raises(errors.NoPermission) as denied:
        _sql_rows(s.reader)
    assert expected in str(denied.value)
    with pytest.raises(errors.NoPermission, match="ip white list"):
        s.reader.execute_security_query("whoami")
    with pytest.raises(errors.NoPermission, match="ip white list"):
        s.owner.get_project().reload()  # the owner too
    setproject(s, **{WHITELIST: "10.0.0.0/8,127.0.0.1"})  # the owner's way back in
    assert _sql_rows(s.reader) == 5
    setproject(s, **{WHITELIST: "127.0.0.0-127.0.0.5"})
    assert _sql_rows(s.reader) == 5
    setproject(s, **{WHITELIST: "", "odps_security_vpc_whitelist": "*"})  # a VPC-only list shuts out the rest
    with pytest.raises(errors.NoPermission, match="ip white list"):
        _sql_rows(s.reader)
    setproject(s, **{"odps_security_vpc_whitelist": ""})
    assert _sql_rows(s.reader) == 5
    with pytest.raises(errors.InvalidArgument, match="not an address, CIDR block or range"):
        setproject(s, **{WHITELIST: "10.0.0.0/33"})
    with pytest.raises(errors.NoPermission, match="odps:SetProjectProperty"):
        s.reader.rest.put(s.reader.get_project().resource(), data=b"<Project><Properties/></Project>")


def test_frozen_project_refuses_everything_until_the_owner_restores_it(s: Setup) -> None:
    setproject(s, state="FROZEN")
    with pytest.raises(errors.NoPermission) as denied:
        _sql_rows(s.reader)
    assert "Authorization Failed [4093], You have NO privilege to do the restricted operation on" in str(denied.value)
    assert "Access Mode is AllDenied." in str(denied.value)
    with pytest.raises(errors.NoPermission, match=r"\[4093\]"):
        s.owner.execute_security_query("list users")
    setproject(s, state="AVAILABLE")
    assert s.owner.get_project().status.value == "AVAILABLE"
    assert _sql_rows(s.reader) == 5
    s.owner.execute_security_query(f"grant super_administrator to {s.principal}")
    with pytest.raises(errors.NoPermission, match="only the project owner can change the project state"):
        s.reader.rest.put(s.reader.get_project().resource(), data=b"<Project><State>FROZEN</State></Project>")


def test_check_order_user_then_whitelist_then_state_then_permission(s: Setup) -> None:
    emu = s.emu
    emu.state.identity.create_user("stranger")
    key = emu.state.identity.create_access_key("stranger")
    stranger = ODPS(key.access_key_id, key.secret, emu.info.project, endpoint=emu.info.maxcompute_endpoint)
    s.owner.execute_security_query(f"revoke Select on table customers from user {s.principal}")
    with pytest.raises(errors.NoPermission, match=r"\[4019\]"):
        _sql_rows(s.reader)
    setproject(s, state="FROZEN")
    with pytest.raises(errors.NoPermission, match=r"\[4093\]"):
        _sql_rows(s.reader)
    setproject(s, **{WHITELIST: "10.1.1.1"})
    with pytest.raises(errors.NoPermission, match="ip white list"):
        _sql_rows(s.reader)
    with pytest.raises(errors.NoPermission, match=r"\[4002\], You don't exist in project clarityq_demo"):
        stranger.execute_security_query("whoami")


def test_role_policy_deny_wins_beside_project_policy_and_role_policy_grants_download(s: Setup) -> None:
    project = s.emu.info.project
    table = f"acs:odps:*:projects/{project}/tables/customers"
    s.owner.execute_security_query("create role analysts")
    s.owner.execute_security_query(f"grant analysts to {s.principal}")
    s.owner.set_project_policy(
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Principal": ["*"], "Action": ["odps:Select"], "Resource": [table]}],
        }
    )
    s.owner.set_role_policy(
        "analysts",
        {"Version": "1", "Statement": [{"Effect": "Deny", "Action": ["odps:Select"], "Resource": [table]}]},
    )
    with pytest.raises(errors.NoPermission) as denied:
        _sql_rows(s.reader)
    assert "Authorization Failed [4011], You have NO privilege 'odps:Select'" in str(denied.value)
    assert "Explicitly denied by policy." in str(denied.value)
    with pytest.raises(errors.NoPermission, match=r"\[4011\]"):
        _tunnel_rows(s.reader)
    assert s.owner.execute_security_query("get policy on role analysts")["Statement"][0]["Effect"] == "Deny"
    s.owner.set_role_policy(
        "analysts",
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["odps:Download"], "Resource": [table]}]},
    )
    setproject(s, odps_security_enabledownloadprivilege="true")
    assert _tunnel_rows(s.reader) == 5  # Download granted by the role policy

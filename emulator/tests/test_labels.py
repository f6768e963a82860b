"""Label-based access control through unmodified pyodps: the owner labels tables, columns, users and
roles, the reader is held to No-ReadUp column by column on SQL and on the table tunnel."""

from __future__ import annotations

from pathlib import Path

import pytest
from clarityq_emulator import RunningEmulator, start_emulator
from clarityq_emulator.maxcompute.security import parser as sp
from odps import ODPS, errors
from reader_setup import Setup, owner_client, text_form, with_reader
from reader_setup import sql_rows as _rows

pytestmark = pytest.mark.integration


@pytest.fixture
def s(clarityq_emulator: RunningEmulator) -> Setup:
    """Seed 000's reader: member with a role holding CreateInstance and Describe, Select on customers."""
    return with_reader(
        clarityq_emulator,
        "create role clarityq_reader",
        "grant CreateInstance on project {project} to role clarityq_reader",
        "grant Describe, Select on table customers to role clarityq_reader",
        "grant clarityq_reader to {p}",
    )


def test_label_statements_parse() -> None:
    assert sp.parse_statement("SET LabelSecurity=false").__class__.__name__ == "SetSwitch"
    with pytest.raises(sp.SecurityParseError):
        sp.parse_statement("set label 10 to table t")
    with pytest.raises(sp.SecurityParseError):
        sp.parse_statement("revoke label 2 on table t from role r")
    with pytest.raises(sp.NotSupported):
        sp.parse_statement("set ProjectProtection=true")


def test_no_read_up_column_by_column_on_sql_and_tunnel(s: Setup) -> None:
    owner, reader = s.owner, s.reader
    assert owner.execute_security_query("SET LabelSecurity=true") == "OK"
    assert owner.get_project().security_options.label_security is True
    owner.execute_security_query("SET LABEL 2 TO TABLE customers(lifetime_value)")
    assert len(_rows(reader, "select name, country from customers where is_active")) == 4
    with pytest.raises(errors.NoPermission) as denied:
        _rows(reader, "select name, lifetime_value from customers")
    text = str(denied.value)
    assert "ODPS-0130013:Authorization exception - Authorization Failed [4031]" in text
    assert "CheckLabelSecurity failed. The sensitive label of column 'lifetime_value' is 2" in text
    assert "but your effective label is 0" in text
    with pytest.raises(errors.NoPermission, match=r"\[4031\]"):
        _rows(reader, "select * from customers")
    with pytest.raises(errors.NoPermission, match=r"\[4031\]"):  # a filter discloses the column too
        _rows(reader, "select name from customers where lifetime_value > 1000")
    table = reader.get_table("customers")
    with table.open_reader(columns=["name", "country"]) as r:
        assert r.count == 5
        assert len(list(r)) == 5
    with pytest.raises(errors.NoPermission, match="column 'lifetime_value' is 2"), table.open_reader() as r:
        list(r)
    # the fix named by the health check: clear the reader to level 2
    owner.execute_security_query(f"SET LABEL 2 TO USER {s.principal}")
    assert len(_rows(reader, "select * from customers")) == 5
    owner.execute_security_query("SET LabelSecurity=false")
    owner.execute_security_query(f"SET LABEL 0 TO USER {s.principal}")
    assert len(_rows(reader, "select * from customers")) == 5


def test_column_label_beats_table_label_and_roles_carry_levels(s: Setup) -> None:
    owner, reader = s.owner, s.reader
    owner.execute_security_query("set LabelSecurity=true")
    owner.execute_security_query("set label 1 to table customers(country)")
    owner.execute_security_query("set label 3 to table customers")
    owner.execute_security_query("set label 1 to role clarityq_reader")
    with pytest.raises(errors.NoPermission, match="column 'customer_id' is 3, but your effective label is 1"):
        _rows(reader, "select customer_id, country from customers")
    assert _rows(reader, "select country from customers where country = 'SG'") == [["SG"]]
    owner.execute_security_query("set label 3 to role clarityq_reader")
    assert len(_rows(reader, "select customer_id, country from customers")) == 5
    # the project owner is exempt from No-ReadUp
    assert len(_rows(owner, "select * from customers")) == 5


def test_grant_label_expires_on_the_emulator_clock(s: Setup) -> None:
    owner, reader = s.owner, s.reader
    owner.execute_security_query("set LabelSecurity=true")
    owner.execute_security_query("set label 3 to table customers")
    owner.execute_security_query(f"grant label 3 on table customers(name, country) to user {s.principal} with exp 1")
    assert len(_rows(reader, "select name, country from customers")) == 5
    with pytest.raises(errors.NoPermission, match="column 'customer_id' is 3"):
        _rows(reader, "select customer_id, name from customers")
    mine = reader.execute_security_query("show label grants")
    assert mine["UserLabel"] == 0
    assert [(g["Table"], g["Column"], g["GrantedLabel"], g["Expired"]) for g in mine["Grants"]] == [
        ("customers", "country", 3, False),
        ("customers", "name", 3, False),
    ]
    s.emu.advance_clock(2 * 86400)
    with pytest.raises(errors.NoPermission, match="column 'name' is 3, but your effective label is 0"):
        _rows(reader, "select name from customers")
    text = text_form(owner, f"show label grants on table customers for user {s.principal}")
    assert text.startswith("User Label: 0\n+")
    assert "| Column  | GrantedLabel | Expires" in text
    assert owner.execute_security_query("clear expired grants") == "OK"
    assert owner.execute_security_query("show label grants on table customers")["Grants"] == []


def test_role_grant_revoke_and_table_grant(s: Setup) -> None:
    owner, reader = s.owner, s.reader
    owner.execute_security_query("set LabelSecurity=true")
    owner.execute_security_query("set label 4 to table customers(lifetime_value)")
    owner.execute_security_query("grant label 4 on table customers to role clarityq_reader")
    assert len(_rows(reader, "select * from customers")) == 5
    grants = owner.execute_security_query("show label 4 grants on table customers")["Grants"]
    assert [(g["Principal"], g["Column"]) for g in grants] == [("role/clarityq_reader", "")]
    owner.execute_security_query("revoke label on table customers from role clarityq_reader")
    with pytest.raises(errors.NoPermission, match=r"\[4031\]"):
        _rows(reader, "select lifetime_value from customers")


def test_labels_show_in_table_metadata_and_follow_the_table(s: Setup) -> None:
    owner = s.owner
    owner.execute_security_query("set label 2 to table customers(lifetime_value)")
    owner.execute_security_query("set label 1 to table customers")
    table = owner.get_table("customers")
    assert table.table_label == "1"
    labels = {c.name: c.label for c in table.table_schema.simple_columns}
    assert labels["lifetime_value"] == "2"
    assert labels["name"] is None
    owner.execute_sql("drop table customers")
    assert s.emu.state.security.get(s.emu.info.project).labels.columns == {}


def test_who_may_change_labels(s: Setup) -> None:
    owner, reader = s.owner, s.reader
    with pytest.raises(errors.NoPermission, match="odps:Grant"):
        reader.execute_security_query(f"set label 9 to user {s.principal}")
    with pytest.raises(errors.NoPermission, match="odps:SetSecurityConfiguration"):
        reader.execute_security_query("set LabelSecurity=true")
    owner.execute_security_query(f"grant admin to {s.principal}")
    reader.execute_security_query("set label 1 to table customers(name)")  # Admin labels objects
    with pytest.raises(errors.NoPermission, match="odps:SetSecurityConfiguration"):
        reader.execute_security_query("set LabelSecurity=true")  # but cannot change the configuration
    with pytest.raises(errors.InvalidArgument, match="partition key column ds cannot be labelled"):
        owner.execute_security_query("set label 2 to table orders(ds)")
    s.emu.state.identity.create_user("outsider")
    with pytest.raises(errors.NoSuchObject, match="not a member"):
        owner.execute_security_query(f"set label 2 to user RAM${s.emu.info.account_id}:outsider")
    options_ = owner.get_project().security_options
    options_.label_security = True
    options_.update()
    assert s.emu.state.security.get(s.emu.info.project).labels.enabled is True


def test_labels_packages_and_settings_survive_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    with start_emulator(state_file=state_file) as emu:
        info = emu.info
        owner = owner_client(emu)
        owner.execute_security_query("set LabelSecurity=true")
        owner.execute_security_query("set label 2 to table customers(name)")
        owner.execute_security_query("create package shared")
        owner.execute_security_query("add table customers to package shared")
        owner.execute_security_query("create role r")
        owner.execute_security_query("grant label 2 on table customers(name) to role r with exp 3")
    with start_emulator(state_file=state_file) as emu:
        owner = ODPS(info.access_key_id, info.access_key_secret, info.project, endpoint=emu.info.maxcompute_endpoint)
        assert owner.get_project().security_options.label_security is True
        assert {c.name: c.label for c in owner.get_table("customers").table_schema.simple_columns}["name"] == "2"
        assert owner.execute_security_query("describe package shared")["Objects"][0]["ObjectName"] == "customers"
        grants = owner.execute_security_query("show label grants on table customers")["Grants"]
        assert [(g["Principal"], g["Column"], g["GrantedLabel"]) for g in grants] == [("role/r", "name", 2)]

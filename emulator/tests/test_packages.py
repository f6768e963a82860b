"""Packages through unmodified pyodps: seed 003's flows 5 (grant to the user) and 6 (grant to a role).

Project ``provider_b`` owns the data and shares it; ``clarityq_demo`` (A) installs the package; the
reader is a member of A only and reads ``provider_b.sales`` with A as its current project.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from clarityq_emulator import start_emulator
from clarityq_emulator.core.state import default_seed
from clarityq_emulator.maxcompute.security import parser as sp
from odps import errors
from reader_setup import Setup, with_reader
from reader_setup import sql_rows as _rows

pytestmark = pytest.mark.integration

B = "provider_b"


@dataclass
class Packages(Setup):
    """The restriction set-up, with the statements of each side."""

    @property
    def a(self) -> str:
        return self.emu.info.project

    def in_b(self, statement: str) -> object:
        return self.owner.execute_security_query(statement, project=B)

    def in_a(self, statement: str) -> object:
        return self.owner.execute_security_query(statement)


def _two_projects() -> dict[str, object]:
    seed = default_seed()
    seed["projects"].append(
        {
            "name": B,
            "resources": ["udtf.jar"],
            "tables": [
                {
                    "name": "sales",
                    "columns": [
                        {"name": "id", "type": "bigint"},
                        {"name": "amount", "type": "double"},
                        {"name": "note", "type": "string"},
                    ],
                    "rows": [[1, 2.5, "a"], [2, 4.0, "b"]],
                },
                {"name": "private", "columns": [{"name": "x", "type": "bigint"}], "rows": [[1]]},
            ],
        }
    )
    return seed


@pytest.fixture
def s() -> Iterator[Packages]:
    with start_emulator(seed=_two_projects()) as emu:
        base = with_reader(emu, "grant CreateInstance on project {project} to user {p}")
        yield Packages(base.emu, base.owner, base.reader, base.principal)


def _share(s: Packages) -> None:
    s.in_b("create package datashare")
    s.in_b("add table sales to package datashare")
    s.in_b("add resource udtf.jar to package datashare")
    s.in_b(f"allow project {s.a} to install package datashare")


def test_package_statements_parse() -> None:
    assert sp.parse_statement("delete package p") == sp.parse_statement("DROP PACKAGE p")
    with pytest.raises(sp.SecurityParseError):
        sp.parse_statement("install package datashare")  # the provider project is required
    with pytest.raises(sp.SecurityParseError):
        sp.parse_statement("add project x to package p")


def test_flow_5_reader_reads_another_projects_table_through_the_installed_package(s: Packages) -> None:
    _share(s)
    sql = f"select id, amount from {B}.sales order by id"
    with pytest.raises(errors.NoPermission, match=rf"\[4002\], You don't exist in project {B}"):
        _rows(s.reader, sql)
    assert s.in_a(f"install package {B}.datashare") == "OK"
    with pytest.raises(errors.NoPermission) as missing:
        _rows(s.reader, sql)
    assert (
        f"Resource has been intalled, You Need 'odps:Read' privilege on one of following packages {B}.datashare"
        in str(missing.value)
    )
    s.in_a(f"grant Read on package {B}.datashare to user {s.principal}")
    assert _rows(s.reader, sql) == [[1, 2.5], [2, 4.0]]
    acl = s.reader.execute_security_query("show grants")["ACL"][""]
    assert [(e["Resource"], e["Action"]) for e in acl] == [
        ([f"projects/{s.a}"], ["CreateInstance"]),
        ([f"projects/{s.a}/packages/{B}.datashare"], ["Read"]),
    ]
    # objects outside the package stay closed
    with pytest.raises(errors.NoPermission, match=rf"You don't exist in project {B}"):
        _rows(s.reader, f"select x from {B}.private")
    # uninstalling takes the package grant with it
    s.in_a(f"uninstall package {B}.datashare")
    assert len(s.reader.execute_security_query("show grants")["ACL"][""]) == 1
    with pytest.raises(errors.NoPermission, match=r"\[4002\]"):
        _rows(s.reader, sql)


def test_flow_6_through_a_role_and_the_label_cap(s: Packages) -> None:
    _share(s)
    s.in_a(f"install package {B}.datashare")
    s.in_a("create role partner_reader")
    s.in_a(f"grant Read on package {B}.datashare to role partner_reader")
    s.in_a(f"grant partner_reader to {s.principal}")
    assert len(_rows(s.reader, f"select * from {B}.sales")) == 2
    s.in_b("set LabelSecurity=true")
    s.in_b("set label 1 to table sales(note)")
    with pytest.raises(errors.NoPermission, match="column 'note' is 1, but your effective label is 0"):
        _rows(s.reader, f"select * from {B}.sales")
    assert len(_rows(s.reader, f"select id from {B}.sales")) == 2
    s.in_b(f"allow project {s.a} to install package datashare using label 1")
    assert len(_rows(s.reader, f"select * from {B}.sales")) == 2
    s.in_b(f"disallow project {s.a} to install package datashare")
    with pytest.raises(errors.NoPermission, match=r"\[4002\]"):
        _rows(s.reader, f"select id from {B}.sales")


def test_describe_and_show_packages(s: Packages) -> None:
    _share(s)
    s.in_b("add table private to package datashare with privileges Describe")
    s.in_a(f"install package {B}.datashare")
    described = s.in_a(f"describe package {B}.datashare")
    assert described["PackageName"] == "datashare"
    assert described["SourceProject"] == B
    assert described["Objects"] == [
        {"ObjectType": "RESOURCE", "ObjectName": "udtf.jar", "ObjectPrivileges": "Read"},
        {"ObjectType": "TABLE", "ObjectName": "private", "ObjectPrivileges": "Describe"},
        {"ObjectType": "TABLE", "ObjectName": "sales", "ObjectPrivileges": "Describe,Select"},
    ]
    assert described["AllowedProjects"] == [{"ProjectName": s.a, "UserLabel": 0}]
    assert s.in_b("describe package datashare") == described
    created = s.in_b("show packages")
    assert [p["name"] for p in created["createdPackages"]] == ["datashare"]
    installed = s.in_a("show packages")["installedPackages"]
    assert [(p["name"], p["sourceProject"], p["status"]) for p in installed] == [("datashare", B, "OK")]
    # a Describe-only object is not readable through the package
    s.in_a(f"grant Read on package {B}.datashare to user {s.principal}")
    with pytest.raises(errors.NoPermission, match=r"\[4002\]"):
        _rows(s.reader, f"select x from {B}.private")


def test_package_errors(s: Packages) -> None:
    s.in_b("create package datashare")
    with pytest.raises(errors.NoPermission, match="is not allowed to install package"):
        s.in_a(f"install package {B}.datashare")
    with pytest.raises(errors.ObjectAlreadyExists):
        s.in_b("create package datashare")
    with pytest.raises(errors.NoSuchTable):
        s.in_b("add table nothing to package datashare")
    with pytest.raises(errors.InvalidArgument, match="invalid privilege type Insert"):
        s.in_b("add table sales to package datashare with privileges Insert")
    with pytest.raises(errors.NoSuchObject):
        s.in_a(f"grant Read on package {B}.datashare to user {s.principal}")  # not installed here
    with pytest.raises(errors.NoPermission, match="odps:InstallPackage"):
        s.reader.execute_security_query(f"install package {B}.datashare")
    s.in_b(f"allow project {s.a} to install package datashare")
    s.in_a(f"install package {B}.datashare")
    with pytest.raises(errors.ObjectAlreadyExists):
        s.in_a(f"install package {B}.datashare")
    s.in_b("drop package datashare")
    assert s.in_a("show packages")["installedPackages"] == []

"""Seed 000 (ClarityQ's MaxCompute setup guide), replayed step by step against the emulator.

Only unmodified pyodps and the Alibaba RAM/STS SDKs are used -- no provider code -- so this is
what a customer following the guide would see.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.utils_models import Config
from clarityq_emulator import RunningEmulator
from odps import ODPS, errors, options

pytestmark = pytest.mark.integration


@dataclass
class Setup:
    emu: RunningEmulator
    owner: ODPS
    ram: RamClient
    account_uid: str
    user_uid: str
    access_key_id: str
    access_key_secret: str

    def clarityq(self, secret: str | None = None) -> ODPS:
        info = self.emu.info
        return ODPS(
            self.access_key_id, secret or self.access_key_secret, info.project, endpoint=info.maxcompute_endpoint
        )


def _config(emu: RunningEmulator, ak: str, sk: str) -> Config:
    return Config(access_key_id=ak, access_key_secret=sk, endpoint=emu.info.ram_endpoint, protocol="http")


@pytest.fixture
def setup(clarityq_emulator: RunningEmulator) -> Setup:
    """Steps 1-3a of the guide: RAM user ``clarityq``, its AccessKey, and both UIDs."""
    options.retry_times = 0
    emu = clarityq_emulator
    info = emu.info
    ram = RamClient(_config(emu, info.access_key_id, info.access_key_secret))
    ram.create_user(ram_models.CreateUserRequest(user_name="clarityq"))
    key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="clarityq")).body.access_key
    # Main account UID: who the owner's key belongs to; RAM user UID: from GetUser.
    account_uid = (
        StsClient(_config(emu, info.access_key_id, info.access_key_secret)).get_caller_identity().body.account_id
    )
    user_uid = ram.get_user(ram_models.GetUserRequest(user_name="clarityq")).body.user.user_id
    owner = ODPS(info.access_key_id, info.access_key_secret, info.project, endpoint=info.maxcompute_endpoint)
    return Setup(emu, owner, ram, account_uid, user_uid, key.access_key_id, key.access_key_secret)


def _grant_as_the_guide_says(s: Setup, table: str = "*") -> None:
    project = s.emu.info.project
    for statement in (
        f"ADD USER RAM${s.account_uid}:{s.user_uid};",
        "CREATE ROLE clarityq_reader;",
        f"GRANT CreateInstance, List ON PROJECT {project} TO ROLE clarityq_reader;",
        f"GRANT Describe, Select ON TABLE {table} TO ROLE clarityq_reader;",
        f"GRANT clarityq_reader TO RAM${s.account_uid}:{s.user_uid};",
    ):
        assert s.owner.execute_security_query(statement) == "OK"


def test_the_uids_are_the_ones_the_console_would_show(setup: Setup) -> None:
    assert setup.account_uid == setup.emu.info.account_id
    sts_as_user = StsClient(_config(setup.emu, setup.access_key_id, setup.access_key_secret))
    me = sts_as_user.get_caller_identity().body
    assert (me.account_id, me.user_id) == (setup.account_uid, setup.user_uid)
    assert setup.user_uid.isdigit()
    assert setup.user_uid != setup.account_uid


def test_seed_000_end_to_end(setup: Setup) -> None:
    project = setup.emu.info.project
    clarityq = setup.clarityq()

    # Before ADD USER the key authenticates but is not a project member.
    with pytest.raises(errors.NoPermission, match=rf"\[4002\], You don't exist in project {project}"):
        clarityq.get_project(project).reload()

    _grant_as_the_guide_says(setup)

    # Step 6: the connection test -- project visible, tables listed, schema described, SELECT works.
    clarityq = setup.clarityq()
    assert clarityq.get_project(project).name == project
    assert clarityq.exist_project(project)
    tables = {t.name for t in clarityq.list_tables()}
    assert {"customers", "orders", "products"} <= tables
    columns = [c.name for c in clarityq.get_table("customers").table_schema.columns]
    assert columns[:3] == ["customer_id", "name", "country"]
    instance = clarityq.execute_sql("select order_id, amount from orders where status = 'shipped' order by order_id")
    with instance.open_reader() as reader:
        assert [r["order_id"] for r in reader] == [1001, 1003, 1006]

    # A read-only role: writes, DDL and drops are refused with the action named.
    for sql, action in (
        ("insert into customers (customer_id, name) values (99, 'x')", "odps:Update"),
        ("create table clarityq_scratch (a bigint)", "odps:CreateTable"),
        ("drop table orders", "odps:Drop"),
    ):
        with pytest.raises(errors.NoPermission, match=rf"\[4019\], You have NO privilege '{action}'"):
            clarityq.execute_sql(sql)
    assert setup.owner.exist_table("orders")
    assert not setup.owner.exist_table("clarityq_scratch")

    # Without CreateInstance no SQL runs at all, and the denial says why.
    setup.owner.execute_security_query(f"REVOKE CreateInstance ON PROJECT {project} FROM ROLE clarityq_reader;")
    with pytest.raises(errors.NoPermission, match=r"NO privilege 'odps:CreateInstance' on \{acs:odps:\*:projects/"):
        clarityq.execute_sql("select count(*) from customers")
    assert {t.name for t in clarityq.list_tables()} == tables  # List was not revoked


def test_per_table_variant_grants_only_the_named_table(setup: Setup) -> None:
    _grant_as_the_guide_says(setup, table="orders")
    clarityq = setup.clarityq()
    with clarityq.execute_sql("select count(*) as n from orders").open_reader() as reader:
        assert [r["n"] for r in reader] == [6]
    with pytest.raises(
        errors.NoPermission, match=r"'odps:Select' on \{acs:odps:\*:projects/[a-z_]+/tables/customers\}"
    ):
        clarityq.execute_sql("select count(*) from customers")
    with pytest.raises(errors.NoPermission, match="odps:Describe"):
        clarityq.get_table("customers").reload()


def test_troubleshooting_wrong_secret_and_inactive_key(setup: Setup) -> None:
    _grant_as_the_guide_says(setup)
    project = setup.emu.info.project
    with pytest.raises(errors.SignatureNotMatch):
        setup.clarityq(secret="x" * 30).get_project(project).reload()
    setup.clarityq().get_project(project).reload()

    setup.ram.update_access_key(
        ram_models.UpdateAccessKeyRequest(
            user_name="clarityq", user_access_key_id=setup.access_key_id, status="Inactive"
        )
    )
    with pytest.raises(errors.Unauthorized, match="disabled"):
        setup.clarityq().get_project(project).reload()

    setup.ram.update_access_key(
        ram_models.UpdateAccessKeyRequest(user_name="clarityq", user_access_key_id=setup.access_key_id, status="Active")
    )
    assert setup.clarityq().get_project(project).name == project


def test_guide_statements_are_logged_in_order(setup: Setup) -> None:
    setup.emu.clear_requests()
    _grant_as_the_guide_says(setup)
    logged = [e["statement"] for e in setup.emu.requests() if e["path"].endswith("/authorization")]
    assert logged == [
        f"ADD USER RAM${setup.account_uid}:{setup.user_uid};",
        "CREATE ROLE clarityq_reader;",
        f"GRANT CreateInstance, List ON PROJECT {setup.emu.info.project} TO ROLE clarityq_reader;",
        "GRANT Describe, Select ON TABLE * TO ROLE clarityq_reader;",
        f"GRANT clarityq_reader TO RAM${setup.account_uid}:{setup.user_uid};",
    ]

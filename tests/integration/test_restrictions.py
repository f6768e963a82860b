"""Restrictions end to end: the owner sets each up by hand, the nightly health DAG names the cause and the exact
fix, the fix applied by hand makes it pass; a spec with the restriction options converges.

These need the emulator's label security, project properties (IP whitelist, download control) and project
state; they run against the real pyodps, RAM SDK and Airflow like every integration test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import escape

import pytest
from clarityq_emulator import RunningEmulator
from health_dag_runs import HEALTH_DAG, PROJECT, check, run_dag
from support import admin_connection, mutating, odps_as

from airflow_provider_clarityq.core.alibaba.clients import ClientBundle
from airflow_provider_clarityq.core.connection import parse_connection
from airflow_provider_clarityq.core.grants.backend import AlibabaBackend, CountingBackend
from airflow_provider_clarityq.core.grants.run import run_access
from airflow_provider_clarityq.core.grants.spec import load_spec

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]


def setproject(owner: Any, *, state: str | None = None, **properties: str) -> None:
    """What ``setproject k=v;`` sends: a PUT of the project XML (``_`` in a keyword stands for ``.``)."""
    props = "".join(
        f"<Property><Name>{escape(k.replace('_', '.'))}</Name><Value>{escape(v)}</Value></Property>"
        for k, v in properties.items()
    )
    state_xml = f"<State>{state}</State>" if state else ""
    body = f"<Project><Name>{PROJECT}</Name>{state_xml}<Properties>{props}</Properties></Project>"
    owner.odps.rest.put(owner.odps.get_project().resource(), data=body.encode())


def adopt(owner: Any, reader: Any) -> None:
    """Mark the hand-made reader as the provider's, as adopting it deliberately does: specs act only on such users."""
    from alibabacloud_ram20150501 import models as ram_models

    from airflow_provider_clarityq.core.managed_user import MANAGED_MARKER

    owner.ram.update_user(ram_models.UpdateUserRequest(user_name=reader.user_name, new_comments=MANAGED_MARKER))


def _failing_check(report: dict[str, Any]) -> dict[str, Any]:
    failed = [c for c in report["checks"] if c["status"] in ("fail", "warn")]
    assert failed, report["summary"]
    return failed[0]  # type: ignore[no-any-return]


def test_label_too_high_fails_with_set_label_and_passes_once_set(owner: Any, reader: Any, connect: Any) -> None:
    owner.odps.set_security_option("LabelSecurity", True)
    owner.run("SET LABEL 3 TO TABLE customers(name);")
    health = run_dag(HEALTH_DAG)
    assert health.state == "failed"
    report = health.report("check_connection")
    query = check(report, "query_works")
    assert (query["status"], query["code"]) == ("fail", "LABEL_TOO_LOW")
    assert f"SET LABEL 3 TO USER {reader.principal};" in query["remediation"]
    assert f"GRANT LABEL 3 ON TABLE customers(name) TO USER {reader.principal} WITH EXP 180;" in query["remediation"]
    owner.run(f"SET LABEL 3 TO USER {reader.principal};")
    assert run_dag(HEALTH_DAG).state == "success"


def test_clearance_above_the_declared_level_is_flagged_only_when_declared(
    owner: Any, reader: Any, connect: Any
) -> None:
    from airflow_provider_clarityq.core.health.probe import MaxComputeProbe
    from airflow_provider_clarityq.core.health.runner import run_health_checks
    from airflow_provider_clarityq.operators.validation import ClarityQValidationOperator

    owner.odps.set_security_option("LabelSecurity", True)
    owner.run(f"SET LABEL 3 TO USER {reader.principal};")
    probe = MaxComputeProbe(ClientBundle(parse_connection(connect())))

    def audit(**declared: Any) -> Any:
        task = ClarityQValidationOperator(task_id="check", maxcompute_conn_id="clarityq_reader", **declared)
        return run_health_checks(probe, task.health_options()).check("least_privilege")

    flagged = audit(label_access_level=1)
    assert (flagged.status, flagged.code) == ("warn", "EXCESS_PRIVILEGES")
    assert "label access level 3, above the 1" in flagged.message
    assert f"SET LABEL 1 TO USER {reader.principal};" in (flagged.remediation or "")
    assert audit().status == "pass"  # nothing declared: the owner's choice


def test_ip_whitelist_names_the_task_address_and_clarityq_egress(owner: Any, connect: Any) -> None:
    setproject(owner, odps_security_ip_whitelist="10.0.0.0/8")
    health = run_dag(HEALTH_DAG)
    assert health.state == "failed"
    found = _failing_check(health.report("check_connection"))
    assert found["code"] == "IP_NOT_WHITELISTED"
    assert "127.0.0.1" in found["message"]
    assert "ClarityQ's egress addresses" in found["remediation"]
    setproject(owner, odps_security_ip_whitelist="10.0.0.0/8,127.0.0.1")
    assert run_dag(HEALTH_DAG).state == "success"


def test_frozen_project_is_not_normal_with_no_statement_to_fix_it(owner: Any, connect: Any) -> None:
    setproject(owner, state="FROZEN")
    health = run_dag(HEALTH_DAG)
    assert health.state == "failed"
    found = _failing_check(health.report("check_connection"))
    assert found["code"] == "PROJECT_NOT_NORMAL"
    assert "unfreezes" in found["remediation"]
    setproject(owner, state="AVAILABLE")
    assert run_dag(HEALTH_DAG).state == "success"


def test_download_control_warns_with_the_download_grant_and_passes_once_granted(owner: Any, connect: Any) -> None:
    setproject(owner, odps_security_enabledownloadprivilege="true")
    health = run_dag(HEALTH_DAG)
    assert health.state == "failed"
    query = check(health.report("check_connection"), "query_works")
    assert (query["status"], query["code"]) == ("warn", "DOWNLOAD_NOT_GRANTED")
    assert "GRANT Download ON TABLE customers TO ROLE clarityq_reader;" in query["remediation"]
    owner.run("GRANT Download ON TABLE customers TO ROLE clarityq_reader;")
    health = run_dag(HEALTH_DAG)
    assert health.state == "success"
    assert "download control is on" in check(health.report("check_connection"), "query_works")["message"]


def test_deny_policy_names_the_policy_to_edit_and_passes_once_removed(owner: Any, reader: Any, connect: Any) -> None:
    deny = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": [reader.principal],
                "Action": ["odps:Select"],
                "Resource": [f"acs:odps:*:projects/{PROJECT}/tables/customers"],
            }
        ],
    }
    owner.odps.set_project_policy(json.dumps(deny))
    health = run_dag(HEALTH_DAG)
    assert health.state == "failed"
    query = check(health.report("check_connection"), "query_works")
    assert (query["status"], query["code"]) == ("fail", "DENIED_BY_POLICY")
    assert "GET POLICY;" in query["remediation"]
    owner.odps.set_project_policy(json.dumps({"Version": "1", "Statement": []}))
    assert run_dag(HEALTH_DAG).state == "success"


def test_dataworks_development_role_is_explained_and_flagged(owner: Any, reader: Any, connect: Any) -> None:
    owner.run(f"GRANT role_project_dev TO {reader.principal};")
    health = run_dag(HEALTH_DAG)
    assert health.state == "failed"
    audit = check(health.report("check_connection"), "least_privilege")
    assert (audit["status"], audit["code"]) == ("warn", "EXCESS_PRIVILEGES")
    explained = " ".join(audit["details"]["roles_explained"])
    assert "role_project_dev: DataWorks" in explained
    assert "write/admin power" in explained
    assert f"REVOKE role_project_dev FROM {reader.principal};" in audit["remediation"]
    owner.run(f"REVOKE role_project_dev FROM {reader.principal};")
    assert run_dag(HEALTH_DAG).state == "success"


def test_spec_with_label_and_download_options_converges(emulator: RunningEmulator, owner: Any, reader: Any) -> None:
    info = emulator.info
    adopt(owner, reader)
    fields = admin_connection(emulator)
    fields["extra"] = json.dumps(fields["extra"])
    owner.odps.set_security_option("LabelSecurity", True)
    owner.run("SET LABEL 2 TO TABLE customers(name);")
    setproject(owner, odps_security_enabledownloadprivilege="true")
    spec = load_spec(
        {
            "projects": [
                {
                    "project": info.project,
                    "tables": ["customers"],
                    "label_access_level": 1,
                    "label_grants": [{"table": "customers", "columns": ["name"], "level": 2}],
                    "download": True,
                }
            ]
        }
    )
    first = run_access(AlibabaBackend(ClientBundle(parse_connection(fields))), spec, "apply")
    executed = [r.step.statement for r in first.steps if r.outcome == "executed"]
    assert f"SET LABEL 1 TO USER {reader.principal}" in executed
    assert "GRANT Download ON TABLE customers TO ROLE clarityq_reader" in executed
    assert first.verified is True
    emulator.clear_requests()
    counting = CountingBackend(AlibabaBackend(ClientBundle(parse_connection(fields))))
    second = run_access(counting, spec, "apply")
    assert second.plan.steps == ()
    assert mutating(emulator.requests()) == []
    assert "maxcompute:put_role_policy" not in counting.counts
    with odps_as(emulator, reader.access_key_id, reader.access_key_secret).get_table("customers").open_reader() as rows:
        assert len(list(rows)) == 5  # Download granted, the labelled column readable through the label grant
    # By hand, beyond the spec: Download on orders for the role, a label grant on orders for the reader.
    owner.run(
        "GRANT Download ON TABLE orders TO ROLE clarityq_reader;",
        f"GRANT LABEL 2 ON TABLE orders TO USER {reader.principal};",
    )
    synced = run_access(AlibabaBackend(ClientBundle(parse_connection(fields))), spec, "sync")
    revoked = [r.step.statement for r in synced.steps if r.outcome == "executed" and r.step.destructive]
    assert f"REVOKE LABEL ON TABLE orders FROM USER {reader.principal}" in revoked
    assert "REVOKE Download ON TABLE orders FROM ROLE clarityq_reader" in revoked
    assert synced.verified is True, (synced.remaining, [(r.step.statement, r.outcome) for r in synced.steps])
    emulator.clear_requests()
    assert run_access(AlibabaBackend(ClientBundle(parse_connection(fields))), spec, "sync").plan.steps == ()
    assert mutating(emulator.requests()) == []


PROVIDER = "provider_b"


def _two_projects() -> dict[str, Any]:
    from clarityq_emulator.core.state import default_seed

    seed: dict[str, Any] = default_seed()
    seed["projects"][0]["dataworks"] = "dev"  # the DataWorks roles of a development workspace (seed 003)
    columns = [{"name": "id", "type": "bigint"}, {"name": "amount", "type": "double"}]
    seed["projects"].append(
        {"name": PROVIDER, "tables": [{"name": "sales", "columns": columns, "rows": [[1, 2.5], [2, 4.0]]}]}
    )
    return seed


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """The default project as a DataWorks dev workspace, plus project B, which shares its table ``sales`` (seed 003,
    flows 5 and 6)."""
    from clarityq_emulator import start_emulator

    with start_emulator(seed=_two_projects()) as emu:
        yield emu


def test_seed_003_cross_project_package_flow_from_a_spec(emulator: RunningEmulator, owner: Any, reader: Any) -> None:
    """Project B shares ``sales`` in a package; a spec on project A installs it and gives the role Read."""
    emu = emulator
    for statement in (
        "CREATE PACKAGE datashare",
        "ADD TABLE sales TO PACKAGE datashare",
        f"ALLOW PROJECT {emu.info.project} TO INSTALL PACKAGE datashare",
    ):
        owner.odps.execute_security_query(statement, project=PROVIDER)
    adopt(owner, reader)
    fields = admin_connection(emu)
    fields["extra"] = json.dumps(fields["extra"])
    spec = load_spec(
        {
            "projects": [
                {"project": emu.info.project, "packages": [{"source_project": PROVIDER, "package": "datashare"}]}
            ]
        }
    )
    first = run_access(AlibabaBackend(ClientBundle(parse_connection(fields))), spec, "apply")
    executed = [r.step.statement for r in first.steps if r.outcome == "executed"]
    assert f"INSTALL PACKAGE {PROVIDER}.datashare" in executed
    assert f"GRANT Read ON PACKAGE {PROVIDER}.datashare TO ROLE clarityq_reader" in executed
    assert first.verified is True
    assert run_access(AlibabaBackend(ClientBundle(parse_connection(fields))), spec, "apply").plan.steps == ()
    instance = odps_as(emu, reader.access_key_id, reader.access_key_secret).execute_sql(
        f"select id, amount from {PROVIDER}.sales order by id"
    )
    with instance.open_reader() as rows:
        assert [list(r.values) for r in rows] == [[1, 2.5], [2, 4.0]]


def test_missing_package_read_is_named_by_a_validation_query_and_passes_once_granted(
    emulator: RunningEmulator, owner: Any, reader: Any
) -> None:
    """The consumer installed project B's package, but the reader's role may not Read it: a health validation
    on the shared table fails with the GRANT that fixes it (seed 003, flow 6)."""
    from airflow_provider_clarityq.core.health.options import ValidationQuery
    from airflow_provider_clarityq.core.health.probe import MaxComputeProbe
    from airflow_provider_clarityq.core.health.runner import run_health_checks

    info = emulator.info
    for statement in (
        "CREATE PACKAGE datashare",
        "ADD TABLE sales TO PACKAGE datashare",
        f"ALLOW PROJECT {info.project} TO INSTALL PACKAGE datashare",
    ):
        owner.odps.execute_security_query(statement, project=PROVIDER)
    owner.run(f"INSTALL PACKAGE {PROVIDER}.datashare;")
    shared = ValidationQuery("shared_sales", f"SELECT id FROM {PROVIDER}.sales")
    fields = {
        "login": reader.access_key_id,
        "password": reader.access_key_secret,
        "host": info.maxcompute_endpoint,
        "schema": info.project,
        "extra": {"ram_endpoint": f"http://{info.ram_endpoint}", "sts_endpoint": f"http://{info.ram_endpoint}"},
    }

    def validation() -> Any:
        probe = MaxComputeProbe(ClientBundle(parse_connection(fields)))
        return next(c for c in run_health_checks(probe, validations=[shared]).checks if "shared_sales" in c.name)

    found = validation()
    assert (found.status, found.code) == ("fail", "PACKAGE_READ_MISSING"), found.message
    assert f"GRANT Read ON PACKAGE {PROVIDER}.datashare TO ROLE clarityq_reader;" in (found.remediation or "")
    owner.run(f"GRANT Read ON PACKAGE {PROVIDER}.datashare TO ROLE clarityq_reader;")
    assert validation().status == "pass"

    # Project B labels the shared column above what its package lets the consumer read.
    for statement in (
        "SET LabelSecurity=true",
        "SET LABEL 2 TO TABLE sales(id)",
        f"ALLOW PROJECT {info.project} TO INSTALL PACKAGE datashare USING LABEL 1",
    ):
        owner.odps.execute_security_query(statement, project=PROVIDER)
    found = validation()
    assert (found.status, found.code) == ("fail", "PACKAGE_LABEL_CAP"), found.message
    fix = f"ALLOW PROJECT {info.project} TO INSTALL PACKAGE <package> USING LABEL 2;"
    assert fix in (found.remediation or "")
    owner.odps.execute_security_query(fix.replace("<package>", "datashare").rstrip(";"), project=PROVIDER)
    assert validation().status == "pass"

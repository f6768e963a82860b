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
from support import admin_connection

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


def test_spec_with_label_and_download_options_converges(emulator: RunningEmulator, owner: Any, reader: Any) -> None:
    info = emulator.info
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
    counting = CountingBackend(AlibabaBackend(ClientBundle(parse_connection(fields))))
    second = run_access(counting, spec, "apply")
    assert second.plan.steps == ()
    with reader_odps(emulator, reader) as odps, odps.get_table("customers").open_reader() as rows:
        assert len(list(rows)) == 5  # Download granted, the labelled column readable through the label grant


class reader_odps:
    def __init__(self, emulator: RunningEmulator, reader: Any) -> None:
        from odps import ODPS

        info = emulator.info
        self.odps = ODPS(
            reader.access_key_id, reader.access_key_secret, info.project, endpoint=f"http://{info.maxcompute_endpoint}"
        )

    def __enter__(self) -> Any:
        return self.odps

    def __exit__(self, *exc: object) -> None:
        return None


PROVIDER = "provider_b"


def _two_projects() -> dict[str, Any]:
    from clarityq_emulator.core.state import default_seed

    seed: dict[str, Any] = default_seed()
    columns = [{"name": "id", "type": "bigint"}, {"name": "amount", "type": "double"}]
    seed["projects"].append(
        {"name": PROVIDER, "tables": [{"name": "sales", "columns": columns, "rows": [[1, 2.5], [2, 4.0]]}]}
    )
    return seed


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """The default project plus project B, which shares its table ``sales`` (seed 003, flows 5 and 6)."""
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
    with reader_odps(emu, reader) as odps:
        instance = odps.execute_sql(f"select id, amount from {PROVIDER}.sales order by id")
        with instance.open_reader() as rows:
            assert [list(r.values) for r in rows] == [[1, 2.5], [2, 4.0]]

"""The health gate end to end: example DAGs through ``dag.test()`` on the emulator, real SDKs throughout.

The reader is provisioned with the RAM SDK and pyodps security statements only (``conftest.py``); the
Airflow connection ``clarityq_reader`` comes from ``AIRFLOW_CONN_CLARITYQ_READER``. Asset events are read
from the metadata database (``asset_event``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as ram_models
from clarityq_emulator import RunningEmulator
from health_dag_runs import HEALTH_DAG, HEALTH_URI, PROJECT, READER_CONN_ID, SYNC_DAG, check, load_dag, run_dag

from airflow_provider_clarityq.core.alibaba.clients import ClientBundle
from airflow_provider_clarityq.core.connection import parse_connection
from airflow_provider_clarityq.core.health.options import SEED_CHECKS, HealthOptions
from airflow_provider_clarityq.core.health.probe import MaxComputeProbe
from airflow_provider_clarityq.core.health.runner import run_health_checks

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]


def test_example_dags_are_wired_to_the_health_asset() -> None:
    health = load_dag(HEALTH_DAG)
    assert health.timetable.expression == "0 0 * * *"  # @daily
    assert [o.uri for o in health.get_task("check_connection").outlets] == [HEALTH_URI]
    sync = load_dag(SYNC_DAG)
    assert [a.uri for a in sync.timetable.asset_condition.objects] == [HEALTH_URI]
    gate = sync.get_task("health_gate")
    assert gate.deferrable and gate.maxcompute_conn_id == READER_CONN_ID
    assert sync.get_task("sync_metadata").upstream_task_ids == {"health_gate"}


# --------------------------------------------------------------------------------------------------
# Healthy: the Asset is emitted and the sync runs


def test_provisioned_reader_is_healthy_and_the_sync_runs(
    emulator: RunningEmulator, owner: Any, reader: Any, connect: Any, tmp_path: Path
) -> None:
    health = run_dag(HEALTH_DAG)
    assert health.state == "success", health.tasks
    report = health.report("check_connection")
    assert report["verdict"] == "HEALTHY", report["summary_table"]
    assert all(check(report, name)["status"] == "pass" for name in (*SEED_CHECKS, "least_privilege"))
    held = {(g["object_type"], g["object"], a) for g in check(report, "least_privilege")["details"]["grants"]
            for a in g["actions"] if g["effect"] == "Allow"}  # fmt: skip
    assert {("project", PROJECT, "CreateInstance"), ("project", PROJECT, "List")} <= held
    assert check(report, "key_hygiene")["code"] == "KEY_INFO_UNAVAILABLE"  # a reader may not read RAM keys
    assert report["principal"] == reader.principal
    assert len(health.health_events) == 1
    assert health.health_events[0]["verdict"] == "HEALTHY"
    assert health.health_events[0]["principal"] == reader.principal
    assert reader.access_key_secret not in json.dumps([report, health.health_events])

    # The Airflow UI/CLI "Test" button gives the same answer.
    from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

    ok, message = MaxComputeHook(maxcompute_conn_id=READER_CONN_ID).test_connection()
    assert ok and message.startswith(f"HEALTHY: 5 checks passed for project {PROJECT} as {reader.principal}")

    sync = run_dag(SYNC_DAG, run_conf={"output_dir": str(tmp_path)})
    assert sync.state == "success", sync.tasks
    assert sync.report("health_gate")["verdict"] == "HEALTHY"
    assert sync.health_events == []  # only the health DAG emits
    result = sync.report("sync_metadata")
    output = Path(result["output_path"])
    assert output.parent == tmp_path / PROJECT
    document = json.loads(output.read_text())
    assert json.loads((tmp_path / PROJECT / "latest.json").read_text()) == document
    assert document["project"] == PROJECT
    tables = {t["name"]: t for t in document["tables"]}
    assert set(tables) == {"customers", "orders", "products"}
    for name, table in tables.items():
        with owner.odps.execute_sql(f"select count(*) as n from {name}").open_reader() as rows:
            assert table["row_count"] == next(iter(rows))["n"], name
    assert [c["name"] for c in tables["customers"]["columns"]][:3] == ["customer_id", "name", "country"]
    assert tables["customers"]["row_count_source"] == "query"
    assert tables["orders"]["partition_keys"] == [{"name": "ds", "type": "STRING"}]
    assert tables["orders"]["row_count_source"] == "metadata"
    assert result["visible_tables"] == 3 and result["rows"] == sum(t["row_count"] for t in tables.values())


def test_sync_sees_only_what_the_reader_may_describe(
    emulator: RunningEmulator, owner: Any, connect: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seed 000's per-table variant: a table without Describe/Select is listed as hidden, with the reason."""
    owner.run(
        "REVOKE Describe, Select ON TABLE * FROM ROLE clarityq_reader;",
        "GRANT Describe, Select ON TABLE customers TO ROLE clarityq_reader;",
        "GRANT Describe, Select ON TABLE orders TO ROLE clarityq_reader;",
    )
    monkeypatch.setenv("CLARITYQ_SYNC_DIR", str(tmp_path))  # the environment fallback for the output directory
    sync = run_dag(SYNC_DAG)
    assert sync.state == "success", sync.tasks
    output = Path(sync.report("sync_metadata")["output_path"])
    assert output.parent == tmp_path / PROJECT
    document = json.loads(output.read_text())
    visible = {t["name"]: t["visible"] for t in document["tables"]}
    assert visible == {"customers": True, "orders": True, "products": False}
    hidden = next(t for t in document["tables"] if t["name"] == "products")
    assert hidden["error"] == "MISSING_PRIVILEGE" and "'odps:Describe' on table products" in hidden["reason"]


# --------------------------------------------------------------------------------------------------
# Not healthy: the exact fix, and no Asset event


def test_revoked_create_instance_is_a_config_error_with_the_missing_grant(
    emulator: RunningEmulator, owner: Any, connect: Any, tmp_path: Path
) -> None:
    owner.run(f"REVOKE CreateInstance ON PROJECT {PROJECT} FROM ROLE clarityq_reader;")
    health = run_dag(HEALTH_DAG)
    assert health.state == "failed"
    assert health.tasks == {"check_connection": "failed", "write_report": "success"}  # the report still written
    report = health.report("check_connection")  # pushed although the task failed
    assert report["verdict"] == "CONFIG_ERROR" and report["retryable"] is False
    query = check(report, "query_works")
    assert (query["status"], query["code"], query["category"]) == ("fail", "MISSING_PRIVILEGE", "permission")
    assert f"GRANT CreateInstance ON PROJECT {PROJECT} TO ROLE clarityq_reader;" in query["remediation"]
    assert f"GRANT CreateInstance ON PROJECT {PROJECT} TO ROLE clarityq_reader;" in report["summary"]
    assert health.health_events == []

    from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

    assert MaxComputeHook(maxcompute_conn_id=READER_CONN_ID).test_connection() == (False, report["summary"])

    # The sync's gate fails at once (no waiting out its two-hour timeout) and nothing is written.
    sync = run_dag(SYNC_DAG, run_conf={"output_dir": str(tmp_path)})
    assert sync.state == "failed"
    assert sync.tasks == {"health_gate": "failed", "sync_metadata": "upstream_failed"}
    assert list(tmp_path.iterdir()) == []


def test_wrong_secret_is_authentication_failed_with_its_fix(emulator: RunningEmulator, connect: Any) -> None:
    wrong = "W" * 30
    connect(secret=wrong)
    health = run_dag(HEALTH_DAG)
    assert health.state == "failed"
    report = health.report("check_connection")
    assert report["verdict"] == "CONFIG_ERROR"
    assert report["summary"].startswith("CONFIG_ERROR: authentication failed: the AccessKey Secret does not belong")
    auth = check(report, "authentication")
    assert auth["code"] == "AUTH_SIGNATURE_MISMATCH"
    assert "AccessKey Secret (password)" in auth["remediation"]
    assert all(check(report, n)["code"] == "BLOCKED" for n in ("project_accessible", "query_works"))
    assert wrong not in json.dumps(report)
    assert health.health_events == []


def test_unknown_project_is_project_not_found(emulator: RunningEmulator, connect: Any) -> None:
    connect(project="no_such_project")
    report = run_dag(HEALTH_DAG).report("check_connection")
    assert report["verdict"] == "CONFIG_ERROR"
    project = check(report, "project_accessible")
    assert project["code"] == "PROJECT_NOT_FOUND"
    assert project["message"].startswith("project not found: there is no project 'no_such_project'")
    assert "Project name (schema)" in project["remediation"] and "region" in project["remediation"]


def test_user_not_added_to_the_project_gets_add_user_first(emulator: RunningEmulator, owner: Any, connect: Any) -> None:
    newcomer = owner.provision(user_name="clarityq2", add_to_project=False)
    connect(reader=newcomer)
    report = run_dag(HEALTH_DAG).report("check_connection")
    project = check(report, "project_accessible")
    assert project["code"] == "NOT_A_PROJECT_MEMBER"
    assert project["remediation"].startswith(
        f"as the project owner run, in project {PROJECT}: ADD USER {newcomer.principal}; CREATE ROLE clarityq_reader;"
    )


def test_excess_privilege_is_degraded_and_emits_nothing(emulator: RunningEmulator, owner: Any, connect: Any) -> None:
    owner.run("GRANT Update ON TABLE orders TO ROLE clarityq_reader;")
    health = run_dag(HEALTH_DAG)
    assert health.state == "failed"
    report = health.report("check_connection")
    assert report["verdict"] == "DEGRADED"
    audit = check(report, "least_privilege")
    assert audit["code"] == "EXCESS_PRIVILEGES"
    assert audit["remediation"] == "as the project owner run: REVOKE Update ON TABLE orders FROM ROLE clarityq_reader;"
    assert health.health_events == []
    from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

    ok, message = MaxComputeHook(maxcompute_conn_id=READER_CONN_ID).test_connection()
    assert ok and message == report["summary"]  # works, with the warning and its fix


def test_stopped_emulator_is_unreachable_and_retryable(emulator: RunningEmulator, connect: Any) -> None:
    emulator.stop()
    health = run_dag(HEALTH_DAG)
    assert health.state == "failed"
    report = health.report("check_connection")
    assert (report["verdict"], report["retryable"]) == ("UNREACHABLE", True)
    auth = check(report, "authentication")
    assert (auth["code"], auth["category"], auth["retryable"]) == ("UNREACHABLE", "unreachable", True)
    assert health.health_events == []


def test_service_answering_5xx_is_unreachable_and_retryable(emulator: RunningEmulator, connect: Any) -> None:
    emulator.add_fault(service="maxcompute", status=503, count=10_000)
    emulator.add_fault(service="sts", status=503, count=10_000)
    health = run_dag(HEALTH_DAG)
    report = health.report("check_connection")
    assert (report["verdict"], report["retryable"]) == ("UNREACHABLE", True)
    assert check(report, "authentication")["code"] == "SERVICE_ERROR"
    assert health.health_events == []


# --------------------------------------------------------------------------------------------------
# The probe against the real SDKs


def probe_for(emulator: RunningEmulator, login: str, secret: str, **kwargs: Any) -> MaxComputeProbe:
    service = f"http://{emulator.info.ram_endpoint}"
    settings = parse_connection(
        {
            "login": login,
            "password": secret,
            "host": emulator.info.maxcompute_endpoint,
            "schema": emulator.info.project,
            "extra": {"ram_endpoint": service, "sts_endpoint": service},
        }
    )
    return MaxComputeProbe(ClientBundle(settings), **kwargs)


def test_the_four_seed_checks_take_seven_requests(emulator: RunningEmulator, reader: Any) -> None:
    """7 per run; a brand-new pyodps client adds its one-off lookups (logview host, tenant) once."""
    probe = probe_for(emulator, reader.access_key_id, reader.access_key_secret)
    options = HealthOptions(checks=SEED_CHECKS)
    emulator.clear_requests()
    first = run_health_checks(probe, options)
    assert first.verdict == "HEALTHY", first.summary_table()
    requests = emulator.requests()
    client_setup = [r for r in requests if r["path"].endswith(("/logview/host", "/tenants"))]
    assert len(requests) - len(client_setup) == 7  # STS 1, project 1, list 1, describe 1, query 3
    assert len(client_setup) <= 2  # pyodps' one-off lookups for a new client
    emulator.clear_requests()
    again = run_health_checks(probe, options)
    assert again.verdict == "HEALTHY"
    assert len(emulator.requests()) == 7


def test_key_hygiene_with_credentials_that_may_read_ram(emulator: RunningEmulator, owner: Any, reader: Any) -> None:
    """The reader's probe, but RAM read through the main account (as a RAM read-only policy would allow)."""
    base = probe_for(emulator, reader.access_key_id, reader.access_key_secret)
    reader_settings = base.bundle.settings
    probe = MaxComputeProbe(ClientBundle(reader_settings, base.bundle.credentials, prebuilt={"ram": owner.ram}))
    options = HealthOptions(checks=("key_hygiene",))
    report = run_health_checks(probe, options)
    hygiene = report.check("key_hygiene")
    assert (hygiene.status, hygiene.code) == ("pass", "OK"), hygiene.message
    assert hygiene.details["keys"][0]["last_used"] is not None  # the STS call just used it
    assert hygiene.details["keys"][0]["age_days"] == 0

    later = datetime.now(timezone.utc) + timedelta(days=120)
    old = run_health_checks(probe, options, now=lambda: later)
    assert old.check("key_hygiene").code == "KEY_TOO_OLD"

    owner.ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name=reader.user_name))
    second = run_health_checks(probe, options).check("key_hygiene")
    assert (second.status, second.code) == ("warn", "SECOND_ACTIVE_KEY")
    assert "(never used)" in second.message

"""ClarityQValidationOperator: construction, outcomes per verdict, XCom, Asset event extras, validations.

Runs against the emulator with the real pyodps / Alibaba SDKs. The main account's key passes the four
seed checks (HEALTHY with ``checks=SEED_CHECKS``) and is flagged by the least-privilege audit (DEGRADED
with all checks); the provisioned-reader scenarios live in ``tests/integration/test_health_dags.py``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from typing import Any

import pytest
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.sdk.execution_time.context import OutletEventAccessors
from clarityq_emulator import RunningEmulator

from airflow_provider_clarityq.core.health import health_asset_uri
from airflow_provider_clarityq.core.health.options import SEED_CHECKS
from airflow_provider_clarityq.operators.validation import ClarityQValidationOperator

pytestmark = pytest.mark.integration

CONN_ID = "mc_validation"
HEALTH = Asset(health_asset_uri(CONN_ID))


class RecordingTI:
    """Only what the operator calls on the task instance: ``xcom_push``."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def context() -> dict[str, Any]:
    return {"ti": RecordingTI(), "outlet_events": OutletEventAccessors()}


def set_conn(monkeypatch: pytest.MonkeyPatch, emu: RunningEmulator, **overrides: Any) -> dict[str, Any]:
    info = emu.info
    service = f"http://{info.ram_endpoint}"
    fields: dict[str, Any] = {
        "conn_type": "clarityq_maxcompute",
        "login": info.access_key_id,
        "password": info.access_key_secret,
        "host": info.maxcompute_endpoint,
        "schema": info.project,
        "extra": {"ram_endpoint": service, "sts_endpoint": service},
    }
    fields.update(overrides)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(fields))
    return fields


def operator(**kwargs: Any) -> ClarityQValidationOperator:
    kwargs.setdefault("checks", list(SEED_CHECKS))
    return ClarityQValidationOperator(task_id="validate", maxcompute_conn_id=CONN_ID, outlets=[HEALTH], **kwargs)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------------------------------
# Construction


def test_constructor_is_keyword_only_lazy_and_templated() -> None:
    op = ClarityQValidationOperator(task_id="v", maxcompute_conn_id="{{ params.conn }}", validations=[{"name": "n"}])
    assert "hook" not in op.__dict__  # nothing built at parse time
    assert {"maxcompute_conn_id", "role", "table", "validations"} <= set(op.template_fields)
    assert op.maxcompute_conn_id == "{{ params.conn }}"
    with pytest.raises(TypeError):
        ClarityQValidationOperator("v")  # type: ignore[misc]
    assert ClarityQValidationOperator(task_id="d").maxcompute_conn_id == "clarityq_default"


def test_templated_fields_render_inside_validations() -> None:
    op = ClarityQValidationOperator(
        task_id="v",
        maxcompute_conn_id="{{ params.conn }}",
        table="{{ params.table }}",
        validations=[
            {"name": "loaded", "sql": "SELECT 1 FROM orders WHERE ds = '{{ ds_nodash }}'", "expect": "not_empty"}
        ],
    )
    op.render_template_fields({"ds_nodash": "20261101", "params": {"conn": "c1", "table": "orders"}})  # type: ignore[arg-type]
    assert (op.maxcompute_conn_id, op.table) == ("c1", "orders")
    assert op.validations[0]["sql"] == "SELECT 1 FROM orders WHERE ds = '20261101'"


def test_importing_the_airflow_modules_imports_no_sdk() -> None:
    code = (
        "import sys, airflow_provider_clarityq.operators.validation, airflow_provider_clarityq.sensors.health, "
        "airflow_provider_clarityq.triggers.health\n"
        "heavy = ('odps', 'alibabacloud_tea_openapi', 'alibabacloud_ram20150501', 'alibabacloud_sts20150401', "
        "'airflow_provider_clarityq.hooks.maxcompute')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "[]"


# --------------------------------------------------------------------------------------------------
# Outcomes


def test_healthy_returns_the_report_and_annotates_the_asset_event(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    set_conn(monkeypatch, clarityq_emulator)
    ctx = context()
    report = operator().execute(ctx)  # type: ignore[arg-type]
    assert report["verdict"] == "HEALTHY", report["summary_table"]
    assert [c["name"] for c in report["checks"]] == list(SEED_CHECKS)
    assert ctx["ti"].pushed == {}  # success: the return value is the XCom
    extra = ctx["outlet_events"][HEALTH].extra
    assert extra["verdict"] == "HEALTHY"
    assert extra["project"] == clarityq_emulator.info.project
    assert extra["principal"] == f"ALIYUN${clarityq_emulator.info.account_id}"
    assert clarityq_emulator.info.access_key_secret not in json.dumps([report, extra])


def test_config_error_fails_without_retry_and_keeps_the_report(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    wrong = "W" * 30
    set_conn(monkeypatch, clarityq_emulator, password=wrong)
    ctx = context()
    with pytest.raises(AirflowFailException) as exc_info:
        operator().execute(ctx)  # type: ignore[arg-type]
    message = str(exc_info.value)
    assert message.startswith("CONFIG_ERROR: authentication failed")
    assert "Fix: set the connection's AccessKey Secret (password)" in message
    pushed = ctx["ti"].pushed["return_value"]
    assert pushed["verdict"] == "CONFIG_ERROR"
    assert pushed["checks"][0]["code"] == "AUTH_SIGNATURE_MISMATCH"
    assert wrong not in message + json.dumps(pushed)
    assert ctx["outlet_events"][HEALTH].extra == {}  # nothing annotated (and a failed task emits nothing)


def test_unreachable_raises_a_retryable_error(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    set_conn(
        monkeypatch,
        clarityq_emulator,
        host=f"{endpoint}/api",
        extra={"ram_endpoint": endpoint, "sts_endpoint": endpoint},
    )
    ctx = context()
    with pytest.raises(AirflowException) as exc_info:
        operator().execute(ctx)  # type: ignore[arg-type]
    assert not isinstance(exc_info.value, AirflowFailException)  # the task's retries apply
    assert "(transient: the task's retries apply)" in str(exc_info.value)
    pushed = ctx["ti"].pushed["return_value"]
    assert (pushed["verdict"], pushed["retryable"]) == ("UNREACHABLE", True)


def test_degraded_fails_unless_accepted(monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator) -> None:
    set_conn(monkeypatch, clarityq_emulator)  # the main account's key: least_privilege warns
    with pytest.raises(AirflowFailException, match=r"^DEGRADED: the connection uses the main account's AccessKey"):
        operator(checks=None).execute(context())  # type: ignore[arg-type]
    ctx = context()
    report = operator(checks=None, accept_degraded=True).execute(ctx)  # type: ignore[arg-type]
    assert report["verdict"] == "DEGRADED"
    assert ctx["outlet_events"][HEALTH].extra["verdict"] == "DEGRADED"


def test_custom_validations(monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator) -> None:
    set_conn(monkeypatch, clarityq_emulator)
    good = [
        {"name": "orders", "sql": "SELECT COUNT(*) FROM orders", "expect": "equals", "value": 6},
        {
            "name": "shipped",
            "sql": "SELECT order_id FROM orders WHERE status = 'shipped'",
            "expect": "row_count",
            "value": 3,
        },
        {"name": "customers", "sql": "SELECT * FROM customers LIMIT 1"},
    ]
    report = operator(validations=good).execute(context())  # type: ignore[arg-type]
    names = {c["name"]: c["status"] for c in report["checks"]}
    assert names["validation:orders"] == names["validation:shipped"] == names["validation:customers"] == "pass"

    bad = [*good, {"name": "none_cancelled", "sql": "SELECT * FROM orders WHERE status = 'x'", "expect": "not_empty"}]
    ctx = context()
    with pytest.raises(AirflowFailException, match=r"validation 'none_cancelled' returned 0 row\(s\)"):
        operator(validations=bad).execute(ctx)  # type: ignore[arg-type]
    failed = {c["name"]: c for c in ctx["ti"].pushed["return_value"]["checks"]}["validation:none_cancelled"]
    assert (failed["code"], failed["category"]) == ("EXPECTATION_FAILED", "expectation")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"validations": [{"name": "n", "sql": "select 1", "expected": 1}]}, "unknown keys"),
        ({"validations": [{"name": "n", "sql": ""}]}, "is empty"),
        ({"role": "not a role"}, "'role'"),
        ({"checks": ["authentication", "vibes"]}, "unknown checks"),
    ],
)
def test_invalid_arguments_fail_before_any_request(
    monkeypatch: pytest.MonkeyPatch, clarityq_emulator: RunningEmulator, kwargs: dict[str, Any], message: str
) -> None:
    set_conn(monkeypatch, clarityq_emulator)
    clarityq_emulator.clear_requests()
    with pytest.raises(AirflowFailException, match=message):
        operator(**kwargs).execute(context())  # type: ignore[arg-type]
    assert clarityq_emulator.requests() == []


def test_missing_connection_is_a_config_error(clarityq_emulator: RunningEmulator) -> None:
    ctx = context()
    op = ClarityQValidationOperator(task_id="v", maxcompute_conn_id="no_such_conn_xyz", checks=list(SEED_CHECKS))
    with pytest.raises(AirflowFailException, match="CONFIG_ERROR: connection 'no_such_conn_xyz'"):
        op.execute(ctx)  # type: ignore[arg-type]
    assert ctx["ti"].pushed["return_value"]["checks"][0]["code"] == "CONNECTION_NOT_FOUND"

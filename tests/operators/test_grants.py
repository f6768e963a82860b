"""``ClarityQGrantsOperator`` and ``ClarityQSecurityQueryOperator``: construction, templating, validation
before any request, and ``execute`` against the emulator (real pyodps / RAM / STS clients, no mocks)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from allowlist_probes import PROBES
from clarityq_emulator import RunningEmulator

from airflow_provider_clarityq.operators.grants import (
    DEFAULT_CONN_ID,
    RESULT_XCOM_KEY,
    ClarityQGrantsOperator,
    ClarityQSecurityQueryOperator,
)

CONN_ID = "clarityq_ops_admin"
HEAVY = ("odps", "alibabacloud_tea_openapi", "alibabacloud_ram20150501", "alibabacloud_sts20150401")


class RecordingTI:
    """The one piece of task context the operators touch (``ti.xcom_push`` on failure)."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def context(ti: RecordingTI | None = None) -> Any:
    """A task context with just ``ti`` (typed ``Any``: the real one is a TypedDict of runtime objects)."""
    return {"ti": ti or RecordingTI()}


@pytest.fixture
def emu(clarityq_emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> RunningEmulator:
    info = clarityq_emulator.info
    conn = {
        "conn_type": "clarityq_maxcompute",
        "login": info.access_key_id,
        "password": info.access_key_secret,
        "host": info.maxcompute_endpoint,
        "schema": info.project,
        "extra": {"ram_endpoint": f"http://{info.ram_endpoint}", "sts_endpoint": f"http://{info.sts_endpoint}"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return clarityq_emulator


def _statements(emu: RunningEmulator) -> list[str]:
    return [r["statement"] for r in emu.requests() if r["statement"]]


class TestConstruction:
    def test_keyword_only_and_no_io_in_init(self) -> None:
        with pytest.raises(TypeError):
            ClarityQGrantsOperator("spec")  # type: ignore[call-arg]
        op = ClarityQGrantsOperator(task_id="t")
        assert op.maxcompute_conn_id == DEFAULT_CONN_ID and op.mode == "apply" and op.concurrency == 8
        assert "hook" not in op.__dict__  # built on first use only

    def test_default_conn_id_is_the_hooks(self) -> None:
        from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

        assert MaxComputeHook.default_conn_name == DEFAULT_CONN_ID

    def test_template_fields(self) -> None:
        assert set(ClarityQGrantsOperator.template_fields) == {
            "spec",
            "mode",
            "maxcompute_conn_id",
            "ram_user",
            "role",
            "project",
            "account_id",
            "ram_user_uid",
        }
        assert set(ClarityQSecurityQueryOperator.template_fields) == {"statements", "maxcompute_conn_id", "project"}

    def test_fields_render_from_params(self) -> None:
        op = ClarityQGrantsOperator(
            task_id="t", ram_user="{{ params.u }}", role="{{ params.r }}", mode="{{ params.m }}", project="p_one"
        )
        op.render_template_fields({"params": {"u": "reader2", "r": "reader_role", "m": "plan"}})
        assert (op.ram_user, op.role, op.mode) == ("reader2", "reader_role", "plan")
        spec = op.resolve_spec()
        assert (spec.ram_user, spec.role, spec.projects[0].project) == ("reader2", "reader_role", "p_one")

    def test_importing_the_operators_stays_cheap(self) -> None:
        code = (
            "import json, sys\n"
            "import airflow_provider_clarityq.operators.grants, airflow_provider_clarityq.operators.ram\n"
            f"print(json.dumps([m for m in {list(HEAVY)!r} + ['airflow_provider_clarityq.core.grants'] "
            "if m in sys.modules]))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert json.loads(out.strip().splitlines()[-1]) == []


class TestSpec:
    def test_spec_text_and_mapping(self) -> None:
        yaml_text = "ram_user: clarityq\nprojects:\n  - project: p_one\n    tables: [orders]\n"
        assert ClarityQGrantsOperator(task_id="t", spec=yaml_text).resolve_spec().projects[0].tables == ("orders",)
        mapping = {"projects": [{"project": "p_two"}]}
        assert ClarityQGrantsOperator(task_id="t", spec=mapping).resolve_spec().projects[0].project == "p_two"

    def test_spec_and_default_fields_are_exclusive(self) -> None:
        op = ClarityQGrantsOperator(task_id="t", spec={"projects": [{"project": "p_one"}]}, role="other")
        with pytest.raises(ValueError, match="'role' is set together with spec"):
            op.resolve_spec()

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"role": "r; DROP ROLE admin"}, "role"),
            ({"ram_user": "bad user"}, "ram_user"),
            ({"mode": "destroy"}, "mode"),
            ({"project": "x"}, "project"),
        ],
    )
    def test_bad_input_fails_before_any_request(self, emu: RunningEmulator, kwargs: dict[str, Any], match: str) -> None:
        emu.clear_requests()
        op = ClarityQGrantsOperator(task_id="t", maxcompute_conn_id=CONN_ID, **kwargs)
        with pytest.raises(AirflowFailException, match=match):
            op.execute(context())
        assert emu.requests() == []


@pytest.mark.integration
class TestGrantsExecute:
    def test_plan_apply_and_converged_rerun(self, emu: RunningEmulator) -> None:
        plan = ClarityQGrantsOperator(task_id="t", maxcompute_conn_id=CONN_ID, mode="plan")
        planned = plan.execute(context())
        assert planned["plan"]["summary"]["total"] == 6 and planned["steps"] == []
        assert not [s for s in _statements(emu) if not s.startswith("DESCRIBE")]

        applied = ClarityQGrantsOperator(task_id="t", maxcompute_conn_id=CONN_ID).execute(context())
        assert applied["ok"] and applied["summary"]["executed"] == 6 and applied["verified"] is True
        json.dumps(applied)  # JSON-safe XCom
        assert emu.info.access_key_secret not in json.dumps(applied)

        emu.clear_requests()
        again = ClarityQGrantsOperator(
            task_id="t",
            maxcompute_conn_id=CONN_ID,
            account_id=emu.info.account_id,
            ram_user_uid=applied["user_uid"],
        ).execute(context())
        assert again["summary"]["planned"] == 0
        assert _statements(emu) == ["DESCRIBE ROLE clarityq_reader"]
        # The handed-over account and UID are cross-checked (STS, RAM GetUser), not trusted.
        assert again["requests"] == {
            "total": 3,
            "by_call": {"maxcompute:security_query": 1, "ram:GetUser": 1, "sts:GetCallerIdentity": 1},
        }

    def test_a_failed_step_pushes_the_result_and_fails_retryably(self, emu: RunningEmulator) -> None:
        emu.add_fault(service="maxcompute", statement="ON TABLE", status=403, code="NoPermission")
        ti = RecordingTI()
        op = ClarityQGrantsOperator(task_id="t", maxcompute_conn_id=CONN_ID)
        with pytest.raises(AirflowException, match="did not converge") as caught:
            op.execute(context(ti))
        assert not isinstance(caught.value, AirflowFailException)  # a re-run converges: let Airflow retry
        result = ti.pushed[RESULT_XCOM_KEY]
        assert not result["ok"] and result["summary"]["failed"] == 1 and result["summary"]["not_run"] == 1


@pytest.mark.integration
class TestSecurityQuery:
    def test_read_only_statements_run(self, emu: RunningEmulator) -> None:
        op = ClarityQSecurityQueryOperator(
            task_id="q", maxcompute_conn_id=CONN_ID, statements=["WHOAMI;", "list roles", "SHOW GRANTS"]
        )
        results = op.execute(context())
        assert [r["statement"] for r in results] == ["WHOAMI", "list roles", "SHOW GRANTS"]
        assert results[0]["result"]["DisplayName"] == f"ALIYUN${emu.info.account_id}"
        json.dumps(results)

    @pytest.mark.parametrize(
        "statements",
        [
            "CREATE ROLE sneaky",
            ["SHOW GRANTS", "GRANT admin TO RAM$1:x"],
            "SHOW GRANTS; DROP ROLE admin",
            "-- SHOW\nDROP ROLE admin",
            "",
            [],
            *PROBES,
        ],
    )
    def test_mutating_or_malformed_statements_are_refused_before_any_request(
        self, emu: RunningEmulator, statements: Any
    ) -> None:
        emu.clear_requests()
        op = ClarityQSecurityQueryOperator(task_id="q", maxcompute_conn_id=CONN_ID, statements=statements)
        with pytest.raises(AirflowFailException):
            op.execute(context())
        assert emu.requests() == []

    def test_allow_mutation(self, emu: RunningEmulator) -> None:
        op = ClarityQSecurityQueryOperator(
            task_id="q",
            maxcompute_conn_id=CONN_ID,
            statements=["CREATE ROLE analysts", "DESCRIBE ROLE analysts"],
            allow_mutation=True,
            project=emu.info.project,
        )
        results = op.execute(context())
        assert results[0]["result"] == "OK" and results[1]["result"]["Users"] == []

"""HealthReport: verdict rules, gate decisions, the versioned JSON form and its schema, the summaries."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_clarityq.core.health.report import (
    CATEGORIES,
    JSON_SCHEMA,
    STATUSES,
    CheckResult,
    HealthReport,
    ReportFormatError,
    decide_verdict,
    format_timestamp,
)

STARTED = datetime(2026, 11, 23, 19, 51, 42, 123000, tzinfo=timezone.utc)


def ok(name: str) -> CheckResult:
    return CheckResult(name, "pass", "OK", f"{name} fine", duration_ms=3)


def warn(name: str, code: str = "EXCESS_PRIVILEGES") -> CheckResult:
    return CheckResult(name, "warn", code, f"{name} warns", "REVOKE Update ON TABLE orders FROM ROLE clarityq_reader;")


def fail(name: str, category: Any, code: str = "X", fix: str = "do this") -> CheckResult:
    return CheckResult(name, "fail", code, f"{name} broke", fix, retryable=category == "unreachable", category=category)


def build(*checks: CheckResult, **kwargs: Any) -> HealthReport:
    return HealthReport.build(
        list(checks), started_at=STARTED, duration_ms=42, project="sales", principal="RAM$1:2", **kwargs
    )


# --------------------------------------------------------------------------------------------------
# Verdict


@pytest.mark.parametrize(
    ("checks", "verdict"),
    [
        ([ok("a"), ok("b")], "HEALTHY"),
        ([ok("a"), CheckResult("b", "skipped", "NOT_APPLICABLE", "n/a")], "HEALTHY"),
        ([ok("a"), warn("b")], "DEGRADED"),
        ([fail("a", "unreachable"), warn("b")], "UNREACHABLE"),
        ([fail("a", "config"), warn("b")], "CONFIG_ERROR"),
        ([fail("a", "permission")], "CONFIG_ERROR"),
        ([fail("a", "expectation")], "CONFIG_ERROR"),
        ([fail("a", "system")], "CONFIG_ERROR"),
        # A configuration problem wins over a transient one: it will not go away by waiting.
        ([fail("a", "unreachable"), fail("b", "permission")], "CONFIG_ERROR"),
        ([], "HEALTHY"),
    ],
)
def test_verdict_rules(checks: list[CheckResult], verdict: str) -> None:
    assert decide_verdict(checks) == verdict
    assert build(*checks).verdict == verdict


@pytest.mark.parametrize(
    ("checks", "strict", "lenient"),
    [
        ([ok("a")], "pass", "pass"),
        ([warn("a")], "fail", "pass"),
        ([fail("a", "unreachable")], "wait", "wait"),
        ([fail("a", "config")], "fail", "fail"),
    ],
)
def test_gate_decisions(checks: list[CheckResult], strict: str, lenient: str) -> None:
    report = build(*checks)
    assert report.gate() == strict
    assert report.gate(accept_degraded=True) == lenient
    assert report.retryable is (report.verdict == "UNREACHABLE")


def test_first_problem_is_the_failure_that_decided_the_verdict() -> None:
    report = build(ok("a"), warn("b"), fail("c", "unreachable", "SERVICE_ERROR"), fail("d", "permission", "MISSING"))
    assert report.verdict == "CONFIG_ERROR"
    problem = report.first_problem()
    assert problem is not None and problem.name == "d"
    assert build(ok("a"), warn("b"), fail("c", "unreachable")).first_problem() == fail("c", "unreachable")
    assert build(ok("a"), warn("b")).first_problem() == warn("b")
    assert build(ok("a")).first_problem() is None


# --------------------------------------------------------------------------------------------------
# Summaries


def test_summary_line_names_verdict_problem_and_fix() -> None:
    grant = "GRANT CreateInstance ON PROJECT sales TO ROLE clarityq_reader;"
    report = build(ok("authentication"), fail("query_works", "permission", "MISSING_PRIVILEGE", grant), warn("x"))
    line = report.summary_line()
    assert line.startswith("CONFIG_ERROR: query_works broke [query_works: MISSING_PRIVILEGE].")
    assert f"Fix: {grant}" in line
    assert "(+1 more: see the report)" in line
    assert "\n" not in line
    healthy = build(ok("a"), ok("b")).summary_line()
    assert healthy == "HEALTHY: 2 checks passed for project sales as RAM$1:2 (42 ms)."


def test_summary_table_lists_every_check_and_every_fix() -> None:
    long_message = "m" * 200
    report = build(
        ok("authentication"),
        CheckResult("query_works", "fail", "MISSING_PRIVILEGE", long_message, "GRANT A;", category="permission"),
        warn("least_privilege"),
    )
    table = report.summary_table()
    lines = table.splitlines()
    assert lines[0].startswith("ClarityQ health: CONFIG_ERROR  project=sales  principal=RAM$1:2")
    assert lines[1].split() == ["CHECK", "STATUS", "CODE", "MS", "MESSAGE"]
    assert lines[2].split()[:3] == ["authentication", "pass", "OK"]
    assert lines[3].split()[:3] == ["query_works", "FAIL", "MISSING_PRIVILEGE"]
    assert lines[3].endswith("...") and len(lines[3]) < 200
    assert "Fix (query_works): GRANT A;" in lines
    assert "Fix (least_privilege): REVOKE Update ON TABLE orders FROM ROLE clarityq_reader;" in lines
    assert not any(line.startswith("Fix (authentication)") for line in lines)


# --------------------------------------------------------------------------------------------------
# JSON form


def test_to_dict_follows_the_published_json_schema() -> None:
    report = build(
        ok("authentication"),
        CheckResult(
            "metadata_discoverable",
            "pass",
            "OK",
            "listed",
            details={"tables": ("a", "b"), "when": STARTED, "set": frozenset({"y", "x"}), "n": 1},
        ),
        fail("query_works", "unreachable", "SERVICE_ERROR"),
    )
    data = report.to_dict()
    jsonschema.validate(data, JSON_SCHEMA)
    assert data["schema_version"] == "1"
    assert data["verdict"] == "UNREACHABLE" and data["retryable"] is True
    assert data["started_at"] == "2026-11-23T19:51:42.123Z"
    assert data["checks"][1]["details"] == {
        "tables": ["a", "b"],
        "when": "2026-11-23T19:51:42.123Z",
        "set": ["x", "y"],
        "n": 1,
    }
    assert json.loads(json.dumps(data)) == data  # plain JSON


def test_round_trip() -> None:
    report = build(ok("a"), warn("b"), endpoint="https://e/api")
    again = HealthReport.from_dict(json.loads(report.to_json()))
    assert again == report
    assert again.to_dict() == report.to_dict()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema_version="2"), "unsupported health report schema_version '2'"),
        (lambda d: d.pop("schema_version"), "schema_version None"),
        (lambda d: d.update(verdict="GREAT"), "report 'verdict' is invalid"),
        (lambda d: d.update(verdict="DEGRADED"), "verdict DEGRADED contradicts the checks (they give HEALTHY)"),
        (lambda d: d.update(checks="nope"), "report 'checks' is invalid"),
        (lambda d: d["checks"][0].update(status="ok"), "report 'checks.0.status' is invalid"),
        (lambda d: d["checks"][0].update(category="network"), "report 'checks.0.category' is invalid"),
        (lambda d: d["checks"][0].update(duration_ms=-1), "report 'checks.0.duration_ms' is invalid"),
        (lambda d: d["checks"][0].update(retryable="no"), "report 'checks.0.retryable' is invalid"),
        (lambda d: d["checks"][0].update(name=""), "report 'checks.0.name' is invalid"),
        (lambda d: d["checks"][0].update(details=[]), "report 'checks.0.details' is invalid"),
        (lambda d: d["checks"][0].update(remediation=3), "report 'checks.0.remediation' is invalid"),
        (lambda d: d.update(project=5), "report 'project' is invalid"),
    ],
)
def test_from_dict_refuses_malformed_reports(mutate: Any, message: str) -> None:
    data = build(ok("a")).to_dict()
    mutate(data)
    with pytest.raises(ReportFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        HealthReport.from_dict(data)


def test_from_dict_refuses_non_objects() -> None:
    with pytest.raises(ReportFormatError, match="must be an object"):
        HealthReport.from_dict(["not", "a", "report"])
    with pytest.raises(ReportFormatError, match="a check must be an object"):
        CheckResult.from_dict("x")


def test_unknown_keys_are_ignored_for_forward_compatibility() -> None:
    data = build(ok("a")).to_dict()
    data["added_in_a_later_minor"] = {"x": 1}
    data["checks"][0]["hint"] = "new"
    assert HealthReport.from_dict(data).verdict == "HEALTHY"


def test_timestamps_are_utc_with_z() -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert format_timestamp(naive) == "2026-01-02T03:04:05.000Z"


_checks = st.builds(
    CheckResult,
    name=st.text(alphabet="abcdefghij_:", min_size=1, max_size=12),
    status=st.sampled_from(STATUSES),
    code=st.text(alphabet="ABCDEFG_", min_size=1, max_size=10),
    message=st.text(max_size=40),
    remediation=st.none() | st.text(max_size=40),
    retryable=st.booleans(),
    duration_ms=st.integers(0, 10**6),
    category=st.none() | st.sampled_from(CATEGORIES),
)


@given(st.lists(_checks, max_size=8))
def test_any_report_round_trips_and_validates(checks: list[CheckResult]) -> None:
    report = build(*checks)
    data = report.to_dict()
    jsonschema.validate(data, JSON_SCHEMA)
    assert HealthReport.from_dict(data) == report
    assert "\n" not in report.summary_line()

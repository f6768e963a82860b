"""Synthetic nights of health reports, built with the real report classes (schema version 1).

A deterministic story the history tests, the benchmark and the docs screenshots share: latency creeping
up, a lost grant (CONFIG_ERROR) and its fix, a night MaxCompute was unreachable, an excess grant
(DEGRADED) and its revoke, and the AccessKey ageing past its limit until it is rotated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_clarityq.core.health.report import CheckResult, HealthReport

PROJECT = "clarityq_demo"
PRINCIPAL = "RAM$1234567890123456:2345678901234567"
ROLE = "clarityq_reader"
#: A connection secret the reports must never carry; the tests hand it to the store and search for it.
SECRET = "Sx9kQ2vLrT7mN4pW8zY1bC6dF3gH5jKe"
KEY_LIMIT = 90


def first_night(count: int) -> datetime:
    """02:00 UTC ``count`` days ago: the last night is last night, so a store's retention keeps them all."""
    today = datetime.now(timezone.utc).replace(hour=2, minute=0, second=0, microsecond=0)
    return today - timedelta(days=count)


BASE_GRANTS = (
    (f"role/{ROLE}", "project", PROJECT, ["CreateInstance", "List"]),
    (f"role/{ROLE}", "table", "*", ["Describe", "Select"]),
)


@dataclass(frozen=True)
class Night:
    """What happened on one night (the tests compare the HTML against these)."""

    index: int
    at: datetime
    verdict: str
    key_age_days: int
    report: dict[str, Any]


def _entry(grantee: str, object_type: str, obj: str, actions: list[str]) -> dict[str, Any]:
    return {
        "section": "acl",
        "grantee": grantee,
        "object_type": object_type,
        "object": obj,
        "actions": actions,
        "effect": "Allow",
    }


def _kind(index: int) -> str:
    """The scenario of a night, repeating every 30 nights."""
    day = index % 30
    if day in (8, 9, 10):
        return "lost_grant"
    if day == 15:
        return "unreachable"
    if day in (21, 22):
        return "excess_grant"
    return "normal"


def night_report(index: int, key_age: int, rng: random.Random, first: datetime) -> HealthReport:
    kind = _kind(index)
    at = first + timedelta(days=index, seconds=rng.randint(0, 90))
    creep = index // 3

    def ms(base: int) -> int:
        return base + creep + rng.randint(0, base // 2)

    grants = [_entry(*g) for g in BASE_GRANTS]
    if kind == "lost_grant":
        grants[0] = _entry(f"role/{ROLE}", "project", PROJECT, ["List"])
    if kind == "excess_grant":
        grants.append(_entry(f"role/{ROLE}", "table", "orders", ["Update"]))
    checks = [
        CheckResult(
            "authentication", "pass", "OK", f"authenticated as RAM user clarityq ({PRINCIPAL})", duration_ms=ms(40)
        ),
        CheckResult("project_accessible", "pass", "OK", f"project {PROJECT} is AVAILABLE", duration_ms=ms(25)),
        CheckResult("metadata_discoverable", "pass", "OK", "3 tables listed, orders described", duration_ms=ms(60)),
    ]
    if kind == "unreachable":
        checks = [
            CheckResult(
                "authentication",
                "fail",
                "TIMEOUT",
                "STS and MaxCompute did not answer within 10 s",
                "wait and re-run; check the network path to the endpoint if it persists.",
                retryable=True,
                duration_ms=10_000,
                category="unreachable",
            ),
            *(
                CheckResult(name, "skipped", "BLOCKED", "skipped: authentication failed")
                for name in (
                    "project_accessible",
                    "metadata_discoverable",
                    "query_works",
                    "least_privilege",
                    "key_hygiene",
                )
            ),
        ]
        return HealthReport.build(checks, started_at=at, duration_ms=10_020, project=PROJECT, principal=None)
    if kind == "lost_grant":
        checks.append(
            CheckResult(
                "query_works",
                "fail",
                "MISSING_PRIVILEGE",
                f"permission denied: {PRINCIPAL} has no 'odps:CreateInstance' on project {PROJECT}",
                f"as the project owner run: GRANT CreateInstance ON PROJECT {PROJECT} TO ROLE {ROLE};",
                duration_ms=ms(30),
                category="permission",
            )
        )
    else:
        checks.append(
            CheckResult("query_works", "pass", "OK", "SELECT * FROM orders LIMIT 1 returned 1 row", duration_ms=ms(180))
        )
    details = {"roles": [ROLE], "grants": grants, "findings": []}
    if kind == "excess_grant":
        fix = f"REVOKE Update ON TABLE orders FROM ROLE {ROLE};"
        details["findings"] = [{"grant": "Update on TABLE orders", "fix": fix}]
        checks.append(
            CheckResult(
                "least_privilege",
                "warn",
                "EXCESS_PRIVILEGES",
                f"{PRINCIPAL} holds more than read access: Update on TABLE orders",
                f"as the project owner run: {fix}",
                duration_ms=ms(20),
                details=details,
            )
        )
    else:
        checks.append(
            CheckResult("least_privilege", "pass", "OK", "read access only", duration_ms=ms(20), details=details)
        )
    key = {"access_key_id": "LTAI...7Q2x", "status": "Active", "age_days": key_age, "last_used": None, "in_use": True}
    key_details = {"user": "clarityq", "keys": [key], "max_key_age_days": KEY_LIMIT}
    if key_age > KEY_LIMIT:
        checks.append(
            CheckResult(
                "key_hygiene",
                "warn",
                "KEY_TOO_OLD",
                f"the AccessKey in use LTAI...7Q2x is {key_age} days old (limit {KEY_LIMIT})",
                "rotate it: create a second AccessKey for RAM user clarityq, put it into the connection, then delete "
                "the old one.",
                duration_ms=ms(50),
                details=key_details,
            )
        )
    else:
        checks.append(
            CheckResult(
                "key_hygiene",
                "pass",
                "OK",
                f"the AccessKey in use is {key_age} days old",
                duration_ms=ms(50),
                details=key_details,
            )
        )
    total = sum(c.duration_ms for c in checks)
    return HealthReport.build(checks, started_at=at, duration_ms=total, project=PROJECT, principal=PRINCIPAL)


def nights(count: int, *, seed: int = 18, first_key_age: int = 80) -> list[Night]:
    """``count`` nights; the key is rotated (age 0) two nights after it passes the limit."""
    rng = random.Random(seed)
    first = first_night(count)
    result = []
    age = first_key_age
    for index in range(count):
        report = night_report(index, age, rng, first)
        result.append(
            Night(
                index,
                datetime.fromisoformat(report.started_at.replace("Z", "+00:00")),
                report.verdict,
                age,
                report.to_dict(),
            )
        )
        age = 0 if age > KEY_LIMIT + 1 else age + 1
    return result

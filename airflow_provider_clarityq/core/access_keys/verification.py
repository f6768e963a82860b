"""Whether a key works: the health checks ``authentication`` and ``project_accessible`` on connection fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_clarityq.core.access_keys.model import VERIFY_CHECKS, Stage, Verification

__all__ = ["health_verifier", "verification_from_report"]


def verification_from_report(report: Any) -> Verification:
    """Map a :class:`~.health.report.HealthReport` of :data:`VERIFY_CHECKS` to a :class:`Verification`."""
    if report.verdict in ("HEALTHY", "DEGRADED"):
        return Verification(True, "ok", report.summary_line())
    problem = report.first_problem()
    if problem is None:  # pragma: no cover - a failing verdict always has a problem
        return Verification(False, "config", f"verdict {report.verdict}")
    unreachable = problem.category == "unreachable"
    stage: Stage
    if unreachable:
        stage = "unreachable"
    elif problem.name == "connection":
        stage = "config"
    elif problem.name == "authentication":
        stage = "authentication"
    else:
        stage = "project"
    fix = f" Fix: {problem.remediation}" if problem.remediation else ""
    return Verification(False, stage, f"{problem.name} {problem.code}: {problem.message}{fix}")


def health_verifier(
    *, timeout_s: float = 60.0, on_secret: Callable[[str], None] | None = None
) -> Callable[[Mapping[str, Any]], Verification]:
    """A verifier running the health checks ``authentication`` + ``project_accessible`` on connection fields.

    They are seed 000 step 6's "authentication succeeds" and "project is accessible": STS
    GetCallerIdentity (MaxCompute ``whoami`` when STS is unreachable) and ``GET /projects/<p>`` signed
    with the key under test.
    """

    def verify(fields: Mapping[str, Any]) -> Verification:
        from airflow_provider_clarityq.core.health.options import HealthOptions
        from airflow_provider_clarityq.core.health.probe import check_connection_fields

        options = HealthOptions(checks=VERIFY_CHECKS, timeout_s=timeout_s)
        report = check_connection_fields(fields, options, on_new_secret=on_secret)
        return verification_from_report(report)

    return verify

"""Health gate for ClarityQ's MaxCompute access: structured checks, remediation, a versioned report.

No Airflow import. The pieces:

* :mod:`.checks` -- the checks (seed 000 step 6: authentication, project accessible, metadata
  discoverable, query works; plus least privilege and key hygiene), custom validation queries, and
  :func:`run_health_checks`, which runs them concurrently over a :class:`~.checks.Probe`;
* :mod:`.probe` -- the real probe over pyodps and the Alibaba STS/RAM SDKs;
* :mod:`.remediation` -- failure -> code, category and the exact fix (GRANT statement, field to edit);
* :mod:`.report` -- :class:`~.report.HealthReport`, its verdict and JSON schema (version ``"1"``).

The Asset a healthy check emits is named by :func:`health_asset_uri`.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.health.checks import (
    CHECK_NAMES,
    SEED_CHECKS,
    HealthOptions,
    ValidationQuery,
    run_health_checks,
    unusable_connection_report,
)
from airflow_provider_clarityq.core.health.report import (
    JSON_SCHEMA,
    SCHEMA_VERSION,
    CheckResult,
    HealthReport,
    ReportFormatError,
)

__all__ = [
    "CHECK_NAMES",
    "JSON_SCHEMA",
    "SCHEMA_VERSION",
    "SEED_CHECKS",
    "CheckResult",
    "HealthOptions",
    "HealthReport",
    "ReportFormatError",
    "ValidationQuery",
    "health_asset_uri",
    "run_health_checks",
    "unusable_connection_report",
]

_CONN_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,250}")


def health_asset_uri(conn_id: str) -> str:
    """``clarityq://connection/<conn_id>/health``: the Asset a HEALTHY check of that connection emits.

    Named after the Airflow connection, not the project: the health being certified is that of one
    set of credentials against one project, and the connection id is known when DAGs are parsed.
    """
    if not isinstance(conn_id, str) or not _CONN_ID_RE.fullmatch(conn_id):
        raise ConfigurationError(
            "maxcompute_conn_id", f"{conn_id!r} cannot name an Asset", "use letters, digits, '_', '.', '-'"
        )
    return f"clarityq://connection/{quote(conn_id, safe='')}/health"

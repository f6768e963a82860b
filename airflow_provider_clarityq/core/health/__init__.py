"""Health gate for ClarityQ's MaxCompute access: structured checks, remediation, a versioned report.

No Airflow import. One module per concept:

* :mod:`.options` - what to check (:class:`~.options.HealthOptions`, custom :class:`~.options.ValidationQuery`);
* :mod:`.protocol` - the narrow :class:`~.protocol.Probe` the checks ask, and its answers;
* :mod:`.probe` - the real probe over a connection's client bundle (pyodps, STS, RAM);
* :mod:`.checks` - the checks of seed 000 step 6, least privilege and key hygiene;
* :mod:`.audit` - the least-privilege audit over the grants model;
* :mod:`.runner` - runs the checks as a dependency graph and builds the report;
* :mod:`.remediation` - failure -> code, category and the exact fix;
* :mod:`.report` - the report, its verdict and JSON Schema (version ``"1"``);
* :mod:`.sharing` - one in-flight check shared by deferred gates.

The Asset a healthy check emits is named by :func:`health_asset_uri`.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from airflow_provider_clarityq.core.errors import ConfigurationError

__all__ = ["health_asset_uri"]

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

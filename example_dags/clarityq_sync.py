"""ClarityQ sync: export the table and column metadata and row counts ClarityQ can see, behind a health gate.

Scheduled on the health Asset that ``clarityq_connection_health`` emits only when the connection is
HEALTHY, and gated once more by ``ClarityQHealthSensor`` (deferrable: it waits in the triggerer, not in
a worker slot, while MaxCompute is unreachable, and fails at once on a configuration error).

The sync lists the project's tables through the reader's own credentials, describes each (columns,
partition keys) and counts rows (``SELECT COUNT(*)`` for unpartitioned tables; the table metadata's
record count for partitioned ones, which a real project would refuse to count without a partition
predicate). Tables the reader may not describe are listed with the reason. The JSON goes to
``<output_dir>/<project>/metadata_<run timestamp>.json`` and ``latest.json`` next to it, where
``output_dir`` is, first found: the DAG param ``output_dir``, the Airflow Variable
``clarityq_sync_dir``, the environment variable ``CLARITYQ_SYNC_DIR``, ``$AIRFLOW_HOME/clarityq_sync``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, task

from airflow_provider_clarityq.core.health import health_asset_uri
from airflow_provider_clarityq.sensors.health import ClarityQHealthSensor

CONN_ID = "clarityq_reader"
HEALTH = Asset(health_asset_uri(CONN_ID))
MAX_TABLES = 10_000


def _output_dir(params: dict[str, Any]) -> str:
    """The first configured of: DAG param, Variable, environment, ``$AIRFLOW_HOME/clarityq_sync``."""
    import os

    from airflow.sdk import Variable

    configured = params.get("output_dir") or Variable.get("clarityq_sync_dir", default=None)
    configured = configured or os.environ.get("CLARITYQ_SYNC_DIR")
    if configured:
        return str(configured)
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return os.path.join(home, "clarityq_sync")


def _table_entry(probe: Any, name: str) -> dict[str, Any]:
    """Metadata and row count of one table, or why the reader cannot see it."""
    from airflow_provider_clarityq.core.health.remediation import RemediationContext, diagnose
    from airflow_provider_clarityq.core.identifiers import validate_table_name

    try:
        name = validate_table_name(name)
        info = probe.describe_table(name)
        if info.partition_keys:
            rows, source = info.record_count, "metadata"
        else:
            result = probe.run_query(f"SELECT COUNT(*) AS n FROM `{name}`")  # noqa: S608 - validated name
            rows, source = int(result.rows[0][0] or 0), "query"
    except Exception as exc:
        context = RemediationContext(project=probe.project, endpoint=probe.endpoint, table=name, secrets=probe.secrets)
        diagnosis = diagnose(exc, context)
        if diagnosis.retryable:
            raise  # a transient failure fails the task (and its retries apply), not a partial export
        return {"name": name, "visible": False, "error": diagnosis.code, "reason": diagnosis.message}
    return {
        "name": info.name,
        "visible": True,
        "is_view": info.is_view,
        "columns": [{"name": c.name, "type": c.type} for c in info.columns],
        "partition_keys": [{"name": c.name, "type": c.type} for c in info.partition_keys],
        "row_count": rows,
        "row_count_source": source,
    }


def _write_json(directory: str, name: str, document: dict[str, Any]) -> str:
    """Write atomically (temporary file + rename), so a reader never sees half a file."""
    import json
    import os
    import tempfile

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=directory)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2, sort_keys=False)
        handle.write("\n")
    os.replace(tmp, path)
    return path


with DAG(
    dag_id="clarityq_sync",
    schedule=[HEALTH],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["clarityq", "maxcompute", "sync"],
    params={
        "output_dir": Param(
            None,
            type=["null", "string"],
            description="Directory for the sync output (default: Variable clarityq_sync_dir, env CLARITYQ_SYNC_DIR, "
            "$AIRFLOW_HOME/clarityq_sync).",
        )
    },
    doc_md=__doc__,
):
    gate = ClarityQHealthSensor(
        task_id="health_gate",
        maxcompute_conn_id=CONN_ID,
        deferrable=True,
        poke_interval=timedelta(minutes=5),
        timeout=timedelta(hours=2),
    )

    @task(multiple_outputs=False)
    def sync_metadata(**context: Any) -> dict[str, Any]:
        """List, describe and count what ClarityQ can see; write it as JSON."""
        import os
        from datetime import datetime, timezone

        from airflow_provider_clarityq.core.health.probe import MaxComputeProbe
        from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

        probe = MaxComputeProbe(MaxComputeHook(maxcompute_conn_id=CONN_ID).clients)
        names = probe.list_tables(MAX_TABLES)
        tables = [_table_entry(probe, name) for name in names]
        generated = datetime.now(timezone.utc)
        document = {
            "schema_version": "1",
            "project": probe.project,
            "endpoint": probe.endpoint,
            "generated_at": generated.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "run_id": context["run_id"],
            "tables": tables,
        }
        directory = os.path.join(_output_dir(context["params"]), probe.project)
        path = _write_json(directory, f"metadata_{generated:%Y%m%dT%H%M%SZ}.json", document)
        _write_json(directory, "latest.json", document)
        visible = [t for t in tables if t["visible"]]
        return {
            "output_path": path,
            "tables": len(tables),
            "visible_tables": len(visible),
            "rows": sum(t["row_count"] or 0 for t in visible),
        }

    gate >> sync_metadata()

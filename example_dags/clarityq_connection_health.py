"""Nightly health check of ClarityQ's MaxCompute connection (seed 000 step 6, made exact).

Runs every check on the Airflow connection ``clarityq_reader``: authentication, project accessible,
metadata discoverable, query works, least privilege and key hygiene. On HEALTHY the task emits the
Asset ``clarityq://connection/clarityq_reader/health``, which schedules ``clarityq_sync``. Otherwise the
task fails and its log (and XCom ``return_value``, the JSON report) says what broke and the exact fix,
e.g. ``GRANT CreateInstance ON PROJECT my_project TO ROLE clarityq_reader;``.

``clarityq_reader`` is created by ``clarityq_provision_access``: a run before it fails with
``CONNECTION_NOT_FOUND`` and the fix "run the DAG clarityq_provision_access first".

An UNREACHABLE verdict raises a retryable error: give the task ``retries`` if a transient network or
service problem at night should be retried before it counts as a failure.

Every report goes into the health history, and ``write_report`` (a teardown: it runs whatever the check
found, without deciding the run's state) writes the history as one HTML page,
``$AIRFLOW_HOME/clarityq/reports/health-clarityq_reader.html``; the tasks' **Health report** link opens it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset

from airflow_provider_clarityq.core.health import health_asset_uri
from airflow_provider_clarityq.operators.health_report import ClarityQHealthReportOperator
from airflow_provider_clarityq.operators.validation import ClarityQValidationOperator

CONN_ID = "clarityq_reader"
HEALTH = Asset(health_asset_uri(CONN_ID))

with DAG(
    dag_id="clarityq_connection_health",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["clarityq", "maxcompute", "health"],
    doc_md=__doc__,
):
    check = ClarityQValidationOperator(
        task_id="check_connection",
        maxcompute_conn_id=CONN_ID,
        outlets=[HEALTH],
    )
    check >> ClarityQHealthReportOperator(task_id="write_report", maxcompute_conn_id=CONN_ID).as_teardown()

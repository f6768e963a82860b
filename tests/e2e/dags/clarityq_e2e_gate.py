"""A deferrable health gate on ``clarityq_reader`` that re-checks every few seconds.

``clarityq_sync``'s gate waits five minutes between checks; this one is the same sensor with a short
interval, so the end-to-end run can stop the service, see the task wait in the triggerer, bring the
service back and see the task resume. Many runs at once measure the triggerer's cost per waiting gate.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_clarityq.sensors.health import ClarityQHealthSensor

with DAG(
    dag_id="clarityq_e2e_gate",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=100,
    tags=["clarityq", "e2e"],
    doc_md=__doc__,
):
    ClarityQHealthSensor(
        task_id="health_gate",
        maxcompute_conn_id="clarityq_reader",
        deferrable=True,
        poke_interval=timedelta(seconds=3),
        timeout=timedelta(minutes=15),
    )

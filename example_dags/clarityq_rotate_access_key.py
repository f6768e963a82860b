"""Rotate ClarityQ's AccessKey without ever showing its secret (seed 000 step 2, done safely and repeatably).

One task, ``rotate_access_key``, signed by the admin connection ``clarityq_admin``:

1. delete deactivated keys whose grace period is over (and deactivate keys whose delivery failed);
2. with 2 keys (RAM's limit) apply ``on_key_limit``: delete the oldest Inactive key, or refuse;
3. create a key (its secret is masked at once), verify it - authentication and project access, the
   health checks of seed 000 step 6 - and only then write it into the connection ``clarityq_reader``
   where Airflow reads it (the deployment's ``[clarityq] secret_sink``: the LocalFilesystemBackend file,
   or the metadata DB through the REST API);
4. deactivate the old key; a run after ``grace_period_hours`` deletes it.

Any failure leaves the old key Active and the connection working, and the next run completes the
job. The XCom holds key IDs only. Triggered by hand (``schedule=None``); to rotate on a schedule set
``schedule="@monthly"`` with a grace period shorter than the interval, so each run also deletes the
key the previous run deactivated.

What is managed - the RAM user and the connection that receives its key - is fixed here, in the DAG
file: a run's params choose only how (``mode``, ``on_key_limit``, ``grace_period_hours`` within limits).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_clarityq.operators.access_keys import ClarityQAccessKeyRotationOperator

CONN_ID = "clarityq_admin"
RAM_USER = "clarityq"
READER_CONN_ID = "clarityq_reader"

with DAG(
    dag_id="clarityq_rotate_access_key",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["clarityq", "ram", "access-key"],
    doc_md=__doc__,
    params={
        "on_key_limit": Param(
            "delete_oldest_inactive",
            type="string",
            enum=["delete_oldest_inactive", "refuse"],
            description="With 2 keys: delete the oldest Inactive key, or stop and report.",
        ),
        "grace_period_hours": Param(
            168,
            type="integer",
            minimum=24,
            maximum=2160,
            description="How long a deactivated key is kept (for rollback) before deletion: 1 to 90 days.",
        ),
        "mode": Param("apply", type="string", enum=["plan", "apply"], description="plan: report only."),
    },
):
    ClarityQAccessKeyRotationOperator(
        task_id="rotate_access_key",
        maxcompute_conn_id=CONN_ID,
        ram_user=RAM_USER,
        sink_conn_id=READER_CONN_ID,
        on_key_limit="{{ params.on_key_limit }}",
        grace_period="{{ params.grace_period_hours * 3600 }}",
        mode="{{ params.mode }}",
    )

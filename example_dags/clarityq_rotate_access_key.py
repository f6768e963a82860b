"""Rotate ClarityQ's AccessKey without ever showing its secret (seed 000 step 2, done safely and repeatably).

One task, ``rotate_access_key``, signed by the admin connection ``clarityq_admin``:

1. delete deactivated keys whose grace period is over (and deactivate keys whose delivery failed);
2. with 2 keys (RAM's limit) apply ``on_key_limit``: delete the oldest Inactive key, or refuse;
3. create a key (its secret is masked at once), verify it - authentication and project access, the
   health checks of seed 000 step 6 - and only then write it into the connection ``sink_conn_id``
   (default ``clarityq_reader``) of the LocalFilesystemBackend connections file;
4. deactivate the old key; a run after ``grace_period_hours`` deletes it.

Any failure leaves the old key Active and the connection working, and the next run completes the
job. The XCom holds key IDs only. Triggered by hand (``schedule=None``); to rotate on a schedule set
``schedule="@monthly"`` with a grace period shorter than the interval, so each run also deletes the
key the previous run deactivated.

The connections file is the ``connections_file`` param, else ``$CLARITYQ_CONNECTIONS_FILE``, else
``connections_file_path`` of ``[secrets] backend_kwargs`` (what ``scripts/demo.py`` configures:
``$CLARITYQ_DEMO_DIR/connections.json``).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_clarityq.operators.access_keys import CONNECTIONS_FILE_ENV, RamAccessKeyRotationOperator

CONN_ID = "clarityq_admin"

with DAG(
    dag_id="clarityq_rotate_access_key",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["clarityq", "ram", "access-key"],
    doc_md=__doc__,
    params={
        "ram_user": Param("clarityq", type="string", description="RAM user whose AccessKey is rotated."),
        "sink_conn_id": Param(
            "clarityq_reader", type="string", description="Airflow connection that receives the new key."
        ),
        "connections_file": Param(
            os.environ.get(CONNECTIONS_FILE_ENV, ""),
            type="string",
            description="LocalFilesystemBackend connections file (JSON/YAML). Empty: $CLARITYQ_CONNECTIONS_FILE, "
            "else the configured backend's connections_file_path.",
        ),
        "on_key_limit": Param(
            "delete_oldest_inactive",
            type="string",
            enum=["delete_oldest_inactive", "refuse"],
            description="With 2 keys: delete the oldest Inactive key, or stop and report.",
        ),
        "grace_period_hours": Param(
            168, type="number", minimum=0, description="How long a deactivated key is kept before deletion."
        ),
        "mode": Param("apply", type="string", enum=["plan", "apply"], description="plan: report only."),
    },
):
    RamAccessKeyRotationOperator(
        task_id="rotate_access_key",
        maxcompute_conn_id=CONN_ID,
        ram_user="{{ params.ram_user }}",
        sink_conn_id="{{ params.sink_conn_id }}",
        connections_file="{{ params.connections_file }}",
        on_key_limit="{{ params.on_key_limit }}",
        grace_period="{{ params.grace_period_hours * 3600 }}",
        mode="{{ params.mode }}",
    )

"""Provision ClarityQ's read access to MaxCompute as code (seed 000 steps 1-4).

Runs with the owner's (or an admin's) credentials in the Airflow connection ``clarityq_admin``; the
MaxCompute project is the connection's project. Four tasks:

1. ``validate_spec`` builds seed 000's access spec from the params (``ram_user``, ``role``) and the
   connection's project and validates it - a bad or hostile name fails here, before any request.
2. ``ensure_ram_user`` creates the RAM user if it is missing and returns the main account's and the
   user's UIDs (``RAM$<account>:<uid>``). In ``plan`` mode it only looks.
3. ``grant_access`` reads the project's access state, logs the plan and, per ``mode``:
   ``plan`` changes nothing, ``apply`` adds only what is missing (``ADD USER``, ``CREATE ROLE``,
   ``GRANT CreateInstance, List ON PROJECT``, ``GRANT Describe, Select ON TABLE *``, the role to the
   user), ``sync`` also revokes what the role and the user hold beyond the spec - never anything else.

4. ``ensure_access_key`` gives the RAM user a permanent AccessKey only when the ``clarityq_reader``
   connection holds no working one (seed 000 step 2), verifies it, and writes it straight to that
   connection (the LocalFilesystemBackend connections file): the secret never reaches XCom or logs.

Re-running is safe: a converged project gets no mutating request and no new key.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_clarityq.operators.access_keys import RamAccessKeyOperator
from airflow_provider_clarityq.operators.grants import MaxComputeGrantsOperator
from airflow_provider_clarityq.operators.ram import RamUserOperator

CONN_ID = "clarityq_admin"

with DAG(
    dag_id="clarityq_provision_access",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["clarityq", "maxcompute", "access"],
    doc_md=__doc__,
    params={
        "ram_user": Param("clarityq", type="string", description="RAM user ClarityQ connects as."),
        "role": Param("clarityq_reader", type="string", description="Project role holding the read grants."),
        "mode": Param(
            "apply",
            type="string",
            enum=["plan", "apply", "sync"],
            description="plan: dry run; apply: add what is missing; sync: also revoke extras on the role/user.",
        ),
    },
):

    @task
    def validate_spec(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Seed 000's spec for the connection's project, validated before anything talks to Alibaba Cloud."""
        from airflow_provider_clarityq.core.grants.spec import load_spec
        from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

        project = MaxComputeHook(maxcompute_conn_id=CONN_ID).project  # read from the connection, no request
        values = params or {}  # Airflow passes the run's params
        spec = load_spec({"ram_user": values["ram_user"], "role": values["role"], "projects": [{"project": project}]})
        return spec.model_dump(mode="json")

    ensure_ram_user = RamUserOperator(
        task_id="ensure_ram_user",
        maxcompute_conn_id=CONN_ID,
        ram_user="{{ ti.xcom_pull(task_ids='validate_spec')['ram_user'] }}",
        mode="{{ params.mode }}",
    )

    grant_access = MaxComputeGrantsOperator(
        task_id="grant_access",
        maxcompute_conn_id=CONN_ID,
        spec="{{ ti.xcom_pull(task_ids='validate_spec') | tojson }}",
        mode="{{ params.mode }}",
        # Known from ensure_ram_user: saves grant_access the STS and RAM look-ups (empty: look them up).
        account_id="{{ ti.xcom_pull(task_ids='ensure_ram_user')['account_id'] }}",
        ram_user_uid="{{ ti.xcom_pull(task_ids='ensure_ram_user')['user_uid'] or '' }}",
    )

    # After grant_access: the new key is verified (authentication + project access) before delivery.
    ensure_access_key = RamAccessKeyOperator(
        task_id="ensure_access_key",
        maxcompute_conn_id=CONN_ID,
        ram_user="{{ ti.xcom_pull(task_ids='validate_spec')['ram_user'] }}",
        sink_conn_id="clarityq_reader",
        mode="{{ params.mode }}",
    )

    validate_spec() >> ensure_ram_user >> grant_access >> ensure_access_key

"""Provision ClarityQ's read access to MaxCompute as code (seed 000 steps 1-4).

Runs with the owner's (or an admin's) credentials in the Airflow connection ``clarityq_admin``; the
MaxCompute project is the connection's project. Four tasks:

1. ``validate_spec`` builds seed 000's access spec from this file's ``RAM_USER`` and ``ROLE`` and the
   connection's project and validates it - a bad or hostile name fails here, before any request.
2. ``ensure_ram_user`` creates the RAM user if it is missing (marked as the provider's in its Comments)
   and returns the main account's and the user's UIDs (``RAM$<account>:<uid>``). An existing user the
   provider did not create is refused unless ``ADOPT_EXISTING_USER`` is set below. In ``plan`` mode it
   only looks.
3. ``grant_access`` reads the project's access state, logs the plan and, per ``mode``:
   ``plan`` changes nothing, ``apply`` adds only what is missing (``ADD USER``, ``CREATE ROLE``,
   ``GRANT CreateInstance, List ON PROJECT``, ``GRANT Describe, Select ON TABLE *``, the role to the
   user), ``sync`` also revokes what the role and the user hold beyond the spec - never anything else.

4. ``ensure_access_key`` gives the RAM user a permanent AccessKey only when the ``clarityq_reader``
   connection holds no working one (seed 000 step 2), verifies it, and writes it straight to that
   connection where Airflow reads it (the deployment's ``[clarityq] secret_sink``): the secret never
   reaches XCom or logs.

Re-running is safe: a converged project gets no mutating request and no new key. What is managed (the
RAM user, the role, the project, the reader connection) is fixed in this file; a run's params choose
only the ``mode``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_clarityq.operators.access_keys import ClarityQAccessKeyOperator
from airflow_provider_clarityq.operators.grants import ClarityQGrantsOperator
from airflow_provider_clarityq.operators.ram import ClarityQRamUserOperator

CONN_ID = "clarityq_admin"
RAM_USER = "clarityq"
ROLE = "clarityq_reader"
READER_CONN_ID = "clarityq_reader"
#: The provider manages only a RAM user it created or adopted. If you created ``RAM_USER`` by hand (seed 000
#: step 2), set this to True for one run to let the provider adopt it; the mark stays in the user's Comments.
ADOPT_EXISTING_USER = False

with DAG(
    dag_id="clarityq_provision_access",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["clarityq", "maxcompute", "access"],
    doc_md=__doc__,
    params={
        "mode": Param(
            "apply",
            type="string",
            enum=["plan", "apply", "sync"],
            description="plan: dry run; apply: add what is missing; sync: also revoke extras on the role/user.",
        ),
    },
):

    @task
    def validate_spec() -> dict[str, Any]:
        """Seed 000's spec for the connection's project, validated before anything talks to Alibaba Cloud."""
        from airflow_provider_clarityq.core.grants.spec import load_spec
        from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

        project = MaxComputeHook(maxcompute_conn_id=CONN_ID).project  # read from the connection, no request
        spec = load_spec({"ram_user": RAM_USER, "role": ROLE, "projects": [{"project": project}]})
        return spec.model_dump(mode="json")

    ensure_ram_user = ClarityQRamUserOperator(
        task_id="ensure_ram_user",
        maxcompute_conn_id=CONN_ID,
        ram_user="{{ ti.xcom_pull(task_ids='validate_spec')['ram_user'] }}",
        mode="{{ params.mode }}",
        adopt_existing_user=ADOPT_EXISTING_USER,
    )

    grant_access = ClarityQGrantsOperator(
        task_id="grant_access",
        maxcompute_conn_id=CONN_ID,
        spec="{{ ti.xcom_pull(task_ids='validate_spec') | tojson }}",
        mode="{{ params.mode }}",
        # Known from ensure_ram_user: saves grant_access the STS and RAM look-ups (empty: look them up).
        account_id="{{ ti.xcom_pull(task_ids='ensure_ram_user')['account_id'] }}",
        ram_user_uid="{{ ti.xcom_pull(task_ids='ensure_ram_user')['user_uid'] or '' }}",
    )

    # After grant_access: the new key is verified (authentication + project access) before delivery.
    ensure_access_key = ClarityQAccessKeyOperator(
        task_id="ensure_access_key",
        maxcompute_conn_id=CONN_ID,
        ram_user="{{ ti.xcom_pull(task_ids='validate_spec')['ram_user'] }}",
        sink_conn_id=READER_CONN_ID,
        mode="{{ params.mode }}",
    )

    validate_spec() >> ensure_ram_user >> grant_access >> ensure_access_key

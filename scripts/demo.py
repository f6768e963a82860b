"""The demo behind ``bash scripts/demo.sh``: ClarityQ's setup guide, end to end, on the emulator.

1. start the local MaxCompute/RAM/STS emulator (state kept in ``.clarityq/``),
2. write the Airflow connections ``clarityq_admin`` (the project owner) and, once it has a key,
   ``clarityq_reader`` to a 0600 connections file read by Airflow's LocalFilesystemBackend,
3. run ``clarityq_provision_access``, ``clarityq_connection_health`` and ``clarityq_sync`` through
   real Airflow (``dag.test()`` on a SQLite metadata DB),
4. print the applied plan, the health report and where the sync output is, and end with the path of
   the HTML health report (the health history as one page).

A second run finds everything in place and applies 0 changes.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("CLARITYQ_DEMO_DIR", REPO / ".clarityq"))
AIRFLOW_HOME = STATE_DIR / "airflow"
CONN_FILE = STATE_DIR / "connections.json"
EMULATOR_STATE = STATE_DIR / "emulator-state.json"
SYNC_DIR = STATE_DIR / "sync"
DAGS = ("clarityq_provision_access", "clarityq_connection_health", "clarityq_sync")


class DemoError(Exception):
    """A step failed; the message says which and why."""


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def detail(message: str) -> None:
    print(f"    {message}", flush=True)


def configure_airflow() -> None:
    """Airflow reads its configuration at import time: set everything before the first import."""
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
            "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(CONN_FILE)}),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "CLARITYQ_SYNC_DIR": str(SYNC_DIR),
        }
    )


def start_emulator() -> dict[str, Any]:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log = open(STATE_DIR / "emulator.log", "a")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "clarityq_emulator", "--state-file", str(EMULATOR_STATE)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)

    atexit.register(stop)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise DemoError(f"the emulator did not start; see {STATE_DIR / 'emulator.log'}")
    info: dict[str, Any] = json.loads(line)
    return info


def write_connections(connections: dict[str, dict[str, Any]]) -> None:
    """Atomically replace the connections file, readable by its owner only."""
    CONN_FILE.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".connections-", dir=CONN_FILE.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(connections, handle, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, CONN_FILE)


def read_connections() -> dict[str, dict[str, Any]]:
    if not CONN_FILE.exists():
        return {}
    data: dict[str, dict[str, Any]] = json.loads(CONN_FILE.read_text())
    return data


def connection(info: dict[str, Any], login: str, password: str) -> dict[str, Any]:
    base = f"http://{info['ram_endpoint']}"
    return {
        "conn_type": "clarityq_maxcompute",
        "login": login,
        "password": password,
        "host": info["maxcompute_endpoint"],
        "schema": info["project"],
        "extra": {"ram_endpoint": base, "sts_endpoint": base},
    }


def migrate_db() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise DemoError(f"airflow db migrate failed:\n{result.stderr[-2000:]}")


def run_dag(dag_id: str) -> dict[str, Any]:
    """Run one example DAG through Airflow and return its tasks' XCom return values."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    bag = DagBag(dag_folder=str(REPO / "example_dags"))
    if dag_id not in bag.dags:
        errors = bag.import_errors or {}
        raise DemoError(f"DAG {dag_id} is not available (import errors: {list(errors.values())[:1]})")
    started = time.perf_counter()
    run = bag.dags[dag_id].test()
    elapsed = time.perf_counter() - started
    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run.run_id, XComModel.key == "return_value"
            )
        ).all()
        by_task = {row.task_id: XComModel.deserialize_value(row) for row in rows}
        values = {t: by_task[t] for t in bag.dags[dag_id].task_ids if t in by_task}  # in the DAG's order
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
    detail(f"{dag_id}: {run.state} in {elapsed:.1f} s ({', '.join(f'{t}={s}' for t, s in sorted(states.items()))})")
    if str(run.state) != "success":
        failed = [t for t, s in states.items() if s != "success"]
        raise DemoError(f"{dag_id} ended {run.state}; failed tasks: {failed}. Logs: {AIRFLOW_HOME / 'logs'}")
    return values


def show_access_result(value: dict[str, Any]) -> str:
    """Print the plan as the planner renders it and say how many changes were applied."""
    from airflow_provider_clarityq.core.grants.plan_diff import plan_diff

    print(plan_diff(value["plan"]).to_text())
    changed = sum(1 for step in value["steps"] if step["outcome"] == "executed")
    line = f"{changed} change(s) applied, {value['requests']['total']} request(s)"
    detail(line)
    return line


def main() -> int:
    configure_airflow()
    say("Starting the local MaxCompute / RAM / STS emulator")
    info = start_emulator()
    detail(f"MaxCompute endpoint {info['maxcompute_endpoint']}, project {info['project']}")
    connections = read_connections()
    connections["clarityq_admin"] = connection(info, info["access_key_id"], info["access_key_secret"])
    if "clarityq_reader" in connections:
        reader = connections["clarityq_reader"]
        connections["clarityq_reader"] = connection(info, reader["login"], reader["password"])
    write_connections(connections)
    detail(
        f"connections clarityq_admin{' and clarityq_reader' if 'clarityq_reader' in connections else ''} "
        f"in {CONN_FILE} (mode 0600)"
    )

    say("Preparing the Airflow metadata database")
    migrate_db()

    summary: list[str] = []
    health_page = None
    for dag_id in DAGS:
        say(f"Running {dag_id}")
        values = run_dag(dag_id)
        for value in values.values():
            if not isinstance(value, dict):
                continue
            if "user_uid" in value and "created" in value:
                state = "created" if value["created"] else "already exists"
                detail(f"RAM user {value['user_name']}: {state}, principal {value['principal']}")
                if value["created"]:
                    summary.append(f"{dag_id}: RAM user {value['user_name']} created")
            if "access_key_id" in value and "action" in value:
                detail(
                    f"AccessKey of {value['user_name']}: {value['action']} ({value['access_key_id']}), "
                    f"delivered to connection {value['sink_conn_id']}"
                )
                summary.append(f"{dag_id}: AccessKey {value['action']}")
            if str(value.get("format", "")).startswith("clarityq.access-result"):
                summary.append(f"{dag_id}: {show_access_result(value)}")
            if "summary_table" in value:
                print(value["summary_table"])
                summary.append(f"{dag_id}: {value.get('verdict')}")
            if str(value.get("path", "")).endswith(".html"):
                health_page = value["path"]
                detail(f"health report ({value['reports']} report(s) in the history): {health_page}")
            if "output_path" in value:
                detail(f"sync output: {value['output_path']}")
                summary.append(f"{dag_id}: wrote {value['output_path']}")
    say("Done")
    for line in summary:
        detail(line)
    if health_page:
        say(f"Health report: {health_page}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DemoError as err:
        print(f"\ndemo failed: {err}", file=sys.stderr)
        sys.exit(1)

"""Helpers shared by the integration tests: the emulator main account's clients (plain pyodps and RAM SDK), the
AccessKey deployments' set-up, DAG runs and the search of every artefact for secrets."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi.utils_models import Config
from clarityq_emulator import RunningEmulator
from odps import ODPS


def odps_as(emu: RunningEmulator, access_key_id: str, secret: str) -> ODPS:
    """pyodps with this AccessKey on the emulator's default project, without touching pyodps' process-wide
    defaults."""
    info = emu.info
    return ODPS(access_key_id, secret, info.project, endpoint=info.maxcompute_endpoint, overwrite_global=False)


def owner_odps(emu: RunningEmulator) -> ODPS:
    """pyodps as the project owner."""
    return odps_as(emu, emu.info.access_key_id, emu.info.access_key_secret)


def owner_ram(emu: RunningEmulator) -> RamClient:
    """The RAM SDK as the main account."""
    info = emu.info
    return RamClient(
        Config(
            access_key_id=info.access_key_id,
            access_key_secret=info.access_key_secret,
            endpoint=info.ram_endpoint,
            protocol="http",
        )
    )


# --------------------------------------------------------------------------------------------------
# The AccessKey deployments: an admin connection, a managed RAM user without a key, DAG runs, every artefact

ADMIN_CONN_ID = "clarityq_admin"
READER_CONN_ID = "clarityq_reader"
MANAGED_USER = "clarityq"
READER_ROLE = "clarityq_reader"
EXAMPLE_DAGS = Path(__file__).resolve().parent.parent / "example_dags"


def admin_connection(emu: RunningEmulator) -> dict[str, Any]:
    """The project owner's ``clarityq_maxcompute`` connection fields (RAM/STS on the emulator too)."""
    info = emu.info
    service = f"http://{info.ram_endpoint}"
    return {
        "conn_type": "clarityq_maxcompute",
        "login": info.access_key_id,
        "password": info.access_key_secret,
        "host": info.maxcompute_endpoint,
        "schema": info.project,
        "extra": {"ram_endpoint": service, "sts_endpoint": service},
    }


def provision_user_without_key(emu: RunningEmulator, user: str = MANAGED_USER, role: str = READER_ROLE) -> str:
    """Seed 000 steps 2-3 as the provider's ensure_ram_user and grant tasks leave them (the user carries the
    provider's mark), but no AccessKey: making keys is what is under test. Returns the principal."""
    from alibabacloud_ram20150501 import models as ram_models

    from airflow_provider_clarityq.core.managed_user import MANAGED_MARKER

    info = emu.info
    request = ram_models.CreateUserRequest(user_name=user, comments=MANAGED_MARKER)
    uid = owner_ram(emu).create_user(request).body.user.user_id
    principal = f"RAM${info.account_id}:{uid}"
    owner = owner_odps(emu)
    for statement in (
        f"ADD USER {principal}",
        f"CREATE ROLE {role}",
        f"GRANT CreateInstance, List ON PROJECT {info.project} TO ROLE {role}",
        f"GRANT Describe, Select ON TABLE * TO ROLE {role}",
        f"GRANT {role} TO {principal}",
    ):
        assert owner.execute_security_query(statement) == "OK", statement
    return principal


def user_keys(emu: RunningEmulator, user: str = MANAGED_USER) -> dict[str, str]:
    """{key id: status} of a RAM user, read as the owner through the real SDK."""
    from alibabacloud_ram20150501 import models as ram_models

    body = owner_ram(emu).list_access_keys(ram_models.ListAccessKeysRequest(user_name=user)).body
    return {k.access_key_id: k.status for k in body.access_keys.access_key}


def run_dag(dag_id: str, task_id: str | None = None, **conf: Any) -> tuple[str, Any]:
    """One ``dag.test()`` run of an example DAG: its state, and ``task_id``'s XCom return value."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS / f"{dag_id}.py"))
    assert bag.import_errors == {}
    run = bag.dags[dag_id].test(run_conf=conf or None)
    value = None
    if task_id is not None:
        ti = run.get_task_instance(task_id)
        value = ti.xcom_pull(task_ids=task_id, key="return_value") if ti is not None else None
    return str(run.state), value


def artefacts(emu: RunningEmulator) -> Iterator[tuple[str, str]]:
    """(where, text) of everything Airflow and the emulator kept: log files, every cell of every table of the
    metadata DB (XComs, rendered fields, task instances, connections ...), the emulator's request log."""
    from airflow.configuration import conf

    home = Path(os.environ["AIRFLOW_HOME"])
    for path in (home / "logs").rglob("*"):
        if path.is_file():
            yield str(path), path.read_text(errors="replace")
    db_path = conf.get("database", "sql_alchemy_conn").removeprefix("sqlite:///")
    with sqlite3.connect(db_path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # table names come from sqlite_master
                for cell in row:
                    if isinstance(cell, bytes):
                        yield f"db:{table}", cell.decode("utf-8", errors="replace")
                    elif cell is not None:
                        yield f"db:{table}", str(cell)
    yield "emulator request log", json.dumps(emu.requests())


def secret_hits(emu: RunningEmulator, secrets: Iterable[str], *extra: tuple[str, str]) -> list[tuple[str, str]]:
    """Where any of ``secrets`` appears in clear (the place and the secret's first 4 characters)."""
    found = [*artefacts(emu), *extra]
    return [(where, secret[:4]) for where, text in found for secret in secrets if secret and secret in text]


#: Statements that change security state (ACL, roles, labels, packages, policies) and RAM actions that write.
MUTATING_VERBS = (
    "GRANT",
    "REVOKE",
    "ADD",
    "REMOVE",
    "CREATE",
    "DROP",
    "SET",
    "INSTALL",
    "UNINSTALL",
    "ALLOW",
    "DISALLOW",
    "PUT",
    "CLEAR",
)
MUTATING_ACTIONS = ("Create", "Update", "Delete", "Attach", "Detach")


def mutating(requests: list[dict[str, Any]]) -> list[str]:
    """The mutating requests of an emulator request log, as statements (MaxCompute) or ``ram:<Action>``."""
    found = []
    for r in requests:
        statement = (r.get("statement") or "").strip()
        if statement.upper().startswith(MUTATING_VERBS):
            found.append(statement)
        elif r["service"] == "ram" and (r.get("action") or "").startswith(MUTATING_ACTIONS):
            found.append(f"ram:{r['action']}")
    return found

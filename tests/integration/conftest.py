"""Integration fixtures: a reader provisioned on the emulator exactly as seed 000 says, and its connection.

Provisioning uses only the real RAM SDK and pyodps security statements run as the project owner -- no
provider code -- so the health checks are tested against what a customer following the guide gets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as ram_models
from clarityq_emulator import RunningEmulator
from support import owner_odps, owner_ram

READER_CONN_ID = "clarityq_reader"
READER_ROLE = "clarityq_reader"


@dataclass(frozen=True)
class Reader:
    """The RAM user ``clarityq`` and its AccessKey, as seed 000 steps 2-3 leave them."""

    user_name: str
    user_uid: str
    account_id: str
    access_key_id: str
    access_key_secret: str

    @property
    def principal(self) -> str:
        return f"RAM${self.account_id}:{self.user_uid}"


def run_as_owner(emu: RunningEmulator, *statements: str) -> None:
    owner = owner_odps(emu)
    for statement in statements:
        assert owner.execute_security_query(statement) == "OK", statement


def provision_reader(
    emu: RunningEmulator, *, user_name: str = "clarityq", table: str = "*", add_to_project: bool = True
) -> Reader:
    """Seed 000 steps 2-3 with the real SDKs: RAM user + AccessKey, then ADD USER, role, grants, binding."""
    info = emu.info
    ram = owner_ram(emu)
    ram.create_user(ram_models.CreateUserRequest(user_name=user_name))
    key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name=user_name)).body.access_key
    uid = ram.get_user(ram_models.GetUserRequest(user_name=user_name)).body.user.user_id
    reader = Reader(user_name, uid, info.account_id, key.access_key_id, key.access_key_secret)
    if add_to_project:
        run_as_owner(
            emu,
            f"ADD USER {reader.principal};",
            f"CREATE ROLE {READER_ROLE};",
            f"GRANT CreateInstance, List ON PROJECT {info.project} TO ROLE {READER_ROLE};",
            f"GRANT Describe, Select ON TABLE {table} TO ROLE {READER_ROLE};",
            f"GRANT {READER_ROLE} TO {reader.principal};",
        )
    return reader


def connection_fields(
    emu: RunningEmulator,
    reader: Reader,
    *,
    secret: str | None = None,
    project: str | None = None,
    endpoint: str | None = None,
) -> dict[str, Any]:
    info = emu.info
    service = f"http://{info.ram_endpoint}"
    return {
        "conn_type": "clarityq_maxcompute",
        "login": reader.access_key_id,
        "password": secret if secret is not None else reader.access_key_secret,
        "host": endpoint or info.maxcompute_endpoint,
        "schema": project or info.project,
        "extra": {"ram_endpoint": service, "sts_endpoint": service},
    }


def set_connection(monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], conn_id: str = READER_CONN_ID) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


class Owner:
    """The project owner's tools for a test: run statements, reach pyodps and RAM as the main account."""

    def __init__(self, emu: RunningEmulator) -> None:
        self.emu = emu
        self.odps = owner_odps(emu)
        self.ram = owner_ram(emu)

    def run(self, *statements: str) -> None:
        run_as_owner(self.emu, *statements)

    def provision(self, **kwargs: Any) -> Reader:
        return provision_reader(self.emu, **kwargs)


class Connect:
    """Point ``AIRFLOW_CONN_CLARITYQ_READER`` at the emulator with the reader's key (or a variation)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, emu: RunningEmulator, reader: Reader) -> None:
        self.monkeypatch = monkeypatch
        self.emu = emu
        self.reader = reader

    def __call__(self, *, reader: Reader | None = None, **overrides: Any) -> dict[str, Any]:
        fields = connection_fields(self.emu, reader or self.reader, **overrides)
        set_connection(self.monkeypatch, fields)
        return fields


@pytest.fixture
def emulator(clarityq_emulator: RunningEmulator) -> RunningEmulator:
    """A fresh emulator per test (tests revoke grants, inject faults and stop it)."""
    return clarityq_emulator


@pytest.fixture
def owner(emulator: RunningEmulator) -> Owner:
    return Owner(emulator)


@pytest.fixture
def reader(emulator: RunningEmulator) -> Reader:
    return provision_reader(emulator)


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch, emulator: RunningEmulator, reader: Reader) -> Connect:
    connect = Connect(monkeypatch, emulator, reader)
    connect()
    return connect


@dataclass(frozen=True)
class ApiServer:
    """Airflow's REST API served over real HTTP from this process, on the test session's metadata DB."""

    url: str


@pytest.fixture
def airflow_api_server(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServer]:
    """``airflow api-server``'s core app under uvicorn on a free loopback port (SimpleAuthManager, every user admin).

    The key step reaches it exactly as in a deployment whose connections live in the metadata DB: through
    the connection ``clarityq_airflow_api`` (created here as an environment variable).
    """
    import socket
    import threading

    import uvicorn
    from airflow.api_fastapi.app import create_app

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app("core"), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the Airflow API app did not start")
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    api = {"conn_type": "http", "host": url, "login": "admin", "password": "any-password"}
    monkeypatch.setenv("AIRFLOW_CONN_CLARITYQ_AIRFLOW_API", json.dumps(api))
    try:
        yield ApiServer(url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

"""A throw-away Airflow deployment on this machine: PostgreSQL, the Airflow processes, the emulator.

Every process is started here, in its own process group, and remembered by PID; :meth:`Deployment.stop`
ends exactly those groups and nothing else. Ports are free ones picked at start, state lives in one
work directory, so two runs (or other work on the machine) do not collide.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
E2E_DAGS = Path(__file__).resolve().parent / "dags"

#: The RAM role of the ECS instance the deployment plays: the admin connection's credentials.
INSTANCE_ROLE = "clarityq-admin"


def emulator_seed() -> dict[str, Any]:
    """The demo seed plus an instance role that may administer RAM (made a project Admin once started)."""
    from clarityq_emulator.core.state import default_seed

    seed: dict[str, Any] = default_seed()
    trust = {
        "Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["ecs.aliyuncs.com"]}}]
    }
    seed["ram"] = {
        "roles": [{"name": INSTANCE_ROLE, "trust_policy": trust, "policies": ["AliyunRAMFullAccess"]}],
        "ecs": {"instance_role": INSTANCE_ROLE, "http_tokens": "required"},
    }
    return seed


#: How the emulator is started: its console script, installed next to this interpreter.
EMULATOR_COMMAND: tuple[str, ...] = (str(Path(sys.executable).with_name("clarityq-emulator")),)

#: The deployment's Airflow processes, in start order (the Celery worker is added with ``celery=True``).
AIRFLOW_PROCESSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("api-server", ("api-server",)),
    ("scheduler", ("scheduler",)),
    ("dag-processor", ("dag-processor",)),
    ("triggerer", ("triggerer",)),
)
CELERY_WORKER = ("worker", ("celery", "worker", "--concurrency", "4"))
ADMIN_USER = "admin"


class DeploymentError(Exception):
    """A process did not start or a step of the set-up failed; the message says where to look."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, ready: Callable[[], bool], timeout: float, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(interval)
    raise DeploymentError(f"timed out after {timeout:.0f} s waiting for {what}")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _postgres_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if candidates:
        return candidates[-1].parent
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise DeploymentError("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")


@dataclass
class Started:
    """One process this deployment started (the leader of its own process group)."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Deployment:
    """Everything about one deployment: where it lives, its ports, its secrets and its processes."""

    workdir: Path
    celery: bool = False
    processes: dict[str, Started] = field(default_factory=dict)
    emulator_info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o711)  # PostgreSQL runs as its own user and must reach its data directory
        self.logs = self.workdir / "logs"
        self.logs.mkdir(exist_ok=True)
        self.airflow_home = self.workdir / "airflow"
        self.airflow_home.mkdir(exist_ok=True)
        self.dags = self.workdir / "dags"
        self.pg_port = free_port()
        self.api_port = free_port()
        self.emulator_port = free_port()
        self.redis_port = free_port()
        self.pg_password = secrets.token_urlsafe(16)
        self.admin_password = secrets.token_urlsafe(16)
        self.sync_dir = self.workdir / "sync"
        self._secrets_on_disk()

    # ---------------------------------------------------------------------------------------------
    # Configuration

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg2://airflow:{self.pg_password}@127.0.0.1:{self.pg_port}/airflow"

    def airflow_env(self) -> dict[str, str]:
        """The environment every Airflow process of the deployment shares (what airflow.cfg would hold)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and "proxy" not in k.lower()}
        env.update(
            {
                "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
                "AIRFLOW_HOME": str(self.airflow_home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if self.celery else "LocalExecutor",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.workdir / "passwords.json"),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "64",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "CLARITYQ_SYNC_DIR": str(self.sync_dir),
            }
        )
        if self.celery:
            env["AIRFLOW__CELERY__BROKER_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = (
                f"db+postgresql+psycopg2://airflow:{self.pg_password}@127.0.0.1:{self.pg_port}/airflow"
            )
        return env

    def _secrets_on_disk(self) -> None:
        """Fernet key, JWT secret and the admin's password, written once and readable by root only."""
        key_file = self.workdir / "secrets.json"
        if key_file.exists():
            values = json.loads(key_file.read_text())
        else:
            values = {
                "fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "jwt_secret": secrets.token_urlsafe(32),
            }
            key_file.write_text(json.dumps(values))
            key_file.chmod(0o600)
        self.fernet_key = values["fernet_key"]
        self.jwt_secret = values["jwt_secret"]
        passwords = self.workdir / "passwords.json"
        passwords.write_text(json.dumps({ADMIN_USER: self.admin_password}))
        passwords.chmod(0o600)

    def prepare_dags(self) -> None:
        """The deployment's DAGs folder: the example DAGs plus the e2e gate DAG, copied as a user would."""
        self.dags.mkdir(exist_ok=True)
        for source in [*sorted((REPO / "example_dags").glob("*.py")), *sorted(E2E_DAGS.glob("*.py"))]:
            shutil.copy2(source, self.dags / source.name)

    # ---------------------------------------------------------------------------------------------
    # Processes

    def _spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        stdout: int | None = None,
    ) -> Started:
        log = self.logs / f"{name}.log"
        handle = open(log, "ab")  # noqa: SIM115 - the child owns it for its lifetime
        proc = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            stdout=stdout if stdout is not None else handle,
            stderr=handle,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() ends it and its children, nothing else
            user=user,
            group=user,
            cwd=self.workdir,
        )
        handle.close()
        started = Started(name, proc, log)
        self.processes[name] = started
        return started

    def start_postgres(self) -> None:
        bindir = _postgres_bin()
        data = self.workdir / "pgdata"
        user = "postgres" if os.geteuid() == 0 else None
        pwfile = self.workdir / "pg-superuser.pw"
        superuser_password = secrets.token_urlsafe(16)
        pwfile.write_text(superuser_password + "\n")
        if user:
            shutil.chown(pwfile, user, user)
        pwfile.chmod(0o600)
        if not data.exists():
            data.mkdir(mode=0o700)
            if user:
                shutil.chown(data, user, user)
            result = subprocess.run(
                [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}",
                 "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
                user=user, group=user, capture_output=True, text=True, check=False, cwd="/",
            )  # fmt: skip
            if result.returncode != 0:
                raise DeploymentError(f"initdb failed: {result.stderr[-1500:]}")
        pwfile.unlink()
        self._spawn(
            "postgres",
            [str(bindir / "postgres"), "-D", str(data), "-p", str(self.pg_port), "-c", "listen_addresses=127.0.0.1",
             "-c", f"unix_socket_directories={data}", "-c", "max_connections=300", "-c", "fsync=off"],
            user=user,
        )  # fmt: skip
        wait_for("PostgreSQL", lambda: _port_open(self.pg_port) or self._exited("postgres"), 60)
        self._check_alive("postgres")
        import psycopg2

        def connect() -> Any:
            return psycopg2.connect(
                host="127.0.0.1", port=self.pg_port, user="postgres", password=superuser_password, dbname="postgres"
            )

        conn = None
        for _ in range(40):
            try:
                conn = connect()
                break
            except psycopg2.OperationalError:
                time.sleep(0.5)
        if conn is None:
            raise DeploymentError(f"cannot connect to PostgreSQL; see {self.logs / 'postgres.log'}")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE ROLE airflow LOGIN PASSWORD %s", (self.pg_password,))
            cur.execute("CREATE DATABASE airflow OWNER airflow")
        conn.close()

    def db(self) -> Any:
        """A psycopg2 connection to the metadata database (autocommit, for reading what Airflow stored)."""
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1", port=self.pg_port, user="airflow", password=self.pg_password, dbname="airflow"
        )
        conn.autocommit = True
        return conn

    def airflow_cli(
        self, *args: str, timeout: float = 300, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env={**self.airflow_env(), **(env or {})}, capture_output=True, text=True, timeout=timeout, check=False,
            cwd=self.workdir,
        )  # fmt: skip

    def migrate(self) -> subprocess.CompletedProcess[str]:
        return self.airflow_cli("db", "migrate")

    def start_redis(self) -> None:
        redis = shutil.which("redis-server")
        if not redis:
            raise DeploymentError("redis-server not found (Debian: apt-get install redis-server)")
        self._spawn(
            "redis",
            [redis, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
        )  # fmt: skip
        wait_for("Redis", lambda: _port_open(self.redis_port) or self._exited("redis"), 30)
        self._check_alive("redis")

    def start_airflow(self) -> None:
        env = self.airflow_env()
        steps = list(AIRFLOW_PROCESSES) + ([CELERY_WORKER] if self.celery else [])
        for name, args in steps:
            self._spawn(name, [sys.executable, "-m", "airflow", *args], env=env)
        wait_for("the API server", lambda: self._api_ready() or self._exited("api-server"), 180)
        for name, _ in steps:
            self._check_alive(name)

    def _api_ready(self) -> bool:
        import requests

        try:
            return requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def start_emulator(self) -> dict[str, Any]:
        """Start (or restart) the emulator on its fixed port with its state file; return its ready line.

        The seed is the demo's plus the RAM role attached to "the" ECS instance the Airflow processes run on, so
        the admin connection needs no AccessKey (``credential_source: ecs_ram_role``).
        """
        self.processes.pop("emulator", None)
        seed = self.workdir / "emulator-seed.json"
        seed.write_text(json.dumps(emulator_seed()))
        command = [
            *EMULATOR_COMMAND,
            "--port",
            str(self.emulator_port),
            "--state-file",
            str(self.workdir / "emulator.json"),
        ]
        started = self._spawn("emulator", [*command, "--seed", str(seed)], stdout=subprocess.PIPE)
        assert started.proc.stdout is not None
        line = started.proc.stdout.readline()
        if not line:
            raise DeploymentError(f"the emulator did not start; see {started.log}")
        started.proc.stdout.close()
        self.emulator_info = json.loads(line)
        return self.emulator_info

    def stop_emulator(self) -> None:
        started = self.processes.pop("emulator", None)
        if started is not None:
            self._end(started)

    def _exited(self, name: str) -> bool:
        return self.processes[name].proc.poll() is not None

    def _check_alive(self, name: str) -> None:
        started = self.processes[name]
        if started.proc.poll() is not None:
            tail = started.log.read_text(errors="replace")[-2000:] if started.log.exists() else ""
            raise DeploymentError(f"{name} exited with {started.proc.returncode}; {started.log}:\n{tail}")

    def alive(self) -> dict[str, bool]:
        return {name: s.proc.poll() is None for name, s in self.processes.items()}

    @staticmethod
    def _group_alive(pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _end(self, started: Started, timeout: float = 30) -> None:
        """SIGTERM the process group this deployment created, then SIGKILL what is left of it."""
        pgid = started.pid  # start_new_session: the leader's PID is the group's ID
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
            if not self._group_alive(pgid):
                break
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self._group_alive(pgid):
                if started.proc.poll() is None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        started.proc.wait(timeout=0.2)
                else:
                    time.sleep(0.2)
        if started.proc.poll() is None:
            started.proc.wait(timeout=5)

    def stop(self) -> list[str]:
        """End every process group started here, the Airflow processes first; return what is still alive."""
        order = ["emulator", "worker", "triggerer", "dag-processor", "scheduler", "api-server", "redis", "postgres"]
        for name in order + [n for n in self.processes if n not in order]:
            started = self.processes.get(name)
            if started is not None:
                self._end(started)
        return [name for name, s in self.processes.items() if self._group_alive(s.pid)]

    # ---------------------------------------------------------------------------------------------
    # Measurements

    def memory(self) -> dict[str, tuple[float, float, int]]:
        """Per started process: its own RSS, the PSS of it and all its children (shared pages counted
        once across forked children), in MiB, and how many processes that is."""
        import psutil

        result: dict[str, tuple[float, float, int]] = {}
        for name, started in self.processes.items():
            try:
                root = psutil.Process(started.pid)
                procs = [root, *root.children(recursive=True)]
                rss = root.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            pss = 0
            for proc in procs:
                try:
                    pss += proc.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            result[name] = (rss / 2**20, pss / 2**20, len(procs))
        return result

"""End-to-end run on a real Airflow deployment (``bash scripts/e2e.sh``): prints ``N passed, M failed``.

PostgreSQL metadata DB; ``api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` as separate
processes (LocalExecutor, or CeleryExecutor with Redis and a worker with ``--celery``); the MaxCompute /
RAM / STS emulator as its own process. Everything an operator would do goes through the REST API, the
CLI or the UI; the metadata DB is only read, to see what Airflow stored.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api import AirflowApi
from deployment import ADMIN_USER, INSTANCE_ROLE, REPO, Deployment, DeploymentError, wait_for

READER = "clarityq_reader"
ADMIN = "clarityq_admin"
API_CONN = "clarityq_airflow_api"
UI_CONN = "clarityq_reader_ui"
PROVISION, HEALTH, SYNC, ROTATE, GATE = (
    "clarityq_provision_access",
    "clarityq_connection_health",
    "clarityq_sync",
    "clarityq_rotate_access_key",
    "clarityq_e2e_gate",
)
DAGS = {PROVISION, HEALTH, SYNC, ROTATE, GATE}

# The checks, in order (names are also how a check names the ones it needs).
C_DB = "metadata DB: airflow db migrate on PostgreSQL (psycopg2 + asyncpg), db check with psycopg 3"
C_UP = "deployment up: api-server, scheduler, dag-processor, triggerer as separate processes, and the emulator"
C_DAGS = "DAG processor parsed every DAG without import errors"
C_PROVISION_FIRST = f"{HEALTH} before provisioning fails with 'run {PROVISION} first'"
C_CONNS = f"{ADMIN} and {API_CONN} created through the REST API; {ADMIN} tests OK there"
C_PROVISION = f"{PROVISION} succeeds (RAM user, grants, AccessKey)"
C_KEY_DB = f"the AccessKey lands in the metadata DB ({READER}, encrypted)"
C_HEALTH = f"{HEALTH} succeeds with the delivered key and emits the health Asset"
C_SYNC = f"the Asset event schedules {SYNC}, which succeeds"
C_ROTATE = f"{ROTATE} puts a new verified key in the metadata DB and deactivates the old one"
C_READER_AFTER = "the reader works after rotation (health DAG, REST API test, airflow connections test)"
C_SECRETS = "no AccessKey secret in clear: task and process logs, XCom, rendered fields, metadata DB"
C_UI_FORM = "UI: log in, Admin -> Connections -> Add, ClarityQ MaxCompute: every label, secret and token masked"
C_UI_SAVED = "UI: the saved connection is stored as typed and tests OK through the REST API and the CLI"
C_DEFER = "deferrable gate with the service down: task deferred, trigger row held by the triggerer"
C_RESUME = "service back: the deferred gate resumes on a worker and succeeds"
C_CELERY = "Celery: the tasks ran on the Celery worker"
C_TEARDOWN = "teardown: every process the run started has ended"


class CheckFailed(Exception):
    pass


def expect(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Checks:
    """Runs named checks in order; a check whose prerequisite failed fails at once, naming it."""

    def __init__(self) -> None:
        self.results: list[tuple[str, bool, str]] = []
        self.failed: set[str] = set()
        self.notes: list[str] = []

    def run(self, name: str, body: Callable[[], str | None], *, needs: tuple[str, ...] = ()) -> bool:
        started = time.monotonic()
        missing = [n for n in needs if n in self.failed or n not in {r[0] for r in self.results}]
        if missing:
            ok, detail = False, f"not run: needs {', '.join(missing)}"
        else:
            try:
                detail = body() or ""
                ok = True
            except (CheckFailed, DeploymentError) as err:
                ok, detail = False, str(err)
            except Exception as err:
                ok, detail = False, f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}"
        if not ok:
            self.failed.add(name)
        self.results.append((name, ok, detail))
        mark = "PASS" if ok else "FAIL"
        print(f"[{mark}] {name} ({time.monotonic() - started:.1f} s){': ' + detail if detail else ''}", flush=True)
        return ok

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"[note] {text}", flush=True)

    def summary(self) -> tuple[int, int]:
        passed = sum(1 for _, ok, _ in self.results if ok)
        return passed, len(self.results) - passed


class Scenario:
    def __init__(self, deployment: Deployment, checks: Checks, *, gates: int, screenshots: Path) -> None:
        self.dep = deployment
        self.checks = checks
        self.gates = gates
        self.screenshots = screenshots
        self.api: AirflowApi | None = None
        self.emulator: dict[str, Any] = {}
        self.reader_secrets: list[str] = []
        self.keys: dict[str, str] = {}  # "provisioned"/"rotated" -> AccessKey ID
        self.memory: dict[str, dict[str, tuple[float, float, int]]] = {}

    # -- helpers ------------------------------------------------------------------------------------

    @property
    def a(self) -> AirflowApi:
        assert self.api is not None
        return self.api

    def run_dag(self, dag_id: str, timeout: float = 300) -> tuple[str, dict[str, str | None]]:
        run_id = self.a.trigger(dag_id)
        run = self.a.wait_for_run(dag_id, run_id, timeout)
        states = self.a.task_states(dag_id, run_id)
        expect(run["state"] == "success", f"{dag_id} run {run_id} ended {run['state']}: tasks {states}")
        return run_id, states

    def reader_secret(self) -> str:
        """The reader's secret as Airflow holds it (the CLI decrypts it), to search for it in clear."""
        result = self.dep.airflow_cli("connections", "get", READER, "-o", "json")
        expect(result.returncode == 0, f"airflow connections get {READER} failed: {result.stderr[-300:]}")
        data = json.loads(result.stdout)
        entry = data[0] if isinstance(data, list) else data
        secret = str(entry.get("password") or "")
        expect(len(secret) >= 20, "the reader connection holds no AccessKey secret")
        return secret

    def stored_reader(self) -> tuple[str, str, bool]:
        with self.dep.db() as conn, conn.cursor() as cur:
            cur.execute("SELECT login, password, is_encrypted FROM connection WHERE conn_id = %s", (READER,))
            row = cur.fetchone()
        expect(row is not None, f"no row for {READER} in the metadata DB's connection table")
        return str(row[0]), str(row[1] or ""), bool(row[2])

    def api_test(self, conn_id: str) -> str:
        """``POST /api/v2/connections/test`` naming the stored connection and no port: the API server fills
        in the stored fields (the list's Test icon sends ``port: 0`` instead, which 3.3.2 refuses)."""
        body = {"connection_id": conn_id, "conn_type": "clarityq_maxcompute"}
        response = self.a.test_connection(body)
        expect(response.status_code == 200, f"POST /connections/test {conn_id}: {response.status_code} {response.text}")
        answer = response.json()
        expect(answer["status"] is True, f"REST API test of {conn_id} failed: {answer['message']}")
        return str(answer["message"])

    def cli_test(self, conn_id: str) -> None:
        result = self.dep.airflow_cli("connections", "test", conn_id)
        expect(
            result.returncode == 0 and "success" in result.stdout.lower(),
            f"airflow connections test {conn_id}: {result.stdout[-300:]} {result.stderr[-300:]}",
        )

    # -- phases -------------------------------------------------------------------------------------

    def start(self) -> None:
        c = self.checks

        def database() -> str:
            self.dep.prepare_dags()
            self.dep.start_postgres()
            result = self.dep.migrate()
            expect(result.returncode == 0, f"airflow db migrate failed: {result.stderr[-1500:]}")
            with self.dep.db() as conn, conn.cursor() as cur:
                cur.execute("SELECT version_num FROM alembic_version")
                version = cur.fetchone()
            expect(version, "no alembic_version row after the migration")
            # A bare postgresql:// URL makes Airflow's sync engine use psycopg 3: the extra covers it too.
            bare = self.dep.database_url.replace("postgresql+psycopg2://", "postgresql://", 1)
            check = self.dep.airflow_cli("db", "check", env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": bare})
            expect(
                check.returncode == 0, f"airflow db check with {bare.split(':')[0]}:// failed: {check.stderr[-800:]}"
            )
            revision = version[0] if version else "?"
            return f"PostgreSQL on port {self.dep.pg_port}, revision {revision}; db check with a bare URL: OK"

        def processes() -> str:
            if self.dep.celery:
                self.dep.start_redis()
            self.emulator = self.dep.start_emulator()
            self.dep.start_airflow()
            self.api = AirflowApi(self.dep.api_url, ADMIN_USER, self.dep.admin_password)
            components = ("metadatabase", "scheduler", "triggerer", "dag_processor")

            def all_healthy() -> bool:
                health = self.a.health()
                return all(health.get(k, {}).get("status") == "healthy" for k in components)

            wait_for("scheduler, triggerer and dag-processor heartbeats", all_healthy, 120, 2)
            dead = [name for name, alive in self.dep.alive().items() if not alive]
            expect(not dead, f"processes exited: {dead}")
            pids = ", ".join(f"{n} pid {s.pid}" for n, s in self.dep.processes.items())
            return f"API server {self.dep.api_url}; {pids}"

        def dags() -> str:
            seen = self.a.wait_for_dags(DAGS)
            errors = self.a.import_errors()
            expect(not errors, f"import errors: {errors}")
            expect(seen >= DAGS, f"DAGs missing: {sorted(DAGS - seen)}")
            return ", ".join(sorted(DAGS))

        c.run(C_DB, database)
        c.run(C_UP, processes, needs=(C_DB,))
        c.run(C_DAGS, dags, needs=(C_UP,))

    def before_provisioning(self) -> None:
        def health_says_provision_first() -> str:
            self.a.unpause(HEALTH)  # @daily, catchup off: the scheduler starts one run at once
            runs: list[dict[str, Any]] = []

            def scheduled() -> bool:
                runs[:] = self.a.runs(HEALTH)
                return bool(runs)

            wait_for("the scheduled health run", scheduled, 90, 2)
            run = self.a.wait_for_run(HEALTH, runs[0]["dag_run_id"], 180)
            expect(run["state"] == "failed", f"health without a reader connection ended {run['state']}")
            report = self.a.xcom(HEALTH, run["dag_run_id"], "check_connection")
            first = report["checks"][0]
            expect(first["code"] == "CONNECTION_NOT_FOUND", f"first check: {first}")
            expect(
                "run the DAG clarityq_provision_access first" in first["remediation"],
                f"the fix does not say to provision first: {first['remediation']}",
            )
            log = self.a.log(HEALTH, run["dag_run_id"], "check_connection")
            expect("clarityq_provision_access first" in log, "the task log does not say to provision first")
            return f"{run['run_type']} run failed: {report['summary'][:160]}"

        self.checks.run(C_PROVISION_FIRST, health_says_provision_first, needs=(C_DAGS,))

    def provision(self) -> None:
        c = self.checks
        emu = self.emulator
        endpoints = {"ram_endpoint": f"http://{emu['ram_endpoint']}", "sts_endpoint": f"http://{emu['sts_endpoint']}"}

        def connections() -> str:
            # The admin connection holds no AccessKey: the ECS instance's RAM role, which the owner makes a
            # project Admin (seed 001: only the owner may assign Admin).
            from odps import ODPS

            owner = ODPS(
                emu["access_key_id"], emu["access_key_secret"], emu["project"], endpoint=emu["maxcompute_endpoint"]
            )
            role = f"`RAM${emu['account_id']}:role/{INSTANCE_ROLE}`"
            for statement in (f"ADD USER {role}", f"GRANT admin TO {role}"):
                owner.execute_security_query(statement)
            keyless = {
                **endpoints,
                "credential_source": "ecs_ram_role",
                "ecs_metadata_endpoint": endpoints["ram_endpoint"],
            }
            self.a.put_connection(
                {
                    "connection_id": ADMIN,
                    "conn_type": "clarityq_maxcompute",
                    "host": emu["maxcompute_endpoint"],
                    "schema": emu["project"],
                    "extra": json.dumps(keyless),
                }
            )
            # Where the key step delivers the reader's key: the metadata DB, through this API server.
            self.a.put_connection(
                {
                    "connection_id": API_CONN,
                    "conn_type": "http",
                    "host": self.dep.api_url,
                    "login": ADMIN_USER,
                    "password": self.dep.admin_password,
                }
            )
            message = self.api_test(ADMIN)
            for dag_id in (PROVISION, SYNC, ROTATE, GATE):
                self.a.unpause(dag_id)
            return f"{ADMIN} (ECS instance role, no AccessKey) tests through the REST API: {message[:120]}"

        def provision() -> str:
            run_id, states = self.run_dag(PROVISION)
            result = self.a.xcom(PROVISION, run_id, "ensure_access_key")
            expect(result["action"] == "created", f"ensure_access_key: {result}")
            self.keys["provisioned"] = result["access_key_id"]
            return f"tasks {states}; AccessKey {result['access_key_id']} {result['action']}"

        def key_in_db() -> str:
            login, stored, encrypted = self.stored_reader()
            expect(login == self.keys["provisioned"], f"stored login {login} != new key {self.keys['provisioned']}")
            secret = self.reader_secret()
            self.reader_secrets.append(secret)
            expect(encrypted and secret not in stored, "the secret is stored in clear in the connection table")
            return f"{READER}: login {login}, password Fernet-encrypted ({len(stored)} characters)"

        c.run(C_CONNS, connections, needs=(C_DAGS,))
        c.run(C_PROVISION, provision, needs=(C_CONNS,))
        c.run(C_KEY_DB, key_in_db, needs=(C_PROVISION,))

    def health_and_sync(self) -> None:
        def health() -> str:
            run_id, _states = self.run_dag(HEALTH)
            report = self.a.xcom(HEALTH, run_id, "check_connection")
            expect(report["verdict"] == "HEALTHY", f"verdict {report['verdict']}: {report['summary']}")
            events = self.a.request("GET", "/api/v2/assets/events", params={"source_run_id": run_id})
            uris = [e.get("uri") for e in events["asset_events"]]
            expect("clarityq://connection/clarityq_reader/health" in uris, f"asset events of the run: {uris}")
            self.health_run = run_id
            return f"{report['summary'][:120]}; Asset event emitted"

        def sync() -> str:
            runs: list[dict[str, Any]] = []

            def asset_run() -> bool:
                runs[:] = [r for r in self.a.runs(SYNC) if r["run_type"] == "asset_triggered"]
                return bool(runs)

            wait_for("the scheduler to start clarityq_sync from the Asset event", asset_run, 120, 2)
            run = self.a.wait_for_run(SYNC, runs[0]["dag_run_id"], 300)
            states = self.a.task_states(SYNC, run["dag_run_id"])
            expect(run["state"] == "success", f"{SYNC} ended {run['state']}: {states}")
            output = self.a.xcom(SYNC, run["dag_run_id"], "sync_metadata")
            path = Path(output["output_path"])
            expect(path.is_file() and json.loads(path.read_text())["tables"], f"no sync output at {path}")
            return f"asset_triggered run {run['dag_run_id']}: {output['tables']} tables, {output['rows']} rows"

        self.checks.run(C_HEALTH, health, needs=(C_KEY_DB,))
        self.checks.run(C_SYNC, sync, needs=(C_HEALTH,))

    def rotate(self) -> None:
        def rotate() -> str:
            run_id, _ = self.run_dag(ROTATE)
            result = self.a.xcom(ROTATE, run_id, "rotate_access_key")
            expect(result["action"] == "rotated", f"rotate_access_key: {result}")
            new, old = result["access_key_id"], self.keys["provisioned"]
            expect(new != old and old in result["deactivated"], f"rotation result {result}")
            login, _, encrypted = self.stored_reader()
            expect(login == new and encrypted, f"stored login {login}, expected the new key {new}")
            self.keys["rotated"] = new
            self.reader_secrets.append(self.reader_secret())
            expect(self.reader_secrets[0] != self.reader_secrets[1], "the stored secret did not change")
            return f"{old} deactivated, {new} in the metadata DB"

        def reader_still_works() -> str:
            run_id, _ = self.run_dag(HEALTH)
            report = self.a.xcom(HEALTH, run_id, "check_connection")
            expect(report["verdict"] == "HEALTHY", f"health after rotation: {report['summary']}")
            message = self.api_test(READER)
            self.cli_test(READER)
            return f"health run HEALTHY; REST API test: {message[:80]}; airflow connections test: success"

        self.checks.run(C_ROTATE, rotate, needs=(C_KEY_DB,))
        self.checks.run(C_READER_AFTER, reader_still_works, needs=(C_ROTATE,))

    def no_secret_in_clear(self) -> None:
        def scan() -> str:
            secrets = [s for s in self.reader_secrets if s]
            expect(secrets, "no secret to look for")
            places: list[str] = []
            task_logs = [p for p in (self.dep.airflow_home / "logs").rglob("*") if p.is_file()]
            expect(task_logs, "no task log to search")
            for path in task_logs:
                text = path.read_text(errors="replace")
                places += [f"log {path.name}" for s in secrets if s in text]
            queries = {
                "xcom": "SELECT value::text FROM xcom",
                "rendered fields": "SELECT rendered_fields::text FROM rendered_task_instance_fields",
                "connection table": "SELECT coalesce(password, '') || coalesce(extra, '') FROM connection",
                "task instances": "SELECT coalesce(next_kwargs::text, '') FROM task_instance",
                "dag run conf": "SELECT coalesce(conf::text, '') FROM dag_run",
            }
            with self.dep.db() as conn, conn.cursor() as cur:
                for what, query in queries.items():
                    cur.execute(query)
                    text = "\n".join(str(row[0]) for row in cur.fetchall())
                    places += [what for s in secrets if s in text]
            for name, started in self.dep.processes.items():
                text = started.log.read_text(errors="replace") if started.log.exists() else ""
                places += [f"{name} log" for s in secrets if s in text]
            expect(not places, f"a reader secret appears in clear in: {sorted(set(places))}")
            return f"{len(secrets)} secrets searched in {len(task_logs)} task logs, process logs and the DB's tables"

        self.checks.run(C_SECRETS, scan, needs=(C_KEY_DB,))

    def ui(self) -> None:
        from ui import EXTRA_LABELS, STANDARD_LABELS, ConnectionForm, chromium

        emu = self.emulator
        login_form: dict[str, Any] = {}

        def form() -> str:
            profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=self.dep.workdir))
            secret = self.reader_secrets[-1] if self.reader_secrets else emu["access_key_secret"]
            login = self.keys.get("rotated") or emu["access_key_id"]
            with chromium(profile) as driver:
                page = ConnectionForm(driver, self.dep.api_url, self.screenshots)
                page.log_in(ADMIN_USER, self.dep.admin_password)
                page.open_connections()
                found = page.add_clarityq_connection(
                    UI_CONN,
                    {"host": emu["maxcompute_endpoint"], "login": login, "password": secret, "schema": emu["project"]},
                    {"ram_endpoint": f"http://{emu['ram_endpoint']}", "sts_endpoint": f"http://{emu['sts_endpoint']}"},
                )
                login_form["found"] = found
                page.click_test_icon(UI_CONN)
            expect(not found.missing_labels, f"labels not shown: {found.missing_labels}")
            expect(found.input_types.get("password") == "password", f"secret input type {found.input_types}")
            expect(found.input_types.get("sts_token") == "password", f"STS token input type {found.input_types}")
            expect(
                found.placeholders.get("host", "").startswith("https://service."), f"placeholders {found.placeholders}"
            )
            expect(len(found.descriptions_with_examples) >= 5, f"extras' examples: {found.descriptions_with_examples}")
            shots = ", ".join(str(p.relative_to(REPO) if p.is_relative_to(REPO) else p) for p in found.screenshots)
            labels = len(STANDARD_LABELS) + len(EXTRA_LABELS)
            return f"{labels} labels, secret and STS token masked; screenshots {shots}"

        def saved_and_tested() -> str:
            stored = self.a.connection(UI_CONN)
            expect(stored is not None, f"{UI_CONN} was not saved")
            assert stored is not None
            expect(stored["conn_type"] == "clarityq_maxcompute", f"conn_type {stored['conn_type']}")
            expect(stored["host"] == emu["maxcompute_endpoint"] and stored["schema"] == emu["project"], f"{stored}")
            extra = json.loads(stored["extra"] or "{}")
            expect(not extra.get("sts_token"), f"the erased STS token was stored: {extra.get('sts_token')!r}")
            expect(extra.get("ram_endpoint") == f"http://{emu['ram_endpoint']}", f"extra {extra}")
            message = self.api_test(UI_CONN)
            self.cli_test(UI_CONN)
            found = login_form.get("found")
            if found is not None:
                self.checks.note(f"connections list Test icon (UI sends port 0): {found.test_icon_result}")
            return f"REST API test: {message[:100]}; airflow connections test: success"

        self.checks.run(C_UI_FORM, form, needs=(C_UP,))
        self.checks.run(C_UI_SAVED, saved_and_tested, needs=(C_UI_FORM,))

    def deferred_gate(self) -> None:
        gate_runs: list[str] = []

        def deferred_states() -> dict[str, str | None]:
            return {r: self.a.task_states(GATE, r).get("health_gate") for r in gate_runs}

        def trigger_rows() -> list[tuple[Any, ...]]:
            with self.dep.db() as conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT ti.run_id, t.classpath, t.triggerer_id FROM task_instance ti JOIN trigger t "
                    "ON ti.trigger_id = t.id WHERE ti.dag_id = %s AND ti.state = 'deferred'",
                    (GATE,),
                )
                return list(cur.fetchall())

        def wait_deferred(count: int) -> list[tuple[Any, ...]]:
            rows: list[tuple[Any, ...]] = []

            def ready() -> bool:
                rows[:] = trigger_rows()
                return len(rows) >= count and all(r[2] is not None for r in rows)

            try:
                wait_for(f"{count} gate(s) deferred and picked up by the triggerer", ready, 120 + 6 * count, 2)
            except DeploymentError:
                raise CheckFailed(f"gate task states: {deferred_states()}; trigger rows: {len(rows)}") from None
            return rows

        def defer() -> str:
            self.dep.stop_emulator()
            gate_runs.append(self.a.trigger(GATE))
            rows = wait_deferred(1)
            expect(rows[0][1].endswith("ClarityQHealthTrigger"), f"trigger classpath {rows[0][1]}")
            expect(deferred_states()[gate_runs[0]] == "deferred", f"task state {deferred_states()}")
            time.sleep(5)  # let the trigger run a few attempts before measuring
            self.memory["1 deferred gate"] = self.dep.memory()
            if self.gates > 1:
                gate_runs.extend(self.a.trigger(GATE) for _ in range(self.gates - 1))
                wait_deferred(self.gates)
                time.sleep(10)
                self.memory[f"{self.gates} deferred gates"] = self.dep.memory()
            return f"{len(gate_runs)} gate(s) deferred, trigger row(s) held by triggerer {rows[0][2]}"

        def resume() -> str:
            self.emulator = self.dep.start_emulator()
            deadline = time.monotonic() + 240 + 4 * len(gate_runs)
            states = {r: self.a.run(GATE, r)["state"] for r in gate_runs}
            while time.monotonic() < deadline and any(s not in ("success", "failed") for s in states.values()):
                time.sleep(3)
                states = {r: self.a.run(GATE, r)["state"] for r in gate_runs}
            bad = {r: s for r, s in states.items() if s != "success"}
            expect(not bad, f"gate runs not successful: {bad}")
            report = self.a.xcom(GATE, gate_runs[0], "health_gate")
            expect(report["verdict"] == "HEALTHY", f"gate report {report['verdict']}")
            return f"{len(gate_runs)} gate run(s) resumed and succeeded ({report['summary'][:80]})"

        self.checks.run(C_DEFER, defer, needs=(C_KEY_DB,))
        self.checks.run(C_RESUME, resume, needs=(C_DEFER,))
        log = self.dep.processes["triggerer"].log.read_text(errors="replace")
        blocked = re.findall(r"async thread was blocked for ([0-9.]+) seconds", log)
        if blocked:
            self.checks.note(f"the triggerer's event loop was reported blocked for {', '.join(blocked)} s")

    def celery_worker(self) -> None:
        def ran_on_worker() -> str:
            text = self.dep.processes["worker"].log.read_text(errors="replace")
            workloads = set(re.findall(r"Task execute_workload\[([0-9a-f-]+)\] succeeded", text))
            with self.dep.db() as conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM task_instance WHERE state IN ('success', 'failed')")
                row = cur.fetchone()
            finished = int(row[0]) if row else 0
            expect(finished > 0 and len(workloads) >= finished, f"{len(workloads)} workloads for {finished} tasks")
            return f"{len(workloads)} workloads executed by the worker for {finished} finished task instances"

        self.checks.run(C_CELERY, ran_on_worker, needs=(C_UP,))


def print_memory(memory: dict[str, dict[str, tuple[float, float, int]]]) -> None:
    if not memory:
        return
    labels = list(memory)
    names = [n for n in ("api-server", "scheduler", "dag-processor", "triggerer", "worker") if n in memory[labels[0]]]
    print("\nMemory, MiB: RSS of the process / PSS of the process and its children [number of processes]")
    print(f"{'process':<15}" + "".join(f"{label:>28}" for label in labels))
    for name in names:
        cells = []
        for label in labels:
            rss, pss, count = memory[label].get(name, (0.0, 0.0, 0))
            cells.append(f"{rss:>8.0f} / {pss:>6.0f} [{count:>3}]")
        print(f"{name:<15}" + "".join(f"{c:>28}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="End-to-end run on a real Airflow deployment.")
    parser.add_argument("--celery", action="store_true", help="CeleryExecutor with Redis and a worker")
    parser.add_argument("--gates", type=int, default=1, help="deferred gates to hold at once (memory figures)")
    parser.add_argument("--workdir", type=Path, help="where the deployment lives (default: a new temporary dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, DB files) afterwards")
    parser.add_argument("--screenshots", type=Path, default=REPO / "docs" / "img", help="where to save PNGs")
    args = parser.parse_args(argv)

    started = time.monotonic()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="clarityq-e2e-"))
    print(f"==> deployment in {workdir}", flush=True)
    deployment = Deployment(workdir, celery=args.celery)
    checks = Checks()
    scenario = Scenario(deployment, checks, gates=max(1, args.gates), screenshots=args.screenshots)
    try:
        scenario.start()
        scenario.before_provisioning()
        scenario.provision()
        scenario.health_and_sync()
        scenario.rotate()
        scenario.no_secret_in_clear()
        scenario.ui()
        scenario.deferred_gate()
        if args.celery:
            scenario.celery_worker()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    finally:
        left = deployment.stop()
        checks.run(C_TEARDOWN, lambda: expect(not left, f"still alive: {left}"))
    print_memory(scenario.memory)
    passed, failed = checks.summary()
    elapsed = time.monotonic() - started
    print(f"\nwall time {elapsed:.0f} s; logs in {deployment.logs}")
    if failed == 0 and not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

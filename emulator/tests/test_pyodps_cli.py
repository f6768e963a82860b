"""The emulator started as a CLI process, driven only by unmodified pyodps (no provider code)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from odps import ODPS, errors, options
from odps.dbapi import connect

pytestmark = pytest.mark.integration


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "ODPS_REGION_NAME"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "clarityq_emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        raise AssertionError(f"emulator did not start: {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=15)


@pytest.fixture(scope="module")
def emulator() -> Iterator[dict[str, Any]]:
    proc, info = _start()
    try:
        yield info
    finally:
        assert _stop(proc) == 0


@pytest.fixture
def odps(emulator: dict[str, Any]) -> ODPS:
    options.retry_times = 0
    return ODPS(
        emulator["access_key_id"],
        emulator["access_key_secret"],
        emulator["project"],
        endpoint=emulator["maxcompute_endpoint"],
    )


def test_ready_line_has_the_documented_keys(emulator: dict[str, Any]) -> None:
    assert set(emulator) == {
        "maxcompute_endpoint",
        "ram_endpoint",
        "sts_endpoint",
        "account_id",
        "access_key_id",
        "access_key_secret",
        "project",
    }
    assert emulator["maxcompute_endpoint"].startswith("http://127.0.0.1:")
    assert emulator["maxcompute_endpoint"].endswith("/api")
    port = emulator["maxcompute_endpoint"].rsplit(":", 1)[1].split("/")[0]
    assert emulator["ram_endpoint"] == emulator["sts_endpoint"] == f"127.0.0.1:{port}"
    assert emulator["account_id"].isdigit() and len(emulator["account_id"]) == 16
    assert emulator["project"] == "clarityq_demo"


def test_project_exists_and_unknown_project_does_not(odps: ODPS) -> None:
    assert odps.exist_project("clarityq_demo")
    assert not odps.exist_project("no_such_project")
    with pytest.raises(errors.NoSuchProject):
        odps.get_project("no_such_project").reload()


def test_list_tables_and_schema(odps: ODPS) -> None:
    names = {t.name for t in odps.list_tables()}
    assert {"customers", "orders", "products"} <= names
    schema = odps.get_table("orders").table_schema
    assert [(c.name, str(c.type).lower()) for c in schema.simple_columns] == [
        ("order_id", "bigint"),
        ("customer_id", "bigint"),
        ("amount", "double"),
        ("status", "string"),
        ("created_at", "datetime"),
    ]
    assert [p.name for p in schema.partitions] == ["ds"]
    assert odps.exist_table("customers")
    assert not odps.exist_table("no_such_table")


def test_missing_table_raises_not_found(odps: ODPS) -> None:
    with pytest.raises(errors.NoSuchObject):
        odps.get_table("no_such_table").reload()


def test_create_insert_select_through_the_instance_tunnel(odps: ODPS) -> None:
    odps.execute_sql("DROP TABLE IF EXISTS cli_roundtrip")
    odps.execute_sql(
        "CREATE TABLE cli_roundtrip (id BIGINT, name STRING, amount DECIMAL(10,2), ok BOOLEAN, "
        "at DATETIME, d DATE, x DOUBLE) LIFECYCLE 7"
    )
    odps.execute_sql(
        "INSERT INTO cli_roundtrip VALUES (1, 'a', 12.34BD, true, DATETIME '2026-01-02 03:04:05', "
        "DATE '2026-01-02', 1.5), (2, NULL, NULL, false, NULL, NULL, NULL)"
    )
    instance = odps.execute_sql("SELECT * FROM cli_roundtrip ORDER BY id LIMIT 10")
    with instance.open_reader(tunnel=True) as reader:
        rows = [list(r.values) for r in reader]
    assert rows[0][0] == 1 and rows[0][1] == "a" and rows[0][2] == Decimal("12.34") and rows[0][3] is True
    assert isinstance(rows[0][4], datetime) and rows[0][5] == date(2026, 1, 2) and rows[0][6] == 1.5
    assert rows[1] == [2, None, None, False, None, None, None]


def test_select_through_the_csv_result(odps: ODPS) -> None:
    instance = odps.execute_sql(
        "SELECT customer_id, name FROM customers WHERE customer_id <= 2 ORDER BY customer_id LIMIT 5"
    )
    with instance.open_reader(tunnel=False) as reader:
        rows = [list(r.values) for r in reader]
    assert rows == [[1, "Acme Trading"], [2, "Blue Lantern"]]


def test_select_one_and_aggregate(odps: ODPS) -> None:
    with odps.execute_sql("SELECT 1").open_reader() as reader:
        assert [list(r.values) for r in reader] == [[1]]
    sql = "SELECT status, COUNT(*) AS n FROM orders WHERE ds >= '20261120' GROUP BY status ORDER BY status LIMIT 10"
    with odps.execute_sql(sql).open_reader() as reader:
        assert [list(r.values) for r in reader] == [["cancelled", 1], ["placed", 2], ["shipped", 3]]


def test_dbapi_cursor_fetch(emulator: dict[str, Any]) -> None:
    conn = connect(
        emulator["access_key_id"],
        emulator["access_key_secret"],
        emulator["project"],
        endpoint=emulator["maxcompute_endpoint"],
    )
    cursor = conn.cursor()
    cursor.execute("SELECT customer_id, country FROM customers WHERE country = 'CN' ORDER BY customer_id LIMIT 10")
    assert cursor.fetchall() == [[1, "CN"], [4, "CN"]]
    assert [d[0] for d in cursor.description] == ["customer_id", "country"]


def test_bad_sql_is_a_parse_error(odps: ODPS) -> None:
    with pytest.raises(errors.ParseError) as info:
        odps.execute_sql("SELEC oops FROM")
    assert "ODPS-0130161" in str(info.value)


def test_wrong_secret_is_a_signature_error(emulator: dict[str, Any]) -> None:
    bad = ODPS(
        emulator["access_key_id"], "not-the-secret", emulator["project"], endpoint=emulator["maxcompute_endpoint"]
    )
    with pytest.raises(errors.SignatureNotMatch):
        bad.exist_project(emulator["project"])


def test_unknown_access_key_is_refused(emulator: dict[str, Any]) -> None:
    bad = ODPS("LTAInobodyhasthiskey00", "x" * 30, emulator["project"], endpoint=emulator["maxcompute_endpoint"])
    with pytest.raises(errors.Unauthorized) as info:
        bad.exist_project(emulator["project"])
    assert "ODPS-0410051" in str(info.value)


def test_v4_signature_with_a_region(emulator: dict[str, Any]) -> None:
    odps = ODPS(
        emulator["access_key_id"],
        emulator["access_key_secret"],
        emulator["project"],
        endpoint=emulator["maxcompute_endpoint"],
        region_name="cn-shanghai",
    )
    assert odps.exist_project(emulator["project"])
    with odps.execute_sql("SELECT COUNT(*) FROM products").open_reader() as reader:
        assert [list(r.values) for r in reader] == [[3]]


def test_state_file_survives_kill_9(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    proc, info = _start("--state-file", str(state))
    try:
        odps = ODPS(
            info["access_key_id"], info["access_key_secret"], info["project"], endpoint=info["maxcompute_endpoint"]
        )
        odps.execute_sql("CREATE TABLE survivor (id BIGINT)")
        odps.execute_sql("INSERT INTO survivor VALUES (7)")
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    proc, info2 = _start("--state-file", str(state))
    try:
        assert info2["access_key_secret"] == info["access_key_secret"]
        odps = ODPS(
            info2["access_key_id"], info2["access_key_secret"], info2["project"], endpoint=info2["maxcompute_endpoint"]
        )
        with odps.execute_sql("SELECT id FROM survivor").open_reader() as reader:
            assert [list(r.values) for r in reader] == [[7]]
    finally:
        assert _stop(proc) == 0


def test_seed_file_describes_other_projects(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "projects:\n"
        "  - name: sales_prod\n"
        "    tables:\n"
        "      - name: regions\n"
        "        columns: [{name: code, type: string}, {name: weight, type: int}]\n"
        "        rows: [[north, 1], [south, 2]]\n"
    )
    proc, info = _start("--seed", str(seed))
    try:
        assert info["project"] == "sales_prod"
        odps = ODPS(
            info["access_key_id"], info["access_key_secret"], info["project"], endpoint=info["maxcompute_endpoint"]
        )
        assert [t.name for t in odps.list_tables()] == ["regions"]
        with odps.execute_sql("SELECT SUM(weight) FROM regions").open_reader() as reader:
            assert [list(r.values) for r in reader] == [[3]]
    finally:
        assert _stop(proc) == 0


def test_the_console_script_prints_the_same_ready_line() -> None:
    script = Path(sys.executable).with_name("clarityq-emulator")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    proc = subprocess.Popen(
        [str(script), "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    try:
        info = json.loads(proc.stdout.readline())
    finally:
        assert _stop(proc) == 0
    assert set(info) == {
        "maxcompute_endpoint",
        "ram_endpoint",
        "sts_endpoint",
        "account_id",
        "access_key_id",
        "access_key_secret",
        "project",
    }
    assert info["maxcompute_endpoint"].startswith("http://127.0.0.1:") and info["maxcompute_endpoint"].endswith("/api")

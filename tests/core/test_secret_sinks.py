"""Secret sinks: the LocalFilesystemBackend file (atomic, 0600, other entries kept, read back by Airflow),
the callable adapter, and the REST API sink against Airflow's own API app."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml

from airflow_provider_clarityq.core.errors import ConfigurationError, redact
from airflow_provider_clarityq.core.secret_sinks.api import AirflowApiConnectionSink, check_api_base_url
from airflow_provider_clarityq.core.secret_sinks.base import SecretSink, SinkError
from airflow_provider_clarityq.core.secret_sinks.choice import choose_sink, parse_sink_setting
from airflow_provider_clarityq.core.secret_sinks.custom import CallableSink
from airflow_provider_clarityq.core.secret_sinks.files import ConnectionFileSink

SECRET = "s3cr3t-Value+with/odd=chars"
FIELDS = {
    "conn_type": "clarityq_maxcompute",
    "login": "LTAInew0001",
    "password": SECRET,
    "host": "http://127.0.0.1:1/api",
    "schema": "clarityq_demo",
    "extra": {"ram_endpoint": "http://127.0.0.1:1"},
}
OTHER = {"conn_type": "http", "host": "example.com", "login": "someone", "password": "other-pass"}


# --------------------------------------------------------------------------------------------------
# Connections file


@pytest.mark.parametrize("name", ["connections.json", "connections.yaml", "connections.yml"])
def test_file_sink_writes_atomically_with_mode_0600_and_keeps_other_entries(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(json.dumps({"other": OTHER}) if name.endswith(".json") else yaml.safe_dump({"other": OTHER}))
    os.chmod(path, 0o644)
    sink = ConnectionFileSink(path)
    assert isinstance(sink, SecretSink) and sink.read("clarityq_reader") is None

    sink.deliver("clarityq_reader", FIELDS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sink.read("clarityq_reader") == FIELDS and sink.read("other") == OTHER
    assert path.read_text().count(SECRET) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, f".{name}.lock"])  # no temp file left

    sink.deliver("clarityq_reader", {"login": "LTAInew0002", "password": "second-secret"})
    entry = sink.read("clarityq_reader")
    assert entry == {**FIELDS, "login": "LTAInew0002", "password": "second-secret"}
    assert SECRET not in path.read_text()

    sink.remove("clarityq_reader")
    assert sink.read("clarityq_reader") is None and sink.read("other") == OTHER


@pytest.mark.parametrize("name", ["conns.json", "conns.yaml"])
def test_airflow_local_filesystem_backend_reads_what_the_sink_wrote(tmp_path: Path, name: str) -> None:
    from airflow.secrets.local_filesystem import LocalFilesystemBackend

    path = tmp_path / name
    ConnectionFileSink(path).deliver("clarityq_reader", FIELDS)
    conn = LocalFilesystemBackend(connections_file_path=str(path)).get_connection("clarityq_reader")
    assert conn is not None
    assert (conn.conn_type, conn.login, conn.password, conn.host, conn.schema) == (
        "clarityq_maxcompute",
        "LTAInew0001",
        SECRET,
        FIELDS["host"],
        "clarityq_demo",
    )
    assert conn.extra_dejson == FIELDS["extra"]


def test_file_sink_refusals_never_echo_the_file(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match=r"\.json, \.yaml or \.yml"):
        ConnectionFileSink(tmp_path / "conns.env")
    broken = tmp_path / "broken.json"
    broken.write_text('{"x": {"password": "' + SECRET + '"')
    with pytest.raises(SinkError, match="not valid JSON") as err:
        ConnectionFileSink(broken).read("x")
    assert SECRET not in str(err.value)
    uri = tmp_path / "uri.json"
    uri.write_text(json.dumps({"clarityq_reader": "clarityq-maxcompute://AK:pw@h/p"}))
    with pytest.raises(SinkError, match="written as a URI"):
        ConnectionFileSink(uri).deliver("clarityq_reader", FIELDS)
    with pytest.raises(SinkError, match="not Airflow connection fields"):
        ConnectionFileSink(tmp_path / "ok.json").deliver("c", {"login": "a", "secret": "b"})
    with pytest.raises(SinkError, match="cannot write"):
        ConnectionFileSink(tmp_path / "missing-dir" / "c.json").deliver("c", FIELDS)


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.json"
    sink = ConnectionFileSink(path)
    sink.deliver("clarityq_reader", FIELDS)
    before = path.read_text()

    def no_replace(src: str, dst: str) -> None:
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(SinkError, match="OSError"):
        sink.deliver("clarityq_reader", {"login": "LTAInew0002", "password": "never-written"})
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# --------------------------------------------------------------------------------------------------
# Callable sink


def test_callable_sink_adapts_functions_and_hides_their_messages() -> None:
    store: dict[str, dict[str, Any]] = {}

    def deliver(conn_id: str, fields: dict[str, Any]) -> None:
        store.setdefault(conn_id, {}).update(fields)

    sink = CallableSink(deliver, store.get, store.pop, name="vault")
    sink.deliver("c", FIELDS)
    assert sink.read("c") == FIELDS and isinstance(sink, SecretSink)
    sink.remove("c")
    assert sink.read("c") is None

    def leaky(conn_id: str, fields: dict[str, Any]) -> None:
        raise RuntimeError(f"cannot store {fields['password']}")

    with pytest.raises(SinkError) as err:
        CallableSink(leaky, store.get, name="vault").deliver("c", FIELDS)
    assert str(err.value) == "vault: delivering 'c' failed (RuntimeError)"
    with pytest.raises(SinkError, match="not a mapping"):
        CallableSink(deliver, lambda conn_id: "uri://x").read("c")  # type: ignore[arg-type,return-value]


# --------------------------------------------------------------------------------------------------
# Airflow REST API


@pytest.fixture
def api(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app("core")) as client:
        yield client
        client.delete("/api/v2/connections/clarityq_reader_api")


def _stored(conn_id: str) -> Any:
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter_by(conn_id=conn_id).one_or_none()
        return None if conn is None else (conn.login, conn.password, conn.host, conn.schema, conn.extra_dejson)


@pytest.mark.integration
def test_api_sink_creates_updates_and_hides_the_secret(api: Any) -> None:
    # A JWT from POST /auth/token, as against a real API server (the simple auth manager's all-admins mode
    # accepts any credentials).
    sink = AirflowApiConnectionSink(
        "http://testserver",
        session=api,
        timeout_s=None,
        username="admin",
        password="api-password",
        allow_insecure_http=True,  # TestClient's in-process "server"
    )
    assert sink.read("clarityq_reader_api") is None
    sink.deliver("clarityq_reader_api", FIELDS)
    assert _stored("clarityq_reader_api") == ("LTAInew0001", SECRET, FIELDS["host"], "clarityq_demo", FIELDS["extra"])
    entry = sink.read("clarityq_reader_api")
    assert entry is not None and "password" not in entry  # the API answers "***"
    assert entry["login"] == "LTAInew0001" and entry["extra"] == FIELDS["extra"]

    sink.deliver("clarityq_reader_api", {"login": "LTAInew0002", "password": "second-secret"})
    assert _stored("clarityq_reader_api") == (
        "LTAInew0002",
        "second-secret",
        FIELDS["host"],
        "clarityq_demo",
        FIELDS["extra"],
    )
    sink.remove("clarityq_reader_api")
    assert _stored("clarityq_reader_api") is None and sink.read("clarityq_reader_api") is None


@pytest.mark.integration
def test_api_sink_errors_never_quote_the_secret(api: Any) -> None:
    sink = AirflowApiConnectionSink("http://testserver", session=api, timeout_s=None, allow_insecure_http=True)
    with pytest.raises(SinkError) as err:  # 422: the API echoes invalid input; the sink does not
        sink.deliver("clarityq_reader_api", {**FIELDS, "port": SECRET})
    assert "HTTP 422" in str(err.value) and SECRET not in str(err.value)

    forged = AirflowApiConnectionSink(
        "http://testserver", session=api, timeout_s=None, token="not-a-jwt", allow_insecure_http=True
    )
    with pytest.raises(SinkError, match="HTTP 403"):
        forged.deliver("clarityq_reader_api", FIELDS)

    class Down:
        def request(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionError(f"refused while sending {SECRET}")

    with pytest.raises(SinkError, match=r"failed \(ConnectionError\)") as err:
        AirflowApiConnectionSink("http://127.0.0.1:9", session=Down()).deliver("x", FIELDS)
    assert SECRET not in str(err.value)


# --------------------------------------------------------------------------------------------------
# Which sink, and what a REST API base URL may be


def test_choose_sink_writes_where_tasks_read() -> None:
    local = "airflow.secrets.local_filesystem.LocalFilesystemBackend"
    chosen = choose_sink("auto", backend=local, backend_kwargs={"connections_file_path": "/c.json"})
    assert (chosen.kind, chosen.path) == ("connections_file", "/c.json")
    assert choose_sink(None, backend=None).kind == "airflow_api"
    assert choose_sink("airflow_api", backend=local).kind == "airflow_api"  # forced by the administrator
    assert choose_sink("connections_file", backend=None, connections_file=" /x.yaml ").path == "/x.yaml"
    factory = choose_sink("my_secrets.sinks:vault_sink", backend="my.VaultBackend")
    assert (factory.kind, factory.factory) == ("factory", "my_secrets.sinks:vault_sink")
    with pytest.raises(ConfigurationError, match=r"cannot write.*package.module:callable"):
        choose_sink("auto", backend="my.VaultBackend")
    with pytest.raises(ConfigurationError, match=r"\[clarityq\] connections_file.*is not set"):
        choose_sink("auto", backend=local, backend_kwargs={})
    for bad in ("vault", "a b:c", "module:", ":f", "os.system('x'):y"):
        with pytest.raises(ConfigurationError, match="secret_sink"):
            parse_sink_setting(bad)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://airflow.example.com", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080/", True),
        ("http://[::1]:8080", True),
        ("http://airflow-apiserver:8080", False),
        ("http://10.0.0.5", False),
        ("ftp://airflow.example.com", False),
        ("https://user:pw@airflow.example.com", False),
        ("airflow.example.com", False),
    ],
)
def test_api_base_url_must_be_https_unless_loopback(url: str, allowed: bool) -> None:
    if allowed:
        check_api_base_url(url)
    else:
        with pytest.raises(SinkError) as err:
            check_api_base_url(url)
        assert "pw" not in str(err.value)
    check_api_base_url("http://airflow-apiserver:8080", allow_insecure_http=True)


def test_errors_redact_encoded_and_truncated_secrets() -> None:
    secret = "gKxR8/abc+def=ghi&jkl mnoPQ"
    texts = [
        f"echo {quote(secret, safe='')} back",
        f"form body password={quote_plus(secret)}",
        f'json {{"password": {json.dumps(secret)}}}',
        f"truncated {secret[:14]}...",
        f"tail ...{secret[-12:]}",
    ]
    for text in texts:
        cleaned = redact(text, [secret])
        assert "***" in cleaned
        assert secret[:12] not in cleaned and secret[-12:] not in cleaned
    assert redact("nothing to hide", [secret]) == "nothing to hide"

"""MaxComputeHook: provider metadata, AIRFLOW_CONN_ connections, lazy clients, errors and secret hygiene.

Nothing here touches the network: a socket guard fails any connection attempt, clients are only
constructed, and pyodps behaviour on errors is exercised with pyodps' own exception classes raised by a
small stand-in for the ``ODPS`` object.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.sql.hooks.sql import DbApiHook

from airflow_provider_clarityq.core.alibaba.clients import ClientBundle
from airflow_provider_clarityq.core.connection import EXTRA_FIELDS
from airflow_provider_clarityq.core.errors import ConfigurationError, InvalidIdentifierError
from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

SECRET = "Hook5ecretAccessKeyValue"
TOKEN = "HookSt5TokenValue/+=="
LOCAL_ENDPOINT = "http://127.0.0.1:9/api"
CONN_ID = "mc_unit"


def conn_json(**overrides: Any) -> str:
    conn: dict[str, Any] = {
        "conn_type": "clarityq_maxcompute",
        "login": "LTAI5tHookKeyId",
        "password": SECRET,
        "host": LOCAL_ENDPOINT,
        "schema": "proj1",
        "extra": {"sts_token": TOKEN},
    }
    conn.update(overrides)
    return json.dumps(conn)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fail (and record) every outgoing connection; make pyodps give up at once."""
    attempts: list[Any] = []

    def guarded_connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network disabled in unit tests")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    # pyodps asks the endpoint for its logview host when ODPS() is built unless one is configured.
    monkeypatch.setenv("ODPS_LOGVIEW_HOST", "http://logview.invalid")
    from odps import options

    retry_times = options.retry_times
    options.retry_times = 0
    try:
        yield attempts
    finally:
        options.retry_times = retry_times


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", conn_json())
    return CONN_ID


class StubOdps:
    """Stands in for ``odps.ODPS`` where a test needs a server answer (no network in unit tests)."""

    def __init__(self, error: BaseException | None = None, owner: str = "ALIYUN$owner@example.com") -> None:
        self.error = error
        self.owner = owner
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_project(self, name: str) -> Any:
        stub = self

        class Project:
            owner = stub.owner

            def reload(self) -> None:
                stub.calls.append(("reload", {"project": name}))
                if stub.error is not None:
                    raise stub.error

        return Project()

    def execute_security_query(self, query: str, project: str | None = None, output_json: bool = True) -> Any:
        self.calls.append(("security", {"query": query, "project": project, "output_json": output_json}))
        if self.error is not None:
            raise self.error
        return {"ok": True}


def hook_with(odps: StubOdps, conn_id: str = CONN_ID) -> MaxComputeHook:
    hook = MaxComputeHook(maxcompute_conn_id=conn_id)
    hook.__dict__["clients"] = ClientBundle(hook.settings, prebuilt={"odps": odps})  # fill the cached slot
    return hook


# --------------------------------------------------------------------------------------------------
# Provider metadata


def test_provider_info_validates_against_airflows_schema() -> None:
    from importlib.resources import files

    import jsonschema

    from airflow_provider_clarityq.get_provider_info import get_provider_info

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == importlib.metadata.metadata("airflow-provider-clarityq")["Name"]
    assert info["hooks"][0]["python-modules"] == ["airflow_provider_clarityq.hooks.maxcompute"]
    # Every shipped hook/operator/sensor/trigger module is listed, and every listed one imports.
    import pkgutil

    import airflow_provider_clarityq

    root = Path(airflow_provider_clarityq.__file__).parent
    for key in ("hooks", "operators", "sensors", "triggers"):
        shipped = {f"airflow_provider_clarityq.{key}.{m.name}" for m in pkgutil.iter_modules([str(root / key)])}
        listed = {module for entry in info.get(key, []) for module in entry["python-modules"]}
        assert listed == shipped, key
        for module in listed:
            importlib.import_module(module)
    behaviour = info["connection-types"][0]["ui-field-behaviour"]
    assert set(behaviour) == {"hidden-fields", "relabeling", "placeholders"}  # kebab-case keys
    # Placeholders reach the UI's standard fields only; extras carry examples in their descriptions.
    assert set(behaviour["placeholders"]) <= {"login", "password", "host", "schema", "port", "description"}
    info["connection-types"][0]["conn-fields"].clear()
    assert get_provider_info()["connection-types"][0]["conn-fields"], "callers must not mutate our constants"


def test_providers_manager_registers_the_hook_and_the_form() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hook_info = manager.hooks["clarityq_maxcompute"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_clarityq.hooks.maxcompute.MaxComputeHook"
    assert hook_info.connection_id_attribute_name == "maxcompute_conn_id"
    assert hook_info.hook_name == "ClarityQ MaxCompute"
    assert hook_info.package_name == "airflow-provider-clarityq"

    behaviour = manager.field_behaviours["clarityq_maxcompute"]
    assert behaviour["hidden_fields"] == ["port"]
    assert behaviour["relabeling"] == {
        "login": "AccessKey ID",
        "password": "AccessKey Secret",
        "host": "Endpoint",
        "schema": "Project name",
    }
    assert behaviour["placeholders"]["host"] == "https://service.cn-shanghai.maxcompute.aliyun.com/api"

    widgets = {
        info.field_name: info
        for name, info in manager.connection_form_widgets.items()
        if name.startswith("extra__clarityq_maxcompute__")
    }
    assert set(widgets) == set(EXTRA_FIELDS)  # the form and the parser accept the same keys
    assert widgets["sts_token"].is_sensitive
    assert [name for name, info in widgets.items() if info.is_sensitive] == ["sts_token"]
    assert widgets["role_arn"].field["schema"]["title"] == "Role ARN (AssumeRole)"


def test_api_server_hook_meta_shows_the_labelled_form(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    client = TestClient(create_app("core"))
    response = client.get("/ui/connections/hook_meta")
    assert response.status_code == 200
    (meta,) = [item for item in response.json() if item["connection_type"] == "clarityq_maxcompute"]
    assert meta["hook_class_name"] == "airflow_provider_clarityq.hooks.maxcompute.MaxComputeHook"
    assert meta["hook_name"] == "ClarityQ MaxCompute"

    standard = meta["standard_fields"]
    assert standard["login"]["title"] == "AccessKey ID"
    assert standard["password"]["title"] == "AccessKey Secret"
    assert standard["host"]["title"] == "Endpoint"
    assert standard["host"]["placeholder"] == "https://service.cn-shanghai.maxcompute.aliyun.com/api"
    assert standard["url_schema"]["title"] == "Project name"
    assert standard["port"]["hidden"] is True
    for name in ("login", "password", "host", "url_schema"):
        assert not standard[name]["hidden"]

    extras = meta["extra_fields"]
    assert extras["sts_token"]["schema"]["format"] == "password"
    assert extras["sts_token"]["schema"]["title"] == "STS security token"
    assert extras["region"]["schema"]["title"] == "Region"
    assert extras["role_session_name"]["value"] == "clarityq-airflow"
    assert {"tunnel_endpoint", "ram_endpoint", "sts_endpoint", "default_schema", "role_arn"} <= set(extras)
    # The 3.3 form shows no placeholder on an extra field: its example must come with what the form draws.
    assert "cn-shanghai" in extras["region"]["schema"]["examples"]
    for name in ("region", "role_arn", "tunnel_endpoint", "ram_endpoint", "sts_endpoint", "default_schema"):
        assert "e.g. " in extras[name]["description"], name


# --------------------------------------------------------------------------------------------------
# Connections and settings


def test_hook_defaults() -> None:
    from airflow_provider_clarityq.core.connection import CONN_TYPE
    from airflow_provider_clarityq.get_provider_info import get_provider_info

    hook = MaxComputeHook()
    assert hook.maxcompute_conn_id == "clarityq_default"
    assert hook.get_conn_id() == "clarityq_default"
    assert MaxComputeHook.conn_type == CONN_TYPE == "clarityq_maxcompute"
    assert get_provider_info()["connection-types"][0]["connection-type"] == MaxComputeHook.conn_type
    assert MaxComputeHook.conn_name_attr == "maxcompute_conn_id"
    # The form is declared in provider info; the deprecated hook methods must not be defined.
    assert "get_ui_field_behaviour" not in vars(MaxComputeHook)
    assert "get_connection_form_widgets" not in vars(MaxComputeHook)
    assert issubclass(MaxComputeHook, DbApiHook)


def test_importing_the_hook_loads_no_sdk_and_no_core() -> None:
    """Only the standard-library module of default names may load with the hook; the core waits for use."""
    code = (
        "import json, sys; import airflow_provider_clarityq.hooks.maxcompute; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('odps', 'alibabacloud_tea_openapi', 'alibabacloud_ram20150501', 'alibabacloud_sts20150401', 'darabonba') "
        "or m.startswith('airflow_provider_clarityq.core'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    assert loaded <= {"airflow_provider_clarityq.core", "airflow_provider_clarityq.core.defaults"}


def test_airflow_conn_json_connection(conn: str) -> None:
    hook = MaxComputeHook(maxcompute_conn_id=conn)
    settings = hook.settings
    assert hook.project == "proj1"
    assert settings.endpoint == LOCAL_ENDPOINT
    assert settings.auth_mode == "sts_token"
    assert hook.settings is settings  # cached
    assert hook.credentials.get_credential().security_token == TOKEN


def test_airflow_conn_uri_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import Connection

    exported = Connection(
        conn_id="mc_uri",
        conn_type="clarityq_maxcompute",
        login="LTAI5tHookKeyId",
        password="p@ss/w:rd-" + SECRET,
        host="https://service.cn-shanghai.maxcompute.aliyun.com/api",
        schema="proj1",
        extra=json.dumps({"region": "cn-shanghai"}),
    ).get_uri()
    assert exported.startswith("clarityq-maxcompute://https://")
    monkeypatch.setenv("AIRFLOW_CONN_MC_URI", exported)
    settings = MaxComputeHook(maxcompute_conn_id="mc_uri").settings
    assert settings.endpoint == "https://service.cn-shanghai.maxcompute.aliyun.com/api"
    assert settings.access_key_secret.get_secret_value() == "p@ss/w:rd-" + SECRET
    assert (settings.project, settings.region) == ("proj1", "cn-shanghai")


def test_hand_written_uri_without_endpoint_scheme_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MC_URI2",
        "clarityq-maxcompute://LTAI5tHookKeyId:Hook5ecret%2FValue@service.cn-shanghai.maxcompute.aliyun.com"
        "/proj1?region=cn-shanghai",
    )
    with pytest.raises(InvalidIdentifierError, match=r"'Endpoint' \(host\) must be an http\(s\) URL"):
        _ = MaxComputeHook(maxcompute_conn_id="mc_uri2").settings


def test_get_hook_by_connection_id(conn: str) -> None:
    from airflow.sdk import BaseHook

    hook = BaseHook.get_hook(conn)
    assert isinstance(hook, MaxComputeHook)
    assert hook.maxcompute_conn_id == conn


def test_common_sql_operators_and_sensor_get_our_hook(conn: str) -> None:
    from airflow.providers.common.sql.operators.sql import SQLCheckOperator, SQLExecuteQueryOperator
    from airflow.providers.common.sql.sensors.sql import SqlSensor

    # BaseSQLOperator passes every connection extra (sts_token here) as a hook keyword argument.
    query = SQLExecuteQueryOperator(task_id="q", conn_id=conn, sql="SELECT 1")
    check = SQLCheckOperator(task_id="c", conn_id=conn, sql="SELECT 1")
    for operator in (query, check):
        hook = operator.get_db_hook()
        assert isinstance(hook, MaxComputeHook)
        assert hook.project == "proj1"
        assert TOKEN not in repr(hook)
    sensor = SqlSensor(task_id="s", conn_id=conn, sql="SELECT 1")
    assert isinstance(sensor._get_hook(), MaxComputeHook)


def test_missing_secret_is_reported_when_settings_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MC_NOSECRET", conn_json(password=""))
    hook = MaxComputeHook(maxcompute_conn_id="mc_nosecret")  # constructing never validates
    with pytest.raises(ConfigurationError, match=r"'AccessKey Secret' \(password\) is empty"):
        hook.get_client()
    ok, message = hook.test_connection()
    assert not ok
    assert "'AccessKey Secret' (password) is empty" in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"host": "service.cn-shanghai.maxcompute.aliyun.com"}, "'Endpoint' (host) must be an http(s) URL"),
        ({"schema": "my-project"}, "'Project name' (schema) is not a valid MaxCompute project name"),
        ({"extra": {"regoin": "cn-shanghai"}}, "'Extra' (extra) has the unknown key 'regoin'"),
        ({"login": ""}, "'AccessKey ID' (login) is empty"),
    ],
)
def test_validation_errors_through_the_hook(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, Any], expected: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MC_BAD", conn_json(**overrides))
    hook = MaxComputeHook(maxcompute_conn_id="mc_bad")
    with pytest.raises(ConfigurationError) as exc_info:
        _ = hook.odps
    assert expected in str(exc_info.value)
    assert SECRET not in str(exc_info.value)
    assert hook.test_connection() == (False, str(exc_info.value))


def test_unknown_connection_id_in_test_connection() -> None:
    ok, message = MaxComputeHook(maxcompute_conn_id="does_not_exist").test_connection()
    assert not ok
    assert "does_not_exist" in message
    assert "AIRFLOW_CONN_" in message


# --------------------------------------------------------------------------------------------------
# Clients (built offline)


def test_odps_client_is_built_lazily_offline_and_cached(conn: str, no_network: list[Any]) -> None:
    from odps import ODPS, options

    hook = MaxComputeHook(maxcompute_conn_id=conn)
    assert "odps" not in hook.__dict__
    client = hook.get_client()
    assert isinstance(client, ODPS)
    assert hook.odps is client
    assert client.project == "proj1"
    assert client.endpoint == LOCAL_ENDPOINT
    assert client.region_name is None  # 127.0.0.1: pyodps signs v2
    assert client.account.source is hook.credentials
    assert options.account is not client.account, "pyodps globals must not hold our account"
    assert no_network == []


def test_odps_client_honours_region_tunnel_and_schema(monkeypatch: pytest.MonkeyPatch, no_network: list[Any]) -> None:
    extra = {"region": "cn-shanghai", "tunnel_endpoint": "http://127.0.0.1:9", "default_schema": "analytics"}
    monkeypatch.setenv("AIRFLOW_CONN_MC_OPTS", conn_json(extra=extra))
    client = MaxComputeHook(maxcompute_conn_id="mc_opts").odps
    assert client.region_name == "cn-shanghai"
    assert client._tunnel_endpoint == "http://127.0.0.1:9"
    assert client._schema == "analytics"  # the public property asks the server
    assert no_network == []


def test_ram_and_sts_clients_use_host_plus_protocol(monkeypatch: pytest.MonkeyPatch, no_network: list[Any]) -> None:
    extra = {"ram_endpoint": "http://127.0.0.1:18081", "sts_endpoint": "127.0.0.1:18082"}
    monkeypatch.setenv("AIRFLOW_CONN_MC_SDK", conn_json(extra=extra))
    hook = MaxComputeHook(maxcompute_conn_id="mc_sdk")
    ram, sts = hook.ram_client, hook.sts_client
    assert (ram._endpoint, ram._protocol) == ("127.0.0.1:18081", "http")
    assert (sts._endpoint, sts._protocol) == ("127.0.0.1:18082", "https")
    for client in (ram, sts):
        assert client._connect_timeout == 5_000
        assert client._read_timeout == 15_000
        assert client._credential is hook.credentials
        assert client._retry_options.retry_condition[0].error_code[0] == "Throttling"
    assert hook.ram_client is ram
    assert no_network == []


def test_get_conn_is_pep249_over_the_cached_client(conn: str, no_network: list[Any]) -> None:
    from odps import dbapi

    hook = MaxComputeHook(maxcompute_conn_id=conn)
    connection = hook.get_conn()
    assert isinstance(connection, dbapi.Connection)
    assert connection.odps is hook.odps
    assert hasattr(connection.cursor(), "execute")


def test_unsupported_sqlalchemy_paths_explain_themselves(conn: str) -> None:
    hook = MaxComputeHook(maxcompute_conn_id=conn)
    for action in (lambda: hook.sqlalchemy_url, hook.get_uri):
        with pytest.raises(NotImplementedError, match="get_conn") as exc_info:
            action()
        assert SECRET not in str(exc_info.value)
    assert hook.dialect_name == "maxcompute"


# --------------------------------------------------------------------------------------------------
# Operations


def test_run_security_query_targets_the_project(conn: str, caplog: pytest.LogCaptureFixture) -> None:
    stub = StubOdps()
    hook = hook_with(stub)
    with caplog.at_level(logging.INFO):
        assert hook.run_security_query("SHOW GRANTS FOR RAM$123:clarityq;  ") == {"ok": True}
        hook.run_security_query("whoami", output_json=False)
    assert stub.calls == [
        ("security", {"query": "SHOW GRANTS FOR RAM$123:clarityq", "project": "proj1", "output_json": True}),
        ("security", {"query": "whoami", "project": "proj1", "output_json": False}),
    ]


@pytest.mark.parametrize("statement", ["", "  ;  ", "whoami\x00"])
def test_run_security_query_refuses_empty_or_nul(conn: str, statement: str) -> None:
    stub = StubOdps()
    with pytest.raises(ConfigurationError, match="'statement'"):
        hook_with(stub).run_security_query(statement)
    assert stub.calls == []


# --------------------------------------------------------------------------------------------------
# Secret hygiene


def _odps_error(name: str, message: str, code: str | None = None) -> BaseException:
    from odps import errors

    cls = getattr(errors, name)
    return cls(message, code=code or name)  # type: ignore[no-any-return]


def test_secret_never_in_repr_exceptions_or_logs(
    conn: str, no_network: list[Any], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = MaxComputeHook(maxcompute_conn_id=conn)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        texts += [repr(hook), str(hook.__dict__.get("settings")), repr(hook.settings), repr(hook.credentials)]
        texts.append(repr(hook.odps.account))
        leaking = _odps_error("SignatureNotMatch", f"server echoed {SECRET} and {TOKEN}")
        texts.append(hook_with(StubOdps(error=leaking), conn).test_connection()[1])
        generic = RuntimeError(f"odd failure mentioning {SECRET}")
        texts.append(hook_with(StubOdps(error=generic), conn).test_connection()[1])
        for action in (hook.get_uri, lambda: hook.sqlalchemy_url):
            try:
                action()
            except NotImplementedError as err:
                texts.append(str(err))
        hook.log.info("settings: %r", hook.settings)
    captured = capsys.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    assert "settings: MaxComputeSettings(" in caplog.text + captured.out + captured.err  # logs were captured
    for text in texts:
        assert SECRET not in text
        assert TOKEN not in text


def test_secret_and_token_are_registered_with_airflows_masker() -> None:
    from airflow.sdk import Connection
    from airflow.sdk._shared.secrets_masker import redact

    # A connection handed over directly (not fetched), so Airflow has not masked anything yet.
    secret, token = "UnfetchedSecretValue77", "UnfetchedTokenValue77"
    connection = Connection(
        conn_id="mc_direct",
        conn_type="clarityq_maxcompute",
        login="LTAI5tHookKeyId",
        password=secret,
        host=LOCAL_ENDPOINT,
        schema="proj1",
        extra=json.dumps({"extra__clarityq_maxcompute__sts_token": token}),
    )
    assert redact(f"{secret} {token}") == f"{secret} {token}"
    hook = MaxComputeHook(maxcompute_conn_id="mc_direct", connection=connection)
    assert hook.settings.auth_mode == "sts_token"
    assert redact(f"password is {secret}") == "password is ***"
    assert redact(f"token is {token}") == "token is ***"


def test_token_of_an_invalid_connection_is_masked_too() -> None:
    from airflow.sdk import Connection
    from airflow.sdk._shared.secrets_masker import redact

    token = "TokenOfABrokenConnection55"
    connection = Connection(
        conn_id="mc_broken",
        conn_type="clarityq_maxcompute",
        login="LTAI5tHookKeyId",
        password="PasswordOfABrokenConnection55",
        host="not a url",
        schema="proj1",
        extra=json.dumps({"sts_token": token}),
    )
    with pytest.raises(ConfigurationError, match="Endpoint"):
        _ = MaxComputeHook(maxcompute_conn_id="mc_broken", connection=connection).settings
    assert redact(f"{token} PasswordOfABrokenConnection55") == "*** ***"


def test_temporary_credentials_are_registered_with_the_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    from airflow_provider_clarityq.core.alibaba import clients
    from airflow_provider_clarityq.core.credentials import Credential

    def fake_caller(settings: Any, **_: Any) -> Any:
        def assume_role(base: Credential, *, role_arn: str, session_name: str, duration_seconds: int) -> Credential:
            return Credential("STS.tmp", "TempSecretFromSts88", "TempTokenFromSts88", expiration=4e9)

        return assume_role

    monkeypatch.setattr(clients, "sts_assume_role_caller", fake_caller)
    monkeypatch.setenv(
        "AIRFLOW_CONN_MC_ROLE",
        conn_json(extra={"role_arn": "acs:ram::1234567890123456:role/clarityq-reader"}),
    )
    hook = MaxComputeHook(maxcompute_conn_id="mc_role")
    assert hook.settings.auth_mode == "assume_role"
    assert hook.credentials.get_credential().access_key_id == "STS.tmp"
    assert redact("TempSecretFromSts88 TempTokenFromSts88") == "*** ***"


def test_validation_error_with_secret_in_a_wrong_field_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    # The secret pasted into the Project field by mistake: the error must not echo it.
    monkeypatch.setenv("AIRFLOW_CONN_MC_SWAP", conn_json(schema=SECRET + "!"))
    with pytest.raises(ConfigurationError) as exc_info:
        _ = MaxComputeHook(maxcompute_conn_id="mc_swap").settings
    assert SECRET not in str(exc_info.value)
    assert "'Project name' (schema)" in str(exc_info.value)


def test_async_twin_reads_the_connection_afresh_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trigger's view of the connection: the same fields as the sync path, never a stale copy."""
    import asyncio

    from airflow.sdk._shared.secrets_masker import redact

    token = "AsyncTwinTokenValue31"
    monkeypatch.setenv("AIRFLOW_CONN_MC_ASYNC", conn_json(extra={"sts_token": token}))
    hook = MaxComputeHook(maxcompute_conn_id="mc_async")
    fields = asyncio.run(hook.aresolve_connection())
    assert {k: fields[k] for k in ("conn_type", "login", "host", "schema")} == {
        "conn_type": "clarityq_maxcompute",
        "login": "LTAI5tHookKeyId",
        "host": LOCAL_ENDPOINT,
        "schema": "proj1",
    }
    assert redact(f"token {token}") == "token ***"

    monkeypatch.setenv("AIRFLOW_CONN_MC_ASYNC", conn_json(login="LTAI5tRotatedKeyId", extra={"sts_token": token}))
    assert asyncio.run(hook.aresolve_connection())["login"] == "LTAI5tRotatedKeyId"

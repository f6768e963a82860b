"""parse_connection: mapping of form fields, derivations, and one error per problem naming the field."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_clarityq.core.connection import (
    DEFAULT_RAM_ENDPOINT,
    EXTRA_FIELDS,
    MaxComputeSettings,
    default_sts_endpoint,
    parse_connection,
    region_from_endpoint,
)
from airflow_provider_clarityq.core.errors import ConfigurationError, InvalidIdentifierError
from airflow_provider_clarityq.core.identifiers import ServiceEndpoint
from airflow_provider_clarityq.get_provider_info import CONN_FIELDS, get_provider_info

SECRET = "Sup3rSecretAccessKeyValue"
TOKEN = "CAISsts.TokenValue+With/Base64=="
ENDPOINT = "https://service.cn-shanghai.maxcompute.aliyun.com/api"


def fields(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "login": "LTAI5tExampleKeyId",
        "password": SECRET,
        "host": ENDPOINT,
        "schema": "my_analytics_project",
        "port": None,
        "extra": None,
    }
    base.update(overrides)
    return base


def error_for(**overrides: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as exc_info:
        parse_connection(fields(**overrides))
    err = exc_info.value
    message = str(err)
    assert SECRET not in message
    assert TOKEN not in message
    assert "\n" not in message
    assert message.startswith("Connection field '")
    return err


def test_minimal_connection_from_the_setup_guide() -> None:
    settings = parse_connection(fields())
    assert settings.access_key_id == "LTAI5tExampleKeyId"
    assert settings.access_key_secret.get_secret_value() == SECRET
    assert settings.endpoint == ENDPOINT
    assert settings.project == "my_analytics_project"
    assert settings.auth_mode == "access_key"
    assert settings.region is None
    assert settings.effective_region == "cn-shanghai"
    assert settings.sts_endpoint == ServiceEndpoint("https", "sts.cn-shanghai.aliyuncs.com")
    assert settings.ram_endpoint == DEFAULT_RAM_ENDPOINT == ServiceEndpoint("https", "ram.aliyuncs.com")
    assert settings.role_session_name == "clarityq-airflow"


def test_surrounding_whitespace_from_copy_paste_is_dropped() -> None:
    settings = parse_connection(
        fields(login=" LTAI5tExampleKeyId\n", password=f"{SECRET} ", host=f" {ENDPOINT}/ ", schema="proj_1 ")
    )
    assert settings.access_key_id == "LTAI5tExampleKeyId"
    assert settings.access_key_secret.get_secret_value() == SECRET
    assert settings.endpoint == ENDPOINT
    assert settings.project == "proj_1"


def test_repr_str_and_dump_never_show_secrets() -> None:
    settings = parse_connection(fields(extra={"sts_token": TOKEN}))
    for text in (repr(settings), str(settings), str(settings.model_dump()), json.dumps(settings.describe())):
        assert SECRET not in text
        assert TOKEN not in text
    assert settings.secret_values() == (SECRET, TOKEN)


def test_all_extras_are_parsed() -> None:
    extra = {
        "sts_token": TOKEN,
        "region": "CN-Shanghai",
        "role_arn": "acs:ram::1234567890123456:role/clarityq-reader",
        "role_session_name": "nightly-health",
        "tunnel_endpoint": "https://dt.cn-shanghai.maxcompute.aliyun.com",
        "ram_endpoint": "http://127.0.0.1:18081",
        "sts_endpoint": "127.0.0.1:18082",
        "default_schema": "Default",
    }
    settings = parse_connection(fields(extra=json.dumps(extra)))
    assert settings.sts_token is not None
    assert settings.sts_token.get_secret_value() == TOKEN
    assert settings.region == "cn-shanghai"
    assert settings.role_arn == extra["role_arn"]
    assert settings.role_session_name == "nightly-health"
    assert settings.tunnel_endpoint == extra["tunnel_endpoint"]
    assert settings.ram_endpoint == ServiceEndpoint("http", "127.0.0.1:18081")
    assert settings.sts_endpoint == ServiceEndpoint("https", "127.0.0.1:18082")
    assert settings.default_schema == "default"
    assert settings.auth_mode == "assume_role"


def test_sts_token_mode() -> None:
    assert parse_connection(fields(extra={"sts_token": TOKEN})).auth_mode == "sts_token"


def test_legacy_prefixed_extras_are_accepted() -> None:
    settings = parse_connection(
        fields(
            extra={
                "extra__clarityq_maxcompute__region": "cn-shanghai",
                "extra__clarityq_maxcompute__sts_token": TOKEN,
            }
        )
    )
    assert settings.region == "cn-shanghai"
    assert settings.auth_mode == "sts_token"


def test_empty_and_null_extras_count_as_unset() -> None:
    settings = parse_connection(fields(extra=dict.fromkeys(EXTRA_FIELDS, "") | {"region": None}))
    assert settings.auth_mode == "access_key"
    assert settings.region is None
    assert settings.role_session_name == "clarityq-airflow"


@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        ("https://service.cn-shanghai.maxcompute.aliyun.com/api", "cn-shanghai"),
        ("http://service.cn-hangzhou-vpc.maxcompute.aliyun-inc.com/api", "cn-hangzhou"),
        ("http://service.ap-southeast-1-internal.maxcompute.aliyun-inc.com/api", "ap-southeast-1"),
        ("http://service.odps.aliyun.com/api", None),
        ("http://127.0.0.1:8080/api", None),
        ("http://localhost/api", None),
    ],
)
def test_region_from_endpoint(endpoint: str, region: str | None) -> None:
    assert region_from_endpoint(endpoint) == region


def test_sts_endpoint_defaults() -> None:
    assert default_sts_endpoint("eu-central-1") == ServiceEndpoint("https", "sts.eu-central-1.aliyuncs.com")
    assert default_sts_endpoint(None) == ServiceEndpoint("https", "sts.aliyuncs.com")
    local = parse_connection(fields(host="http://127.0.0.1:8080/api"))
    assert local.effective_region is None
    assert local.sts_endpoint == ServiceEndpoint("https", "sts.aliyuncs.com")
    regional = parse_connection(fields(host="http://127.0.0.1:8080/api", extra={"region": "cn-beijing"}))
    assert regional.sts_endpoint == ServiceEndpoint("https", "sts.cn-beijing.aliyuncs.com")


# --------------------------------------------------------------------------------------------------
# One test per validation error; each asserts the message names the field.


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_secret(value: str | None) -> None:
    err = error_for(password=value)
    assert err.field == "password"
    assert str(err) == (
        "Connection field 'AccessKey Secret' (password) is empty: paste the RAM user's AccessKey secret "
        "into the connection's Password field."
    )


def test_missing_access_key_id() -> None:
    err = error_for(login=None)
    assert str(err).startswith("Connection field 'AccessKey ID' (login) is empty: paste the RAM user's AccessKey ID")


def test_missing_endpoint() -> None:
    err = error_for(host="")
    assert "'Endpoint' (host) is empty" in str(err)
    assert "https://service.cn-shanghai.maxcompute.aliyun.com/api" in str(err)


def test_missing_project() -> None:
    assert "'Project name' (schema) is empty" in str(error_for(schema=None))


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("service.cn-shanghai.maxcompute.aliyun.com/api", "must be an http(s) URL"),
        ("ftp://service.cn-shanghai.maxcompute.aliyun.com/api", "must use http or https"),
        ("https://", "no host"),
        ("https://service.cn-shanghai.maxcompute.aliyun.com/api?x=1", "query"),
        ("https://exa mple.com/api", "whitespace"),
    ],
)
def test_bad_endpoint(host: str, problem: str) -> None:
    err = error_for(host=host)
    assert isinstance(err, InvalidIdentifierError)
    assert str(err).startswith("Connection field 'Endpoint' (host) ")
    assert problem in str(err)


def test_endpoint_with_embedded_secret_is_not_echoed() -> None:
    err = error_for(host=f"https://LTAI5tExampleKeyId:{SECRET}@service.cn-shanghai.maxcompute.aliyun.com/api")
    assert "'Endpoint' (host) contains credentials" in str(err)


@pytest.mark.parametrize("project", ["my-project", "1project", "ab", "p" * 29, "proj;drop", "proj\u0435ct"])
def test_illegal_project_name(project: str) -> None:
    err = error_for(schema=project)
    assert isinstance(err, InvalidIdentifierError)
    assert str(err).startswith("Connection field 'Project name' (schema) ")
    assert "project name" in str(err) or "contains" in str(err)


def test_secret_pasted_into_a_name_field_is_redacted() -> None:
    err = error_for(schema=SECRET + "!")
    assert "***" in str(err)


def test_unknown_extra_lists_the_allowed_keys() -> None:
    err = error_for(extra={"regoin": "cn-shanghai"})
    message = str(err)
    assert message.startswith("Connection field 'Extra' (extra) has the unknown key 'regoin'")
    assert "did you mean 'region'" in message
    for name in EXTRA_FIELDS:
        assert name in message


def test_unknown_extra_from_another_provider() -> None:
    assert "unknown key 'endpoint'" in str(error_for(extra={"endpoint": "x"}))


def test_extra_that_is_not_json_is_not_echoed() -> None:
    err = error_for(extra='{"sts_token": "' + TOKEN + '"')
    assert "'Extra' (extra) is not valid JSON" in str(err)


def test_extra_must_be_an_object() -> None:
    assert "must be a JSON object" in str(error_for(extra="[1, 2]"))


def test_extra_values_must_be_text() -> None:
    assert "'Region' (region) must be text, got int" in str(error_for(extra={"region": 1}))


def test_conflicting_legacy_and_plain_extra() -> None:
    err = error_for(extra={"sts_token": TOKEN, "extra__clarityq_maxcompute__sts_token": TOKEN + "x"})
    assert "'STS security token' (sts_token) is set twice" in str(err)


@pytest.mark.parametrize(
    ("name", "value", "label"),
    [
        ("region", "cn_shanghai", "'Region' (region)"),
        ("role_arn", "arn:aws:iam::1:role/x", "'Role ARN (AssumeRole)' (role_arn)"),
        ("role_session_name", "a", "'Role session name' (role_session_name)"),
        ("tunnel_endpoint", "dt.cn-shanghai.maxcompute.aliyun.com", "'Tunnel endpoint' (tunnel_endpoint)"),
        ("ram_endpoint", "ram.aliyuncs.com/path", "'RAM endpoint' (ram_endpoint)"),
        ("sts_endpoint", "ftp://sts.aliyuncs.com", "'STS endpoint' (sts_endpoint)"),
        ("default_schema", "1schema", "'Default schema' (default_schema)"),
        ("sts_token", "token with spaces", "'STS security token' (sts_token)"),
    ],
)
def test_bad_extra_values_name_their_field(name: str, value: str, label: str) -> None:
    err = error_for(extra={name: value})
    assert str(err).startswith(f"Connection field {label} ")


def test_bad_access_key_id() -> None:
    assert str(error_for(login="LTAI:abc")).startswith("Connection field 'AccessKey ID' (login) ")


def test_secret_with_line_break_is_refused_without_echo() -> None:
    err = error_for(password="abc\ndef")
    assert str(err).startswith("Connection field 'AccessKey Secret' (password) contains whitespace")
    assert "abc" not in str(err)


def test_region_conflicting_with_endpoint() -> None:
    err = error_for(extra={"region": "cn-beijing"})
    assert "'Region' (region) is 'cn-beijing' but the endpoint is in 'cn-shanghai'" in str(err)


def test_port_must_stay_empty() -> None:
    assert "'Port' (port) is set but not used" in str(error_for(port=443))


# --------------------------------------------------------------------------------------------------
# The model itself


def test_direct_construction_is_validated_and_hides_input() -> None:
    with pytest.raises(ValidationError) as exc_info:
        MaxComputeSettings(
            access_key_id="LTAI5t",
            access_key_secret=SECRET,
            endpoint=ENDPOINT,
            project="bad;project",
            ram_endpoint=DEFAULT_RAM_ENDPOINT,
            sts_endpoint=default_sts_endpoint(None),
        )
    assert "semicolon" in str(exc_info.value)
    assert SECRET not in str(exc_info.value)


def test_settings_are_frozen() -> None:
    settings = parse_connection(fields())
    with pytest.raises(ValidationError):
        settings.project = "other_project"  # type: ignore[misc]


def test_extra_names_and_labels_match_provider_info() -> None:
    assert list(CONN_FIELDS) == list(EXTRA_FIELDS)
    for name, label in EXTRA_FIELDS.items():
        assert CONN_FIELDS[name]["label"] == label
    entry = get_provider_info()["connection-types"][0]
    assert entry["conn-fields"]["role_session_name"]["schema"]["default"] == "clarityq-airflow"


def test_errors_survive_pickling() -> None:
    err = error_for(schema="my-project")
    clone = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert type(clone) is type(err)
    assert str(clone) == str(err)
    assert (clone.field, clone.label) == ("schema", "Project name")

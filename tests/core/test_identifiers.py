"""MaxCompute/RAM naming rules: what passes, its canonical form, and that every rejection names the field."""

from __future__ import annotations

import string
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_clarityq.core.errors import ConfigurationError, InvalidIdentifierError
from airflow_provider_clarityq.core.identifiers import (
    Principal,
    ServiceEndpoint,
    parse_principal,
    parse_service_endpoint,
    validate_access_key_id,
    validate_account,
    validate_endpoint_url,
    validate_principal,
    validate_project_name,
    validate_ram_role_name,
    validate_ram_user_name,
    validate_region,
    validate_role_arn,
    validate_role_name,
    validate_role_session_name,
    validate_schema_name,
    validate_table_name,
    validate_uid,
)

Validator = Callable[..., str]

#: (validator, a valid value) for the shared hostile-input checks.
NAME_VALIDATORS: list[tuple[Validator, str]] = [
    (validate_project_name, "my_analytics_project"),
    (validate_table_name, "orders_2024"),
    (validate_schema_name, "default"),
    (validate_role_name, "clarityq_reader"),
    (validate_ram_user_name, "clarityq"),
    (validate_ram_role_name, "clarityq-reader"),
    (validate_uid, "1234567890123456"),
    (validate_account, "1234567890123456"),
    (validate_region, "cn-shanghai"),
    (validate_role_arn, "acs:ram::1234567890123456:role/clarityq-reader"),
    (validate_role_session_name, "clarityq-airflow"),
    (validate_access_key_id, "LTAI5tExample"),
    (validate_principal, "RAM$1234567890123456:clarityq"),
]

HOSTILE_SUFFIXES = {
    "single quote": "'",
    "double quote": '"',
    "backtick": "`",
    "semicolon": ";",
    "backslash": "\\",
    "space": " x",
    "tab": "\tx",
    "newline": "\nx",
    "carriage return": "\rx",
    "NUL": "\x00",
    "DEL": "\x7f",
    "cyrillic a": "\u0430",
    "fullwidth semicolon": "\uff1b",
    "zero-width space": "\u200b",
}


@pytest.mark.parametrize(("validator", "good"), NAME_VALIDATORS, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("suffix", list(HOSTILE_SUFFIXES.values()), ids=list(HOSTILE_SUFFIXES))
def test_hostile_characters_are_rejected_and_the_field_is_named(validator: Validator, good: str, suffix: str) -> None:
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validator(good + suffix, field="the_field")
    message = str(exc_info.value)
    assert "'the_field'" in message
    assert exc_info.value.field == "the_field"
    assert "\n" not in message
    assert "\x00" not in message
    assert message.isascii()


@pytest.mark.parametrize(("validator", "good"), NAME_VALIDATORS, ids=lambda v: getattr(v, "__name__", ""))
def test_valid_values_pass_and_canonical_form_is_stable(validator: Validator, good: str) -> None:
    canonical = validator(good)
    assert validator(canonical) == canonical


@pytest.mark.parametrize(("validator", "good"), NAME_VALIDATORS, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("bad", ["", None, 12.5, ["x"]])
def test_empty_and_non_text_are_rejected(validator: Validator, good: str, bad: object) -> None:
    with pytest.raises(ConfigurationError, match="'f'"):
        validator(bad, field="f")


@pytest.mark.parametrize(
    "name", ["abc", "A_1", "my_analytics_project", "p" * 28, "Proj_With_Case"], ids=lambda n: n[:12]
)
def test_project_names_accepted_case_kept(name: str) -> None:
    assert validate_project_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ab", "too short"),
        ("p" * 29, "too long"),
        ("1project", "digit first"),
        ("_project", "underscore first"),
        ("my-project", "hyphen"),
        ("my.project", "dot"),
    ],
)
def test_project_names_rejected(name: str, why: str) -> None:
    with pytest.raises(InvalidIdentifierError, match=r"Field 'project' is not a valid MaxCompute project name"):
        validate_project_name(name)


def test_table_role_schema_are_lower_cased() -> None:
    assert validate_table_name("Orders_2024") == "orders_2024"
    assert validate_role_name("ClarityQ_Reader") == "clarityq_reader"
    assert validate_schema_name("Default") == "default"


@pytest.mark.parametrize("name", ["1table", "_t", "t-1", "t" * 129, "db.table", "*"])
def test_table_names_rejected(name: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="'table'"):
        validate_table_name(name)


def test_table_name_limit_is_128() -> None:
    assert validate_table_name("t" * 128) == "t" * 128


@pytest.mark.parametrize("name", ["r" * 65, "1role", "role-x"])
def test_role_names_rejected(name: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="'role'"):
        validate_role_name(name)


def test_ram_user_name_rule() -> None:
    assert validate_ram_user_name("clarity.q_user-1") == "clarity.q_user-1"
    with pytest.raises(InvalidIdentifierError, match="'ram_user'"):
        validate_ram_user_name("u" * 65)
    with pytest.raises(InvalidIdentifierError, match="'ram_user'"):
        validate_ram_user_name("user@corp")


def test_uid_accepts_digits_and_ints_only() -> None:
    assert validate_uid(1234567890123456) == "1234567890123456"
    for bad in ("12a", "-1", "1.0"):
        with pytest.raises(InvalidIdentifierError, match="'uid'"):
            validate_uid(bad)
    with pytest.raises(InvalidIdentifierError):
        validate_uid(True)


def test_region_is_lower_cased_and_strict() -> None:
    assert validate_region("CN-Shanghai") == "cn-shanghai"
    for bad in ("cn_shanghai", "cn.shanghai", "-cn", "x"):
        with pytest.raises(InvalidIdentifierError, match="'region'"):
            validate_region(bad)


@pytest.mark.parametrize(
    "arn",
    [
        "acs:ram:1234:role/x",
        "acs:ram::abc:role/x",
        "acs:ram::1234:user/x",
        "acs:ram::1234:role/",
        "arn:aws:iam::1234:role/x",
    ],
)
def test_role_arn_rejected(arn: str) -> None:
    with pytest.raises(InvalidIdentifierError, match=r"'role_arn'.*acs:ram::"):
        validate_role_arn(arn)


def test_session_name_rule() -> None:
    assert validate_role_session_name("me@corp.example") == "me@corp.example"
    with pytest.raises(InvalidIdentifierError, match="'role_session_name'"):
        validate_role_session_name("x")
    with pytest.raises(InvalidIdentifierError, match="'role_session_name'"):
        validate_role_session_name("a/b")


def test_access_key_id_refuses_header_separators() -> None:
    assert validate_access_key_id("STS.NUgYrLnoC37mZZCNnAbez2Ap") == "STS.NUgYrLnoC37mZZCNnAbez2Ap"
    for bad in ("LTAI:x", "LTAI/x", "LTAI x"):
        with pytest.raises(InvalidIdentifierError, match="'access_key_id'"):
            validate_access_key_id(bad)


# --------------------------------------------------------------------------------------------------
# Principals


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ALIYUN$odps_owner@aliyun.com", Principal("aliyun", "odps_owner@aliyun.com")),
        ("aliyun$1234567890123456", Principal("aliyun", "1234567890123456")),
        ("RAM$1234567890123456:clarityq", Principal("ram_user", "1234567890123456", "clarityq")),
        (
            "ram$1234567890123456:2345678901234567",
            Principal("ram_user", "1234567890123456", "2345678901234567"),
        ),
        (
            "RAM$1234567890123456:role/clarityq-reader",
            Principal("ram_role", "1234567890123456", "clarityq-reader"),
        ),
        ("RAM$acct:ROLE/r1", Principal("ram_role", "acct", "r1")),
    ],
)
def test_principals_parse_and_canonicalise(raw: str, expected: Principal) -> None:
    parsed = parse_principal(raw)
    assert parsed == expected
    assert parse_principal(str(parsed)) == parsed
    assert str(parsed).startswith(("ALIYUN$", "RAM$"))


def test_principal_canonical_strings() -> None:
    assert validate_principal("ram$123:role/r") == "RAM$123:role/r"
    assert validate_principal("aliyun$a@b.c") == "ALIYUN$a@b.c"


@pytest.mark.parametrize(
    "raw",
    [
        "clarityq",
        "USER$123:x",
        "RAM$123",
        "RAM$:x",
        "RAM$123:",
        "ALIYUN$a:b",
        "RAM$123:role/",
        "RAM$123:a:b",
        "RAM$123:x/y",
        "RAM$ab#c:x",
        "RAM$123:x+y",
    ],
)
def test_bad_principals_name_the_field(raw: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="Field 'grantee'") as exc_info:
        parse_principal(raw, field="grantee")
    assert "RAM$<main-account-uid>" in str(exc_info.value)


# --------------------------------------------------------------------------------------------------
# Endpoints


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "https://service.cn-shanghai.maxcompute.aliyun.com/api",
            "https://service.cn-shanghai.maxcompute.aliyun.com/api",
        ),
        (
            "HTTP://Service.CN-Hangzhou.MaxCompute.Aliyun.com/api/",
            "http://service.cn-hangzhou.maxcompute.aliyun.com/api",
        ),
        ("http://127.0.0.1:8080/api", "http://127.0.0.1:8080/api"),
        ("http://localhost:080", "http://localhost:80"),
        ("http://[::1]:9000/api", "http://[::1]:9000/api"),
    ],
)
def test_endpoint_urls_are_normalised(raw: str, expected: str) -> None:
    assert validate_endpoint_url(raw) == expected
    assert validate_endpoint_url(expected) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("service.cn-shanghai.maxcompute.aliyun.com/api", "no scheme"),
        ("ftp://service.example.com/api", "http or https"),
        ("https:///api", "no host"),
        ("https://host:99999/api", "invalid port"),
        ("https://host:/api", "empty port"),
        ("https://ho_st/api", "invalid host"),
        ("https://host/api?x=1", "query"),
        ("https://host/api#frag", "query or fragment"),
        ("https://host/a pi", "whitespace"),
        ("https://host/api\n", "line break"),
        ("https://h\u043est/api", "non-ASCII"),
        ("https://host/a'pi", "single quote"),
        ("https://host/a<pi", "character"),
    ],
)
def test_bad_endpoint_urls_name_the_field(raw: str, problem: str) -> None:
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_endpoint_url(raw, field="host")
    message = str(exc_info.value)
    assert message.startswith("Field 'host' ")
    assert problem in message


def test_endpoint_with_credentials_is_rejected_without_echoing_them() -> None:
    with pytest.raises(InvalidIdentifierError, match="contains credentials") as exc_info:
        validate_endpoint_url("https://LTAIxyz:TopSecretValue@service.cn-shanghai.maxcompute.aliyun.com/api")
    assert "TopSecretValue" not in str(exc_info.value)
    assert "LTAIxyz" not in str(exc_info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sts.cn-shanghai.aliyuncs.com", ServiceEndpoint("https", "sts.cn-shanghai.aliyuncs.com")),
        ("RAM.aliyuncs.com:443", ServiceEndpoint("https", "ram.aliyuncs.com:443")),
        ("127.0.0.1:18080", ServiceEndpoint("https", "127.0.0.1:18080")),
        ("http://127.0.0.1:18080", ServiceEndpoint("http", "127.0.0.1:18080")),
        ("http://localhost:18080/", ServiceEndpoint("http", "localhost:18080")),
        ("https://sts.aliyuncs.com", ServiceEndpoint("https", "sts.aliyuncs.com")),
    ],
)
def test_service_endpoints_split_into_protocol_and_host(raw: str, expected: ServiceEndpoint) -> None:
    parsed = parse_service_endpoint(raw)
    assert parsed == expected
    assert "://" not in parsed.host
    assert parse_service_endpoint(parsed.url) == parsed


@pytest.mark.parametrize(
    "raw",
    ["http://h:1/api", "h:1/api", "ftp://h", "h:0", "h:abc", "user@h:1", "http://", "h;x", "h h"],
)
def test_bad_service_endpoints_name_the_field(raw: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="Field 'sts_endpoint'"):
        parse_service_endpoint(raw, field="sts_endpoint")


# --------------------------------------------------------------------------------------------------
# Properties


_PROJECT_FIRST = string.ascii_letters
_PROJECT_REST = string.ascii_letters + string.digits + "_"


@given(st.text(_PROJECT_FIRST, min_size=1, max_size=1), st.text(_PROJECT_REST, min_size=2, max_size=27))
def test_every_well_formed_project_name_passes(first: str, rest: str) -> None:
    assert validate_project_name(first + rest) == first + rest


@given(st.text(min_size=1, max_size=40))
def test_anything_accepted_as_a_role_is_safe_to_render(value: str) -> None:
    try:
        canonical = validate_role_name(value)
    except InvalidIdentifierError as err:
        message = str(err)
    else:
        assert canonical.isascii()
        assert set(canonical) <= set(string.ascii_lowercase + string.digits + "_")
        return
    assert "'role'" in message


@given(st.text(min_size=1, max_size=60))
def test_anything_accepted_as_a_principal_has_no_statement_metacharacters(value: str) -> None:
    try:
        canonical = validate_principal(value)
    except InvalidIdentifierError:
        return
    assert canonical.isascii()
    assert not set(canonical) & set("'\"`;\\ \t\r\n\x00")

"""MaxCompute and RAM naming rules as pure validators (no Airflow import).

Every name that can reach a URL, a request header or a MaxCompute security statement passes through
one of these functions first; statements are rendered only from their return values. Each validator
returns the canonical form of the value (lower-cased where MaxCompute is case-insensitive) or raises
:class:`~airflow_provider_clarityq.core.errors.InvalidIdentifierError` naming the field and the rule.

Rules chosen (from the MaxCompute / RAM / STS documentation; stricter where the docs are vague):

========================  ==========================================================  ==========
value                     rule                                                        canonical
========================  ==========================================================  ==========
project                   letter first, then letters/digits/``_``; 3-28 chars         as given
table                     letter first, then letters/digits/``_``; 1-128 chars        lower
schema                    letter first, then letters/digits/``_``; 1-128 chars        lower
role (MaxCompute)         letter first, then letters/digits/``_``; 1-64 chars         lower
RAM user name             ``[A-Za-z0-9._-]``; 1-64 chars                              as given
RAM role name             ``[A-Za-z0-9._-]``; 1-64 chars                              as given
numeric UID               digits only; 1-32 chars                                     as given
account (in principals)   ``[A-Za-z0-9@._-]``; 1-128 chars (account name, e-mail, UID)  as given
principal                 ``ALIYUN$<account>``, ``RAM$<account>:<user-or-uid>``,       prefix upper
                          ``RAM$<account>:role/<ram-role>``
region                    ``[a-z0-9-]``, letter first; 2-64 chars                     lower
role ARN                  ``acs:ram::<uid>:role/<ram-role>``                          as given
role session name         ``[A-Za-z0-9.@_-]``; 2-64 chars (STS RoleSessionName)       as given
OIDC provider ARN         ``acs:ram::<uid>:oidc-provider/<name>``                     as given
OIDC token file           absolute path of ``[A-Za-z0-9._/@+=,:-]``; up to 1024 chars   as given
AccessKey ID              ``[A-Za-z0-9._-]``; 1-128 chars (``LTAI...``, ``STS....``)  as given
========================  ==========================================================  ==========

Project names keep their case: ClarityQ's setup guide calls them case-sensitive and the REST API
uses them verbatim in paths. Before any rule, a value is rejected if it contains quotes, backticks,
``;``, ``\\``, whitespace (newlines included), control characters such as NUL, or any non-ASCII
character (so Cyrillic/Greek look-alike letters cannot pass as Latin ones).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from airflow_provider_clarityq.core.errors import InvalidIdentifierError

__all__ = [
    "RULES",
    "NameRule",
    "Principal",
    "ServiceEndpoint",
    "parse_principal",
    "parse_service_endpoint",
    "validate_access_key_id",
    "validate_account",
    "validate_endpoint_url",
    "validate_oidc_provider_arn",
    "validate_oidc_token_file",
    "validate_package_name",
    "validate_principal",
    "validate_project_name",
    "validate_ram_role_name",
    "validate_ram_user_name",
    "validate_region",
    "validate_role_arn",
    "validate_role_name",
    "validate_role_session_name",
    "validate_schema_name",
    "validate_table_name",
    "validate_uid",
]

_SHOW_MAX = 64

_FORBIDDEN_CHARS: dict[str, str] = {
    "'": "a single quote",
    '"': "a double quote",
    "`": "a backtick",
    ";": "a semicolon",
    "\\": "a backslash",
}

_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*",
    re.IGNORECASE,
)
_IPV6_RE = re.compile(r"\[[0-9a-f:.]+\]", re.IGNORECASE)
_URL_CHARS_RE = re.compile(r"[A-Za-z0-9._~:/%\[\]-]*")
_ENDPOINT_EXAMPLE = "https://service.cn-shanghai.maxcompute.aliyun.com/api"


def _show(value: str) -> str:
    """A safe, bounded rendering of a rejected value for messages (escapes everything odd)."""
    shown = value if len(value) <= _SHOW_MAX else value[:_SHOW_MAX] + "..."
    return ascii(shown)


def _fail(field: str, problem: str, fix: str) -> InvalidIdentifierError:
    return InvalidIdentifierError(field, problem, fix)


def _require_text(value: object, field: str, what: str) -> str:
    """Shared first gate: a non-empty ASCII string without quotes, separators, whitespace or controls."""
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, got {type(value).__name__}", f"give the {what} as text")
    if value == "":
        raise _fail(field, "is empty", f"set it to a {what}")
    for position, char in enumerate(value, start=1):
        code = ord(char)
        if code > 127:
            raise _fail(
                field,
                f"contains the non-ASCII character U+{code:04X} at position {position} ({_show(value)})",
                "retype it with plain ASCII letters and digits (look-alike letters from other alphabets "
                "are not accepted)",
            )
        if char in "\r\n":
            raise _fail(field, f"contains a line break ({_show(value)})", "remove the line break")
        if char == "\x00":
            raise _fail(field, f"contains a NUL character ({_show(value)})", "remove the NUL character")
        if char.isspace():
            raise _fail(field, f"contains whitespace ({_show(value)})", "remove the spaces and tabs")
        if code < 32 or code == 127:
            raise _fail(field, f"contains the control character U+{code:04X} ({_show(value)})", "remove it")
        if char in _FORBIDDEN_CHARS:
            raise _fail(
                field,
                f"contains {_FORBIDDEN_CHARS[char]} ({_show(value)})",
                f"use a plain {what} without quotes, backticks, ';' or '\\'",
            )
    return value


@dataclass(frozen=True)
class NameRule:
    """One naming rule: the pattern a value must match, how to name it, how to fix it, its canonical case."""

    what: str
    pattern: re.Pattern[str]
    fix: str
    lower: bool = False
    numeric: bool = False  # non-negative integers are accepted and turned into text

    def check(self, value: object, field: str) -> str:
        if self.numeric and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            value = str(value)
        text = _require_text(value, field, self.what)
        if self.lower:
            text = text.lower()
        if self.pattern.fullmatch(text) is None:
            raise _fail(field, f"is not a valid {self.what} ({_show(text)})", self.fix)
        return text


def _word_rule(what: str, limit: int, example: str | None = None) -> NameRule:
    """A MaxCompute object name: a letter, then letters, digits or ``_``; at most ``limit``; lower-cased."""
    fix = f"use at most {limit} letters, digits and underscores, starting with a letter"
    return NameRule(
        what,
        re.compile(rf"[A-Za-z][A-Za-z0-9_]{{0,{limit - 1}}}"),
        f"{fix} (e.g. {example})" if example else fix,
        lower=True,
    )


_RAM_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ROLE_ARN_RE = re.compile(r"acs:ram::(?P<uid>[0-9]{1,32}):role/(?P<role>[A-Za-z0-9._-]{1,64})")

#: The rules of the table in this module's docstring, keyed by value.
RULES: dict[str, NameRule] = {
    "project": NameRule(
        "MaxCompute project name",
        re.compile(r"[A-Za-z][A-Za-z0-9_]{2,27}"),
        "use 3-28 letters, digits and underscores, starting with a letter (e.g. my_analytics_project)",
    ),
    "table": _word_rule("MaxCompute table name", 128),
    "schema": _word_rule("MaxCompute schema name", 128, "default"),
    "role": _word_rule("MaxCompute role name", 64, "clarityq_reader"),
    "package": _word_rule("MaxCompute package name", 128, "sales_share"),
    "ram_user": NameRule("RAM user name", _RAM_NAME, "use 1-64 letters, digits, '.', '_' or '-' (e.g. clarityq)"),
    "ram_role": NameRule("RAM role name", _RAM_NAME, "use 1-64 letters, digits, '.', '_' or '-'"),
    "uid": NameRule(
        "numeric UID",
        re.compile(r"[0-9]{1,32}"),
        "copy the numeric UID from the RAM console (digits only, e.g. 1234567890123456)",
        numeric=True,
    ),
    "account": NameRule(
        "Alibaba Cloud account",
        re.compile(r"[A-Za-z0-9@._-]{1,128}"),
        "use the main account UID (digits) or account name (letters, digits, '@', '.', '_', '-')",
        numeric=True,
    ),
    "region": NameRule(
        "region ID",
        re.compile(r"[a-z][a-z0-9-]{1,63}"),
        "use a region ID such as cn-shanghai or ap-southeast-1",
        lower=True,
    ),
    "role_arn": NameRule(
        "RAM role ARN",
        _ROLE_ARN_RE,
        "copy the ARN from the role's page in the RAM console, e.g. acs:ram::1234567890123456:role/clarityq-reader",
    ),
    "role_session_name": NameRule(
        "role session name",
        re.compile(r"[A-Za-z0-9.@_-]{2,64}"),
        "use 2-64 letters, digits, '.', '@', '_' or '-' (e.g. clarityq-airflow)",
    ),
    "oidc_provider_arn": NameRule(
        "RAM OIDC provider ARN",
        re.compile(r"acs:ram::[0-9]{1,32}:oidc-provider/[A-Za-z0-9._-]{1,128}"),
        "copy the ARN from the OIDC provider's page in the RAM console (SSO -> OIDC), e.g. "
        "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c123",
    ),
    "oidc_token_file": NameRule(
        "absolute path of the OIDC token file",
        re.compile(r"/[A-Za-z0-9._/@+=,:-]{0,1023}"),
        "give the absolute path the token is mounted at, e.g. /var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token",
    ),
    # Sent in request headers, so anything else (':', '/', spaces) is refused.
    "access_key_id": NameRule(
        "AccessKey ID",
        re.compile(r"[A-Za-z0-9._-]{1,128}"),
        "copy the AccessKey ID from the RAM console (letters and digits, e.g. LTAI5t...)",
    ),
}


def validate_project_name(value: object, *, field: str = "project") -> str:
    """MaxCompute project: a letter, then letters, digits or ``_``; 3-28 characters. Case is kept."""
    return RULES["project"].check(value, field)


def validate_table_name(value: object, *, field: str = "table") -> str:
    """MaxCompute table: a letter, then letters, digits or ``_``; at most 128 characters; lower-cased."""
    return RULES["table"].check(value, field)


def validate_schema_name(value: object, *, field: str = "schema") -> str:
    """MaxCompute schema (three-tier model): same rule as tables; lower-cased."""
    return RULES["schema"].check(value, field)


def validate_role_name(value: object, *, field: str = "role") -> str:
    """MaxCompute project role: a letter, then letters, digits or ``_``; at most 64; lower-cased."""
    return RULES["role"].check(value, field)


def validate_package_name(value: object, *, field: str = "package") -> str:
    """A package name: unique in its project, letters/digits/_ not starting with a digit (reference section 3)."""
    return RULES["package"].check(value, field)


def validate_ram_user_name(value: object, *, field: str = "ram_user") -> str:
    """RAM user logon name: ``[A-Za-z0-9._-]``, 1-64 characters (RAM's own rule)."""
    return RULES["ram_user"].check(value, field)


def validate_ram_role_name(value: object, *, field: str = "ram_role") -> str:
    """RAM role name (used in role ARNs and ``RAM$<account>:role/<name>``): ``[A-Za-z0-9._-]``, 1-64."""
    return RULES["ram_role"].check(value, field)


def validate_uid(value: object, *, field: str = "uid") -> str:
    """Numeric Alibaba Cloud UID (main account or RAM user): digits only. Integers are accepted."""
    return RULES["uid"].check(value, field)


def validate_account(value: object, *, field: str = "account") -> str:
    """Account part of a principal: account name, e-mail or UID (``[A-Za-z0-9@._-]``, 1-128)."""
    return RULES["account"].check(value, field)


def validate_region(value: object, *, field: str = "region") -> str:
    """Region ID such as ``cn-shanghai``: lower-case letters, digits and ``-``; lower-cased."""
    return RULES["region"].check(value, field)


def validate_role_arn(value: object, *, field: str = "role_arn") -> str:
    """RAM role ARN ``acs:ram::<account-uid>:role/<role-name>``."""
    return RULES["role_arn"].check(value, field)


def validate_role_session_name(value: object, *, field: str = "role_session_name") -> str:
    """STS RoleSessionName: ``[A-Za-z0-9.@_-]``, 2-64 characters."""
    return RULES["role_session_name"].check(value, field)


def validate_oidc_provider_arn(value: object, *, field: str = "oidc_provider_arn") -> str:
    """``acs:ram::<uid>:oidc-provider/<name>`` (RRSA names it ``ack-rrsa-<cluster id>``)."""
    return RULES["oidc_provider_arn"].check(value, field)


def validate_oidc_token_file(value: object, *, field: str = "oidc_token_file") -> str:
    """An absolute path of plain characters: it is only opened, never passed to a shell or a statement."""
    return RULES["oidc_token_file"].check(value, field)


def validate_access_key_id(value: object, *, field: str = "access_key_id") -> str:
    """AccessKey ID (``LTAI...`` or a temporary ``STS....``): ``[A-Za-z0-9._-]``, 1-128 characters."""
    return RULES["access_key_id"].check(value, field)


# --------------------------------------------------------------------------------------------------
# Principals


PrincipalKind = Literal["aliyun", "ram_user", "ram_role"]


@dataclass(frozen=True)
class Principal:
    """A MaxCompute principal; ``str()`` gives the canonical spelling used in statements."""

    kind: PrincipalKind
    account: str
    name: str | None = None

    def __str__(self) -> str:
        if self.kind == "aliyun":
            return f"ALIYUN${self.account}"
        if self.kind == "ram_role":
            return f"RAM${self.account}:role/{self.name}"
        return f"RAM${self.account}:{self.name}"


_PRINCIPAL_FIX = (
    "write it as ALIYUN$<account>, RAM$<main-account-uid>:<ram-user-name-or-uid> or "
    "RAM$<main-account-uid>:role/<ram-role-name>"
)


def parse_principal(value: object, *, field: str = "principal") -> Principal:
    """Parse ``ALIYUN$<account>``, ``RAM$<account>:<user-or-uid>`` or ``RAM$<account>:role/<name>``.

    The ``ALIYUN``/``RAM`` prefix is case-insensitive and canonicalised to upper case.
    """
    text = _require_text(value, field, "MaxCompute principal")
    prefix, dollar, rest = text.partition("$")
    if not dollar or prefix.upper() not in ("ALIYUN", "RAM"):
        raise _fail(field, f"is not a valid MaxCompute principal ({_show(text)})", _PRINCIPAL_FIX)
    if prefix.upper() == "ALIYUN":
        if ":" in rest:
            raise _fail(field, f"is not a valid MaxCompute principal ({_show(text)})", _PRINCIPAL_FIX)
        return Principal("aliyun", _sub(validate_account, rest, field, text))
    account, colon, name = rest.partition(":")
    if not colon:
        raise _fail(field, f"is not a valid MaxCompute principal ({_show(text)})", _PRINCIPAL_FIX)
    account = _sub(validate_account, account, field, text)
    if name[:5].lower() == "role/":
        return Principal("ram_role", account, _sub(validate_ram_role_name, name[5:], field, text))
    return Principal("ram_user", account, _sub(validate_ram_user_name, name, field, text))


def _sub(validator: Callable[[object], str], part: str, field: str, whole: str) -> str:
    """Validate one part of a principal, reporting the whole principal on failure."""
    try:
        return validator(part)
    except InvalidIdentifierError:
        raise _fail(field, f"is not a valid MaxCompute principal ({_show(whole)})", _PRINCIPAL_FIX) from None


def validate_principal(value: object, *, field: str = "principal") -> str:
    """Canonical string form of :func:`parse_principal`."""
    return str(parse_principal(value, field=field))


# --------------------------------------------------------------------------------------------------
# Endpoints


class ServiceEndpoint(NamedTuple):
    """An Alibaba OpenAPI endpoint split the way the SDK wants it.

    The SDK takes ``endpoint="host[:port]"`` plus ``protocol="http"|"https"``; a scheme inside
    ``endpoint`` ends up verbatim in the signed ``Host`` header and breaks the request.
    """

    protocol: Literal["http", "https"]
    host: str

    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.host}"


def _check_host_port(netloc: str, field: str, shown: str, fix: str) -> str:
    """Validate ``host[:port]`` (IPv6 in brackets) and return it lower-cased."""
    host, port = netloc, ""
    if netloc.startswith("["):
        end = netloc.find("]")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            raise _fail(field, f"has a malformed host ({shown})", fix)
        port = rest[1:]
        host_ok = _IPV6_RE.fullmatch(host) is not None
    else:
        if netloc.count(":") > 1:
            raise _fail(field, f"has a malformed host ({shown})", fix)
        host, _, port = netloc.partition(":")
        host_ok = _HOSTNAME_RE.fullmatch(host) is not None
        if ":" in netloc and not port:
            raise _fail(field, f"has an empty port ({shown})", fix)
    if not host_ok:
        raise _fail(field, f"has an invalid host name ({shown})", fix)
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise _fail(field, f"has an invalid port ({shown})", "use a port number between 1 and 65535")
    return f"{host.lower()}:{int(port)}" if port else host.lower()


def _check_url_text(value: object, field: str, what: str, fix: str) -> str:
    """Checks shared by both endpoint validators; never shows a value that may embed credentials."""
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, got {type(value).__name__}", fix)
    if value == "":
        raise _fail(field, "is empty", fix)
    if "@" in value:
        # userinfo such as https://AK:secret@host - do not echo the value, it may hold a secret.
        raise _fail(
            field,
            "contains credentials ('user:password@' or '@')",
            f"remove them and give only the {what}; the AccessKey belongs in the AccessKey ID/Secret fields",
        )
    _require_text(value, field, what)
    if "?" in value or "#" in value:
        raise _fail(field, f"must not contain a query or fragment ({_show(value)})", fix)
    if _URL_CHARS_RE.fullmatch(value) is None:
        bad = next(c for c in value if _URL_CHARS_RE.fullmatch(c) is None)
        raise _fail(field, f"contains the character {bad!r} ({_show(value)})", fix)
    return value


def validate_endpoint_url(value: object, *, field: str = "endpoint") -> str:
    """An ``http``/``https`` URL with a host, no credentials, query, fragment or whitespace.

    Returns it normalised: scheme and host lower-cased, trailing ``/`` removed (pyodps appends paths
    such as ``/projects/<p>`` to it).
    """
    fix = f"give the full http(s) URL, e.g. {_ENDPOINT_EXAMPLE}"
    text = _check_url_text(value, field, "endpoint URL", fix)
    scheme, sep, _ = text.partition("://")
    if not sep:
        raise _fail(field, f"must be an http(s) URL but has no scheme ({_show(text)})", fix)
    if scheme.lower() not in ("http", "https"):
        raise _fail(field, f"must use http or https, not {_show(scheme)}", fix)
    parts = urlsplit(text)
    if not parts.netloc:
        raise _fail(field, f"has no host ({_show(text)})", fix)
    netloc = _check_host_port(parts.netloc, field, _show(text), fix)
    path = parts.path.rstrip("/")
    if "//" in path:
        raise _fail(field, f"has an empty path segment ({_show(text)})", fix)
    return f"{scheme.lower()}://{netloc}{path}"


def parse_service_endpoint(value: object, *, field: str = "endpoint") -> ServiceEndpoint:
    """Parse an Alibaba OpenAPI endpoint given as ``host[:port]`` (HTTPS) or ``http(s)://host[:port]``."""
    fix = "give host[:port] (HTTPS is assumed) or http(s)://host[:port], e.g. sts.cn-shanghai.aliyuncs.com"
    text = _check_url_text(value, field, "endpoint host", fix)
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() not in ("http", "https"):
            raise _fail(field, f"must use http or https, not {_show(scheme)}", fix)
        if rest.rstrip("/") != rest.split("/", 1)[0]:
            raise _fail(field, f"must not have a path ({_show(text)})", fix)
        netloc = rest.split("/", 1)[0]
        protocol: Literal["http", "https"] = "http" if scheme.lower() == "http" else "https"
    else:
        if "/" in text:
            raise _fail(field, f"must not have a path ({_show(text)})", fix)
        netloc, protocol = text, "https"
    if not netloc:
        raise _fail(field, f"has no host ({_show(text)})", fix)
    return ServiceEndpoint(protocol, _check_host_port(netloc, field, _show(text), fix))

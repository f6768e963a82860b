"""Connection settings: parse an Airflow-style connection mapping into validated settings.

No Airflow import: :func:`parse_connection` takes the plain fields (``login``, ``password``, ``host``,
``schema``, ``port``, ``extra``) so it can be tested and reused outside Airflow. The hook only fetches
the connection and calls it.

Field mapping (the connection form of ClarityQ's setup guide):

* ``login`` -> AccessKey ID, ``password`` -> AccessKey Secret, ``host`` -> Endpoint (full http(s) URL),
  ``schema`` -> Project name. ``port`` is hidden and must stay empty.
* ``extra`` keys: see :data:`EXTRA_FIELDS` (the ``extra__clarityq_maxcompute__<name>`` form of older
  UIs is accepted too). Unknown keys are an error, so typos do not pass silently.

Derived values:

* region: the ``region`` extra, else parsed from an official endpoint host
  ``service.<region>[-internal|-vpc].maxcompute.aliyun[-inc].com`` (None for other hosts, e.g. an
  emulator on 127.0.0.1; pyodps then signs with v2).
* RAM endpoint: the ``ram_endpoint`` extra, else ``https://ram.aliyuncs.com`` (RAM is global).
* STS endpoint: the ``sts_endpoint`` extra, else ``https://sts.<region>.aliyuncs.com``, or
  ``https://sts.aliyuncs.com`` when no region is known.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from airflow_provider_clarityq.core.defaults import CONN_TYPE
from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.identifiers import (
    ServiceEndpoint,
    parse_service_endpoint,
    validate_access_key_id,
    validate_endpoint_url,
    validate_oidc_provider_arn,
    validate_oidc_token_file,
    validate_project_name,
    validate_ram_role_name,
    validate_region,
    validate_role_arn,
    validate_role_session_name,
    validate_schema_name,
)
from airflow_provider_clarityq.core.validation import checked_by

__all__ = [
    "CONN_TYPE",
    "CREDENTIAL_EXTRAS",
    "CREDENTIAL_SOURCES",
    "DEFAULT_RAM_ENDPOINT",
    "DEFAULT_ROLE_SESSION_NAME",
    "EXTRA_FIELDS",
    "FIELD_LABELS",
    "AuthMode",
    "CredentialSourceName",
    "MaxComputeSettings",
    "default_sts_endpoint",
    "parse_connection",
    "region_from_endpoint",
]

LEGACY_EXTRA_PREFIX = f"extra__{CONN_TYPE}__"
DEFAULT_ROLE_SESSION_NAME = "clarityq-airflow"
DEFAULT_RAM_ENDPOINT = ServiceEndpoint("https", "ram.aliyuncs.com")
ENDPOINT_EXAMPLE = "https://service.cn-shanghai.maxcompute.aliyun.com/api"

#: Extra keys accepted in ``Connection.extra`` with their form labels (same as ``get_provider_info``).
EXTRA_FIELDS: Mapping[str, str] = {
    "credential_source": "Credential source",
    "sts_token": "STS security token",
    "region": "Region",
    "role_arn": "Role ARN (AssumeRole)",
    "oidc_provider_arn": "OIDC provider ARN (RRSA)",
    "oidc_token_file": "OIDC token file (RRSA)",
    "ecs_role_name": "ECS instance RAM role",
    "ecs_metadata_endpoint": "ECS metadata endpoint",
    "role_session_name": "Role session name",
    "tunnel_endpoint": "Tunnel endpoint",
    "ram_endpoint": "RAM endpoint",
    "sts_endpoint": "STS endpoint",
    "default_schema": "Default schema",
}

#: Extras that say how a connection authenticates (not where it points): never copied to another connection.
CREDENTIAL_EXTRAS: frozenset[str] = frozenset(
    {
        "credential_source",
        "sts_token",
        "role_arn",
        "role_session_name",
        "oidc_provider_arn",
        "oidc_token_file",
        "ecs_role_name",
        "ecs_metadata_endpoint",
    }
)

#: Form label of every connection field, for messages.
FIELD_LABELS: Mapping[str, str] = {
    "login": "AccessKey ID",
    "password": "AccessKey Secret",
    "host": "Endpoint",
    "schema": "Project name",
    "port": "Port",
    "extra": "Extra",
    **EXTRA_FIELDS,
}

#: Which connection field each settings attribute comes from.
_SOURCE_FIELD: Mapping[str, str] = {
    "access_key_id": "login",
    "access_key_secret": "password",
    "endpoint": "host",
    "project": "schema",
}

_REGION_HOST_RE = re.compile(
    r"service\.(?P<region>[a-z0-9-]+)\.(?:maxcompute|odps)\.aliyun(?:-inc)?\.com", re.IGNORECASE
)

#: Where the credentials come from (``credential_source`` extra); see docs/credentials.md.
CredentialSourceName = Literal["static", "assume_role", "oidc_role_arn", "ecs_ram_role", "default_chain"]
CREDENTIAL_SOURCES: tuple[str, ...] = get_args(CredentialSourceName)
#: Sources that sign with the connection's own AccessKey (login / password).
_ACCESS_KEY_SOURCES = ("static", "assume_role")
#: The standard environment variables a source's settings fall back to (RRSA sets the first three in a pod).
ENV_DEFAULTS: Mapping[str, Mapping[str, str]] = {
    "oidc_role_arn": {
        "role_arn": "ALIBABA_CLOUD_ROLE_ARN",
        "oidc_provider_arn": "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
        "oidc_token_file": "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
    },
    "ecs_ram_role": {"ecs_role_name": "ALIBABA_CLOUD_ECS_METADATA"},
}

AuthMode = Literal["access_key", "sts_token", "assume_role", "oidc_role_arn", "ecs_ram_role", "default_chain"]


def _conn_error(field: str, problem: str, fix: str) -> ConfigurationError:
    return ConfigurationError(field, problem, fix, label=FIELD_LABELS.get(field), context="Connection field")


def region_from_endpoint(endpoint: str) -> str | None:
    """Region ID from an official MaxCompute endpoint host, or None.

    ``https://service.cn-shanghai-vpc.maxcompute.aliyun-inc.com/api`` -> ``cn-shanghai``. Region IDs
    always contain a ``-``; hosts such as ``service.odps.aliyun.com`` give None (like pyodps).
    """
    host = endpoint.partition("://")[2].split("/", 1)[0].split(":", 1)[0]
    match = _REGION_HOST_RE.fullmatch(host)
    if match is None:
        return None
    region = match.group("region").lower()
    for suffix in ("-internal", "-vpc"):
        if region.endswith(suffix):
            region = region[: -len(suffix)]
            break
    return region if "-" in region else None


def default_sts_endpoint(region: str | None) -> ServiceEndpoint:
    """``sts.<region>.aliyuncs.com`` (HTTPS), or the central ``sts.aliyuncs.com`` without a region."""
    return ServiceEndpoint("https", f"sts.{region}.aliyuncs.com" if region else "sts.aliyuncs.com")


def _check_secret(value: object, field: str) -> str:
    """Secrets are never shown; only their shape is checked (non-empty, one line, printable ASCII)."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(text, str):
        raise ConfigurationError(field, "must be a string", "paste the value as text")
    if text == "":
        raise ConfigurationError(field, "is empty", "paste the value")
    if any(not (33 <= ord(c) <= 126) for c in text):
        raise ConfigurationError(
            field,
            "contains whitespace, a line break or a non-ASCII character",
            "paste the value again exactly as the console shows it",
        )
    return text


def _secret(value: object, *, field: str) -> SecretStr:
    return SecretStr(_check_secret(value, field))


class MaxComputeSettings(BaseModel):
    """Validated, immutable connection settings. Build it with :func:`parse_connection`.

    Secrets are :class:`~pydantic.SecretStr`, so ``repr``/``str``/``model_dump`` show ``**********``;
    validation errors never echo input values (``hide_input_in_errors``). Constructing the model
    directly runs the same validators, so no unchecked value can reach a URL or a statement.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    credential_source: CredentialSourceName = "static"
    #: The connection's AccessKey: required for ``static`` and ``assume_role``, absent otherwise.
    access_key_id: Annotated[str | None, checked_by(validate_access_key_id, optional=True)] = None
    access_key_secret: Annotated[SecretStr | None, checked_by(_secret, optional=True)] = None
    endpoint: Annotated[str, checked_by(validate_endpoint_url)]
    project: Annotated[str, checked_by(validate_project_name)]
    ram_endpoint: ServiceEndpoint
    sts_endpoint: ServiceEndpoint
    sts_token: Annotated[SecretStr | None, checked_by(_secret, optional=True)] = None
    #: The region given explicitly in the extras (None when it is only derivable from the endpoint).
    region: Annotated[str | None, checked_by(validate_region, optional=True)] = None
    role_arn: Annotated[str | None, checked_by(validate_role_arn, optional=True)] = None
    role_session_name: Annotated[str, checked_by(validate_role_session_name)] = DEFAULT_ROLE_SESSION_NAME
    tunnel_endpoint: Annotated[str | None, checked_by(validate_endpoint_url, optional=True)] = None
    default_schema: Annotated[str | None, checked_by(validate_schema_name, optional=True)] = None
    oidc_provider_arn: Annotated[str | None, checked_by(validate_oidc_provider_arn, optional=True)] = None
    oidc_token_file: Annotated[str | None, checked_by(validate_oidc_token_file, optional=True)] = None
    ecs_role_name: Annotated[str | None, checked_by(validate_ram_role_name, optional=True)] = None
    #: None: the instance metadata service at its fixed address (``http://100.100.100.200``).
    ecs_metadata_endpoint: ServiceEndpoint | None = None

    @field_validator("ram_endpoint", "sts_endpoint", "ecs_metadata_endpoint", mode="before")
    @classmethod
    def _v_service_endpoint(cls, value: object) -> ServiceEndpoint | None:
        if value is None:
            return None
        if isinstance(value, tuple) and len(value) == 2:
            protocol, host = value
            value = f"{protocol}://{host}"
        return parse_service_endpoint(value)

    @property
    def effective_region(self) -> str | None:
        """The explicit region, else the one encoded in the endpoint host (None for custom hosts)."""
        return self.region or region_from_endpoint(self.endpoint)

    @property
    def auth_mode(self) -> AuthMode:
        """How requests are authenticated: the credential source, with ``static`` split by STS token."""
        if self.credential_source != "static":
            return self.credential_source
        if self.role_arn:
            return "assume_role"
        if self.sts_token is not None:
            return "sts_token"
        return "access_key"

    @property
    def uses_access_key(self) -> bool:
        """Whether requests are signed with (or via AssumeRole from) the connection's own AccessKey."""
        return self.credential_source in _ACCESS_KEY_SOURCES

    def secret_values(self) -> tuple[str, ...]:
        """The plain secret strings (for registering with a log masker or scrubbing messages)."""
        values = [self.access_key_secret.get_secret_value()] if self.access_key_secret is not None else []
        if self.sts_token is not None:
            values.append(self.sts_token.get_secret_value())
        return tuple(values)

    def describe(self) -> dict[str, str | None]:
        """A secret-free summary for logs and health reports."""
        return {
            "project": self.project,
            "endpoint": self.endpoint,
            "region": self.effective_region,
            "auth_mode": self.auth_mode,
            "credential_source": self.credential_source,
            "role_arn": self.role_arn,
        }


# --------------------------------------------------------------------------------------------------
# Parsing


def _load_extra(raw: object) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, (str, bytes)):
        try:
            loaded = json.loads(raw)
        except ValueError:
            # Never echo the text: it may contain the STS token.
            raise _conn_error(
                "extra",
                "is not valid JSON",
                'write it as a JSON object such as {"region": "cn-shanghai"}',
            ) from None
        if isinstance(loaded, dict):
            return loaded
    raise _conn_error("extra", "must be a JSON object", 'write it as a JSON object such as {"region": "cn-shanghai"}')


def _normalise_extras(raw: Mapping[str, Any]) -> dict[str, str]:
    """Strip the legacy prefix, reject unknown keys and non-text values, drop empty values."""
    allowed = ", ".join(EXTRA_FIELDS)
    plain: dict[str, Any] = {}
    legacy: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise _conn_error("extra", "has a non-text key", f"use only these keys: {allowed}")
        name = key[len(LEGACY_EXTRA_PREFIX) :] if key.startswith(LEGACY_EXTRA_PREFIX) else key
        if name not in EXTRA_FIELDS:
            import difflib

            close = difflib.get_close_matches(name, list(EXTRA_FIELDS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _conn_error(
                "extra",
                f"has the unknown key {key[:80]!a}{hint}",
                f"remove it; the allowed keys are {allowed}",
            )
        (legacy if name != key else plain)[name] = value
    merged: dict[str, str] = {}
    for name in EXTRA_FIELDS:
        value = plain.get(name)
        old = legacy.get(name)
        if value in (None, "") and old not in (None, ""):
            value = old
        elif value not in (None, "") and old not in (None, "") and old != value:
            raise _conn_error(
                name,
                f"is set twice with different values (as {name!r} and {LEGACY_EXTRA_PREFIX + name!r})",
                f"keep only {name!r} in the extra JSON",
            )
        if value is None:
            continue
        if not isinstance(value, str):
            raise _conn_error(name, f"must be text, got {type(value).__name__}", "give the value as a JSON string")
        value = value.strip()
        if value:
            merged[name] = value
    return merged


_MISSING_FIX: Mapping[str, str] = {
    "login": "paste the RAM user's AccessKey ID (it starts with 'LTAI') into the connection's Login field",
    "password": "paste the RAM user's AccessKey secret into the connection's Password field",
    "host": f"set the connection's Host field to your region's MaxCompute endpoint, e.g. {ENDPOINT_EXAMPLE}",
    "schema": "set the connection's Schema field to your MaxCompute project name, e.g. my_analytics_project",
}


def _required_text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise _conn_error(name, f"must be text, got {type(value).__name__}", _MISSING_FIX[name])
    text = (value or "").strip()
    if not text:
        raise _conn_error(name, "is empty", _MISSING_FIX[name])
    return text


def _readdress(err: ConfigurationError, settings_field: str) -> ConfigurationError:
    """Point a validator's error at the connection field the user has to edit."""
    field = _SOURCE_FIELD.get(settings_field, settings_field)
    return err.for_field(field, label=FIELD_LABELS.get(field), context="Connection field")


def parse_connection(fields: Mapping[str, Any], *, env: Mapping[str, str] | None = None) -> MaxComputeSettings:
    """Validate a connection given as plain fields and derive region and service endpoints.

    :param fields: ``login``, ``password``, ``host``, ``schema``, optional ``port`` and ``extra``
        (a mapping or a JSON string), as stored on an Airflow connection.
    :param env: where the standard ``ALIBABA_CLOUD_*`` defaults of the RRSA and ECS sources are read
        (default: this process's environment, i.e. the worker's pod or instance).
    :raises ConfigurationError: naming the connection field and the fix; never containing a secret.
    """
    secrets: list[str | None] = []
    password = fields.get("password")
    if isinstance(password, str):
        secrets.append(password.strip() or None)
    try:
        extras = _normalise_extras(_load_extra(fields.get("extra")))
        secrets.append(extras.get("sts_token"))
        source = _credential_source(extras)
        host = _required_text(fields, "host")
        project = _required_text(fields, "schema")
        port = fields.get("port")
        if port not in (None, "", 0):
            raise _conn_error("port", "is set but not used", "remove the port and put it into the Endpoint URL instead")

        try:
            endpoint = validate_endpoint_url(host, field="endpoint")
        except ConfigurationError as err:
            raise _readdress(err, "endpoint") from None
        derived_region = region_from_endpoint(endpoint)
        region = extras.get("region")
        if region is not None:
            try:
                region = validate_region(region, field="region")
            except ConfigurationError as err:
                raise _readdress(err, "region") from None
            if derived_region is not None and derived_region != region:
                raise _conn_error(
                    "region",
                    f"is {region!r} but the endpoint is in {derived_region!r}",
                    "use the endpoint of the project's region, or clear the Region field",
                )

        values: dict[str, Any] = {
            "credential_source": source,
            "endpoint": endpoint,
            "project": project,
            "ram_endpoint": extras.get("ram_endpoint") or DEFAULT_RAM_ENDPOINT,
            "sts_endpoint": extras.get("sts_endpoint") or default_sts_endpoint(region or derived_region),
            "region": region,
            "role_arn": extras.get("role_arn"),
            "role_session_name": extras.get("role_session_name") or DEFAULT_ROLE_SESSION_NAME,
            "tunnel_endpoint": extras.get("tunnel_endpoint"),
            "default_schema": extras.get("default_schema"),
            **_source_values(source, fields, extras, os.environ if env is None else env),
        }
        try:
            return MaxComputeSettings(**values)
        except ValidationError as exc:
            raise _from_validation_error(exc) from None
    except ConfigurationError as err:
        raise err.redacted(secrets) from None


def _credential_source(extras: Mapping[str, str]) -> CredentialSourceName:
    """The ``credential_source`` extra; without it, ``assume_role`` when a Role ARN is set, else ``static``."""
    name = extras.get("credential_source")
    if name is None:
        return "assume_role" if extras.get("role_arn") else "static"
    if name not in CREDENTIAL_SOURCES:
        raise _conn_error(
            "credential_source",
            f"is {name[:40]!a}, not a known credential source",
            f"use one of {', '.join(CREDENTIAL_SOURCES)}",
        )
    return name  # type: ignore[return-value]


_SOURCE_EXTRAS: Mapping[str, tuple[str, ...]] = {
    "static": ("sts_token",),
    "assume_role": ("sts_token", "role_arn"),
    "oidc_role_arn": ("role_arn", "oidc_provider_arn", "oidc_token_file"),
    "ecs_ram_role": ("role_arn", "ecs_role_name", "ecs_metadata_endpoint"),
    "default_chain": ("role_arn", "ecs_metadata_endpoint"),
}


def _source_values(
    source: CredentialSourceName, fields: Mapping[str, Any], extras: Mapping[str, str], env: Mapping[str, str]
) -> dict[str, Any]:
    """The settings of one credential source; a value another source would use is refused, not ignored."""
    own = _SOURCE_EXTRAS[source]
    for name in ("sts_token", "oidc_provider_arn", "oidc_token_file", "ecs_role_name", "ecs_metadata_endpoint"):
        if name in extras and name not in own:
            raise _conn_error(name, f"is set but the credential source {source} does not use it", "remove it")
    if source in _ACCESS_KEY_SOURCES:
        values: dict[str, Any] = {
            "access_key_id": _required_text(fields, "login"),
            "access_key_secret": _required_text(fields, "password"),
            "sts_token": extras.get("sts_token"),
        }
        if source == "assume_role" and not extras.get("role_arn"):
            raise _conn_error(
                "role_arn", "is empty", "set the ARN of the role to assume, or use credential_source static"
            )
        return values
    for name in ("login", "password"):
        if str(fields.get(name) or "").strip():
            raise _conn_error(
                name,
                f"is set, but the credential source {source} signs without the connection's AccessKey",
                f"clear {FIELD_LABELS[name]}, or set credential_source to static",
            )
    values = {name: extras.get(name) for name in own}
    for name, variable in ENV_DEFAULTS.get(source, {}).items():
        values[name] = values[name] or env.get(variable) or None
        if values[name] is None and source == "oidc_role_arn":  # RRSA needs all three
            raise _conn_error(
                name,
                f"is empty and {variable} is not set",
                f"set {name} in the connection, or run the worker where RRSA sets {variable}",
            )
    return values


def _from_validation_error(exc: ValidationError) -> ConfigurationError:
    """Turn pydantic's error for the first bad field back into our own, re-addressed error."""
    for item in exc.errors(include_input=False, include_url=False):
        loc = item.get("loc") or ("",)
        settings_field = str(loc[0])
        original = (item.get("ctx") or {}).get("error")
        if isinstance(original, ConfigurationError):
            return _readdress(original, settings_field)
        field = _SOURCE_FIELD.get(settings_field, settings_field)
        return _conn_error(field, f"is invalid ({item.get('msg', 'bad value')})", "correct the value")
    return _conn_error("extra", "is invalid", "check the connection fields")  # pragma: no cover

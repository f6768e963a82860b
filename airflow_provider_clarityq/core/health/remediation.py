"""Turn a MaxCompute / RAM / STS failure into a classified, one-line diagnosis with the exact fix.

Seed 000's troubleshooting section (authentication failed, project not found, permission denied on
tables) made exact:

* ``[4019] You have NO privilege 'odps:<Action>' on {acs:odps:*:projects/<p>[/tables/<t>]}`` (REST form,
  or the ``ODPS-0130013`` SQL form a failed instance carries) becomes the statement that grants exactly
  that: ``GRANT <Action> ON PROJECT <p> TO ROLE <role>;`` or ``GRANT Describe, Select ON TABLE <t> TO ROLE
  <role>;``.
* ``[4002] You don't exist in project <p>`` becomes ``ADD USER RAM$<account>:<uid>;`` followed by seed 000's
  grants, with the caller's real UIDs when they are known.
* ``[4011] ... Explicitly denied by policy`` names the policy to edit (a GRANT would not help).
* Signature mismatch, unknown key, disabled key, expired or invalid STS token name the connection field
  to fix; an unknown project names the Project name and Endpoint fields.
* Connection refused, timeouts, 5xx answers and throttling are ``unreachable`` and retryable.

Works on pyodps and Alibaba SDK exceptions without importing either: it reads class names (the whole
MRO), the ``code`` and ``status_code`` attributes both libraries set, and the message text. Every name
that ends up in a statement is validated first (closed action vocabulary, the identifier validators);
anything that does not validate gets a generic but still actionable fix instead. Secrets passed in the
context are scrubbed from any text taken from an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from airflow_provider_clarityq.core.errors import ClarityQError, ConfigurationError, one_line, redact
from airflow_provider_clarityq.core.health.report import Category
from airflow_provider_clarityq.core.identifiers import (
    parse_principal,
    validate_project_name,
    validate_role_name,
    validate_table_name,
)

__all__ = [
    "DEFAULT_ROLE",
    "OBJECT_ACTIONS",
    "Diagnosis",
    "MissingPrivilege",
    "RemediationContext",
    "canonical_action",
    "diagnose",
    "grant_statement",
    "is_transient",
    "mask_key_id",
    "membership_statements",
    "parse_missing_privilege",
    "render_principal",
    "revoke_actions_statement",
    "revoke_role_statement",
]

DEFAULT_ROLE: Final = "clarityq_reader"
PLACEHOLDER_PRINCIPAL: Final = "RAM$<main-account-uid>:<ram-user-uid>"

#: Object types and their actions (MaxCompute ACL; ``Execute`` is the newer name of ``Run``).
OBJECT_ACTIONS: dict[str, tuple[str, ...]] = {
    "project": ("Read", "Write", "List", "CreateTable", "CreateInstance", "CreateFunction", "CreateResource", "All"),
    "table": ("Describe", "Select", "Alter", "Update", "Drop", "Download", "All"),
    "function": ("Read", "Write", "Delete", "Run", "Execute", "Download", "All"),
    "resource": ("Read", "Write", "Delete", "All"),
    "instance": ("Read", "Write", "All"),
}
_ALL_ACTIONS = {a.lower(): a for actions in OBJECT_ACTIONS.values() for a in actions}

_PRIVILEGE_RE = re.compile(r"NO privilege '(?:odps:)?(?P<action>[A-Za-z*]+)' on \{(?P<resource>[^}]{1,512})\}")
_RESOURCE_PREFIX_RE = re.compile(r"^acs:odps:[^:]*:")
_MEMBERSHIP_RE = re.compile(r"\[4002\]|You don't exist in project")
_POLICY_DENY_RE = re.compile(r"\[4011\]|Explicitly denied by policy", re.IGNORECASE)
_TIP_PRINCIPAL_RE = re.compile(r"Pri(?:n)?cipal:(?P<principal>[A-Za-z]+\$[^;\s]{1,200});")
_PROJECT_STATE_RE = re.compile(r"Project '(?P<project>[^']{1,64})' is (?P<state>[a-z]+)")
_SQL_ERROR_RE = re.compile(r"ODPS-01[23]\d{5}")
_MAX_DETAIL = 240

_TRANSPORT_CLASSES = frozenset(
    {
        "UnretryableException",
        "RetryError",
        "ConnectTimeout",
        "ConnectionError",
        "ReadTimeout",
        "Timeout",
        "WaitTimeoutError",
        "ProxyError",
        "SSLError",
        "ChunkedEncodingError",
        "RemoteDisconnected",
        "ProtocolError",
        "NewConnectionError",
        "MaxRetryError",
    }
)
_SERVER_CLASSES = frozenset({"InternalServerError", "ServiceUnavailable", "ServerException"})
_THROTTLING_CODES = ("Throttling", "RequestLimitExceeded")
_SERVER_CODES = ("ServiceUnavailable", "SystemBusy", "InternalError", "InternalServerError")


@dataclass(frozen=True)
class RemediationContext:
    """What the fix may mention: the connection's project and endpoint, the reader role, the caller."""

    project: str
    endpoint: str
    role: str = DEFAULT_ROLE
    #: The caller as a MaxCompute principal (``RAM$<account>:<uid>``), when known.
    principal: str | None = None
    #: The AccessKey ID in use (not a secret, but only ever shown masked).
    access_key_id: str | None = None
    #: The table the check worked on, if any (for "table not found").
    table: str | None = None
    #: Values to scrub from any text taken from an exception.
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Diagnosis:
    """A classified failure: stable code, category, what broke, and the exact fix."""

    code: str
    category: Category
    message: str
    remediation: str

    @property
    def retryable(self) -> bool:
        return self.category == "unreachable"


@dataclass(frozen=True)
class MissingPrivilege:
    """A ``[4019]``/``[4011]`` denial, parsed. ``object_type`` None means a management action."""

    action: str
    project: str
    object_type: str | None
    object_name: str | None
    denied_by_policy: bool = False


# --------------------------------------------------------------------------------------------------
# Small renderers


def mask_key_id(access_key_id: str | None) -> str:
    """``LTAI5tAbCdEf1234`` -> ``LTAI...1234`` (AccessKey IDs are not secret, but need not be shown)."""
    if not access_key_id:
        return "<none>"
    if len(access_key_id) <= 8:
        return "***"
    return f"{access_key_id[:4]}...{access_key_id[-4:]}"


def canonical_action(action: str, object_type: str | None = None) -> str | None:
    """The canonical spelling of an ACL action (``select`` -> ``Select``), None if unknown for the type."""
    canonical = _ALL_ACTIONS.get(action.lower())
    if canonical is None:
        return None
    if object_type is not None and canonical not in OBJECT_ACTIONS.get(object_type, ()):
        return None
    return canonical


def render_principal(principal: str | None) -> str:
    """A validated principal for a statement (backticks around RAM roles), or seed 000's placeholder."""
    if not principal:
        return PLACEHOLDER_PRINCIPAL
    try:
        parsed = parse_principal(principal.strip("`"))
    except ConfigurationError:
        return PLACEHOLDER_PRINCIPAL
    return f"`{parsed}`" if parsed.kind == "ram_role" else str(parsed)


def _role(role: str) -> str:
    try:
        return validate_role_name(role)
    except ConfigurationError:
        return DEFAULT_ROLE


def grant_statement(missing: MissingPrivilege, role: str = DEFAULT_ROLE) -> str | None:
    """The one GRANT that adds exactly the missing object privilege to the reader role, else None."""
    role = _role(role)
    try:
        project = validate_project_name(missing.project)
    except ConfigurationError:
        return None
    action = canonical_action(missing.action, missing.object_type)
    if action is None:
        return None
    if missing.object_type == "project":
        return f"GRANT {action} ON PROJECT {project} TO ROLE {role};"
    if missing.object_type == "table" and missing.object_name:
        try:
            table = validate_table_name(missing.object_name)
        except ConfigurationError:
            return None
        actions = "Describe, Select" if action in ("Describe", "Select") else action
        return f"GRANT {actions} ON TABLE {table} TO ROLE {role};"
    return None


def membership_statements(project: str, principal: str | None, role: str = DEFAULT_ROLE) -> list[str]:
    """Seed 000 step 3 for this caller: ADD USER first, then the role, its grants and the binding."""
    role = _role(role)
    who = render_principal(principal)
    try:
        project = validate_project_name(project)
    except ConfigurationError:
        project = "<project_name>"
    return [
        f"ADD USER {who};",
        f"CREATE ROLE {role};",
        f"GRANT CreateInstance, List ON PROJECT {project} TO ROLE {role};",
        f"GRANT Describe, Select ON TABLE * TO ROLE {role};",
        f"GRANT {role} TO {who};",
    ]


def revoke_actions_statement(actions: Sequence[str], object_type: str, name: str, grantee: str) -> str | None:
    """``REVOKE <actions> ON <TYPE> <name> FROM ROLE <r>|USER <principal>;`` from validated parts, else None.

    ``grantee`` is ``role/<name>`` or ``user/<principal>`` (the form SHOW GRANTS prints).
    """
    canonical = [canonical_action(a, object_type) for a in actions]
    if not canonical or any(a is None for a in canonical) or object_type not in ("project", "table"):
        return None
    try:
        target = validate_project_name(name) if object_type == "project" else _table_or_pattern(name)
    except ConfigurationError:
        return None
    kind, _, who = grantee.partition("/")
    if kind == "role":
        try:
            subject = f"ROLE {validate_role_name(who)}"
        except ConfigurationError:
            return None
    elif kind == "user":
        rendered = render_principal(who)
        if rendered == PLACEHOLDER_PRINCIPAL:
            return None
        subject = f"USER {rendered}"
    else:
        return None
    listed = ", ".join(dict.fromkeys(a for a in canonical if a is not None))
    return f"REVOKE {listed} ON {object_type.upper()} {target} FROM {subject};"


def revoke_role_statement(role: str, principal: str | None) -> str | None:
    """``REVOKE <role> FROM <principal>;`` for an over-privileged role membership, else None."""
    who = render_principal(principal)
    if who == PLACEHOLDER_PRINCIPAL:
        return None
    try:
        return f"REVOKE {validate_role_name(role)} FROM {who};"
    except ConfigurationError:
        return None


def _quoted_if_odd(name: str) -> str:
    """Echo a plain name as is; quote anything else so it cannot pass for part of a statement."""
    return name if re.fullmatch(r"[A-Za-z0-9_.*/-]{1,128}", name) else ascii(name[:128])


def _table_or_pattern(name: str) -> str:
    """A table name, ``*`` or ``prefix*`` (wildcard grants are revoked with the same pattern)."""
    if name == "*":
        return name
    if name.endswith("*"):
        return validate_table_name(name[:-1]) + "*"
    return validate_table_name(name)


# --------------------------------------------------------------------------------------------------
# Parsing denials


def parse_missing_privilege(text: str) -> MissingPrivilege | None:
    """Read action and object from a ``NO privilege 'odps:<Action>' on {<resource>}`` denial."""
    match = _PRIVILEGE_RE.search(text)
    if match is None:
        return None
    resource = _RESOURCE_PREFIX_RE.sub("", match.group("resource").strip())
    parts = resource.split("/")
    if len(parts) < 2 or parts[0] != "projects" or not parts[1]:
        return None
    project = parts[1]
    rest = parts[2:]
    if len(rest) >= 2 and rest[0] == "schemas":  # three-tier model: projects/<p>/schemas/<s>/tables/<t>
        rest = rest[2:]
    object_type: str | None
    name: str | None = None
    if not rest:
        object_type = "project"
    elif len(rest) == 2 and rest[0] == "tables":
        object_type, name = "table", rest[1]
    elif len(rest) == 3 and rest[:2] == ["registration", "functions"]:
        object_type, name = "function", rest[2]
    elif len(rest) == 2 and rest[0] in ("resources", "instances"):
        object_type, name = rest[0][:-1], rest[1]
    else:
        object_type, name = None, "/".join(rest)  # management actions: roles/<r>, users/..., policies
    return MissingPrivilege(
        action=match.group("action"),
        project=project,
        object_type=object_type,
        object_name=name,
        denied_by_policy=_POLICY_DENY_RE.search(text) is not None,
    )


def _tip_principal(text: str) -> str | None:
    match = _TIP_PRINCIPAL_RE.search(text)
    return match.group("principal") if match else None


# --------------------------------------------------------------------------------------------------
# Classification


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its explicit causes (``raise ... from``); implicit context is not a cause."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return str(code) if code not in (None, "", "None") else ""


def _status(exc: BaseException) -> int | None:
    for attr in ("status_code", "statusCode", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and isinstance(data.get("statusCode"), int):
        status: int = data["statusCode"]
        return status
    return None


def _is_transport(exc: BaseException) -> bool:
    names = _class_names(exc)
    if names & _TRANSPORT_CLASSES:
        return True
    if isinstance(exc, (OSError, TimeoutError)) and not _code(exc):
        return True
    text = str(exc)
    return any(marker in text for marker in ("Connection refused", "Max retries exceeded", "Connection aborted"))


def is_transient(exc: BaseException) -> bool:
    """True when waiting may help: transport errors, 5xx answers, throttling (anywhere in the cause chain)."""
    return any(_transient_kind(e) is not None for e in _chain(exc))


def _transient_kind(exc: BaseException) -> str | None:
    code = _code(exc)
    status = _status(exc)
    names = _class_names(exc)
    if "ThrottlingException" in names or code.startswith(_THROTTLING_CODES) or status == 429:
        return "THROTTLED"
    if names & _SERVER_CLASSES or code.startswith(_SERVER_CODES) or (status is not None and status >= 500):
        return "SERVICE_ERROR"
    if _is_transport(exc):
        return "UNREACHABLE"
    return None


def _detail(exc: BaseException, secrets: Sequence[str]) -> str:
    text = redact(one_line(str(exc)), secrets)
    # Tea SDK messages echo the whole response and, for signature errors, the server's string-to-sign.
    text = text.split(" Response: {", 1)[0].split(" server string to sign is:", 1)[0]
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "..."


def diagnose(exc: BaseException, ctx: RemediationContext, *, missing: str | None = None) -> Diagnosis:
    """Classify one exception raised while checking the connection; never raises, never leaks a secret.

    ``missing="project"`` / ``"table"`` says what a bare 404 (``NoSuchObject`` without details) can only
    mean for the call that failed.
    """
    secrets = list(ctx.secrets)
    detail = _detail(exc, secrets)
    for link in _chain(exc):
        kind = _transient_kind(link)
        if kind is not None:
            transient = _transient(kind, link, ctx, _detail(link, secrets))
            return Diagnosis(
                transient.code, transient.category, transient.message, redact(transient.remediation, secrets)
            )
    if isinstance(exc, ConfigurationError):
        problem = f"{exc.context} {exc.subject} {exc.problem}"
        return Diagnosis("CONNECTION_INVALID", "config", redact(problem, secrets), redact(exc.fix, secrets))
    if "AirflowNotFoundException" in _class_names(exc):
        return Diagnosis(
            "CONNECTION_NOT_FOUND",
            "config",
            f"the Airflow connection is not defined ({detail})",
            "run the DAG clarityq_provision_access first (it creates the reader's connection, clarityq_reader, "
            "with a new, verified AccessKey), or create it yourself (Admin -> Connections, `airflow connections "
            "add`, or an AIRFLOW_CONN_<ID> variable) with type clarityq_maxcompute and the reader's AccessKey.",
        )
    if "CredentialsError" in _class_names(exc):
        return Diagnosis(
            "ASSUME_ROLE_FAILED",
            "config",
            f"authentication failed: {detail}",
            "fix the connection's Role ARN (role_arn) or the role's trust policy, or clear role_arn to use the "
            "AccessKey directly.",
        )
    if isinstance(exc, ClarityQError):
        return Diagnosis("CONFIGURATION_ERROR", "config", detail, "fix the setting named in the message.")
    found = (
        _authentication(exc, ctx, detail)
        or _permission(exc, ctx, detail)
        or _not_found(exc, ctx, detail, missing)
        or _unexpected(exc, detail)
    )
    # Names parsed out of a server message are echoed back: scrub once more at the end.
    return Diagnosis(found.code, found.category, redact(found.message, secrets), redact(found.remediation, secrets))


def _transient(kind: str, exc: BaseException, ctx: RemediationContext, detail: str) -> Diagnosis:
    if kind == "THROTTLED":
        return Diagnosis(
            "THROTTLED",
            "unreachable",
            f"the service is throttling requests ({detail})",
            "wait and retry; if it persists, lower the check frequency or ask Alibaba Cloud to raise the API quota.",
        )
    if kind == "SERVICE_ERROR":
        return Diagnosis(
            "SERVICE_ERROR",
            "unreachable",
            f"the service answered with a server error ({detail})",
            "transient on Alibaba Cloud's side: wait and retry; check the Alibaba Cloud status page if it persists.",
        )
    return Diagnosis(
        "UNREACHABLE",
        "unreachable",
        f"cannot reach the service ({type(exc).__name__}: {detail})",
        f"check that Endpoint (host) {ctx.endpoint} is reachable from the Airflow workers (DNS, firewall, proxy, "
        "VPC vs public endpoint), then retry.",
    )


def _authentication(exc: BaseException, ctx: RemediationContext, detail: str) -> Diagnosis | None:
    names = _class_names(exc)
    code = _code(exc)
    text = str(exc)
    key = mask_key_id(ctx.access_key_id)
    if {"SignatureNotMatch", "SignatureDoesNotMatch"} & names or code.startswith(
        ("SignatureNotMatch", "SignatureDoesNotMatch", "InvalidAccessKeySecret")
    ):
        return Diagnosis(
            "AUTH_SIGNATURE_MISMATCH",
            "config",
            f"authentication failed: the AccessKey Secret does not belong to AccessKey ID {key} (signature mismatch)",
            "set the connection's AccessKey Secret (password) to the secret created together with this AccessKey "
            "ID; it is shown only once, so if it is lost create a new AccessKey for the RAM user in the RAM console "
            "and update AccessKey ID (login) and AccessKey Secret (password).",
        )
    if code.startswith("InvalidAccessKeyId.Inactive") or "accessKeyId is disabled" in text:
        return Diagnosis(
            "AUTH_KEY_DISABLED",
            "config",
            f"authentication failed: AccessKey ID {key} is disabled",
            "enable it in the RAM console (Users -> the RAM user -> AccessKey -> Enable), or put an active AccessKey "
            "into AccessKey ID (login) and AccessKey Secret (password).",
        )
    if code.startswith("InvalidAccessKeyId") or "accessKeyId not found" in text:
        return Diagnosis(
            "AUTH_KEY_NOT_FOUND",
            "config",
            f"authentication failed: AccessKey ID {key} does not exist",
            "set AccessKey ID (login) to the RAM user's AccessKey ID from the RAM console (Users -> the RAM user -> "
            "AccessKey; the key may have been deleted: then create one with Permanent AccessKey enabled and update "
            "login and password).",
        )
    if (
        "AuthenticationRequestExpired" in names
        or code.startswith(("InvalidSecurityToken.Expired", "AuthenticationRequestExpired"))
        or "security token expired" in text
    ):
        return Diagnosis(
            "AUTH_TOKEN_EXPIRED",
            "config",
            "authentication failed: the STS security token has expired",
            "put a fresh token into the connection's STS security token (sts_token) extra, set role_arn so tokens "
            "are refreshed automatically, or use the RAM user's permanent AccessKey without sts_token.",
        )
    if code.startswith(("InvalidSecurityToken", "MissingSecurityToken")) or "invalid security token" in text:
        return Diagnosis(
            "AUTH_TOKEN_INVALID",
            "config",
            "authentication failed: the STS security token is missing or does not match the AccessKey",
            "the STS security token (sts_token) extra must be the token issued with this temporary AccessKey "
            "(ID starting with 'STS.'); for a permanent RAM AccessKey leave sts_token empty.",
        )
    if "RequestTimeTooSkewed" in names or code.startswith(("RequestTimeTooSkewed", "InvalidTimeStamp")):
        return Diagnosis(
            "CLOCK_SKEW",
            "config",
            "authentication failed: the request time is too far from the server's",
            "synchronise the Airflow workers' clocks (NTP).",
        )
    if {"Unauthorized", "AuthorizationRequired"} & names or code.startswith(
        ("Unauthorized", "AuthorizationRequired", "IncompleteSignature", "InvalidAuthorization")
    ):
        return Diagnosis(
            "AUTH_REJECTED",
            "config",
            f"authentication failed ({detail})",
            "check AccessKey ID (login) and AccessKey Secret (password): the key must exist, be active, and belong "
            "to the RAM user with Permanent AccessKey enabled.",
        )
    return None


def _permission(exc: BaseException, ctx: RemediationContext, detail: str) -> Diagnosis | None:
    text = str(exc)
    code = _code(exc)
    names = _class_names(exc)
    principal = ctx.principal or _tip_principal(text)
    who = render_principal(principal)
    if _MEMBERSHIP_RE.search(text):
        statements = " ".join(membership_statements(ctx.project, principal, ctx.role))
        return Diagnosis(
            "NOT_A_PROJECT_MEMBER",
            "permission",
            f"permission denied: {who} has not been added to project {ctx.project} ([4002])",
            f"as the project owner run, in project {ctx.project}: {statements} "
            f"(skip CREATE ROLE and the two role GRANTs if {_role(ctx.role)} already exists).",
        )
    missing = parse_missing_privilege(text)
    if missing is not None:
        target = (
            f"project {missing.project}"
            if missing.object_type == "project"
            else f"{missing.object_type or 'object'} {_quoted_if_odd(missing.object_name or '')}"
        )
        prefix = "permission denied on tables" if missing.object_type == "table" else "permission denied"
        if missing.denied_by_policy:
            where = "GET POLICY; and GET POLICY ON ROLE <role>;"
            return Diagnosis(
                "DENIED_BY_POLICY",
                "permission",
                f"{prefix}: a security policy explicitly denies 'odps:{missing.action}' on {target} to {who} ([4011])",
                f"a Deny statement wins over any GRANT: the project owner must remove or narrow the Deny for "
                f"odps:{missing.action} (find it with {where}) and check label-based security on the table.",
            )
        grant = grant_statement(missing, ctx.role)
        if grant is None:
            return Diagnosis(
                "MISSING_PRIVILEGE",
                "permission",
                f"{prefix}: {who} has no 'odps:{missing.action}' on {target} ([4019])",
                f"as the project owner grant odps:{missing.action} on {target} to role {_role(ctx.role)}.",
            )
        role = _role(ctx.role)
        return Diagnosis(
            "MISSING_PRIVILEGE",
            "permission",
            f"{prefix}: {who} has no 'odps:{missing.action}' on {target} ([4019])",
            f"as the project owner run: {grant} (if {role} already holds it, the user lacks the role: "
            f"GRANT {role} TO {who};)",
        )
    state = _PROJECT_STATE_RE.search(text)
    if state is not None:
        return Diagnosis(
            "PROJECT_UNAVAILABLE",
            "config",
            f"project {ctx.project} is {state.group('state')}",
            "ask the project owner to bring the project back to AVAILABLE (a frozen project usually has an overdue "
            "payment).",
        )
    if "NoPermission" in names or code.startswith(("NoPermission", "Forbidden", "AccessDenied")):
        return Diagnosis(
            "ACCESS_DENIED",
            "permission",
            f"permission denied ({detail})",
            f"make sure ADD USER {who}; was run in project {ctx.project} before the grants, that the user holds "
            f"role {_role(ctx.role)} (GRANT {_role(ctx.role)} TO {who};), and that no security policy or label-based "
            "security restricts it.",
        )
    return None


def _not_found(exc: BaseException, ctx: RemediationContext, detail: str, missing: str | None) -> Diagnosis | None:
    names = _class_names(exc)
    text = str(exc)
    code = _code(exc)
    bare_404 = "NoSuchObject" in names and not ({"NoSuchProject", "NoSuchTable"} & names)
    if (
        "NoSuchProject" in names
        or code.startswith("NoSuchProject")
        or "ODPS-0420111" in text
        or (bare_404 and missing == "project")
    ):
        return Diagnosis(
            "PROJECT_NOT_FOUND",
            "config",
            f"project not found: there is no project {ctx.project!r} at {ctx.endpoint}",
            "check Project name (schema): it is case-sensitive; check that Endpoint (host) is the endpoint of the "
            "region the project was created in (https://service.<region>.maxcompute.aliyun.com/api); the RAM user "
            "must also be added to the project (ADD USER).",
        )
    table_missing = "NoSuchTable" in names or "ODPS-0130131" in text or "Table not found" in text
    if table_missing or (bare_404 and missing == "table"):
        table = ctx.table or "the table"
        return Diagnosis(
            "TABLE_NOT_FOUND",
            "config",
            f"table not found: {table} does not exist in project {ctx.project} ({detail})",
            "fix the table name passed to the check (parameter `table`), or create the table.",
        )
    if _SQL_ERROR_RE.search(text) or "ParseError" in names or code.startswith("ODPS-0130"):
        return Diagnosis("SQL_ERROR", "config", f"the query failed to compile or run ({detail})", "fix the SQL.")
    return None


def _unexpected(exc: BaseException, detail: str) -> Diagnosis:
    return Diagnosis(
        "UNEXPECTED_ERROR",
        "system",
        f"unexpected {type(exc).__name__}: {detail}",
        "not a known MaxCompute/RAM/STS failure: read the task log for the traceback; if it names a connection "
        "field or a privilege, fix that, otherwise report it.",
    )

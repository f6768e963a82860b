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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from airflow_provider_clarityq.core.alibaba.failures import causes, failure_of
from airflow_provider_clarityq.core.defaults import DEFAULT_ROLE
from airflow_provider_clarityq.core.errors import ClarityQError, ConfigurationError, one_line, redact
from airflow_provider_clarityq.core.grants import render
from airflow_provider_clarityq.core.grants.model import (
    Grantee,
    ObjectRef,
    ProjectAction,
    TableAction,
    canonical_action,
)
from airflow_provider_clarityq.core.health.audit import PLACEHOLDER_PRINCIPAL
from airflow_provider_clarityq.core.health.report import Category
from airflow_provider_clarityq.core.health.restrictions import restriction_finding
from airflow_provider_clarityq.core.identifiers import validate_role_name

__all__ = [
    "DEFAULT_ROLE",
    "Diagnosis",
    "MissingPrivilege",
    "RemediationContext",
    "diagnose",
    "grant_statement",
    "mask_key_id",
    "membership_statements",
    "parse_missing_privilege",
    "shown_principal",
]


_PRIVILEGE_RE = re.compile(r"NO privilege '(?:odps:)?(?P<action>[A-Za-z*]+)' on \{(?P<resource>[^}]{1,512})\}")
_RESOURCE_PREFIX_RE = re.compile(r"^acs:odps:[^:]*:")
_MEMBERSHIP_RE = re.compile(r"\[4002\]|You don't exist in project")
_POLICY_DENY_RE = re.compile(r"\[4011\]|Explicitly denied by policy", re.IGNORECASE)
_TIP_PRINCIPAL_RE = re.compile(r"Pri(?:n)?cipal:(?P<principal>[A-Za-z]+\$[^;\s]{1,200});")
_PROJECT_STATE_RE = re.compile(r"Project '(?P<project>[^']{1,64})' is (?P<state>[a-z]+)")
_SQL_ERROR_RE = re.compile(r"ODPS-01[23]\d{5}")
_MAX_DETAIL = 240


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


def shown_principal(principal: str | None) -> str:
    """A validated principal for a statement (backticks around RAM roles), or seed 000's placeholder."""
    if not principal:
        return PLACEHOLDER_PRINCIPAL
    try:
        return render.render_principal(principal.strip("`"))
    except ConfigurationError:
        return PLACEHOLDER_PRINCIPAL


def _role(role: str) -> str:
    try:
        return validate_role_name(role)
    except ConfigurationError:
        return DEFAULT_ROLE


def grant_statement(missing: MissingPrivilege, role: str = DEFAULT_ROLE) -> str | None:
    """The one GRANT that adds exactly the missing object privilege to the reader role, else None.

    A missing ``Describe`` or ``Select`` on a table grants both (seed 000's pair).
    """
    action = canonical_action(missing.action, missing.object_type)
    reader = Grantee.role(_role(role))
    try:
        if missing.object_type == "project" and action is not None:
            obj = ObjectRef.for_project(missing.project)
            actions: tuple[ProjectAction | TableAction, ...] = (ProjectAction(action),)
        elif missing.object_type == "table" and action is not None and missing.object_name:
            obj = ObjectRef.for_table(missing.project, missing.object_name)
            pair = action in ("Describe", "Select")
            actions = (TableAction.DESCRIBE, TableAction.SELECT) if pair else (TableAction(action),)
        else:
            return None
        return render.as_sql(render.grant_statement(reader, obj, actions, project=obj.project))
    except (ConfigurationError, ValueError):
        return None


def membership_statements(project: str, principal: str | None, role: str = DEFAULT_ROLE) -> list[str]:
    """Seed 000 step 3 for this caller: ADD USER first, then the role, its grants and the binding."""
    role = _role(role)
    who = shown_principal(principal)
    reader = Grantee.role(role)
    try:
        project_ref = ObjectRef.for_project(project)
        project_grant = render.grant_statement(
            reader, project_ref, (ProjectAction.CREATE_INSTANCE, ProjectAction.LIST), project=project_ref.project
        )
        tables = ObjectRef.for_table(project_ref.project, "*")
        table_grant = render.grant_statement(
            reader, tables, (TableAction.DESCRIBE, TableAction.SELECT), project=project_ref.project
        )
    except ConfigurationError:
        project_grant = f"GRANT CreateInstance, List ON PROJECT <project_name> TO ROLE {role}"
        table_grant = f"GRANT Describe, Select ON TABLE * TO ROLE {role}"
    return [
        render.as_sql(f"ADD USER {who}"),
        render.as_sql(render.create_role_statement(role)),
        render.as_sql(project_grant),
        render.as_sql(table_grant),
        render.as_sql(f"GRANT {role} TO {who}"),
    ]


def _quoted_if_odd(name: str) -> str:
    """Echo a plain name as is; quote anything else so it cannot pass for part of a statement."""
    return name if re.fullmatch(r"[A-Za-z0-9_.*/-]{1,128}", name) else ascii(name[:128])


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


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return str(code) if code not in (None, "", "None") else ""


#: The diagnosis code of each kind of transient failure (core.alibaba.failures decides the kind).
_TRANSIENT_CODES = {"throttled": "THROTTLED", "server_error": "SERVICE_ERROR", "no_answer": "UNREACHABLE"}


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
    for link in causes(exc):
        kind = failure_of(link).kind
        if kind is not None:
            transient = _transient(_TRANSIENT_CODES[kind], link, ctx, _detail(link, secrets))
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
        fix = getattr(exc, "fix", None) or (
            "fix the connection's Role ARN (role_arn) or the role's trust policy, or clear role_arn to use the "
            "AccessKey directly."
        )
        return Diagnosis(
            str(getattr(exc, "diagnosis", None) or "ASSUME_ROLE_FAILED"),
            "config",
            f"authentication failed: {detail}",
            redact(fix, secrets),
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


@dataclass(frozen=True)
class _AuthRule:
    """How one authentication failure is recognised (SDK class names, error-code prefixes, message phrases) and
    explained (``{key}``: the masked AccessKey ID, ``{detail}``: the server's words)."""

    code: str
    names: frozenset[str]
    prefixes: tuple[str, ...]
    phrases: tuple[str, ...]
    message: str
    fix: str

    def matches(self, names: set[str], code: str, text: str) -> bool:
        return bool(self.names & names) or code.startswith(self.prefixes) or any(p in text for p in self.phrases)


_AUTH_RULES: Final = (
    _AuthRule(
        "AUTH_SIGNATURE_MISMATCH",
        frozenset({"SignatureNotMatch", "SignatureDoesNotMatch"}),
        ("SignatureNotMatch", "SignatureDoesNotMatch", "InvalidAccessKeySecret"),
        (),
        "authentication failed: the AccessKey Secret does not belong to AccessKey ID {key} (signature mismatch)",
        "set the connection's AccessKey Secret (password) to the secret created together with this AccessKey "
        "ID; it is shown only once, so if it is lost create a new AccessKey for the RAM user in the RAM console "
        "and update AccessKey ID (login) and AccessKey Secret (password).",
    ),
    _AuthRule(
        "AUTH_KEY_DISABLED",
        frozenset(),
        ("InvalidAccessKeyId.Inactive",),
        ("accessKeyId is disabled",),
        "authentication failed: AccessKey ID {key} is disabled",
        "enable it in the RAM console (Users -> the RAM user -> AccessKey -> Enable), or put an active AccessKey "
        "into AccessKey ID (login) and AccessKey Secret (password).",
    ),
    _AuthRule(
        "AUTH_KEY_NOT_FOUND",
        frozenset(),
        ("InvalidAccessKeyId",),
        ("accessKeyId not found",),
        "authentication failed: AccessKey ID {key} does not exist",
        "set AccessKey ID (login) to the RAM user's AccessKey ID from the RAM console (Users -> the RAM user -> "
        "AccessKey; the key may have been deleted: then create one with Permanent AccessKey enabled and update "
        "login and password).",
    ),
    _AuthRule(
        "AUTH_TOKEN_EXPIRED",
        frozenset({"AuthenticationRequestExpired"}),
        ("InvalidSecurityToken.Expired", "AuthenticationRequestExpired"),
        ("security token expired",),
        "authentication failed: the STS security token has expired",
        "put a fresh token into the connection's STS security token (sts_token) extra, set role_arn so tokens "
        "are refreshed automatically, or use the RAM user's permanent AccessKey without sts_token.",
    ),
    _AuthRule(
        "AUTH_TOKEN_INVALID",
        frozenset(),
        ("InvalidSecurityToken", "MissingSecurityToken"),
        ("invalid security token",),
        "authentication failed: the STS security token is missing or does not match the AccessKey",
        "the STS security token (sts_token) extra must be the token issued with this temporary AccessKey "
        "(ID starting with 'STS.'); for a permanent RAM AccessKey leave sts_token empty.",
    ),
    _AuthRule(
        "CLOCK_SKEW",
        frozenset({"RequestTimeTooSkewed"}),
        ("RequestTimeTooSkewed", "InvalidTimeStamp"),
        (),
        "authentication failed: the request time is too far from the server's",
        "synchronise the Airflow workers' clocks (NTP).",
    ),
    _AuthRule(
        "AUTH_REJECTED",
        frozenset({"Unauthorized", "AuthorizationRequired"}),
        ("Unauthorized", "AuthorizationRequired", "IncompleteSignature", "InvalidAuthorization"),
        (),
        "authentication failed ({detail})",
        "check AccessKey ID (login) and AccessKey Secret (password): the key must exist, be active, and belong "
        "to the RAM user with Permanent AccessKey enabled.",
    ),
)


def _authentication(exc: BaseException, ctx: RemediationContext, detail: str) -> Diagnosis | None:
    """The first authentication rule that matches, in order (specific codes before their prefixes)."""
    names, code, text = _class_names(exc), _code(exc), str(exc)
    for rule in _AUTH_RULES:
        if rule.matches(names, code, text):
            message = rule.message.format(key=mask_key_id(ctx.access_key_id), detail=detail)
            return Diagnosis(rule.code, "config", message, rule.fix)
    return None


def _permission(exc: BaseException, ctx: RemediationContext, detail: str) -> Diagnosis | None:
    text = str(exc)
    code = _code(exc)
    names = _class_names(exc)
    principal = ctx.principal or _tip_principal(text)
    who = shown_principal(principal)
    found = restriction_finding(text, project=ctx.project, role=ctx.role, who=principal or who)
    if found is not None:
        return Diagnosis(found.code, found.category, found.message, found.remediation)  # type: ignore[arg-type]
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

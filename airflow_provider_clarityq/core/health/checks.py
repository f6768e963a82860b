"""The health checks: seed 000 step 6 plus a least-privilege audit and key hygiene (no Airflow import).

Each check is a small function over the narrow :class:`Probe` protocol (implemented for real in
:mod:`.probe` over pyodps and the Alibaba SDKs; tests pass a plain fake). :func:`run_health_checks`
runs them as a small dependency graph: a check starts once the checks it needs passed (or warned),
independent checks run concurrently in a thread pool, and a check whose prerequisite failed is
reported ``skipped`` with code ``BLOCKED`` rather than failing a second time for the same reason.

=====================  ======================================================  ====================
check                  what it does (requests on a healthy run)                 needs
=====================  ======================================================  ====================
authentication         STS GetCallerIdentity (1); if STS is unreachable,        -
                       MaxCompute ``WHOAMI`` instead (the key is valid if
                       MaxCompute accepts its signature)
project_accessible     ``GET /projects/<p>`` (1): membership, existence         authentication
metadata_discoverable  list tables, first page (1) + describe one (1)           project_accessible
query_works            ``SELECT * FROM <t> LIMIT 1`` (submit, status,           metadata_discoverable
                       result: 3; +1 to read a partition when partitioned)
least_privilege        ``SHOW GRANTS`` (1): no write or admin action            project_accessible
key_hygiene            RAM ListAccessKeys + GetAccessKeyLastUsed (<= 3):        authentication
                       key age, a second key, last use
=====================  ======================================================  ====================

The four seed checks take 7 requests on a healthy run. A brand-new pyodps client adds up to two one-off
lookups (its logview host, cached per endpoint and process; the tenant, cached per client), so the very
first run of a new client can take 9; a hook, sensor or trigger reuses its client. least_privilege and
key_hygiene run concurrently with the seed checks.

Query check and the full-scan guard: a real project refuses a query on a partitioned table without a
partition predicate (``odps.sql.allow.fullscan=false``), although the emulator does not enforce it.
So the table described by ``metadata_discoverable`` is queried as is when it is not partitioned, and
otherwise with a predicate on its first partition (or, for a table without partitions, on a value no
partition has, which still proves ``Select``). Pass ``table=`` to pick the table, e.g. when ClarityQ is
granted only specific tables (seed 000's per-table variant).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from airflow_provider_clarityq.core.alibaba.failures import is_transient
from airflow_provider_clarityq.core.alibaba.identity import CallerIdentity
from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants.model import Grantee
from airflow_provider_clarityq.core.grants.parse import StateParseError, parse_show_grants, parse_show_label_grants
from airflow_provider_clarityq.core.health.audit import audit_grants, audit_label_clearance, explain_roles
from airflow_provider_clarityq.core.health.options import HealthOptions, ValidationQuery
from airflow_provider_clarityq.core.health.protocol import AccessKeyInfo, Probe, ProjectInfo, TableInfo
from airflow_provider_clarityq.core.health.remediation import (
    Diagnosis,
    RemediationContext,
    diagnose,
    mask_key_id,
)
from airflow_provider_clarityq.core.health.report import Category, Status, format_timestamp
from airflow_provider_clarityq.core.identifiers import validate_table_name

__all__ = ["BUILTIN_CHECKS", "CheckSpec", "CheckState", "Outcome", "probe_query", "validation_spec"]

_PARTITION_SENTINEL: Final = "__clarityq_health_probe__"
_SAFE_LITERAL_RE = re.compile(r"[A-Za-z0-9_.:/ -]{0,128}")
_NULL_TEXT: Final = "\\N"


# --------------------------------------------------------------------------------------------------
# Check plumbing


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; the runner adds name and duration."""

    status: Status
    code: str
    message: str
    remediation: str | None = None
    category: Category | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, diagnosis: Diagnosis, **details: Any) -> Outcome:
        return cls("fail", diagnosis.code, diagnosis.message, diagnosis.remediation, diagnosis.category, details)


@dataclass
class CheckState:
    """Shared by the checks of one run; a check only reads what its prerequisites wrote."""

    options: HealthOptions
    ctx: RemediationContext
    now: datetime
    identity: CallerIdentity | None = None
    project_info: ProjectInfo | None = None
    tables: list[str] = field(default_factory=list)
    table: TableInfo | None = None


CheckFunction = Callable[[Probe, CheckState], Outcome]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    needs: tuple[str, ...]
    run: CheckFunction
    #: What a bare 404 during this check can only mean (see remediation.diagnose).
    missing: str | None = None


# --------------------------------------------------------------------------------------------------
# The checks


def check_authentication(probe: Probe, state: CheckState) -> Outcome:
    """Seed 000: "Alibaba Cloud authentication succeeds" (credentials obtained first: a bad source fails here)."""
    credential = probe.credential_info()
    source = {"credential_source": credential.source, "credentials_expire_at": None}
    obtained = f"credentials from {credential.source}"
    if credential.expires_at is not None:
        source["credentials_expire_at"] = format_timestamp(credential.expires_at)
        obtained += f", temporary, expiring {source['credentials_expire_at']}"
    via = "STS GetCallerIdentity"
    try:
        identity: CallerIdentity | None = probe.caller_identity()
    except Exception as exc:
        if not is_transient(exc):
            raise
        sts_problem = diagnose(exc, state.ctx).message
        identity, via = _identity_from_maxcompute(probe, state), f"MaxCompute (STS unavailable: {sts_problem})"
    if identity is None:
        return Outcome(
            "pass",
            "OK",
            f"the credentials are valid: MaxCompute accepted their signature (via {via}; {obtained})",
            details=source,
        )
    state.identity = identity
    state.ctx = replace(state.ctx, principal=identity.principal)
    details = {
        "principal": identity.principal,
        "identity_type": identity.identity_type,
        "via": via.split(" (")[0],
        **source,
    }
    return Outcome("pass", "OK", f"authenticated as {identity.describe()} via {via} ({obtained})", details=details)


def _identity_from_maxcompute(probe: Probe, state: CheckState) -> CallerIdentity | None:
    """STS is unreachable: the key is valid if MaxCompute accepts its signature (even as a non-member)."""
    try:
        me = probe.whoami()
    except Exception as exc:
        if diagnose(exc, state.ctx).code != "NOT_A_PROJECT_MEMBER":
            raise
        return None
    display = me.display_name
    try:
        if display.upper().startswith("ALIYUN$"):
            return CallerIdentity(display.split("$", 1)[1], "Account", user_id=me.id)
        account, _, user = display.partition("$")[2].partition(":")
        if user.lower().startswith("role/"):
            arn = f"acs:ram::{account}:assumed-role/{user[5:]}/"
            return CallerIdentity(account, "AssumedRoleUser", arn, user_id=me.id)
        return CallerIdentity(account, "RAMUser", user_id=me.id)
    except ConfigurationError:  # an answer of an unknown shape: the signature was accepted, that is all
        return None


def check_project(probe: Probe, state: CheckState) -> Outcome:
    """Seed 000: "MaxCompute project is accessible" (membership, existence, state)."""
    info = probe.get_project()
    state.project_info = info
    owner = f" (owner {info.owner})" if info.owner else ""
    return Outcome(
        "pass",
        "OK",
        f"project {info.name} is accessible at {probe.endpoint}{owner}",
        details={"project": info.name, "owner": info.owner},
    )


def check_metadata(probe: Probe, state: CheckState) -> Outcome:
    """Seed 000: "Table metadata can be discovered" (list tables, describe one)."""
    options = state.options
    names = probe.list_tables(options.list_limit)
    state.tables = names
    target = options.table or next((n for n in names if _valid_table_name(n)), None)
    if target is None:
        return Outcome(
            "warn",
            "NO_TABLES",
            f"project {probe.project} lists no tables: ClarityQ would have nothing to read",
            f"create the tables ClarityQ should read in project {probe.project}, or point the connection's Project "
            "name (schema) at the project that has them.",
        )
    state.ctx = replace(state.ctx, table=target)
    info = probe.describe_table(target)
    state.table = info
    partitioned = f", partitioned by {', '.join(c.name for c in info.partition_keys)}" if info.partition_keys else ""
    listed = f"listed {len(names)} table(s){' (first page)' if len(names) >= options.list_limit else ''}"
    return Outcome(
        "pass",
        "OK",
        f"{listed}; described {info.name}: {len(info.columns)} column(s){partitioned}",
        details={
            "tables_listed": len(names),
            "sample": names[:20],
            "described": info.name,
            "columns": [c.name for c in info.columns],
            "partition_keys": [c.name for c in info.partition_keys],
        },
    )


def check_query(probe: Probe, state: CheckState) -> Outcome:
    """Seed 000: "Query execution works correctly" (a bounded SELECT on a real table)."""
    info = state.table
    if info is None:
        return Outcome("skipped", "NO_TABLE", "no table to query (metadata_discoverable found none)")
    partition = probe.first_partition(info.name) if info.partition_keys else None
    sql = probe_query(info, partition)
    state.ctx = replace(state.ctx, table=info.name)
    result = probe.run_query(sql)
    details: dict[str, Any] = {"sql": sql, "rows": len(result.rows), "columns": len(result.columns)}
    message = f"SELECT on {info.name} returned {len(result.rows)} row(s) with {len(result.columns)} column(s)"
    if state.project_info is None or not state.project_info.download_control:
        return Outcome("pass", "OK", message, details=details)
    details["download_control"] = True
    try:
        probe.open_download(info.name, partition)
    except Exception as exc:
        if is_transient(exc):
            raise
        diagnosis = diagnose(exc, state.ctx)
        return Outcome(
            "warn",
            "DOWNLOAD_NOT_GRANTED",
            f"{message}, but project {probe.project} has download control on and the Tunnel download of "
            f"{info.name} was refused: ClarityQ's bulk reads fail and SQL results stop at 10,000 rows "
            f"({diagnosis.message})",
            f"{diagnosis.remediation} Or set download: true in the access spec.",
            details=details,
        )
    return Outcome(
        "pass", "OK", f"{message}; download control is on and the Tunnel download is granted", details=details
    )


def probe_query(table: TableInfo, partition: Mapping[str, str] | None = None) -> str:
    """``SELECT * FROM `t` LIMIT 1``, with a partition predicate for partitioned tables (full-scan guard)."""
    name = validate_table_name(table.name)
    if not table.partition_keys:
        return f"SELECT * FROM `{name}` LIMIT 1"  # noqa: S608 - validated identifier
    spec: dict[str, str] = {}
    keys = [validate_table_name(c.name, field="partition_key") for c in table.partition_keys]
    if partition:
        lowered = {str(k).lower(): v for k, v in partition.items()}
        if all(k in lowered and _SAFE_LITERAL_RE.fullmatch(str(lowered[k])) for k in keys):
            spec = {k: str(lowered[k]) for k in keys}
    if not spec:
        spec = {keys[0]: _PARTITION_SENTINEL}
    where = " AND ".join(f"`{k}` = '{v}'" for k, v in spec.items())
    return f"SELECT * FROM `{name}` WHERE {where} LIMIT 1"  # noqa: S608 - validated identifiers, safe literals


def _valid_table_name(name: str) -> bool:
    try:
        validate_table_name(name)
    except ConfigurationError:
        return False
    return True


def check_least_privilege(probe: Probe, state: CheckState) -> Outcome:
    """The reader holds only read actions: no write action, no admin role (reference section 8)."""
    identity = state.identity
    if identity is not None and identity.identity_type == "Account":
        return Outcome(
            "warn",
            "MAIN_ACCOUNT_KEY",
            f"the connection uses the main account's AccessKey ({identity.principal}), which owns the project and "
            "can change or delete anything",
            f"follow seed 000 steps 2-3: create RAM user clarityq with a permanent AccessKey, add it to project "
            f"{probe.project} with role {state.options.role}, put its key into AccessKey ID (login) and AccessKey "
            "Secret (password), then disable the main account's AccessKey.",
        )
    try:
        raw = probe.show_grants()
    except Exception as exc:
        if is_transient(exc):
            raise
        diagnosis = diagnose(exc, state.ctx)
        return Outcome("skipped", "AUDIT_UNAVAILABLE", f"SHOW GRANTS failed, audit skipped: {diagnosis.message}")
    principal = state.ctx.principal
    try:
        owner = Grantee.user(principal) if principal else None
    except ConfigurationError:
        owner = None
    try:
        report = parse_show_grants(raw, owner, project=probe.project)
    except StateParseError as err:
        return Outcome("skipped", "GRANTS_UNREADABLE", f"SHOW GRANTS answered in an unknown shape ({err})")
    findings = audit_grants(report, role=state.options.role, principal=principal, project=probe.project)
    user_label = _own_label(probe)
    clearance = audit_label_clearance(user_label, state.options.label_access_level, principal=principal)
    findings += [clearance] if clearance is not None else []
    details = {
        "roles": sorted(report.roles),
        "roles_explained": explain_roles(sorted(report.roles), role=state.options.role),
        "label_access_level": user_label,
        "grants": [line.to_dict() for line in report.lines],
        "findings": [{"grant": f.what, "fix": f.fix} for f in findings],
    }
    if not findings:
        held = sorted({f"{a} on {ln.object_type}" for ln in report.lines if ln.effect == "Allow" for a in ln.actions})
        return Outcome(
            "pass",
            "OK",
            f"read access only: roles {', '.join(sorted(report.roles)) or 'none'}; "
            f"{'; '.join(held) or 'no ACL entries'}",
            details=details,
        )
    who = principal or "the reader"
    return Outcome(
        "warn",
        "EXCESS_PRIVILEGES",
        f"{who} holds more than read access: {'; '.join(f.what for f in findings)}",
        "as the project owner run: " + " ".join(dict.fromkeys(f.fix for f in findings)),
        details=details,
    )


def _own_label(probe: Probe) -> int | None:
    """The reader's label access level, or None where label security cannot be read (not a reason to fail)."""
    try:
        level, _ = parse_show_label_grants(probe.show_label_grants())
    except Exception as exc:
        if is_transient(exc):
            raise
        return None
    return level


def check_key_hygiene(probe: Probe, state: CheckState) -> Outcome:
    """Key age, a second key, last use -- when the credentials may read their own RAM keys."""
    identity = state.identity
    if identity is None or identity.identity_type != "RAMUser":
        kind = "unknown" if identity is None else identity.describe()
        return Outcome(
            "skipped", "NOT_APPLICABLE", f"key hygiene applies to a RAM user's permanent key (caller: {kind})"
        )
    if probe.access_key_id.upper().startswith("STS."):
        return Outcome("skipped", "NOT_APPLICABLE", "temporary STS credentials expire on their own; nothing to rotate")
    user = identity.user_name
    if not user:
        return Outcome("skipped", "NOT_APPLICABLE", "the RAM user name is unknown (STS was not reachable)")
    try:
        keys = probe.list_access_keys(user)
    except Exception as exc:
        diagnosis = diagnose(exc, state.ctx)
        return Outcome(
            "skipped",
            "KEY_INFO_UNAVAILABLE",
            f"cannot read RAM user {user}'s AccessKeys ({diagnosis.code}): key age and second keys not checked",
            f"optional: allow ram:ListAccessKeys and ram:GetAccessKeyLastUsed on acs:ram:*:{identity.account_id}:"
            f"user/{user} to the RAM user to enable this check.",
        )
    return _key_findings(probe, state, user, keys)


def _key_findings(probe: Probe, state: CheckState, user: str, keys: Sequence[AccessKeyInfo]) -> Outcome:
    limit = state.options.max_key_age_days
    findings: list[tuple[str, str, str]] = []
    report: list[dict[str, Any]] = []
    current = next((k for k in keys if k.access_key_id == probe.access_key_id), None)
    for key in keys:
        last_used = _last_used(probe, user, key.access_key_id)
        age = (state.now - key.created).days if key.created else None
        report.append(
            {
                "access_key_id": mask_key_id(key.access_key_id),
                "status": key.status,
                "age_days": age,
                "last_used": last_used,
                "in_use": key is current,
            }
        )
        shown = mask_key_id(key.access_key_id)
        used = f"last used {last_used:%Y-%m-%d}" if last_used else "never used"
        if key is current:
            if age is not None and age > limit:
                findings.append(
                    (
                        "KEY_TOO_OLD",
                        f"the AccessKey in use {shown} is {age} days old (limit {limit})",
                        f"rotate it: create a second AccessKey for RAM user {user}, put it into AccessKey ID "
                        f"(login) and AccessKey Secret (password), check the connection, then disable and delete "
                        f"{shown}.",
                    )
                )
        elif key.status.lower() == "active":
            findings.append(
                (
                    "SECOND_ACTIVE_KEY",
                    f"RAM user {user} has a second active AccessKey {shown} ({used})",
                    f"if it is not in use any more, disable {shown} in the RAM console and delete it after a few days; "
                    "keep one active key.",
                )
            )
        else:
            findings.append(
                (
                    "INACTIVE_KEY_PRESENT",
                    f"RAM user {user} keeps a disabled AccessKey {shown}",
                    f"delete {shown} in the RAM console (disabled keys should not linger).",
                )
            )
    details = {"user": user, "keys": report, "max_key_age_days": limit}
    if current is None:
        findings.insert(
            0,
            (
                "KEY_NOT_LISTED",
                f"the AccessKey in use {mask_key_id(probe.access_key_id)} is not among RAM user {user}'s keys",
                "check that AccessKey ID (login) belongs to the RAM user ClarityQ should use.",
            ),
        )
    if findings:
        return Outcome(
            "warn",
            findings[0][0],
            "; ".join(f[1] for f in findings),
            " ".join(f[2] for f in findings),
            details=details,
        )
    entry = next(r for r in report if r["in_use"])
    age_text = f"{entry['age_days']} days old" if entry["age_days"] is not None else "of unknown age"
    return Outcome(
        "pass",
        "OK",
        f"the AccessKey in use {entry['access_key_id']} is {age_text} (limit {limit}) and the only key of {user}",
        details=details,
    )


def _last_used(probe: Probe, user: str, key_id: str) -> datetime | None:
    try:
        return probe.access_key_last_used(user, key_id)
    except Exception:
        return None


def validation_spec(validation: ValidationQuery) -> CheckSpec:
    """A check for one custom validation query (runs once the project is accessible)."""

    def run(probe: Probe, state: CheckState) -> Outcome:
        try:
            result = probe.run_query(validation.sql)
        except Exception as exc:
            diagnosis = diagnose(exc, state.ctx)
            if diagnosis.code in ("SQL_ERROR", "TABLE_NOT_FOUND"):
                diagnosis = replace(
                    diagnosis,
                    message=f"validation {validation.name!r}: {diagnosis.message}",
                    remediation=f"fix the SQL of validation {validation.name!r}.",
                )
            return Outcome.failure(diagnosis, sql=validation.sql)
        ok, account = validation.evaluate(result)
        details = {"sql": validation.sql, "expect": validation.expect, "value": validation.value}
        if ok:
            return Outcome("pass", "OK", f"validation {validation.name!r} {account}", details=details)
        return Outcome(
            "fail",
            "EXPECTATION_FAILED",
            f"validation {validation.name!r} {account}",
            f"the data does not meet validation {validation.name!r}: check the tables it reads (and their latest "
            "load), or correct the expectation.",
            "expectation",
            details,
        )

    return CheckSpec(validation.check_name, ("project_accessible",), run)


BUILTIN_CHECKS: Mapping[str, CheckSpec] = {
    "authentication": CheckSpec("authentication", (), check_authentication),
    "project_accessible": CheckSpec("project_accessible", ("authentication",), check_project, missing="project"),
    "metadata_discoverable": CheckSpec(
        "metadata_discoverable", ("project_accessible",), check_metadata, missing="table"
    ),
    "query_works": CheckSpec("query_works", ("metadata_discoverable",), check_query, missing="table"),
    "least_privilege": CheckSpec("least_privilege", ("project_accessible",), check_least_privilege),
    "key_hygiene": CheckSpec("key_hygiene", ("authentication",), check_key_hygiene),
}

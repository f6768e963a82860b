"""Denials caused by the restrictions beyond ACL grants, recognised by their reference-section-9 code and text.

Label security ``[4031]`` (in the reader's project, or capped by a package's ``USING LABEL`` for another
project's table), project protection ``[4021]``, a project that is not normal ``[4093]``, the IP
whitelist and packages (``[4002]`` with the install hint). Each becomes a
stable code, what happened and the exact fix, rendered by :mod:`...grants.render` where a statement fixes it.
A missing ``odps:Download`` (download control) is a missing privilege like any other: the remediation module
answers it with ``GRANT Download ON TABLE ...``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants import render
from airflow_provider_clarityq.core.grants.model import Grantee
from airflow_provider_clarityq.core.grants.restrictions import DEFAULT_LABEL_EXPIRY_DAYS

__all__ = ["RestrictionFinding", "restriction_finding"]

_LABEL_RE = re.compile(
    r"\[4031\].*?projects/(?P<project>[^/}\s]+)/tables/(?P<table>[^/}\s]+)\}.*?"
    r"sensitive label of column '(?P<column>[^']{1,128})' is (?P<need>\d), but your effective label is (?P<have>\d)",
    re.DOTALL,
)
_PROTECTED_RE = re.compile(r"\[4021\]|project '(?P<project>[^']{1,64})' is protected")
_ALL_DENIED_RE = re.compile(r"\[4093\]|Access Mode is AllDenied")
_STATE_RE = re.compile(r"Project state: (?P<state>[A-Za-z]+)")
_IP_RE = re.compile(r"ip white list: sourceIP:'(?P<ip>[0-9A-Fa-f.:]{1,45})' is not in white ?list", re.IGNORECASE)
_PACKAGE_RE = re.compile(r"You Need 'odps:Read' privilege on one of following packages (?P<packages>[A-Za-z0-9_., ]+)")


@dataclass(frozen=True)
class RestrictionFinding:
    code: str
    category: str
    message: str
    remediation: str


def restriction_finding(text: str, *, project: str, role: str, who: str) -> RestrictionFinding | None:
    """The finding for one denial text, or ``None`` when no restriction of this module caused it."""
    for rule in (_label, _package, _ip, _all_denied, _protected):
        try:
            found = rule(text, project, role, who)
        except ConfigurationError:
            found = None  # a name in the server text that the renderer refuses: fall back to the generic advice
        if found is not None:
            return found
    return None


def _label(text: str, project: str, role: str, who: str) -> RestrictionFinding | None:
    match = _LABEL_RE.search(text)
    if match is None:
        return None
    need, table, column = int(match["need"]), match["table"], match["column"]
    if match["project"].lower() != project.lower():
        return _package_label_cap(match["project"], table, column, need, int(match["have"]), project)
    user = Grantee.user(who)
    grant = render.grant_label_statement(need, table, [column], user, expiry_days=DEFAULT_LABEL_EXPIRY_DAYS)
    return RestrictionFinding(
        "LABEL_TOO_LOW",
        "permission",
        f"label-based security: column {column} of table {table} is labelled {need}, the reader's effective "
        f"label is {match['have']} ([4031], No-ReadUp)",
        f"as the project owner or an Admin run, in project {match['project']}: "
        f"{render.as_sql(render.set_user_label_statement(need, who))} (raises the reader's level for every table) "
        f"or {render.as_sql(grant)} (this column only); or set label_access_level / label_grants in the access spec.",
    )


def _package_label_cap(source: str, table: str, column: str, need: int, have: int, project: str) -> RestrictionFinding:
    """A table of another project read through an installed package: the package's ``USING LABEL`` caps the
    level, so raising the reader's own label changes nothing; the provider's owner re-allows the install."""
    return RestrictionFinding(
        "PACKAGE_LABEL_CAP",
        "permission",
        f"column {column} of {source}.{table} is labelled {need}, above the label {have} the package that shares "
        f"it lets project {project} read ([4031] through a package)",
        f"as the owner of project {source} allow the install with a higher label: ALLOW PROJECT {project} TO "
        f"INSTALL PACKAGE <package> USING LABEL {need}; (SHOW PACKAGES; in {project} names the package); raising "
        "the reader's own label does not help.",
    )


def _package(text: str, project: str, role: str, who: str) -> RestrictionFinding | None:
    match = _PACKAGE_RE.search(text)
    if match is None:
        return None
    grantee = Grantee.role(role)
    fixes = []
    for name in (p.strip() for p in match["packages"].split(",") if "." in p):
        source, package = name.split(".", 1)
        fixes.append(render.as_sql(render.grant_package_read_statement(source, package, grantee)))
    return RestrictionFinding(
        "PACKAGE_READ_MISSING",
        "permission",
        f"the table is shared through an installed package, but role {role} cannot Read it ([4002] with the "
        "package hint)",
        f"as the owner of project {project} run: {' '.join(fixes) or 'GRANT Read ON PACKAGE <source>.<package> ...'}"
        f" (and GRANT {role} TO {who}; if the reader lacks the role); or list the package under packages in the "
        "access spec.",
    )


def _ip(text: str, project: str, role: str, who: str) -> RestrictionFinding | None:
    match = _IP_RE.search(text)
    if match is None:
        return None
    return RestrictionFinding(
        "IP_NOT_WHITELISTED",
        "permission",
        f"project {project} has an IP whitelist and this health task's address {match['ip']} is not on it",
        "as the project owner list the whitelist with SETPROJECT; (odps.security.ip.whitelist / "
        "odps.security.vpc.whitelist) and append ClarityQ's egress addresses - not this task's address, which is "
        f"only where the health check runs: SETPROJECT odps.security.ip.whitelist=<current list>,<ClarityQ egress "
        f"addresses>; (add {match['ip']} too if this Airflow must reach the project; takes about 5 minutes).",
    )


def _all_denied(text: str, project: str, role: str, who: str) -> RestrictionFinding | None:
    if _ALL_DENIED_RE.search(text) is None:
        return None
    state = _STATE_RE.search(text)
    shown = f" (state {state['state']})" if state else ""
    return RestrictionFinding(
        "PROJECT_NOT_NORMAL",
        "config",
        f"project {project} is not in the normal state{shown}: every request is refused ([4093], AllDenied)",
        "no statement fixes this: the account owner settles the overdue payment or unfreezes the project in the "
        "MaxCompute console, then the project accepts requests again.",
    )


def _protected(text: str, project: str, role: str, who: str) -> RestrictionFinding | None:
    match = _PROTECTED_RE.search(text)
    if match is None:
        return None
    return RestrictionFinding(
        "PROJECT_PROTECTED",
        "permission",
        f"project {match['project'] or project} is protected: data may not flow out of it ([4021])",
        "as the owner of the protected project run ADD TRUSTEDPROJECT <project the query runs in>; or share the "
        "tables through a package (packages in the access spec), or SET ProjectProtection=true WITH EXCEPTION "
        "<policy file>;.",
    )

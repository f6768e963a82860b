"""What the history says over time, read from stored health reports (JSON schema version 1).

Pure functions over :class:`~.store.StoredReport` rows, shared by the HTML report and its tests:
one :class:`Point` per stored report (verdict, each check's latency, the key's age, the reader's grants),
the current streak ("CONFIG_ERROR since 3 nights"), and drift events (grants added or removed between
two reports).

Reading is tolerant: a key a report does not have gives ``None``, never an error, so reports written by
older providers still plot.

The reader's grants come from the ``least_privilege`` check's ``details``: ``roles`` (the roles the
reader holds) and ``grants`` (every ACL/policy entry SHOW GRANTS listed, added to the details in
provider 0.2; older reports have only ``roles``). A grant set is compared only with another one of the
same kind, so upgrading the provider does not show as drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_clarityq.core.dates import parse_iso_utc
from airflow_provider_clarityq.core.history.store import StoredReport

__all__ = [
    "DriftEvent",
    "Point",
    "Streak",
    "check_names",
    "current_streak",
    "drift_events",
    "grant_items",
    "key_age",
    "points",
    "verdict_counts",
]

LEAST_PRIVILEGE = "least_privilege"
KEY_HYGIENE = "key_hygiene"


@dataclass(frozen=True)
class Point:
    """One stored report, reduced to what is plotted."""

    at: datetime
    last_seen: datetime
    repeats: int
    verdict: str
    duration_ms: int | None
    check_ms: Mapping[str, int]  # checks that ran (not skipped): name -> duration_ms
    check_status: Mapping[str, str]
    key_age_days: int | None
    max_key_age_days: int | None
    grants: frozenset[str] | None  # None: the report does not list them
    grants_complete: bool  # True when ACL entries were listed, not only roles
    summary: str
    stored: StoredReport = field(repr=False)


@dataclass(frozen=True)
class Streak:
    """The latest verdict and since when it has held without interruption."""

    verdict: str
    since: datetime
    reports: int


@dataclass(frozen=True)
class DriftEvent:
    """Grants the reader gained (``added``) or lost (``removed``) between two reports."""

    at: datetime
    previous_at: datetime
    added: tuple[str, ...]
    removed: tuple[str, ...]


def _checks(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = report.get("checks")
    return [c for c in raw if isinstance(c, Mapping)] if isinstance(raw, list) else []


def _check(report: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    return next((c for c in _checks(report) if c.get("name") == name), None)


def _details(check: Mapping[str, Any] | None) -> Mapping[str, Any]:
    details = check.get("details") if check is not None else None
    return details if isinstance(details, Mapping) else {}


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def key_age(report: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(age in days of the AccessKey in use, the configured limit) from ``key_hygiene``'s details."""
    details = _details(_check(report, KEY_HYGIENE))
    keys = details.get("keys")
    age = None
    if isinstance(keys, list):
        in_use = next((k for k in keys if isinstance(k, Mapping) and k.get("in_use") is True), None)
        age = _int_or_none(in_use.get("age_days")) if in_use is not None else None
    return age, _int_or_none(details.get("max_key_age_days"))


def grant_items(report: Mapping[str, Any]) -> tuple[frozenset[str] | None, bool]:
    """The reader's grants as readable items (``role clarityq_reader``, ``Select on table orders (role r)``).

    Returns (None, False) when the report does not list them (check skipped, older report, main account).
    """
    check = _check(report, LEAST_PRIVILEGE)
    details = _details(check)
    roles = details.get("roles")
    if check is None or check.get("status") not in ("pass", "warn") or not isinstance(roles, list):
        return None, False
    items = {f"role {role}" for role in roles if isinstance(role, str)}
    entries = details.get("grants")
    if not isinstance(entries, list):
        return frozenset(items), False
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("effect", "Allow") != "Allow":
            continue
        target = f"{entry.get('object_type', 'object')} {entry.get('object', '')}".strip()
        grantee = entry.get("grantee")
        via = f" ({str(grantee).replace('/', ' ', 1)})" if grantee else ""
        actions = entry.get("actions")
        for action in actions if isinstance(actions, list) else []:
            items.add(f"{action} on {target}{via}")
    return frozenset(items), True


def points(reports: Iterable[StoredReport]) -> list[Point]:
    """One point per stored report, oldest first (rows whose time cannot be read are left out)."""
    result = []
    for stored in reports:
        report = stored.report
        at = parse_iso_utc(stored.started_at) or parse_iso_utc(report.get("started_at"))
        if at is None:
            continue
        check_ms: dict[str, int] = {}
        status: dict[str, str] = {}
        for check in _checks(report):
            name = check.get("name")
            if not isinstance(name, str):
                continue
            status[name] = str(check.get("status"))
            ms = _int_or_none(check.get("duration_ms"))
            if ms is not None and check.get("status") != "skipped":
                check_ms[name] = ms
        age, limit = key_age(report)
        grants, complete = grant_items(report)
        result.append(
            Point(
                at=at,
                last_seen=parse_iso_utc(stored.last_seen_at) or at,
                repeats=stored.repeats,
                verdict=stored.verdict,
                duration_ms=_int_or_none(report.get("duration_ms")),
                check_ms=check_ms,
                check_status=status,
                key_age_days=age,
                max_key_age_days=limit,
                grants=grants,
                grants_complete=complete,
                summary=str(report.get("summary") or ""),
                stored=stored,
            )
        )
    result.sort(key=lambda p: (p.at, p.stored.id))
    return result


def check_names(series: Sequence[Point]) -> list[str]:
    """Every check that ran at least once, in the order the reports list them."""
    names: dict[str, None] = {}
    for point in series:
        for name in point.check_ms:
            names.setdefault(name, None)
    return list(names)


def verdict_counts(series: Sequence[Point]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for point in series:
        counts[point.verdict] = counts.get(point.verdict, 0) + 1
    return counts


def current_streak(series: Sequence[Point]) -> Streak | None:
    """The newest verdict and the first report of the unbroken run of that verdict."""
    if not series:
        return None
    latest = series[-1].verdict
    count = 0
    since = series[-1].at
    for point in reversed(series):
        if point.verdict != latest:
            break
        count += 1
        since = point.at
    return Streak(latest, since, count)


def drift_events(series: Sequence[Point]) -> list[DriftEvent]:
    """Changes of the reader's grants between consecutive reports that list them (of the same kind)."""
    events = []
    previous: Point | None = None
    for point in series:
        if point.grants is None:
            continue
        if previous is not None and previous.grants is not None and previous.grants_complete == point.grants_complete:
            added = tuple(sorted(point.grants - previous.grants))
            removed = tuple(sorted(previous.grants - point.grants))
            if added or removed:
                events.append(DriftEvent(point.at, previous.at, added, removed))
        previous = point
    return events

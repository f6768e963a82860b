"""Alibaba Cloud's ISO 8601 UTC dates (``2026-11-23T10:00:00Z``), read one way everywhere (by pendulum)."""

from __future__ import annotations

from datetime import datetime

import pendulum


def parse_iso_utc(value: object) -> datetime | None:
    """An aware datetime (UTC when the text names no zone); None when absent or not a date-time (never raises)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = pendulum.parse(value.strip(), tz="UTC", exact=True)
    except (ValueError, TypeError, pendulum.parsing.exceptions.ParserError):
        return None
    return parsed if isinstance(parsed, datetime) else None

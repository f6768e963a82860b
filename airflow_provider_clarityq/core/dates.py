"""Alibaba Cloud's ISO 8601 UTC dates (``2026-11-23T10:00:00Z``), read one way everywhere."""

from __future__ import annotations

from datetime import datetime, timezone


def parse_iso_utc(value: object) -> datetime | None:
    """An aware datetime; None when the value is absent or not a date (never raises)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)

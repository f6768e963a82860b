"""Alibaba Cloud's dates, read one way: aware, UTC unless the text says otherwise, None for anything else."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_clarityq.core.dates import parse_iso_utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T10:00:00Z", datetime(2026, 11, 23, 10, tzinfo=timezone.utc)),
        ("2026-11-23T10:00:00.250Z", datetime(2026, 11, 23, 10, 0, 0, 250000, tzinfo=timezone.utc)),
        ("2026-11-23T10:00:00", datetime(2026, 11, 23, 10, tzinfo=timezone.utc)),
        ("2026-11-23T18:00:00+08:00", datetime(2026, 11, 23, 10, tzinfo=timezone.utc)),
        (" 2026-11-23T10:00:00Z ", datetime(2026, 11, 23, 10, tzinfo=timezone.utc)),
    ],
)
def test_dates_are_aware_and_equal_to_their_utc_instant(text: str, expected: datetime) -> None:
    parsed = parse_iso_utc(text)
    assert parsed == expected
    assert parsed is not None and parsed.utcoffset() is not None


@pytest.mark.parametrize("value", [None, "", "  ", "garbage", "10:00", "2026-11-23", "P1D", "2026-13-45T00:00:00Z", 17])
def test_anything_but_a_date_time_is_none(value: object) -> None:
    assert parse_iso_utc(value) is None


def test_offsets_are_kept_not_discarded() -> None:
    parsed = parse_iso_utc("2026-11-23T18:00:00+08:00")
    assert parsed is not None and parsed.utcoffset() == timedelta(hours=8)

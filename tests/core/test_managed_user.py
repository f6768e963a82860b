"""The RAM user's Comments as the provider's mark and AccessKey intent journal: round trips, RAM's limit."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_clarityq.core.managed_user import COMMENTS_LIMIT, MANAGED_MARKER, KeyIntent, parse_comments

WHEN = datetime(2026, 12, 5, 0, 15, 11, tzinfo=timezone.utc)


def test_unmanaged_users_keep_their_note_and_adoption_marks_them() -> None:
    seen = parse_comments("ETL service account - ask data-platform")
    assert not seen.managed and seen.note == "ETL service account - ask data-platform"
    adopted = seen.adopted().render()
    assert adopted == f"{MANAGED_MARKER} | ETL service account - ask data-platform"
    assert parse_comments(adopted).managed
    assert not parse_comments("").managed and not parse_comments(None).managed
    assert not parse_comments(f"x {MANAGED_MARKER}").managed  # the mark must lead


def test_intent_round_trip() -> None:
    marked = parse_comments(MANAGED_MARKER)
    started = marked.with_intent(WHEN.replace(microsecond=123))
    text = started.render()
    assert text == f"{MANAGED_MARKER} key-intent:20261205T001511Z"
    assert parse_comments(text).intent == KeyIntent(WHEN)
    created = started.with_intent(WHEN, "LTAI5tAbCdEf0123456789xy").render()
    assert parse_comments(created).intent == KeyIntent(WHEN, "LTAI5tAbCdEf0123456789xy")
    assert parse_comments(created).without_intent().render() == MANAGED_MARKER


@given(note=st.text(max_size=200), key=st.from_regex(r"LTAI[A-Za-z0-9]{16,26}", fullmatch=True))
def test_rendered_comments_fit_rams_limit_and_parse_back(note: str, key: str) -> None:
    value = parse_comments(note).adopted().with_intent(WHEN, key)
    text = value.render()
    assert len(text) <= COMMENTS_LIMIT
    back = parse_comments(text)
    assert back.managed and back.intent == KeyIntent(WHEN, key)
    assert value.note.strip().startswith(back.note.strip()) or not back.note

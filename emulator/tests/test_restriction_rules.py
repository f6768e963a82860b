"""The pure rules behind the restrictions: whitelist matching and No-ReadUp."""

from __future__ import annotations

import pytest
from clarityq_emulator.maxcompute.authorization import network
from clarityq_emulator.maxcompute.authorization.labels import LabelGrant, LabelState


@pytest.mark.parametrize(
    ("classic", "vpc", "ip", "allowed"),
    [
        ("", "", "127.0.0.1", True),
        ("127.0.0.1", "", "127.0.0.1", True),
        ("10.0.0.0/8", "", "127.0.0.1", False),
        ("10.0.0.0/8, 127.0.0.0/30", "", "127.0.0.3", True),
        ("127.0.0.2-127.0.0.9", "", "127.0.0.1", False),
        ("127.0.0.1-127.0.0.9", "", "127.0.0.9", True),
        ("", "*", "127.0.0.1", False),
        ("0.0.0.0/0", "*", "203.0.113.7", True),
        ("::1", "", "::1", True),
        ("127.0.0.1-127.0.0.9", "", "::1", False),
        ("127.0.0.1", "", "not-an-ip", False),
    ],
)
def test_whitelist_matching(classic: str, vpc: str, ip: str, allowed: bool) -> None:
    properties = {network.IP_WHITELIST: classic, network.VPC_WHITELIST: vpc}
    assert network.whitelist_allows(properties, ip) is allowed


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "300.1.1.1", "a-b", "127.0.0.1-"])
def test_malformed_whitelist_entries_are_refused(bad: str) -> None:
    with pytest.raises(network.InvalidWhitelist):
        network.validate(f"127.0.0.1,{bad}")


def test_no_read_up_rules() -> None:
    labels = LabelState(enabled=True, tables={"t": 3}, columns={"t": {"a": 1}}, users={"u": 1}, roles={"r": 2})
    assert labels.sensitivity("t", "a") == 1  # the column label beats the table label
    assert labels.sensitivity("t", "b") == 3
    assert labels.first_denied("u", [], "t", ["a"], 0) is None
    denial = labels.first_denied("u", [], "t", ["a", "b"], 0)
    assert denial is not None
    assert (denial.column, denial.sensitivity, denial.effective) == ("b", 3, 1)
    assert labels.effective_level("u", ["r"]) == 2
    # a table-level grant reaches every column; the grantee's column grant beats it
    labels.grants = [
        LabelGrant("user", "u", "t", "", 3, expires=100),
        LabelGrant("user", "u", "t", "b", 2, expires=100),
    ]
    assert labels.first_denied("u", [], "t", ["c"], 50) is None
    assert labels.first_denied("u", [], "t", ["b"], 50) is not None
    assert labels.first_denied("u", [], "t", ["c"], 100) is not None  # expired at its expiry time
    # a package's label cap replaces the caller's level and grants
    assert labels.first_denied("u", [], "t", ["c"], 50, cap=2) is not None
    assert labels.first_denied("u", [], "t", ["a"], 50, cap=1) is None
    labels.enabled = False
    assert labels.first_denied("nobody", [], "t", ["b"], 0) is None

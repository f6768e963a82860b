"""Tests do not leak pyodps's global options into each other (the autouse fixture in conftest.py)."""

from __future__ import annotations

import pytest
from odps import options

_SENTINEL = 7


@pytest.mark.parametrize("turn", [1, 2])
def test_a_global_option_set_by_one_test_is_gone_in_the_next(turn: int) -> None:
    # Whichever order the two turns run in, neither sees the other's value.
    assert options.retry_times != _SENTINEL
    options.retry_times = _SENTINEL

"""pytest fixtures for the emulator (registered as the ``clarityq_emulator`` plugin).

``clarityq_emulator`` serves a fresh emulator with the default seed for one test;
``clarityq_emulator_module`` shares one across a test module. Both clear proxy variables,
which the Alibaba SDK would otherwise apply even to loopback requests. The server stack is
imported inside the fixtures, so merely having the plugin installed costs a test session nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from clarityq_emulator.core.server import RunningEmulator

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def _clear_proxies() -> None:
    for name in _PROXY_VARS:
        os.environ.pop(name, None)


@pytest.fixture
def clarityq_emulator() -> Iterator[RunningEmulator]:
    """A fresh emulator (default seed) for one test."""
    from clarityq_emulator.core.server import start_emulator

    _clear_proxies()
    with start_emulator() as running:
        yield running


@pytest.fixture(scope="module")
def clarityq_emulator_module() -> Iterator[RunningEmulator]:
    """One emulator (default seed) shared by a test module; tests must not depend on each other's state."""
    from clarityq_emulator.core.server import start_emulator

    _clear_proxies()
    with start_emulator() as running:
        yield running

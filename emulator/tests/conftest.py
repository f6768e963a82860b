"""The emulator's own test session: no proxies (the Alibaba SDK applies them even to loopback) and
no ambient pyodps configuration (a region would switch pyodps to v4 signing)."""

from __future__ import annotations

import os

import pytest

_AMBIENT = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "ODPS_REGION_NAME",
    "ODPS_ENDPOINT",
    "ODPS_PROJECT_NAME",
    "ODPS_TUNNEL_ENDPOINT",
)


def pytest_configure(config: pytest.Config) -> None:
    for name in _AMBIENT:
        os.environ.pop(name, None)

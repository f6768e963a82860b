"""The emulator's own test session: no proxies (the Alibaba SDK applies them even to loopback) and
no ambient pyodps configuration (a region would switch pyodps to v4 signing)."""

from __future__ import annotations

import itertools
import os

import pytest
from clarityq_emulator import RunningEmulator
from odps import ODPS, options

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


_MEMBERS = itertools.count(1)


@pytest.fixture
def odps(clarityq_emulator_module: RunningEmulator) -> ODPS:
    """pyodps as the project owner (the main account) of the module's emulator, without retries."""
    options.retry_times = 0
    info = clarityq_emulator_module.info
    return ODPS(info.access_key_id, info.access_key_secret, info.project, endpoint=info.maxcompute_endpoint)


@pytest.fixture
def member(clarityq_emulator_module: RunningEmulator, odps: ODPS) -> tuple[ODPS, str]:
    """pyodps as a fresh RAM user added to the project (no grants), and its principal."""
    emu = clarityq_emulator_module
    user = emu.state.identity.create_user(f"member{next(_MEMBERS)}")
    key = emu.state.identity.create_access_key(user.user_name)
    principal = f"RAM${emu.info.account_id}:{user.user_name}"
    odps.execute_security_query(f"add user {principal}")
    return ODPS(key.access_key_id, key.secret, emu.info.project, endpoint=emu.info.maxcompute_endpoint), principal

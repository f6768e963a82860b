"""Clients of the emulator's main account, shared by the integration tests (plain pyodps and RAM SDK)."""

from __future__ import annotations

from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi.utils_models import Config
from clarityq_emulator import RunningEmulator
from odps import ODPS


def owner_odps(emu: RunningEmulator) -> ODPS:
    """pyodps as the project owner, without touching pyodps' process-wide defaults."""
    info = emu.info
    return ODPS(
        info.access_key_id,
        info.access_key_secret,
        info.project,
        endpoint=info.maxcompute_endpoint,
        overwrite_global=False,
    )


def owner_ram(emu: RunningEmulator) -> RamClient:
    """The RAM SDK as the main account."""
    info = emu.info
    return RamClient(
        Config(
            access_key_id=info.access_key_id,
            access_key_secret=info.access_key_secret,
            endpoint=info.ram_endpoint,
            protocol="http",
        )
    )

"""Steps 2 and 3 of the check order: the project's IP whitelist and its status.

The whitelists are project properties (``setproject odps.security.ip.whitelist=...``): single
addresses, CIDR blocks and ``a-b`` ranges, comma-separated. The emulator is reached over the
classic (non-VPC) network, so only ``odps.security.ip.whitelist`` can let a caller in; once
either list is non-empty the feature is on, and a VPC-only list shuts classic callers out (as the
whitelist page warns). The address checked is the TCP peer the emulator sees (loopback in tests).
"""

from __future__ import annotations

import contextvars
import ipaddress

IP_WHITELIST = "odps.security.ip.whitelist"
VPC_WHITELIST = "odps.security.vpc.whitelist"
DOWNLOAD_PRIVILEGE = "odps.security.enabledownloadprivilege"

#: Project states (REST ``<State>``); only AVAILABLE lets calls through.
PROJECT_STATES = ("AVAILABLE", "READONLY", "DELETING", "FROZEN")

#: The source address of the request being served (set by the MaxCompute router).
client_ip: contextvars.ContextVar[str] = contextvars.ContextVar("client_ip", default="127.0.0.1")


class InvalidWhitelist(ValueError):
    """A whitelist entry that is neither an address, a CIDR block nor a range."""


def _entry_matches(entry: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if entry == "*":
        return True
    try:
        if "-" in entry:
            low, high = (ipaddress.ip_address(x.strip()) for x in entry.split("-", 1))
            return type(low) is type(address) and low <= address <= high  # type: ignore[operator]
        return address in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise InvalidWhitelist(entry) from None


def entries(value: str) -> list[str]:
    return [e.strip() for e in value.split(",") if e.strip()]


def validate(value: str) -> None:
    """Raise :class:`InvalidWhitelist` for the first malformed entry."""
    probe = ipaddress.ip_address("127.0.0.1")
    for entry in entries(value):
        _entry_matches(entry, probe)


def whitelist_allows(properties: dict[str, str], ip: str) -> bool:
    """True when the whitelist is off or ``ip`` is on the classic-network list."""
    classic = entries(properties.get(IP_WHITELIST, ""))
    vpc = entries(properties.get(VPC_WHITELIST, ""))
    if not classic and not vpc:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(_entry_matches(e, address) for e in classic)


def download_control(properties: dict[str, str]) -> bool:
    return properties.get(DOWNLOAD_PRIVILEGE, "false").strip().lower() == "true"

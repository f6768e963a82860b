"""Everything the emulator knows, how it is seeded, and how it survives a restart.

State is held by three stores (identities, SQL catalog and data, project security) plus the
SQL instances of this process. With a state file, every request that changed something is
followed by an atomic rewrite of the file (temporary file, fsync, rename) before its response
is sent, so a completed request is never lost, even to ``kill -9``.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clarityq_emulator.core.clock import Clock
from clarityq_emulator.maxcompute.authorization.dataworks import add_dataworks_roles
from clarityq_emulator.maxcompute.authorization.model import SecurityModel
from clarityq_emulator.maxcompute.authorization.network import PROJECT_STATES
from clarityq_emulator.maxcompute.models import InstanceStore, Resource, ResourceStore
from clarityq_emulator.maxcompute.sql.catalog import Column
from clarityq_emulator.maxcompute.tunnel.sessions import TunnelSessions
from clarityq_emulator.ram.models import IdentityStore

if TYPE_CHECKING:
    from clarityq_emulator.maxcompute.sql.executor import SqlEngine

STATE_VERSION = 1


def _new_engine(clock: Clock) -> SqlEngine:
    from clarityq_emulator.maxcompute.sql.executor import SqlEngine  # DuckDB is imported only here

    return SqlEngine(clock=clock)


def load_seed_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML seed file."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"seed file {path} must hold a mapping at the top level")
    return data


def default_seed() -> dict[str, Any]:
    data = json.loads(resources.files("clarityq_emulator").joinpath("default_seed.json").read_text())
    assert isinstance(data, dict)
    return data


class EmulatorState:
    """The stores, the seed that created them and the optional state file."""

    def __init__(self, *, seed: dict[str, Any] | None = None, state_file: str | Path | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.state_file = Path(state_file) if state_file else None
        self.seed = seed if seed is not None else default_seed()
        self.instances = InstanceStore()
        self.tunnel = TunnelSessions()
        self.resources = ResourceStore()
        self.engine = _new_engine(self.clock)
        self.security = SecurityModel()
        if self.state_file and self.state_file.exists():
            self._load(json.loads(self.state_file.read_text(encoding="utf-8")))
        else:
            self._apply_seed(self.seed)
            self.save()

    def reset(self) -> None:
        """Back to the seed: fresh stores and clock; the account and its owner key stay the same,
        so clients holding the ready line's credentials keep working."""
        with self.lock:
            identity = self.identity
            account = {
                "id": identity.account_id,
                "access_key_id": identity.owner_access_key_id,
                "access_key_secret": identity.owner_access_key_secret,
            }
            self.clock.offset = 0.0
            self.instances = InstanceStore()
            self.tunnel = TunnelSessions()
            self.resources = ResourceStore()
            self.engine = _new_engine(self.clock)
            self.security = SecurityModel()
            self._apply_seed({**self.seed, "account": account})
            self.save()

    def advance_clock(self, seconds: float) -> float:
        """Move the clock; the new offset is persisted like any other change."""
        with self.lock:
            offset = self.clock.advance(seconds)
            self.save()
            return offset

    # --- seeding ------------------------------------------------------------------------------------

    def _apply_seed(self, seed: dict[str, Any]) -> None:
        account = seed.get("account", {})
        self.identity = IdentityStore(
            account_id=account.get("id"),
            owner_access_key_id=account.get("access_key_id"),
            owner_access_key_secret=account.get("access_key_secret"),
            clock=self.clock,
        )
        if "ram" in seed:
            self.identity.load_seed(seed["ram"])
        projects = seed.get("projects") or []
        if not projects:
            raise ValueError("the seed must describe at least one project")
        self.default_project = str(seed.get("default_project") or projects[0]["name"]).lower()
        now = self.clock()
        owner = f"ALIYUN${self.identity.account_id}"
        for raw in projects:
            name = str(raw["name"]).lower()
            info = self.security.add_project(
                name, self.identity.account_id, comment=raw.get("comment", ""), created=now
            )
            info.properties.update({str(k): str(v) for k, v in dict(raw.get("properties", {})).items()})
            info.state = str(raw.get("state", "AVAILABLE")).upper()
            if info.state not in PROJECT_STATES:
                raise ValueError(f"project {name}: state {info.state!r} is not one of {', '.join(PROJECT_STATES)}")
            if raw.get("dataworks"):
                add_dataworks_roles(info, str(raw["dataworks"]).lower())
            self.engine.create_project(name)
            self.security.register_objects(name, functions=raw.get("functions", []), resources=raw.get("resources", []))
            for resource in raw.get("resources", []):
                self.resources.put(name, Resource(str(resource), "file", owner, now, now))
            for table in raw.get("tables", []):
                self.engine.create_table(
                    name,
                    table["name"],
                    [Column(c["name"], c["type"].lower(), c.get("comment", "")) for c in table["columns"]],
                    [
                        Column(c["name"], c["type"].lower(), c.get("comment", ""))
                        for c in table.get("partition_keys", [])
                    ],
                    comment=table.get("comment", ""),
                    lifecycle=table.get("lifecycle"),
                    owner=owner,
                    rows=table.get("rows"),
                )

    # --- persistence --------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {
                "version": STATE_VERSION,
                "default_project": self.default_project,
                "clock_offset": self.clock.offset,
                "identity": self.identity.dump(),
                "security": self.security.dump(),
                "sql": self.engine.dump(),
                "resources": self.resources.dump(),
            }

    def _load(self, data: dict[str, Any]) -> None:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"state file version {data.get('version')!r} is not {STATE_VERSION}")
        self.clock.offset = float(data.get("clock_offset", 0.0))
        self.identity = IdentityStore(clock=self.clock)
        self.identity.load(data["identity"])
        self.security.load(data["security"])
        self.engine.load(data["sql"])
        self.resources.load(data.get("resources", {}))
        self.default_project = data["default_project"]

    def save(self) -> None:
        """Write the state file atomically; a no-op without one."""
        if self.state_file is None:
            return
        with self.lock:
            payload = json.dumps(self.dump(), separators=(",", ":"))
            directory = self.state_file.parent
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".state-", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(payload)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.state_file)
                dir_fd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise

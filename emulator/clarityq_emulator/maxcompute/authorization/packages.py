"""Packages: the provider project's shared objects and the projects allowed to install them, and the
packages a consumer project has installed.

Objects are live (no snapshot) and carry the privileges frozen when they were added; a consumer's
members read them through an installed package on which they hold ``Read`` in the consumer project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Privileges an object gets when ``ADD ... TO PACKAGE`` names none, cut down to those its type takes
#: (tables: Describe, Select; resources and functions: Read), as DESCRIBE PACKAGE shows them.
DEFAULT_PRIVILEGES = ("Read", "Describe", "Select")


@dataclass
class Package:
    """A package created in its provider project."""

    name: str
    created: float
    objects: dict[str, list[str]] = field(default_factory=dict)  # "table:<name>" -> privileges
    allowed: dict[str, int] = field(default_factory=dict)  # consumer project -> label cap

    def privileges(self, object_type: str, name: str) -> list[str] | None:
        return self.objects.get(f"{object_type}:{name.lower()}")


@dataclass
class InstalledPackage:
    """A package installed in a consumer project, named ``<provider>.<package>``."""

    source_project: str
    name: str
    installed: float

    @property
    def full_name(self) -> str:
        return f"{self.source_project}.{self.name}"


@dataclass
class PackageState:
    """One project's packages: created here, and installed here from elsewhere."""

    created: dict[str, Package] = field(default_factory=dict)
    installed: dict[str, InstalledPackage] = field(default_factory=dict)  # "<src>.<pkg>" -> install

    def dump(self) -> dict[str, Any]:
        return {
            "created": {
                n: {"created": p.created, "objects": dict(p.objects), "allowed": dict(p.allowed)}
                for n, p in self.created.items()
            },
            "installed": {
                n: {"source_project": i.source_project, "name": i.name, "installed": i.installed}
                for n, i in self.installed.items()
            },
        }

    @classmethod
    def load(cls, raw: dict[str, Any] | None) -> PackageState:
        raw = raw or {}
        return cls(
            created={
                n: Package(n, p["created"], dict(p.get("objects", {})), dict(p.get("allowed", {})))
                for n, p in raw.get("created", {}).items()
            },
            installed={n: InstalledPackage(**i) for n, i in raw.get("installed", {}).items()},
        )

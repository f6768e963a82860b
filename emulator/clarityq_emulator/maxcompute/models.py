"""MaxCompute state beyond the SQL catalog and the security model: instances and resources.

Instances live in this process only and are bounded (the oldest go first); resources are part of
the state file. Both are guarded by their own lock.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from clarityq_emulator.maxcompute.sql.catalog import ExecutionResult

#: SQL instances kept for status, results and listing; older ones are forgotten.
MAX_INSTANCES = 2000
#: Resource content limits (a file resource, and all resources of the emulator together).
MAX_RESOURCE_BYTES = 64 * 1024 * 1024
MAX_RESOURCES_TOTAL_BYTES = 256 * 1024 * 1024
RESOURCE_TYPES = ("file", "py", "jar", "archive", "table")


@dataclass
class Instance:
    """One SQL instance: executed at submit time, read back through status, result and tunnel."""

    id: str
    project: str
    owner: str
    sql: str
    job_xml: str
    start_time: float
    end_time: float
    result: ExecutionResult | None = None
    error: str | None = None
    downloads: set[str] = field(default_factory=set)
    #: Download sessions opened in the limited mode (download control without ``Download``): 10,000 rows.
    limited_downloads: set[str] = field(default_factory=set)

    @property
    def succeeded(self) -> bool:
        return self.error is None

    @property
    def status(self) -> str:
        """Instances run to completion when submitted: always ``Terminated``."""
        return "Terminated"


class InstanceStore:
    """The most recent :data:`MAX_INSTANCES` instances, by id, in submission order."""

    def __init__(self, limit: int = MAX_INSTANCES) -> None:
        self._items: OrderedDict[str, Instance] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def add(self, instance: Instance) -> None:
        with self._lock:
            self._items[instance.id] = instance
            while len(self._items) > self._limit:
                self._items.popitem(last=False)

    def get(self, instance_id: str) -> Instance | None:
        with self._lock:
            return self._items.get(instance_id)

    def of_project(self, project: str) -> list[Instance]:
        with self._lock:
            return [i for i in self._items.values() if i.project == project]

    def __iter__(self) -> Iterator[Instance]:
        with self._lock:
            return iter(list(self._items.values()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


@dataclass
class Resource:
    """A project resource: a file (``file``, ``py``, ``jar``, ``archive``) or a table reference."""

    name: str
    type: str
    owner: str
    created: float
    modified: float
    comment: str = ""
    content: bytes = b""
    source_table: str | None = None
    updator: str = ""

    @property
    def md5(self) -> str:
        return hashlib.md5(self.content, usedforsecurity=False).hexdigest()


class ResourceStore:
    """Resources of every project (content included), persisted with the state."""

    def __init__(self) -> None:
        self._projects: dict[str, dict[str, Resource]] = {}
        self.lock = threading.RLock()

    def list(self, project: str) -> list[Resource]:
        with self.lock:
            resources = self._projects.get(project, {})
            return [resources[name] for name in sorted(resources)]

    def get(self, project: str, name: str) -> Resource | None:
        with self.lock:
            return self._projects.get(project, {}).get(name.lower())

    def put(self, project: str, resource: Resource) -> None:
        with self.lock:
            others = sum(len(r.content) for p in self._projects.values() for r in p.values() if r is not resource)
            if len(resource.content) > MAX_RESOURCE_BYTES or others + len(resource.content) > MAX_RESOURCES_TOTAL_BYTES:
                raise ValueError(
                    f"resources are limited to {MAX_RESOURCE_BYTES} bytes each, "
                    f"{MAX_RESOURCES_TOTAL_BYTES} bytes together"
                )
            self._projects.setdefault(project, {})[resource.name.lower()] = resource

    def delete(self, project: str, name: str) -> bool:
        with self.lock:
            return self._projects.get(project, {}).pop(name.lower(), None) is not None

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {
                project: [
                    {
                        "name": r.name,
                        "type": r.type,
                        "owner": r.owner,
                        "created": r.created,
                        "modified": r.modified,
                        "comment": r.comment,
                        "content": base64.b64encode(r.content).decode("ascii"),
                        "source_table": r.source_table,
                        "updator": r.updator,
                    }
                    for r in resources.values()
                ]
                for project, resources in self._projects.items()
            }

    def load(self, data: dict[str, Any]) -> None:
        with self.lock:
            self._projects = {
                project: {
                    str(r["name"]).lower(): Resource(
                        name=str(r["name"]),
                        type=str(r["type"]),
                        owner=str(r["owner"]),
                        created=float(r["created"]),
                        modified=float(r["modified"]),
                        comment=str(r.get("comment", "")),
                        content=base64.b64decode(r.get("content", "")),
                        source_table=r.get("source_table"),
                        updator=str(r.get("updator", "")),
                    )
                    for r in items
                }
                for project, items in data.items()
            }

"""The I/O boundary of access as code: a small :class:`AccessBackend` protocol and its Alibaba Cloud adapter.

The reader and the executor (:mod:`.io`) only talk to an ``AccessBackend``, so they run unchanged
against pyodps + the RAM/STS SDKs (:class:`AlibabaBackend`) or a plain in-memory fake in unit tests.
Failures from either side are reduced to one ``Failure`` (:mod:`~airflow_provider_clarityq.core.alibaba.failures`:
HTTP status, error code, message,
"the connection dropped") by :func:`failure_of`, which reads the attributes pyodps and the Alibaba
SDKs set without importing them - the executor decides retry / converged / fail from that alone.

No Airflow import. ``odps`` and ``alibabacloud_*`` are imported inside the methods that use them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from airflow_provider_clarityq.core.alibaba.failures import failure_of
from airflow_provider_clarityq.core.alibaba.identity import CallerIdentity, caller_identity

if TYPE_CHECKING:
    from airflow_provider_clarityq.core.alibaba.clients import ClientBundle

__all__ = [
    "AccessBackend",
    "AlibabaBackend",
    "CountingBackend",
    "RamUser",
]


# --------------------------------------------------------------------------------------------------
# Who is calling


# --------------------------------------------------------------------------------------------------
# The protocol


@dataclass(frozen=True)
class RamUser:
    """A RAM user as GetUser shows it: its UID and ``Comments`` (the provider's mark, see ``core.managed_user``)."""

    user_id: str
    comments: str = ""


@runtime_checkable
class AccessBackend(Protocol):
    """Everything access as code asks of Alibaba Cloud; every method is one request (plus client retries)."""

    def caller_identity(self) -> CallerIdentity:
        """STS GetCallerIdentity."""
        ...

    def get_ram_user(self, name: str) -> RamUser | None:
        """RAM GetUser: the user's UID and Comments, or ``None`` when it does not exist (EntityNotExist)."""
        ...

    def create_ram_user(self, name: str, comments: str) -> str:
        """RAM CreateUser with ``Comments``: the new user's UID."""
        ...

    def set_ram_user_comments(self, name: str, comments: str) -> None:
        """RAM UpdateUser ``NewComments``."""
        ...

    def list_users(self, project: str) -> Sequence[Mapping[str, str]]:
        """``GET /projects/<p>/users``: records with ``ID`` and ``DisplayName``."""
        ...

    def list_roles(self, project: str) -> Sequence[Mapping[str, str]]:
        """``GET /projects/<p>/roles``: records with ``Name``."""
        ...

    def security_query(self, project: str, statement: str) -> object:
        """``POST /projects/<p>/authorization``: one security statement, the decoded answer."""
        ...

    def list_table_names(self, project: str) -> Sequence[str]:
        """``GET /projects/<p>/tables`` (paged): every table name of the project."""
        ...

    def get_role_policy(self, project: str, role: str) -> Mapping[str, Any] | None:
        """``GET /projects/<p>/roles/<r>?policy``: the role's policy document, ``None`` when it has none."""
        ...

    def put_role_policy(self, project: str, role: str, policy: Mapping[str, Any]) -> None:
        """``PUT /projects/<p>/roles/<r>?policy``: replace the role's policy document."""
        ...


# --------------------------------------------------------------------------------------------------
# Counting requests


class CountingBackend:
    """Wraps a backend and counts every call (each retry attempt included), thread-safely.

    These are the requests the engine asks for. The client libraries may add their own: pyodps looks up
    ``/logview/host`` when an ``ODPS`` object is built (cached per endpoint and process) and ``/tenants``
    before its first security query; pyodps retries GETs and the RAM/STS SDKs retry throttling by
    themselves. The emulator's request log shows all of them.
    """

    def __init__(self, inner: AccessBackend) -> None:
        self.inner = inner
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def caller_identity(self) -> CallerIdentity:
        self._count("sts:GetCallerIdentity")
        return self.inner.caller_identity()

    def get_ram_user(self, name: str) -> RamUser | None:
        self._count("ram:GetUser")
        return self.inner.get_ram_user(name)

    def create_ram_user(self, name: str, comments: str) -> str:
        self._count("ram:CreateUser")
        return self.inner.create_ram_user(name, comments)

    def set_ram_user_comments(self, name: str, comments: str) -> None:
        self._count("ram:UpdateUser")
        self.inner.set_ram_user_comments(name, comments)

    def list_users(self, project: str) -> Sequence[Mapping[str, str]]:
        self._count("maxcompute:list_users")
        return self.inner.list_users(project)

    def list_roles(self, project: str) -> Sequence[Mapping[str, str]]:
        self._count("maxcompute:list_roles")
        return self.inner.list_roles(project)

    def security_query(self, project: str, statement: str) -> object:
        self._count("maxcompute:security_query")
        return self.inner.security_query(project, statement)

    def list_table_names(self, project: str) -> Sequence[str]:
        self._count("maxcompute:list_tables")
        return self.inner.list_table_names(project)

    def get_role_policy(self, project: str, role: str) -> Mapping[str, Any] | None:
        self._count("maxcompute:get_role_policy")
        return self.inner.get_role_policy(project, role)

    def put_role_policy(self, project: str, role: str, policy: Mapping[str, Any]) -> None:
        self._count("maxcompute:put_role_policy")
        self.inner.put_role_policy(project, role, policy)


# --------------------------------------------------------------------------------------------------
# The Alibaba Cloud adapter


class AlibabaBackend:
    """:class:`AccessBackend` over one pyodps ``ODPS`` object and the RAM/STS OpenAPI clients.

    Clients are taken from ``clients`` on first use only, so a RAM-only caller never builds an ``ODPS``
    object (whose construction already costs a request). pyodps keeps one HTTP session per thread, so
    the executor's worker threads may share the object.
    """

    def __init__(self, clients: ClientBundle) -> None:
        self.clients = clients

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.clients!r})"

    def caller_identity(self) -> CallerIdentity:
        return caller_identity(self.clients.sts_client)

    def get_ram_user(self, name: str) -> RamUser | None:
        from alibabacloud_ram20150501.models import GetUserRequest

        try:
            user = self.clients.ram_client.get_user(GetUserRequest(user_name=name)).body.user
        except Exception as exc:
            if failure_of(exc).code.startswith("EntityNotExist"):
                return None
            raise
        return RamUser(str(user.user_id), str(user.comments or ""))

    def create_ram_user(self, name: str, comments: str) -> str:
        from alibabacloud_ram20150501.models import CreateUserRequest

        request = CreateUserRequest(user_name=name, comments=comments)
        user = self.clients.ram_client.create_user(request).body.user
        return str(user.user_id)

    def set_ram_user_comments(self, name: str, comments: str) -> None:
        from alibabacloud_ram20150501.models import UpdateUserRequest

        self.clients.ram_client.update_user(UpdateUserRequest(user_name=name, new_comments=comments))

    def list_users(self, project: str) -> list[dict[str, str]]:
        return [
            {"ID": str(user.id or ""), "DisplayName": str(user.display_name or "")}
            for user in self.clients.odps.list_users(project=project)
        ]

    def list_roles(self, project: str) -> list[dict[str, str]]:
        return [{"Name": str(role.name)} for role in self.clients.odps.list_roles(project=project)]

    def security_query(self, project: str, statement: str) -> object:
        return self.clients.odps.execute_security_query(statement, project=project, output_json=True)

    def list_table_names(self, project: str) -> list[str]:
        return [str(table.name) for table in self.clients.odps.list_tables(project=project)]

    def get_role_policy(self, project: str, role: str) -> Mapping[str, Any] | None:
        policy = self.clients.odps.get_role_policy(role, project=project)
        return dict(policy) if isinstance(policy, Mapping) and policy else None

    def put_role_policy(self, project: str, role: str, policy: Mapping[str, Any]) -> None:
        self.clients.odps.set_role_policy(role, dict(policy), project=project)

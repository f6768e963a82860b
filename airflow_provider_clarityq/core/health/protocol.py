"""What the health checks ask of a connection: the narrow :class:`Probe` protocol and its answers.

The real probe (:mod:`.probe`) answers over pyodps and the Alibaba SDKs; tests pass a plain fake. No Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from airflow_provider_clarityq.core.alibaba.identity import CallerIdentity

__all__ = [
    "DOWNLOAD_CONTROL_PROPERTY",
    "AccessKeyInfo",
    "Column",
    "CredentialInfo",
    "Probe",
    "ProjectInfo",
    "QueryResult",
    "TableInfo",
    "Whoami",
]

#: The project property that turns download control on (seed 001; reference section 2).
DOWNLOAD_CONTROL_PROPERTY = "odps.security.enabledownloadprivilege"


@dataclass(frozen=True)
class CredentialInfo:
    """Where the connection's credentials came from (``static``, ``oidc_role_arn``, ``default_chain/...``)
    and, for temporary ones, when they expire."""

    source: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Whoami:
    """MaxCompute's ``WHOAMI``: the caller's id and display name (``RAM$<acct>:<uid>``, ``ALIYUN$<acct>``)."""

    id: str
    display_name: str


@dataclass(frozen=True)
class ProjectInfo:
    name: str
    owner: str | None = None
    #: ``odps.security.enabledownloadprivilege``: Tunnel downloads need a ``Download`` grant.
    download_control: bool = False


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...] = ()
    record_count: int | None = None
    is_view: bool = False


@dataclass(frozen=True)
class QueryResult:
    """Columns and rows of a small result; values as text (None for NULL)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str | None, ...], ...]


@dataclass(frozen=True)
class AccessKeyInfo:
    access_key_id: str
    status: str
    created: datetime | None = None


class Probe(Protocol):
    """The narrow surface the checks need; every method may raise the SDK's own exceptions."""

    project: str
    endpoint: str
    #: The AccessKey ID in use (shown masked only).
    access_key_id: str
    #: Secret values to scrub from any text taken from an exception.
    secrets: tuple[str, ...]

    def caller_identity(self) -> CallerIdentity: ...

    def credential_info(self) -> CredentialInfo: ...

    def whoami(self) -> Whoami: ...

    def get_project(self) -> ProjectInfo: ...

    def list_tables(self, limit: int) -> list[str]: ...

    def describe_table(self, name: str) -> TableInfo: ...

    def first_partition(self, table: str) -> dict[str, str] | None: ...

    def run_query(self, sql: str) -> QueryResult: ...

    def open_download(self, table: str, partition: dict[str, str] | None) -> None:
        """Open (and drop) a table Tunnel download session: what ClarityQ's bulk reads need."""
        ...

    def show_grants(self) -> object: ...

    def show_label_grants(self) -> object: ...

    def list_access_keys(self, user_name: str) -> list[AccessKeyInfo]: ...

    def access_key_last_used(self, user_name: str, access_key_id: str) -> datetime | None: ...

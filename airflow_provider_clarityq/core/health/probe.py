"""The real :class:`~.protocol.Probe`: pyodps for MaxCompute, the Alibaba STS and RAM SDK clients.

``odps`` and the ``alibabacloud_*`` packages are imported inside the methods only (DAG files import the
operators that import this module). Clients come from a client bundle, so a hook's cached clients are
reused and a check that never needs RAM never builds a RAM client.

Requests per call (what the checks' request budget counts): ``caller_identity`` 1, ``whoami`` 1,
``get_project`` 1, ``list_tables`` 1 for one page, ``describe_table`` 1, ``first_partition`` 1,
``run_query`` 3 when the instance has finished by the first status poll (submit, status, result; one
more status request per poll while it runs), ``show_grants`` 1, ``list_access_keys`` 1,
``access_key_last_used`` 1. A new pyodps client adds up to two one-off lookups: its logview host
(cached per endpoint and process) and the tenant (cached per client, on the first project-level call).

``run_query`` reads the task result with pyodps' ``Instance._get_task_results_without_format`` because
it carries the task status, which saves the separate task-status request ``wait_for_success`` makes;
if a future pyodps drops it, ``wait_for_success`` is used instead. Results are read from the CSV task
result (fine for the small results checks and validations fetch; MaxCompute caps it at 10,000 rows).
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_clarityq.core.alibaba.identity import CallerIdentity, caller_identity
from airflow_provider_clarityq.core.dates import parse_iso_utc
from airflow_provider_clarityq.core.health.options import HealthOptions, ValidationQuery
from airflow_provider_clarityq.core.health.protocol import (
    DOWNLOAD_CONTROL_PROPERTY,
    AccessKeyInfo,
    Column,
    CredentialInfo,
    ProjectInfo,
    QueryResult,
    TableInfo,
    Whoami,
)
from airflow_provider_clarityq.core.health.runner import run_health_checks, unusable_connection_report

if TYPE_CHECKING:
    from airflow_provider_clarityq.core.health.report import HealthReport

__all__ = ["MaxComputeProbe", "check_client_source", "check_connection_fields", "connection_probe", "parse_csv_result"]

_NULL = "\\N"
_MAX_POLL_INTERVAL_S = 5.0


class MaxComputeProbe:
    """A Probe over one connection's clients: a
    :class:`~airflow_provider_clarityq.core.alibaba.clients.ClientBundle` (the hook's, or one of its own), or
    anything with its ``settings``, ``odps``, ``sts_client`` and ``ram_client``. Clients are taken from the
    bundle when a check first needs them, so a check that never needs RAM never builds a RAM client.
    """

    def __init__(self, bundle: Any, *, query_timeout_s: float = 120.0, poll_interval_s: float = 1.0) -> None:
        settings = bundle.settings
        self.bundle = bundle
        self.project: str = settings.project
        self.endpoint: str = settings.endpoint
        self.access_key_id: str = settings.access_key_id or ""
        self._auth_mode: str = settings.auth_mode
        self.secrets = tuple(s for s in settings.secret_values() if s)
        self.query_timeout_s = query_timeout_s
        self.poll_interval_s = poll_interval_s

    def __repr__(self) -> str:
        return f"MaxComputeProbe(project={self.project!r}, endpoint={self.endpoint!r})"

    def _client(self, name: str) -> Any:
        return getattr(self.bundle, {"odps": "odps", "sts": "sts_client", "ram": "ram_client"}[name])

    # ----------------------------------------------------------------------------------------------
    # Identity

    def caller_identity(self) -> CallerIdentity:
        return caller_identity(self._client("sts"))

    def credential_info(self) -> CredentialInfo:
        credential = self.bundle.credentials.get_credential()
        self.access_key_id = self.access_key_id or credential.access_key_id
        self.secrets = tuple(dict.fromkeys((*self.secrets, *credential.secret_values())))
        expires = credential.expiration
        return CredentialInfo(
            source=credential.provider_name or self._auth_mode,
            expires_at=datetime.fromtimestamp(expires, tz=timezone.utc) if expires is not None else None,
        )

    def whoami(self) -> Whoami:
        answer = self._client("odps").execute_security_query("whoami", project=self.project)
        if isinstance(answer, Mapping):
            return Whoami(id=str(answer.get("ID", "")), display_name=str(answer.get("DisplayName", "")))
        fields = {
            key.strip().lower(): value.strip()
            for key, _, value in (line.partition(":") for line in str(answer).splitlines())
            if value
        }
        return Whoami(id=fields.get("id", ""), display_name=fields.get("name", ""))

    # ----------------------------------------------------------------------------------------------
    # Project and metadata

    def get_project(self) -> ProjectInfo:
        project = self._client("odps").get_project(self.project)
        project.reload()
        owner = getattr(project, "owner", None)
        properties = getattr(project, "properties", None) or {}
        flag = str(properties.get(DOWNLOAD_CONTROL_PROPERTY, "")).strip().lower()
        return ProjectInfo(name=str(project.name), owner=str(owner) if owner else None, download_control=flag == "true")

    def list_tables(self, limit: int) -> list[str]:
        names: list[str] = []
        for table in self._client("odps").list_tables(project=self.project):
            names.append(str(table.name))
            if len(names) >= limit:
                break
        return names

    def describe_table(self, name: str) -> TableInfo:
        table = self._client("odps").get_table(name, project=self.project)
        table.reload()
        schema = table.table_schema
        partitions = tuple(Column(str(c.name), str(c.type)) for c in schema.partitions)
        partition_names = {c.name for c in partitions}
        simple = getattr(schema, "simple_columns", None) or [c for c in schema.columns if c.name not in partition_names]
        record_num = getattr(table, "record_num", None)
        return TableInfo(
            name=str(table.name),
            columns=tuple(Column(str(c.name), str(c.type)) for c in simple),
            partition_keys=partitions,
            record_count=record_num if isinstance(record_num, int) and record_num >= 0 else None,
            is_view=bool(getattr(table, "is_virtual_view", False)),
        )

    def first_partition(self, table: str) -> dict[str, str] | None:
        handle = self._client("odps").get_table(table, project=self.project)
        for partition in handle.iterate_partitions():
            return {str(k): str(v) for k, v in partition.partition_spec.kv.items()}
        return None

    def run_query(self, sql: str) -> QueryResult:
        instance = self._client("odps").run_sql(sql, project=self.project)
        try:
            self._wait(instance)
        except Exception:
            _stop_quietly(instance)
            raise
        reader = getattr(instance, "_get_task_results_without_format", None)
        task = next(iter(reader().values()), None) if callable(reader) else None
        status = str(getattr(task, "status", "") or "")
        if task is None or not status:
            instance.wait_for_success()
            return parse_csv_result(str(instance.get_task_result() or ""))
        if status.lower() != "success":
            from odps import errors

            raise errors.parse_instance_error(str(task.result))
        return parse_csv_result(str(task.result))

    def open_download(self, table: str, partition: dict[str, str] | None) -> None:
        from odps.tunnel import TableTunnel

        spec = ",".join(f"{k}={v}" for k, v in partition.items()) if partition else None
        TableTunnel(self._client("odps"), project=self.project).create_download_session(table, partition_spec=spec)

    def _wait(self, instance: Any) -> None:
        """Poll the instance status (one request per poll, backing off to 5 s) until it has terminated.

        Not pyodps' ``wait_for_completion``: with INFO logging on (as in Airflow tasks) it also fetches
        the job and its progress on every run, two more requests per query.
        """
        deadline = time.monotonic() + self.query_timeout_s
        interval = self.poll_interval_s
        while not instance.is_terminated(retry=True):
            if time.monotonic() + interval > deadline:
                from odps import errors

                raise errors.WaitTimeoutError(
                    f"instance {instance.id} did not finish within {self.query_timeout_s:g} s", instance_id=instance.id
                )
            time.sleep(interval)
            interval = min(interval * 2, _MAX_POLL_INTERVAL_S)

    # ----------------------------------------------------------------------------------------------
    # Grants and keys

    def show_grants(self) -> object:
        return self._security_query("show grants")

    def show_label_grants(self) -> object:
        """The caller's own label access level and label grants."""
        return self._security_query("show label grants")

    def _security_query(self, statement: str) -> object:
        odps = self._client("odps")
        try:
            return odps.execute_security_query(statement, project=self.project)
        except ValueError:  # the answer was not JSON: take the text layout
            return odps.execute_security_query(statement, project=self.project, output_json=False)

    def list_access_keys(self, user_name: str) -> list[AccessKeyInfo]:
        from alibabacloud_ram20150501 import models

        body = self._client("ram").list_access_keys(models.ListAccessKeysRequest(user_name=user_name)).body
        keys = getattr(getattr(body, "access_keys", None), "access_key", None) or []
        return [AccessKeyInfo(str(k.access_key_id), str(k.status or ""), parse_iso_utc(k.create_date)) for k in keys]

    def access_key_last_used(self, user_name: str, access_key_id: str) -> datetime | None:
        from alibabacloud_ram20150501 import models

        request = models.GetAccessKeyLastUsedRequest(user_name=user_name, user_access_key_id=access_key_id)
        body = self._client("ram").get_access_key_last_used(request).body
        last = getattr(body, "access_key_last_used", None)
        return parse_iso_utc(getattr(last, "last_used_date", None))


def _stop_quietly(instance: Any) -> None:
    """Best effort: do not leave a query running after the check gave up on it."""
    with contextlib.suppress(Exception):  # the original error is what matters
        instance.stop()


def parse_csv_result(text: str) -> QueryResult:
    """A MaxCompute CSV task result (header row, then rows; ``\\N`` is NULL) as columns and rows."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return QueryResult((), ())
    header, body = rows[0], rows[1:]
    return QueryResult(
        tuple(header),
        tuple(tuple(None if cell == _NULL else cell for cell in row) for row in body if row),
    )


# --------------------------------------------------------------------------------------------------
# Entry points used by the hook, the operator, the sensor and the trigger


def check_client_source(
    source: Any,
    options: HealthOptions | None = None,
    *,
    validations: Sequence[ValidationQuery] = (),
    conn_id: str | None = None,
) -> HealthReport:
    """Run the checks with an object that owns the connection's clients.

    ``source`` is duck-typed (``MaxComputeHook`` fits): its ``clients`` bundle (reading it may raise for an
    unusable connection, which becomes a CONFIG_ERROR report).
    """
    try:
        probe = MaxComputeProbe(source.clients)
    except Exception as exc:
        return unusable_connection_report(exc, conn_id=conn_id, options=options)
    return run_health_checks(probe, options, validations=validations)


def check_connection_fields(
    fields: Mapping[str, Any],
    options: HealthOptions | None = None,
    *,
    validations: Sequence[ValidationQuery] = (),
    conn_id: str | None = None,
    on_new_secret: Callable[[str], None] | None = None,
) -> HealthReport:
    """Run the checks for plain connection fields (``login``, ``password``, ``host``, ``schema``, ``extra``)."""
    probe = connection_probe(fields, conn_id=conn_id, options=options, on_new_secret=on_new_secret)
    if not isinstance(probe, MaxComputeProbe):
        return probe
    return run_health_checks(probe, options, validations=validations)


def connection_probe(
    fields: Mapping[str, Any],
    *,
    conn_id: str | None = None,
    options: HealthOptions | None = None,
    on_new_secret: Callable[[str], None] | None = None,
) -> MaxComputeProbe | HealthReport:
    """A probe for the connection fields, or the CONFIG_ERROR report saying why the fields are unusable.

    Build it once and run :func:`~.checks.run_health_checks` as often as needed (the trigger does), so
    clients and their connection pools are reused between attempts.
    """
    from airflow_provider_clarityq.core.connection import parse_connection

    password = fields.get("password")
    secrets = [password] if isinstance(password, str) and password else []
    try:
        settings = parse_connection(fields)
    except Exception as exc:
        return unusable_connection_report(exc, conn_id=conn_id, options=options, secrets=secrets)
    from airflow_provider_clarityq.core.alibaba.clients import ClientBundle

    return MaxComputeProbe(ClientBundle(settings, on_new_secret=on_new_secret))

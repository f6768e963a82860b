"""Airflow hook for ClarityQ's MaxCompute connection (thin shell over ``core``).

The hook fetches the connection, registers its secrets with Airflow's masker and hands the plain
fields to :func:`~airflow_provider_clarityq.core.connection.parse_connection`; clients come from one
``ClientBundle`` (``core.alibaba.clients``), built on first use and cached. ``odps`` and the Alibaba SDKs
are only imported when a client is built, so importing this module (and every DAG that imports our
operators) stays cheap.

It is a common.sql ``DbApiHook`` (pyodps ships a PEP 249 module, ``odps.dbapi``), so
``SQLExecuteQueryOperator``, ``SQLCheckOperator`` and ``SqlSensor`` accept a ``clarityq_maxcompute``
connection. Note that those operators pass every connection extra as a hook keyword argument; they
are accepted and ignored here (the hook reads extras from the connection itself).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.sql.hooks.sql import DbApiHook

from airflow_provider_clarityq.core.defaults import CONN_TYPE, DEFAULT_CONN_ID
from airflow_provider_clarityq.utils.connection_fields import connection_fields, mask_fields, mask_secret_value

if TYPE_CHECKING:
    from airflow_provider_clarityq.core.alibaba.clients import ClientBundle
    from airflow_provider_clarityq.core.connection import MaxComputeSettings
    from airflow_provider_clarityq.core.credentials import CredentialSource


class MaxComputeHook(DbApiHook):
    """Hook for Alibaba Cloud MaxCompute as used by ClarityQ.

    :param maxcompute_conn_id: Airflow connection of type ``clarityq_maxcompute``:
        login = AccessKey ID, password = AccessKey Secret, host = endpoint URL, schema = project, and the
        optional extras ``sts_token``, ``region``, ``role_arn``, ``role_session_name``,
        ``tunnel_endpoint``, ``ram_endpoint``, ``sts_endpoint``, ``default_schema``.
    """

    conn_name_attr = "maxcompute_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "ClarityQ MaxCompute"

    #: ``odps.dbapi`` binds ``?`` (sequence) and ``:name`` (mapping) parameters.
    _placeholder = "?"
    _test_connection_sql = "SELECT 1"
    supports_autocommit = False

    def __init__(self, *args: Any, maxcompute_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(*args, maxcompute_conn_id=maxcompute_conn_id, **kwargs)
        self.maxcompute_conn_id: str = getattr(self, self.conn_name_attr)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(maxcompute_conn_id={self.maxcompute_conn_id!r})"

    # ----------------------------------------------------------------------------------------------
    # Settings and credentials

    @cached_property
    def settings(self) -> MaxComputeSettings:
        """Validated connection settings; the secret and STS token are masked before parsing."""
        from airflow_provider_clarityq.core.connection import parse_connection

        fields = connection_fields(self.connection)
        mask_fields(fields)  # before parsing, so even a connection that fails validation cannot leak them
        settings = parse_connection(fields)
        for secret in settings.secret_values():
            mask_secret_value(secret)
        return settings

    async def aresolve_connection(self) -> dict[str, Any]:
        """Async twin of the connection fetch, for triggers: Airflow's async lookup, secrets masked, plain fields.

        Not cached: a trigger re-reads the connection before every check, so a rotated key is seen at once.
        """
        from airflow.sdk import BaseHook

        fields = connection_fields(await BaseHook.aget_connection(self.maxcompute_conn_id))
        mask_fields(fields)
        return fields

    @property
    def project(self) -> str:
        """The connection's MaxCompute project."""
        return self.settings.project

    @cached_property
    def clients(self) -> ClientBundle:
        """The connection's clients (pyodps, RAM, STS), built on first use and shared with the backends and
        the health probe; temporary credentials refresh before they expire."""
        from airflow_provider_clarityq.core.alibaba.clients import ClientBundle

        return ClientBundle(self.settings, on_new_secret=mask_secret_value)

    @property
    def credentials(self) -> CredentialSource:
        """Static AccessKey, AccessKey + STS token, or AssumeRole (refreshing) credentials."""
        return self.clients.credentials

    @property
    def odps(self) -> Any:
        """The cached pyodps ``ODPS`` entry object for the connection's project."""
        return self.clients.odps

    def get_client(self) -> Any:
        """Alias of :attr:`odps`."""
        return self.odps

    @property
    def ram_client(self) -> Any:
        """Cached RAM OpenAPI client (``alibabacloud_ram20150501.client.Client``)."""
        return self.clients.ram_client

    @property
    def sts_client(self) -> Any:
        """Cached STS OpenAPI client, signed with the same credentials as every other call."""
        return self.clients.sts_client

    def get_conn(self) -> Any:
        """A PEP 249 connection (``odps.dbapi.Connection``) sharing the cached ``ODPS`` object."""
        from odps import dbapi

        return dbapi.connect(odps=self.odps)

    # ----------------------------------------------------------------------------------------------
    # Operations

    def run_security_query(self, statement: str, *, output_json: bool = True) -> Any:
        """Run one MaxCompute security statement (``ADD USER``, ``GRANT``, ``SHOW GRANTS``...) in the
        connection's project and wait for its result.

        :param statement: a single statement, rendered from validated identifiers; a trailing ``;`` is
            dropped because MaxCompute's authorization API takes one bare statement.
        :param output_json: parse the result as JSON (pyodps' default) instead of returning the text.
        """
        from airflow_provider_clarityq.core.errors import ConfigurationError

        if not isinstance(statement, str) or not statement.strip().rstrip(";").strip():
            raise ConfigurationError(
                "statement", "is empty", "pass one MaxCompute security statement such as SHOW GRANTS"
            )
        text = statement.strip().rstrip(";").strip()
        if "\x00" in text:
            raise ConfigurationError("statement", "contains a NUL character", "remove it")
        if self.log_sql:
            self.log.info("Running security statement in project %s: %s", self.project, text)
        return self.odps.execute_security_query(text, project=self.project, output_json=output_json)

    def test_connection(self) -> tuple[bool, str]:  # type: ignore[override]
        """Run the same health checks as the DAGs (seed 000 step 6, least privilege, key hygiene); never raises.

        Returns ``(ok, summary)``: ``ok`` is True for HEALTHY and DEGRADED (the access works; warnings are
        in the summary), and the summary is one line with the verdict and the first problem's exact fix.
        """
        from airflow_provider_clarityq.core.errors import ConfigurationError, one_line
        from airflow_provider_clarityq.core.health.probe import check_client_source

        try:
            _ = self.settings
        except ConfigurationError as err:
            return False, str(err)
        except Exception as err:
            return False, (
                f"cannot read connection {self.maxcompute_conn_id!r} ({type(err).__name__}: "
                f"{one_line(str(err))[:200]}): define it in Airflow or as AIRFLOW_CONN_<ID>."
            )
        report = check_client_source(self, conn_id=self.maxcompute_conn_id)
        return report.verdict in ("HEALTHY", "DEGRADED"), report.summary_line()

    # ----------------------------------------------------------------------------------------------
    # Unsupported DbApiHook features

    def get_uri(self) -> str:
        """Not supported: a URI would embed the AccessKey secret."""
        raise NotImplementedError(
            "MaxComputeHook has no connection URI (it would contain the AccessKey secret): "
            "use get_conn() for PEP 249 or get_client() for pyodps."
        )

    @property
    def sqlalchemy_url(self) -> Any:
        """Not supported: there is no SQLAlchemy dialect for MaxCompute in this provider."""
        raise NotImplementedError(
            "MaxComputeHook does not support SQLAlchemy: use get_conn() (PEP 249, odps.dbapi) or "
            "get_client() (pyodps ODPS)."
        )

    @cached_property
    def dialect_name(self) -> str:
        """``maxcompute`` (common.sql then uses its generic dialect for insert_rows and friends)."""
        return "maxcompute"

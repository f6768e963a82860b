"""AccessKey operators: give ClarityQ's RAM user a key whose secret goes straight to a secret sink.

Seed 000 step 2 ends with "copy the AccessKey secret, it is shown only once". These operators create
the key with the admin connection's RAM client, register the secret with Airflow's masker the moment
CreateAccessKey returns, verify it (health checks ``authentication`` + ``project_accessible``), and
write it into an Airflow connection (by default ``clarityq_reader``) where Airflow itself reads it:

* by default, the sink the deployment configures in ``[clarityq] secret_sink`` (``auto``: the
  LocalFilesystemBackend file when that is the tasks' secrets backend, else the metadata DB through the
  REST API connection ``[clarityq] airflow_api_conn_id``); see
  :mod:`airflow_provider_clarityq.utils.secret_sink`. No DAG edit is needed to switch deployments;
* ``connections_file``, ``airflow_api_conn_id`` or ``sink`` - a DAG author's explicit choice (a file, a
  REST API connection, or any :class:`~airflow_provider_clarityq.core.secret_sinks.SecretSink`).

The secret never reaches XCom (the return value holds key IDs and what was done), task logs (masked,
and never formatted into a message) or rendered fields (no template field holds it). See
:mod:`airflow_provider_clarityq.core.access_keys` for the order of steps and what each failure leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_clarityq.core.defaults import DEFAULT_CONN_ID, DEFAULT_READER_CONN_ID
from airflow_provider_clarityq.utils.deprecation import renamed
from airflow_provider_clarityq.utils.lazy_hook import LazyHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_clarityq.core.access_keys.model import AccessKeyOptions
    from airflow_provider_clarityq.core.secret_sinks.base import SecretSink

__all__ = [
    "ClarityQAccessKeyOperator",
    "ClarityQAccessKeyRotationOperator",
]


def _mask(value: str | None) -> None:
    """Register a secret with Airflow's masker (task logs, rendered fields, UI)."""
    if value:
        from airflow.sdk.log import mask_secret

        mask_secret(value)


def _grace_period(value: timedelta | float | str | None) -> timedelta:
    """A duration from a timedelta or a number of seconds (templated values arrive as text)."""
    from airflow_provider_clarityq.core.errors import ConfigurationError

    if isinstance(value, timedelta):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        return timedelta(days=7)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            "grace_period", f"is {str(value)[:40]!r}", "give a timedelta or a number of seconds"
        ) from None
    if seconds < 0 or seconds != seconds:
        raise ConfigurationError("grace_period", "is negative", "give a number of seconds >= 0")
    return timedelta(seconds=seconds)


class ClarityQAccessKeyOperator(LazyHook, BaseOperator):
    """Make sure the sink holds a working AccessKey of the RAM user; create and deliver one only if not.

    Returns (XCom) ``{"access_key_id", "action", "user_name", "sink_conn_id", "dry_run", "verified",
    "created", "deactivated", "deleted", "pending_deletion", "notes"}`` - key IDs, never a secret.
    ``action`` is ``unchanged`` or ``created`` (``rotated``/``completed`` for the rotation operator).

    :param ram_user: the RAM user (seed 000: ``clarityq``).
    :param maxcompute_conn_id: admin ``clarityq_maxcompute`` connection allowed to manage the user's keys
        (main account or ``AliyunRAMFullAccess``); its endpoint, project and RAM/STS endpoints seed a new
        sink entry (its credentials never do).
    :param sink_conn_id: the connection that receives the key (``clarityq_reader``); must differ from
        ``maxcompute_conn_id``.
    :param connections_file: a LocalFilesystemBackend file, instead of the configured sink.
    :param airflow_api_conn_id: a connection to Airflow's REST API, instead of the configured sink.
    :param sink: a :class:`~airflow_provider_clarityq.core.secret_sinks.SecretSink` object, instead of both.
    :param mode: ``plan`` only reports what would happen; ``apply`` (and ``sync``, accepted for the
        provisioning DAG's vocabulary) acts.
    :param on_key_limit: with 2 keys: ``delete_oldest_inactive`` or ``refuse``.
    :param grace_period: how long a deactivated key stays before a later run deletes it (timedelta or
        seconds; default 7 days).
    :param verify_attempts: tries to verify a new key; ``verify_backoff_s``: first wait between tries.
    """

    template_fields: Sequence[str] = (
        "ram_user",
        "maxcompute_conn_id",
        "sink_conn_id",
        "connections_file",
        "airflow_api_conn_id",
        "mode",
        "on_key_limit",
        "grace_period",
    )
    ui_color = "#fff3bf"
    operation: ClassVar[Literal["ensure", "rotate"]] = "ensure"

    def __init__(
        self,
        *,
        ram_user: str = "clarityq",
        maxcompute_conn_id: str = DEFAULT_CONN_ID,
        sink_conn_id: str = DEFAULT_READER_CONN_ID,
        connections_file: str | None = None,
        airflow_api_conn_id: str | None = None,
        sink: SecretSink | None = None,
        mode: str = "apply",
        on_key_limit: str = "delete_oldest_inactive",
        grace_period: timedelta | float | str | None = None,
        verify_attempts: int = 5,
        verify_backoff_s: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ram_user = ram_user
        self.maxcompute_conn_id = maxcompute_conn_id
        self.sink_conn_id = sink_conn_id
        self.connections_file = connections_file
        self.airflow_api_conn_id = airflow_api_conn_id
        self.sink = sink
        self.mode = mode
        self.on_key_limit = on_key_limit
        self.grace_period = grace_period
        self.verify_attempts = verify_attempts
        self.verify_backoff_s = verify_backoff_s
        if sink is None and not airflow_api_conn_id and not connections_file:
            from airflow_provider_clarityq.utils.secret_sink import configured_sink_setting

            configured_sink_setting()  # a bad [clarityq] secret_sink fails when the DAG file is parsed

    # ----------------------------------------------------------------------------------------------

    def _options(self) -> AccessKeyOptions:
        from airflow_provider_clarityq.core.access_keys.model import KEY_LIMIT_POLICIES, AccessKeyOptions
        from airflow_provider_clarityq.core.errors import ConfigurationError

        if self.mode not in ("plan", "apply", "sync"):
            raise ConfigurationError("mode", f"is {self.mode!r}", "use plan (report only) or apply")
        policy = self.on_key_limit
        if policy not in KEY_LIMIT_POLICIES:
            raise ConfigurationError("on_key_limit", f"is {policy!r}", f"use one of {', '.join(KEY_LIMIT_POLICIES)}")
        return AccessKeyOptions(
            on_key_limit=policy,
            grace_period=_grace_period(self.grace_period),
            verify_attempts=self.verify_attempts,
            verify_backoff_s=self.verify_backoff_s,
        )

    def _sink(self) -> SecretSink:
        from airflow_provider_clarityq.core.errors import ConfigurationError
        from airflow_provider_clarityq.core.secret_sinks.base import SecretSink
        from airflow_provider_clarityq.core.secret_sinks.files import ConnectionFileSink

        given = [
            name
            for name, value in (
                ("sink", self.sink),
                ("airflow_api_conn_id", self.airflow_api_conn_id),
                ("connections_file", self.connections_file),
            )
            if value is not None and not (isinstance(value, str) and not value.strip())
        ]
        if len(given) > 1:
            raise ConfigurationError("sink", f"is given {len(given)} ways ({', '.join(given)})", "choose one")
        if self.sink is not None:
            if not isinstance(self.sink, SecretSink):
                raise ConfigurationError(
                    "sink", "has no read/deliver methods", "pass a SecretSink such as CallableSink"
                )
            return self.sink
        if self.airflow_api_conn_id:
            from airflow_provider_clarityq.utils.secret_sink import api_sink_from_connection

            return api_sink_from_connection(self.airflow_api_conn_id, mask=_mask)
        if self.connections_file and self.connections_file.strip():
            return ConnectionFileSink(self.connections_file.strip())
        from airflow_provider_clarityq.utils.secret_sink import configured_sink

        sink, reason = configured_sink(mask=_mask)
        self.log.info("Delivering to %r: %s.", sink, reason)
        return sink

    def _template(self) -> dict[str, Any]:
        from airflow_provider_clarityq.core.access_keys.model import reader_connection_template

        conn = self.hook.connection
        return reader_connection_template(
            {"conn_type": conn.conn_type, "host": conn.host, "schema": conn.schema, "extra": conn.extra}
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_clarityq.core.access_keys.manager import AccessKeyManager
        from airflow_provider_clarityq.core.access_keys.model import (
            KeyLimitError,
            SinkConflictError,
            SinkMismatchError,
            VerificationError,
        )
        from airflow_provider_clarityq.core.access_keys.ram import RamKeyBackend
        from airflow_provider_clarityq.core.access_keys.verification import health_verifier
        from airflow_provider_clarityq.core.errors import ConfigurationError
        from airflow_provider_clarityq.utils.connection_lookup import resolve_connection
        from airflow_provider_clarityq.utils.secret_sink import check_reaches_airflow

        try:
            options = self._options()
            if self.sink_conn_id == self.maxcompute_conn_id:
                raise ConfigurationError(
                    "sink_conn_id",
                    f"is the admin connection {self.maxcompute_conn_id!r}",
                    "deliver the reader's key to its own connection, e.g. clarityq_reader",
                )
            sink = self._sink()
            backend = RamKeyBackend(self.hook.ram_client, verifier=health_verifier(on_secret=_mask), on_secret=_mask)
            manager = AccessKeyManager(
                backend,
                sink,
                user_name=self.ram_user,
                sink_conn_id=self.sink_conn_id,
                template=self._template(),
                options=options,
                on_secret=_mask,
                logger=self.log,
                resolver=resolve_connection,  # what a task will read: Airflow's own lookup, uncached
                preflight=lambda resolved: check_reaches_airflow(sink, resolved),
            )
            dry_run = self.mode == "plan"
            result = manager.rotate(dry_run=dry_run) if self.operation == "rotate" else manager.ensure(dry_run=dry_run)
        except (ConfigurationError, KeyLimitError, SinkConflictError, SinkMismatchError) as err:
            raise AirflowFailException(str(err)) from err
        except VerificationError as err:
            if err.stage in ("config", "project"):  # waiting does not fix a grant or a field
                raise AirflowFailException(str(err)) from err
            raise
        self.log.info(
            "AccessKey %s of RAM user %s: %s (deactivated %s, deleted %s, pending deletion %s).",
            result.access_key_id,
            result.user_name,
            result.action + (" (plan only)" if result.dry_run else ""),
            result.deactivated or "none",
            result.deleted or "none",
            [p["access_key_id"] for p in result.pending_deletion] or "none",
        )
        return result.to_dict()


class ClarityQAccessKeyRotationOperator(ClarityQAccessKeyOperator):
    """Rotate the RAM user's AccessKey: create -> verify -> deliver -> deactivate the old key(s); delete
    deactivated keys once their grace period is over (on a later run).

    Same parameters and XCom as :class:`ClarityQAccessKeyOperator`; ``action`` is ``rotated``, ``created``
    (the sink held no key of the user) or ``completed`` (an earlier rotation had stopped before
    deactivating the old key; this run only finished it).
    """

    operation: ClassVar[Literal["ensure", "rotate"]] = "rotate"
    ui_color = "#ffe066"


# Names before the ClarityQ prefix: importable, with a deprecation warning, for one release.
__getattr__ = renamed(
    __name__,
    {
        "RamAccessKeyOperator": "ClarityQAccessKeyOperator",
        "RamAccessKeyRotationOperator": "ClarityQAccessKeyRotationOperator",
    },
    globals(),
)

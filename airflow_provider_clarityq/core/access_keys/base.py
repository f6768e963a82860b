"""The AccessKey manager's state and its primitive operations: record the intent, retire, delete, discard.

The manager is layered, one concern per module: these primitives, then housekeeping (what earlier runs left),
then delivery (create, verify, deliver, confirm), then :class:`~.manager.AccessKeyManager` (ensure, rotate).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

from airflow_provider_clarityq.core.access_keys.model import (
    AccessKeyError,
    AccessKeyOptions,
    AccessKeyResult,
    KeyRecord,
    NewAccessKey,
    TaskLogger,
    _safe,
    _Survey,
    _utc,
)
from airflow_provider_clarityq.core.access_keys.ram import KeyBackend
from airflow_provider_clarityq.core.defaults import CONN_TYPE
from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.identifiers import validate_ram_user_name
from airflow_provider_clarityq.core.managed_user import ManagedComments
from airflow_provider_clarityq.core.secret_sinks.base import ResolvedConnection, SecretSink, sink_resolver

log = logging.getLogger("airflow_provider_clarityq.core.access_keys")


class KeyRunBase:
    """Ensure or rotate the AccessKey of one RAM user, delivered to one sink entry (see module docstring).

    :param backend: RAM operations and verification (:class:`RamKeyBackend`).
    :param sink: where the secret goes.
    :param user_name: the RAM user (``clarityq``).
    :param sink_conn_id: the sink entry (``clarityq_reader``).
    :param template: fields for a *new* sink entry (:func:`reader_connection_template`); an existing entry
        keeps its own fields and only gets ``login``/``password`` replaced.
    :param on_secret: called with every secret the manager sees (the new key's and the one read from the
        sink) before it is used; Airflow's ``mask_secret``.
    :param resolver: how the consumer resolves ``sink_conn_id`` (Airflow's own connection lookup, in the
        operators). What it returns is what the reader holds; an old key is only retired once it returns the
        new key and that key works. Default: the sink itself (for a store nothing else shadows).
    :param preflight: given what the resolver returned, whether a write to the sink reaches the consumer: True
        (it does), a reason why it cannot (the run stops before anything changes), or None (cannot be told; then
        a sink without the entry the consumer resolves elsewhere is refused too, before anything changes).
    :param now: clock for the grace period; ``sleep``: for verification back-off (tests pass fakes).
    """

    def __init__(
        self,
        backend: KeyBackend,
        sink: SecretSink,
        *,
        user_name: str,
        sink_conn_id: str,
        template: Mapping[str, Any] | None = None,
        options: AccessKeyOptions | None = None,
        on_secret: Callable[[str], None] | None = None,
        logger: TaskLogger | None = None,
        resolver: Callable[[str], ResolvedConnection | None] | None = None,
        preflight: Callable[[ResolvedConnection | None], Literal[True] | str | None] | None = None,
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.backend = backend
        self.sink = sink
        self.resolve = resolver or sink_resolver(sink)
        self.preflight = preflight
        self._settled: set[str] = set()  # new keys deleted or deactivated again in this run
        self.user_name = validate_ram_user_name(user_name, field="ram_user")
        if not isinstance(sink_conn_id, str) or not sink_conn_id.strip():
            raise ConfigurationError("sink_conn_id", "is empty", "name the connection that receives the key")
        self.sink_conn_id = sink_conn_id.strip()
        self.template = dict(template or {"conn_type": CONN_TYPE})
        self.options = options or AccessKeyOptions()
        self.on_secret = on_secret
        self.log: TaskLogger = logger or log
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.sleep = sleep

    def _journal(self, comments: ManagedComments) -> None:
        """Write the user's Comments (mark + intent). A failure is logged: the next run reads the older entry."""
        try:
            self.backend.set_user_comments(self.user_name, comments.render())
        except Exception as exc:
            self.log.warning("Could not record the AccessKey intent on RAM user %s (%s).", self.user_name, _safe(exc))

    def _mask_entry(self, entry: Mapping[str, Any] | None) -> None:
        password = (entry or {}).get("password")
        if isinstance(password, str) and password and self.on_secret is not None:
            self.on_secret(password)

    def _retire(self, survey: _Survey, key: KeyRecord, result: AccessKeyResult, dry_run: bool, *, why: str) -> None:
        """Deactivate a key (reversible until its grace period ends) and track it as retired."""
        survey.keys[survey.keys.index(key)] = KeyRecord(key.access_key_id, "Inactive", key.create_date)
        if dry_run:
            result.notes.append(f"would deactivate AccessKey {key.access_key_id}: {why}")
            self.log.info("Plan: deactivate AccessKey %s (%s).", key.access_key_id, why)
            return
        self.backend.set_key_status(self.user_name, key.access_key_id, "Inactive")
        result.deactivated.append(key.access_key_id)
        self.log.warning(
            "Deactivated AccessKey %s of RAM user %s: %s. Re-activate it in the RAM console within the grace "
            "period if something needs it.",
            key.access_key_id,
            self.user_name,
            why,
        )

    def _delete(self, survey: _Survey, key: KeyRecord, result: AccessKeyResult, dry_run: bool, *, why: str) -> None:
        if dry_run:
            survey.keys.remove(key)
            result.notes.append(f"would delete AccessKey {key.access_key_id}: {why}")
            self.log.info("Plan: delete AccessKey %s (%s).", key.access_key_id, why)
            return
        self.backend.delete_key(self.user_name, key.access_key_id)
        survey.keys.remove(key)
        result.deleted.append(key.access_key_id)
        self.log.info("Deleted AccessKey %s of RAM user %s: %s.", key.access_key_id, self.user_name, why)

    def _discard(self, new: NewAccessKey) -> str:
        """Delete a key that must not stay (undelivered or not working); say what happened."""
        try:
            self.backend.delete_key(self.user_name, new.access_key_id)
            self._settled.add(new.access_key_id)
        except Exception as exc:
            try:
                self.backend.set_key_status(self.user_name, new.access_key_id, "Inactive")
                self._settled.add(new.access_key_id)
            except Exception:
                return (
                    f"Deleting the new key failed too ({_safe(exc)}): AccessKey {new.access_key_id} is left Active "
                    "but nobody holds its secret. Delete it in the RAM console; otherwise a later run deactivates it "
                    "(as undelivered or superseded) and deletes it after the grace period."
                )
            return (
                f"Deleting the new key failed ({_safe(exc)}), so AccessKey {new.access_key_id} was deactivated "
                "instead; the next run deletes it."
            )
        return f"The new key {new.access_key_id} was deleted again."

    def _deactivate(self, keys: Sequence[KeyRecord], result: AccessKeyResult, *, new_key: KeyRecord) -> None:
        for key in keys:
            if key.access_key_id == new_key.access_key_id or not key.active:
                continue
            try:
                self.backend.set_key_status(self.user_name, key.access_key_id, "Inactive")
            except Exception as exc:
                raise AccessKeyError(
                    f"AccessKey {new_key.access_key_id} is delivered to {self.sink_conn_id!r} and works, but "
                    f"deactivating the old key {key.access_key_id} failed ({_safe(exc)}). It is still Active; the "
                    "next rotation run deactivates it before doing anything else."
                ) from exc
            result.deactivated.append(key.access_key_id)
            delete_after = _utc(self._delete_after(key, new_key))
            result.pending_deletion.append({"access_key_id": key.access_key_id, "delete_after": delete_after})
            self.log.info(
                "Deactivated AccessKey %s; it can be re-activated until %s, when a later run deletes it.",
                key.access_key_id,
                delete_after,
            )

    def _delete_after(self, key: KeyRecord, current: KeyRecord | None) -> datetime:
        """End of a retired key's grace period: from the latest of the sink key's creation, its own, its last use."""
        used = self.backend.last_used(self.user_name, key.access_key_id)
        starts = [d for d in (current.create_date if current else None, key.create_date, used) if d is not None]
        return max(starts, default=self.now()) + self.options.grace_period

    @staticmethod
    def _undelivered(key: KeyRecord, current: KeyRecord | None) -> bool:
        """An Active key created after the sink's key: a delivery that failed (nothing should rely on it)."""
        if current is None or key.create_date is None or current.create_date is None:
            return False
        return key.create_date > current.create_date

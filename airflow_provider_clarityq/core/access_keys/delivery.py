"""Replacing the key: announce it, create it, verify it, deliver it, and confirm the consumer reads it - only then
retire the old one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, wait_exponential

from airflow_provider_clarityq.core.access_keys.housekeeping import Housekeeping
from airflow_provider_clarityq.core.access_keys.model import (
    AccessKeyError,
    AccessKeyResult,
    Action,
    KeyRecord,
    NewAccessKey,
    SinkMismatchError,
    Verification,
    VerificationError,
    _safe,
    _Survey,
)
from airflow_provider_clarityq.core.secret_sinks.base import SinkError


class Delivery(Housekeeping):
    """Creating, verifying and delivering a new key, and retiring what it replaces."""

    def _replace(self, survey: _Survey, result: AccessKeyResult, *, deactivate_others: bool) -> AccessKeyResult:
        self._make_room(survey, result)
        old_active = [k for k in survey.keys if k.active]
        action: Action = "rotated" if deactivate_others and survey.sink_key is not None else "created"
        if result.dry_run:
            result.action = action
            retiring = [k.access_key_id for k in old_active] if deactivate_others else []
            then = f" and deactivate {', '.join(retiring)}" if retiring else ""
            result.notes.append(
                f"would create an AccessKey for {self.user_name}, verify it, deliver it to {self.sink_conn_id}{then}"
            )
            self.log.info("Plan: %s", result.notes[-1])
            return result

        # Announce the key before creating it: a run killed after CreateAccessKey leaves the announcement, and
        # the next run recognises the key nobody holds (see _housekeep).
        announced = survey.comments.with_intent(self.now())
        self._journal(announced)
        new = self.backend.create_key(self.user_name)
        if self.on_secret is not None:
            self.on_secret(new.access_key_secret)
        self.log.info("Created AccessKey %s for RAM user %s.", new.access_key_id, self.user_name)
        result.created = new.access_key_id
        assert announced.intent is not None
        self._journal(announced.with_intent(announced.intent.started, new.access_key_id))
        delivered = False
        try:
            self._verify_and_deliver(new, survey)
            delivered = True
            result.action = action
            result.access_key_id = new.access_key_id
            result.verified = True
            if deactivate_others:
                record = KeyRecord(new.access_key_id, "Active", new.create_date or self.now())
                self._deactivate(old_active, result, new_key=record)
        except BaseException as exc:
            # Interrupted (a timeout, a bug) before the consumer held the key: it must not stay behind.
            if not delivered and not isinstance(exc, AccessKeyError | SinkError):
                self.log.warning("Interrupted before delivery (%s): %s", type(exc).__name__, self._discard(new))
            raise
        finally:
            if delivered or new.access_key_id in self._settled:  # else the next run must find the key
                self._journal(survey.comments.without_intent())
        result.resolved_from = survey.place
        return result

    def _verify_and_deliver(self, new: NewAccessKey, survey: _Survey) -> None:
        """Verify the new key on the reader's fields, deliver it, then confirm the consumer resolves and can use
        it. Every failure deletes the new key again and leaves the reader's current key as it was."""
        entry = survey.entry or {}
        # A new entry gets the template; an existing one keeps its fields and only gains missing ones.
        missing = {k: v for k, v in self.template.items() if entry.get(k) in (None, "")}
        delivery: dict[str, Any] = {**missing, "login": new.access_key_id, "password": new.access_key_secret}
        fields = {**entry, **delivery}

        verification = self._verify_new(fields)
        if not verification.ok:
            cleanup = self._discard(new)
            raise VerificationError(
                f"the new AccessKey {new.access_key_id} failed verification at {verification.stage}: "
                f"{verification.reason}. {cleanup} The sink was not changed and the current key "
                f"{survey.login or '(none)'} keeps its status.",
                stage=verification.stage,
            )
        self._deliver(new, delivery)
        self._confirm_resolved(new, survey)
        self.log.info(
            "Delivered AccessKey %s to connection %s, where Airflow reads it (%s); verified: authentication, "
            "project access.",
            new.access_key_id,
            self.sink_conn_id,
            survey.place or "resolved",
        )

    def _confirm_resolved(self, new: NewAccessKey, survey: _Survey) -> None:
        """The invariant that protects the live key: the consumer's own lookup returns the new key, and it works."""
        resolved = self.resolve(self.sink_conn_id)
        if resolved is not None:
            self._mask_entry(resolved.fields)
        if resolved is None or resolved.login != new.access_key_id:
            seen = f"from {resolved.place} with AccessKey {resolved.login}" if resolved else "nowhere"
            cleanup = self._discard(new)
            if survey.sink_had_entry:
                self._restore(survey)
            else:
                self._unwrite()
            raise SinkMismatchError(
                f"AccessKey {new.access_key_id} was written to {self.sink!r}, but Airflow resolves "
                f"{self.sink_conn_id!r} {seen}. {cleanup} Nothing was deactivated: the reader keeps AccessKey "
                f"{survey.login or '(none)'}. Point [clarityq] secret_sink at the place Airflow reads "
                "(docs/access-keys.md)."
            )
        survey.place = resolved.place
        if not resolved.fields.get("password"):  # a resolver that hides secrets: the key was verified before
            self.log.info("%s does not reveal the secret; the delivered key is trusted by its ID.", resolved.place)
            return
        verification = self._verify_new(resolved.fields)
        if not verification.ok:
            self._restore(survey)
            cleanup = self._discard(new)
            raise VerificationError(
                f"connection {self.sink_conn_id!r} as Airflow resolves it ({resolved.place}) holds the new AccessKey "
                f"{new.access_key_id} but fails at {verification.stage}: {verification.reason}. {cleanup} The "
                "previous key was written back and keeps its status.",
                stage=verification.stage,
            )

    def _unwrite(self) -> None:
        """Remove the entry this run created in a sink the consumer does not read (best effort)."""
        remove = getattr(self.sink, "remove", None)
        if callable(remove):
            try:
                remove(self.sink_conn_id)
            except Exception as exc:
                self.log.warning("Could not remove %s from %r (%s).", self.sink_conn_id, self.sink, _safe(exc))

    def _restore(self, survey: _Survey) -> None:
        """Put the reader's previous key back into the sink (best effort; it was never deactivated)."""
        entry = survey.entry or {}
        login, password = entry.get("login"), entry.get("password")
        if not (isinstance(login, str) and login and isinstance(password, str) and password):
            return
        try:
            self.sink.deliver(self.sink_conn_id, {"login": login, "password": password})
        except Exception as exc:
            self.log.warning("Could not write the previous key back to %s (%s).", self.sink_conn_id, _safe(exc))

    def _verify_new(self, fields: Mapping[str, Any]) -> Verification:
        """Verify a fresh key, retrying while it may still be propagating (tenacity, capped exponential back-off)."""
        attempts = self.options.verify_attempts

        def before_sleep(state: RetryCallState) -> None:
            last = state.outcome.result() if state.outcome else None
            self.log.info(
                "New key not verified yet (attempt %d/%d, %s); retrying in %.1f s.",
                state.attempt_number,
                attempts,
                last.stage if last else "unknown",
                state.upcoming_sleep,
            )

        retrying = Retrying(
            retry=retry_if_result(lambda verification: verification.worth_retrying),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(
                multiplier=self.options.verify_backoff_s, max=self.options.verify_backoff_max_s, exp_base=2
            ),
            sleep=self.sleep,
            before_sleep=before_sleep,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        verification: Verification = retrying(self.backend.verify, fields)
        return verification

    def _deliver(self, new: NewAccessKey, delivery: Mapping[str, Any]) -> None:
        try:
            self.sink.deliver(self.sink_conn_id, delivery)
        except Exception as exc:
            failure = f"delivering it to {self.sink_conn_id!r} failed ({_safe(exc)})"
            landed = self._landed(new)
            if landed is None:
                raise SinkError(
                    f"AccessKey {new.access_key_id} was created but {failure}, and the sink cannot be read back to "
                    f"tell whether it was stored. The key is left Active and the old key untouched; the next run "
                    f"finishes the rotation if the sink holds it, or deletes it as undelivered."
                ) from None
            if not landed:
                cleanup = self._discard(new)
                raise SinkError(f"AccessKey {new.access_key_id} was created but {failure}. {cleanup}") from None
            self.log.warning("Delivery reported %s, but the sink holds the new key; carrying on.", type(exc).__name__)
            return
        landed = self._landed(new)
        if landed is False:
            cleanup = self._discard(new)
            raise SinkError(
                f"connection {self.sink_conn_id!r} does not hold AccessKey {new.access_key_id} after a delivery "
                f"the sink reported as done (read back). {cleanup} The old key keeps its status."
            )
        if landed is None:
            raise SinkError(
                f"AccessKey {new.access_key_id} was delivered to {self.sink_conn_id!r} but the sink cannot be read "
                "back to confirm it. The key is left Active and the old key untouched; the next run finishes the "
                "rotation if the sink holds it, or deactivates it as undelivered."
            )

    def _landed(self, new: NewAccessKey) -> bool | None:
        """Does the sink hold the new key? None when the sink cannot be read."""
        try:
            entry = self.sink.read(self.sink_conn_id)
        except Exception:
            return None
        if entry is None or entry.get("login") != new.access_key_id:
            return False
        password = entry.get("password")
        return password is None or password == new.access_key_secret

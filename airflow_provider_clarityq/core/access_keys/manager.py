"""Ensure or rotate the AccessKey of one RAM user, delivered where its consumer reads it (see the package docs)."""

from __future__ import annotations

from collections.abc import Callable

from airflow_provider_clarityq.core.access_keys.delivery import Delivery
from airflow_provider_clarityq.core.access_keys.model import (
    AccessKeyResult,
    SinkConflictError,
    SinkMismatchError,
    UserNotFoundError,
    Verification,
    VerificationError,
    _sort_key,
    _Survey,
)
from airflow_provider_clarityq.core.managed_user import parse_comments, unmanaged_user_error
from airflow_provider_clarityq.core.secret_sinks.base import ResolvedConnection

__all__ = ["AccessKeyManager"]


class AccessKeyManager(Delivery):
    """Ensure or rotate the AccessKey of one RAM user (the parameters are :class:`~.base.KeyRunBase`'s)."""

    def ensure(self, *, dry_run: bool = False) -> AccessKeyResult:
        """Create and deliver a key only when the sink holds no working key of the user."""
        return self._run(dry_run, self._keep_working_key, deactivate_others=False)

    def rotate(self, *, dry_run: bool = False) -> AccessKeyResult:
        """Replace the sink's key and deactivate the user's other Active keys (or finish an interrupted rotation)."""
        return self._run(dry_run, self._finish_rotation, deactivate_others=True)

    def _run(
        self,
        dry_run: bool,
        settled: Callable[[_Survey, AccessKeyResult], bool],
        *,
        deactivate_others: bool,
    ) -> AccessKeyResult:
        """What every run does: survey, refuse foreign keys, tidy up; then stop if ``settled`` says the sink's
        key already does the job, else create and deliver a new key. A missing user in a plan run is a plan."""
        survey = self._survey(dry_run)
        if survey is None:
            return self._user_missing_plan()
        self._guard_foreign(survey)
        result = self._result(survey, dry_run)
        self._housekeep(survey, result, dry_run)
        if settled(survey, result):
            return result
        return self._replace(survey, result, deactivate_others=deactivate_others)

    def _keep_working_key(self, survey: _Survey, result: AccessKeyResult) -> bool:
        """ensure: an Active sink key that authenticates is kept."""
        current = survey.sink_key
        if current is None or not current.active:
            return False
        verification = self._check_current(survey)
        if verification.ok:
            result.verified = verification.stage == "ok"
            self.log.info(
                "Connection %s already holds AccessKey %s of RAM user %s (%s); nothing to create.",
                self.sink_conn_id,
                current.access_key_id,
                self.user_name,
                "verified" if result.verified else "not verifiable: the sink does not reveal secrets",
            )
            return True
        self.log.warning(
            "AccessKey %s in connection %s does not authenticate (%s); creating a new one.",
            current.access_key_id,
            self.sink_conn_id,
            verification.reason,
        )
        return False

    def _finish_rotation(self, survey: _Survey, result: AccessKeyResult) -> bool:
        """rotate: when the sink already holds a newer, working key, only the older ones are deactivated."""
        current = survey.sink_key
        superseded = self._superseded(survey)
        if current is None or not current.active or not superseded:
            return False
        verification = self._check_current(survey)
        if not verification.ok:
            return False
        ids = ", ".join(k.access_key_id for k in superseded)
        self.log.info(
            "Finishing an earlier rotation: connection %s holds the newer, working key %s; deactivating %s.",
            self.sink_conn_id,
            current.access_key_id,
            ids,
        )
        result.action = "completed"
        result.verified = verification.stage == "ok"
        self._deactivate(superseded, result, new_key=current)
        return True

    def _survey(self, dry_run: bool) -> _Survey | None:
        """The user's mark and keys, and the reader connection as the consumer resolves it; None in a plan run
        for a user that does not exist yet. Refuses a user the provider does not manage, and a sink that holds
        a different key than the consumer reads, before anything changes."""
        raw_comments = self.backend.user_comments(self.user_name)
        if raw_comments is None:
            if dry_run:
                return None
            raise UserNotFoundError(
                "ram_user",
                f"names RAM user {self.user_name!r}, which does not exist",
                "create it first (the ensure_ram_user task of clarityq_provision_access)",
            )
        comments = parse_comments(raw_comments)
        if not comments.managed:
            raise unmanaged_user_error(self.user_name)
        resolved = self.resolve(self.sink_conn_id)
        entry = dict(resolved.fields) if resolved is not None else None
        self._mask_entry(entry)
        sink_had_entry = self._refuse_shadowed_sink(resolved)
        keys = sorted(self.backend.list_keys(self.user_name), key=_sort_key)
        login = (entry or {}).get("login")
        sink_key = next((k for k in keys if k.access_key_id == login), None)
        listing = ", ".join(f"{k.access_key_id} ({k.status})" for k in keys) or "none"
        self.log.info(
            "RAM user %s has %d AccessKey(s): %s; connection %s, as %s resolves it, holds %s.",
            self.user_name,
            len(keys),
            listing,
            self.sink_conn_id,
            resolved.place if resolved else "Airflow",
            f"key {login}" if login else "no key",
        )
        return _Survey(entry, keys, sink_key, comments, resolved.place if resolved else None, sink_had_entry)

    def _refuse_shadowed_sink(self, resolved: ResolvedConnection | None) -> bool:
        """Refuse when the sink holds an entry the consumer does not return: writing it again would change nothing
        the reader sees. Returns whether the sink holds an entry."""
        reach = self.preflight(resolved) if self.preflight is not None else None
        if isinstance(reach, str):
            raise SinkMismatchError(
                f"the key step writes {self.sink!r}, but {reach}. A new key delivered there would not reach "
                f"the reader {self.sink_conn_id!r}, so nothing was created or retired: point [clarityq] secret_sink "
                "at the place Airflow reads (docs/access-keys.md)."
            )
        stored = self.sink.read(self.sink_conn_id)
        if stored is None:
            if resolved is not None and reach is not True:
                raise SinkMismatchError(
                    f"the key step writes {self.sink!r}, which has no entry {self.sink_conn_id!r}, but Airflow "
                    f"resolves it from {resolved.place}. Nothing was created or retired: if that sink is where "
                    "Airflow reads, copy the entry there first; otherwise point [clarityq] secret_sink at that "
                    "place (docs/access-keys.md)."
                )
            return False
        self._mask_entry(stored)
        stored_login = stored.get("login")
        if resolved is not None and resolved.login == stored_login:
            return True
        seen = f"from {resolved.place} with AccessKey {resolved.login}" if resolved else "nowhere (not defined)"
        raise SinkMismatchError(
            f"the key step writes {self.sink!r}, which holds AccessKey {stored_login} for {self.sink_conn_id!r}, but "
            f"Airflow resolves {self.sink_conn_id!r} {seen}. A new key delivered there would not reach the reader, "
            "so nothing was created or retired: point [clarityq] secret_sink at the place Airflow reads "
            "(docs/access-keys.md), or remove the stale entry."
        )

    def _user_missing_plan(self) -> AccessKeyResult:
        note = f"RAM user {self.user_name} does not exist yet: once it does, an AccessKey would be created"
        self.log.info("Plan: %s.", note)
        return AccessKeyResult(
            action="created",
            access_key_id=None,
            user_name=self.user_name,
            sink_conn_id=self.sink_conn_id,
            dry_run=True,
            notes=[note],
        )

    def _result(self, survey: _Survey, dry_run: bool) -> AccessKeyResult:
        return AccessKeyResult(
            action="unchanged",
            access_key_id=survey.sink_key.access_key_id if survey.sink_key else None,
            user_name=self.user_name,
            sink_conn_id=self.sink_conn_id,
            dry_run=dry_run,
            resolved_from=survey.place,
        )

    def _check_current(self, survey: _Survey) -> Verification:
        """Test the sink's own entry; a sink that hides secrets is trusted by key ID (``unverified``)."""
        if not survey.readable():
            return Verification(True, "unverified", "the sink does not reveal the secret; trusted by key ID")
        assert survey.entry is not None
        verification = self.backend.verify(survey.entry)
        if verification.ok or verification.stage == "authentication":
            return verification
        # The key signs fine (or cannot be tested now): a new key would fail the same way.
        raise VerificationError(
            f"connection {self.sink_conn_id!r} (AccessKey {survey.login}) fails verification at "
            f"{verification.stage}: {verification.reason}. No key was created or changed"
            + (" - retry when the service is reachable." if verification.stage == "unreachable" else "."),
            stage=verification.stage,
        )

    def _guard_foreign(self, survey: _Survey) -> None:
        """Refuse to overwrite an entry whose key works but belongs to someone else (e.g. the admin's)."""
        if survey.entry is None or survey.login is None or survey.sink_key is not None:
            return
        what = f"connection {self.sink_conn_id!r} holds AccessKey {survey.login}, which is not a key of RAM user"
        if not survey.readable():
            raise SinkConflictError(
                f"{what} {self.user_name!r}, and the sink does not reveal its secret to test it. Refusing to "
                "overwrite it: point sink_conn_id at the reader's own connection, or delete this entry."
            )
        verification = self.backend.verify(survey.entry)
        if verification.stage == "authentication" or verification.stage == "config":
            self.log.warning("%s %s and does not authenticate; it will be replaced.", what, self.user_name)
            return
        if verification.stage == "unreachable":
            raise VerificationError(
                f"{what} {self.user_name!r} and could not be tested ({verification.reason}); nothing was changed.",
                stage="unreachable",
            )
        raise SinkConflictError(
            f"{what} {self.user_name!r} but works (it belongs to another identity). Refusing to overwrite it: "
            "point sink_conn_id at the reader's own connection (e.g. clarityq_reader)."
        )

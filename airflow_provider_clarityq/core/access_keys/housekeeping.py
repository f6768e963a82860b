"""Housekeeping before a run changes anything: keys an interrupted run left, undelivered keys, grace periods,
and room under RAM's 2-key limit."""

from __future__ import annotations

from datetime import timedelta

from airflow_provider_clarityq.core.access_keys.base import KeyRunBase
from airflow_provider_clarityq.core.access_keys.model import (
    ACCESS_KEY_LIMIT,
    AccessKeyResult,
    KeyLimitError,
    KeyRecord,
    _sort_key,
    _Survey,
    _utc,
)
from airflow_provider_clarityq.core.managed_user import KeyIntent


class Housekeeping(KeyRunBase):
    """What every run does first, before it creates anything."""

    def _housekeep(self, survey: _Survey, result: AccessKeyResult, dry_run: bool) -> None:
        """Clear keys an interrupted run left behind, deactivate undelivered keys, delete retired keys whose grace
        period is over, note the others."""
        current = survey.sink_key
        intent = survey.comments.intent
        for key in list(survey.keys):
            if key is current or not key.active:
                continue
            if self._orphaned(key, intent):
                self._clear_orphan(survey, key, result, dry_run)
            elif self._undelivered(key, current):
                self._retire(survey, key, result, dry_run, why="undelivered: newer than the sink's key")
        if intent is not None and not dry_run:  # the interrupted run is accounted for
            survey.comments = survey.comments.without_intent()
            self._journal(survey.comments)
        now = self.now()
        for key in list(survey.keys):
            if key is current or key.active:
                continue
            delete_after = self._delete_after(key, current)
            if now >= delete_after:
                self._delete(
                    survey, key, result, dry_run, why=f"Inactive, grace period over since {_utc(delete_after)}"
                )
            elif not any(p["access_key_id"] == key.access_key_id for p in result.pending_deletion):
                result.pending_deletion.append({"access_key_id": key.access_key_id, "delete_after": _utc(delete_after)})
                self.log.info(
                    "Inactive AccessKey %s is kept until %s (grace period); a later run deletes it.",
                    key.access_key_id,
                    _utc(delete_after),
                )

    @staticmethod
    def _orphaned(key: KeyRecord, intent: KeyIntent | None) -> bool:
        """A key the journal says a run created and never delivered (the run was interrupted)."""
        if intent is None:
            return False
        if intent.access_key_id is not None:
            return key.access_key_id == intent.access_key_id
        # Killed between CreateAccessKey and recording its ID: a key created from the announced moment on.
        return key.create_date is not None and key.create_date >= intent.started - timedelta(seconds=1)

    def _clear_orphan(self, survey: _Survey, key: KeyRecord, result: AccessKeyResult, dry_run: bool) -> None:
        """Delete an orphaned key nobody ever used; only deactivate (reversibly) one that was used."""
        assert survey.comments.intent is not None
        announced = _utc(survey.comments.intent.started)
        used = self.backend.last_used(self.user_name, key.access_key_id)
        if used is None:
            why = f"created by a run interrupted before delivery (announced {announced}) and never used"
            self.log.warning("AccessKey %s was %s: deleting it.", key.access_key_id, why)
            self._delete(survey, key, result, dry_run, why=why)
            return
        self._retire(
            survey,
            key,
            result,
            dry_run,
            why=f"created by a run interrupted before delivery (announced {announced}) but used at {_utc(used)}, "
            "so it is not deleted now",
        )

    def _make_room(self, survey: _Survey, result: AccessKeyResult) -> None:
        keys = list(survey.keys)
        if len(keys) < ACCESS_KEY_LIMIT:
            return
        inactive = sorted((k for k in keys if not k.active), key=_sort_key)
        described = "; ".join(self._describe(k, survey) for k in keys)
        if self.options.on_key_limit == "delete_oldest_inactive" and inactive:
            victim = inactive[0]
            if any(p["access_key_id"] == victim.access_key_id for p in result.pending_deletion):
                self.log.warning(
                    "Key limit reached: deleting Inactive AccessKey %s before its grace period ends (policy "
                    "delete_oldest_inactive).",
                    victim.access_key_id,
                )
                result.pending_deletion = [
                    p for p in result.pending_deletion if p["access_key_id"] != victim.access_key_id
                ]
            self._delete(
                survey, victim, result, result.dry_run, why="key limit reached (policy delete_oldest_inactive)"
            )
            return
        if inactive:
            how = (
                f"policy on_key_limit='refuse' keeps Inactive key {inactive[0].access_key_id}: delete it in the RAM "
                "console (or wait for its grace period to end), or run with on_key_limit='delete_oldest_inactive'"
            )
        else:
            how = (
                "both keys are Active, so no policy may delete one: deactivate the key nothing uses any more "
                "(check its last use in the RAM console), then re-run"
            )
        raise KeyLimitError(
            f"RAM user {self.user_name!r} already has {ACCESS_KEY_LIMIT} AccessKeys ({described}) and RAM allows no "
            f"more: {how}. Nothing was changed."
        )

    def _describe(self, key: KeyRecord, survey: _Survey) -> str:
        where = "in the sink" if key is survey.sink_key else "not in the sink"
        created = f", created {_utc(key.create_date)}" if key.create_date else ""
        return f"{key.access_key_id} {key.status}, {where}{created}"

    def _superseded(self, survey: _Survey) -> list[KeyRecord]:
        """Active keys not newer than the sink's key: a rotation that stopped before deactivating them.

        CreateDate has a resolution of one second, so a key created in the same second as the sink's key
        counts as older: deactivating it is reversible, deleting it never happens without the grace period.
        """
        current = survey.sink_key
        if current is None:
            return []
        return [k for k in survey.keys if k.active and k is not current and not self._undelivered(k, current)]

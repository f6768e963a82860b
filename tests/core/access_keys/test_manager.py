"""AccessKeyManager over plain fakes: every ensure/rotate branch, the key-limit policies, the grace period,
and what each failure leaves behind (old key Active, sink untouched or completed by the next run)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import pytest

from airflow_provider_clarityq.core.access_keys.manager import AccessKeyManager
from airflow_provider_clarityq.core.access_keys.model import (
    AccessKeyError,
    AccessKeyOptions,
    KeyLimitError,
    KeyRecord,
    NewAccessKey,
    SinkConflictError,
    SinkMismatchError,
    UserNotFoundError,
    Verification,
    VerificationError,
    reader_connection_template,
)
from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.managed_user import MANAGED_MARKER, UnmanagedUserError, parse_comments
from airflow_provider_clarityq.core.secret_sinks.base import ResolvedConnection, SinkError

USER = "clarityq"
CONN = "clarityq_reader"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
TEMPLATE = {
    "conn_type": "clarityq_maxcompute",
    "host": "http://127.0.0.1:1/api",
    "schema": "clarityq_demo",
    "extra": {"ram_endpoint": "http://127.0.0.1:1"},
}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class FakeKey:
    secret: str
    status: str
    created: datetime
    last_used: datetime | None = None


class FakeBackend:
    """RAM in a dict: at most 2 keys, scripted failures, and a verifier that knows the real secrets."""

    def __init__(self, clock: Clock, events: list[str]) -> None:
        self.clock = clock
        self.events = events
        self.keys: dict[str, FakeKey] = {}
        self.counter = 0
        self.fail: dict[str, int] = {}  # operation -> how many calls fail
        self.project_ok = True
        self.unverified_tries = 0  # a new key fails authentication this many times (propagation)
        self.verify_calls: list[str] = []
        self.comments: str | None = MANAGED_MARKER  # None: the user does not exist

    # helpers
    def add(self, status: str = "Active", *, age_days: float = 30, last_used: datetime | None = None) -> str:
        self.counter += 1
        key_id = f"LTAIfake{self.counter:04d}"
        self.keys[key_id] = FakeKey(f"secret-{self.counter:04d}-x", status, self.clock() - timedelta(days=age_days))
        self.keys[key_id].last_used = last_used
        return key_id

    def status(self, key_id: str) -> str | None:
        key = self.keys.get(key_id)
        return key.status if key else None

    def _maybe_fail(self, op: str) -> None:
        if self.fail.get(op, 0) > 0:
            self.fail[op] -= 1
            raise AccessKeyError(f"injected {op} failure")

    # KeyBackend
    def list_keys(self, user_name: str) -> list[KeyRecord]:
        self._maybe_fail("list")
        return [KeyRecord(k, v.status, v.created) for k, v in self.keys.items()]

    def create_key(self, user_name: str) -> NewAccessKey:
        self._maybe_fail("create")
        if len(self.keys) >= 2:
            raise KeyLimitError("LimitExceeded.User.AccessKey")
        self.counter += 1
        key_id = f"LTAIfake{self.counter:04d}"
        self.keys[key_id] = FakeKey(f"secret-{self.counter:04d}-new", "Active", self.clock())
        self.events.append(f"create {key_id}")
        return NewAccessKey(key_id, self.keys[key_id].secret, self.clock())

    def set_key_status(self, user_name: str, access_key_id: str, status: Literal["Active", "Inactive"]) -> None:
        self._maybe_fail("set_status")
        self.keys[access_key_id].status = status
        self.events.append(f"{status} {access_key_id}")

    def delete_key(self, user_name: str, access_key_id: str) -> None:
        self._maybe_fail("delete")
        self.keys.pop(access_key_id, None)
        self.events.append(f"delete {access_key_id}")

    def last_used(self, user_name: str, access_key_id: str) -> datetime | None:
        return self.keys[access_key_id].last_used

    def user_comments(self, user_name: str) -> str | None:
        return self.comments

    def set_user_comments(self, user_name: str, comments: str) -> None:
        self._maybe_fail("comments")
        self.comments = comments
        self.events.append(f"comments {comments.removeprefix(MANAGED_MARKER).strip() or '-'}")

    def verify(self, fields: Mapping[str, Any]) -> Verification:
        key_id = str(fields.get("login"))
        self.verify_calls.append(key_id)
        self.events.append(f"verify {key_id}")
        key = self.keys.get(key_id)
        if key is None or key.secret != fields.get("password") or key.status != "Active":
            return Verification(False, "authentication", "InvalidAccessKeyId: the key does not authenticate")
        if self.unverified_tries > 0:
            self.unverified_tries -= 1
            return Verification(False, "authentication", "InvalidAccessKeyId.NotFound (propagating)")
        key.last_used = self.clock()
        if not self.project_ok:
            return Verification(False, "project", "NOT_A_PROJECT_MEMBER: run ADD USER")
        return Verification(True, "ok", "HEALTHY")


class FakeSink:
    """A dict of connections with scripted failures; ``hide_password`` behaves like Airflow's REST API."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.entries: dict[str, dict[str, Any]] = {}
        self.fail_deliver = 0
        self.land_despite_error = False
        self.fail_read_after_deliver_error = False
        self.hide_password = False
        self.drop_writes = False  # a sink that says "done" but stores nothing
        self._broken_reads = False

    def read(self, conn_id: str) -> dict[str, Any] | None:
        if self._broken_reads:
            raise SinkError("injected read failure")
        entry = self.entries.get(conn_id)
        if entry is None:
            return None
        entry = dict(entry)
        if self.hide_password:
            entry.pop("password", None)
        return entry

    def deliver(self, conn_id: str, fields: Mapping[str, Any]) -> None:
        if self.fail_deliver > 0:
            self.fail_deliver -= 1
            if self.land_despite_error:
                self.entries.setdefault(conn_id, {}).update(fields)
            if self.fail_read_after_deliver_error:
                self._broken_reads = True
            raise OSError("disk full")
        if not self.drop_writes:
            self.entries.setdefault(conn_id, {}).update(fields)
        self.events.append(f"deliver {fields['login']}")

    def remove(self, conn_id: str) -> None:
        self.entries.pop(conn_id, None)
        self.events.append(f"remove {conn_id}")


@dataclass
class World:
    clock: Clock
    backend: FakeBackend
    sink: FakeSink
    events: list[str]
    masked: list[str]

    def manager(self, resolver: Any = None, **options: Any) -> AccessKeyManager:
        def on_secret(secret: str) -> None:
            self.masked.append(secret)
            self.events.append("mask")

        return AccessKeyManager(
            self.backend,
            self.sink,
            user_name=USER,
            sink_conn_id=CONN,
            template=TEMPLATE,
            options=AccessKeyOptions(**{"verify_backoff_s": 0.5, **options}),
            on_secret=on_secret,
            now=self.clock,
            sleep=self.sleeps.append,
            resolver=resolver,
        )

    @property
    def sleeps(self) -> list[float]:
        if not hasattr(self, "_sleeps"):
            self._sleeps: list[float] = []
        return self._sleeps

    def provision(self, **kwargs: Any) -> str:
        """A key of the user, stored in the sink (as after a first run)."""
        key_id = self.backend.add(**kwargs)
        self.sink.entries[CONN] = {**TEMPLATE, "login": key_id, "password": self.backend.keys[key_id].secret}
        return key_id

    def sink_key(self) -> str | None:
        entry = self.sink.entries.get(CONN)
        return entry.get("login") if entry else None

    def all_secrets(self) -> list[str]:
        return [k.secret for k in self.backend.keys.values()] + list(self.masked)


@pytest.fixture
def world() -> World:
    events: list[str] = []
    clock = Clock()
    return World(clock, FakeBackend(clock, events), FakeSink(events), events, [])


def mutations(world: World, since: int = 0) -> list[str]:
    """Events that change RAM or the sink (reads, masking and verification are not)."""
    return [e for e in world.events[since:] if not e.startswith(("verify", "mask"))]


def assert_no_secret(world: World, *texts: object) -> None:
    for text in texts:
        for secret in world.all_secrets():
            assert secret not in str(text)


# --------------------------------------------------------------------------------------------------
# ensure


def test_ensure_first_run_creates_masks_verifies_then_delivers(world: World) -> None:
    result = world.manager().ensure()
    (new_id,) = world.backend.keys
    assert result.action == "created" and result.access_key_id == new_id == result.created and result.verified
    # The key is announced in the user's Comments before it exists, the secret masked before it is used, and
    # verified before it reaches the sink and again as the consumer resolves it; then the announcement goes.
    steps = [e for e in world.events if not e.startswith("comments")]
    assert steps[:6] == [
        f"create {new_id}",
        "mask",
        f"verify {new_id}",
        f"deliver {new_id}",
        "mask",  # the connection as resolved, masked again before its secret is used
        f"verify {new_id}",
    ]
    journal = [e for e in world.events if e.startswith("comments")]
    assert journal == [
        "comments key-intent:20261101T120000Z",
        f"comments key-intent:20261101T120000Z={new_id}",
        "comments -",
    ]
    assert world.events.index(journal[0]) < world.events.index(f"create {new_id}")
    assert world.backend.comments == MANAGED_MARKER
    entry = world.sink.entries[CONN]
    assert entry == {**TEMPLATE, "login": new_id, "password": world.backend.keys[new_id].secret}
    assert_no_secret(world, result.to_dict())


def test_ensure_rerun_changes_nothing(world: World) -> None:
    world.manager().ensure()
    before = len(world.events)
    result = world.manager().ensure()
    assert result.action == "unchanged" and result.verified and result.created is None
    assert mutations(world, before) == []
    assert len(world.backend.keys) == 1


def test_ensure_replaces_a_sink_key_that_no_longer_authenticates_but_deactivates_nothing(world: World) -> None:
    old = world.provision()
    world.sink.entries[CONN]["password"] = "stale-secret-from-a-spreadsheet"
    world.sink.entries[CONN]["description"] = "kept"
    result = world.manager().ensure()
    assert result.action == "created" and result.access_key_id != old
    assert world.backend.status(old) == "Active"  # ensure never deactivates
    entry = world.sink.entries[CONN]
    assert entry["login"] == result.access_key_id and entry["description"] == "kept"


def test_ensure_with_missing_grants_fails_without_creating(world: World) -> None:
    world.provision()
    world.backend.project_ok = False
    with pytest.raises(VerificationError) as err:
        world.manager().ensure()
    assert err.value.stage == "project" and "ADD USER" in str(err.value)
    assert len(world.backend.keys) == 1 and not any(e.startswith("create") for e in world.events)


def test_ensure_trusts_a_sink_that_hides_secrets(world: World) -> None:
    key = world.provision()
    world.sink.hide_password = True
    result = world.manager().ensure()
    assert result.action == "unchanged" and result.access_key_id == key and not result.verified
    assert world.backend.verify_calls == []


def test_ensure_refuses_to_overwrite_another_identitys_working_key(world: World) -> None:
    world.sink.entries[CONN] = {**TEMPLATE, "login": "LTAIadmin", "password": "admin-secret-123"}
    world.backend.keys["LTAIadmin"] = FakeKey("admin-secret-123", "Active", T0)  # verifiable, but ...
    world.backend.list_keys = lambda user_name: []  # type: ignore[method-assign]  # ... not the user's
    with pytest.raises(SinkConflictError, match="not a key of RAM user 'clarityq'"):
        world.manager().ensure()
    assert world.sink.entries[CONN]["login"] == "LTAIadmin"


def test_foreign_refusal_happens_before_any_housekeeping(world: World) -> None:
    expired = world.backend.add(status="Inactive", age_days=400)
    world.sink.entries[CONN] = {**TEMPLATE, "login": "LTAIadmin", "password": "admin-secret-123"}
    world.backend.verify = lambda fields: Verification(False, "project", "not a member")  # type: ignore[method-assign]
    with pytest.raises(SinkConflictError, match="belongs to another identity"):
        world.manager().rotate()
    assert world.backend.status(expired) == "Inactive" and mutations(world) == []


def test_ensure_replaces_a_dead_key_that_is_not_the_users(world: World) -> None:
    world.sink.entries[CONN] = {**TEMPLATE, "login": "LTAIdeleted", "password": "gone-secret-123"}
    result = world.manager().ensure()
    assert result.action == "created" and world.sink.entries[CONN]["login"] == result.access_key_id


def test_plan_for_a_user_that_does_not_exist_yet(world: World) -> None:
    world.backend.comments = None  # GetUser: EntityNotExist.User
    planned = world.manager().ensure(dry_run=True)
    assert planned.dry_run and planned.action == "created" and "does not exist yet" in planned.notes[0]
    with pytest.raises(UserNotFoundError):
        world.manager().ensure()


def test_plan_mode_changes_nothing(world: World) -> None:
    world.provision(status="Inactive", age_days=60)
    world.provision()
    result = world.manager().rotate(dry_run=True)
    assert result.dry_run and result.action == "rotated" and result.created is None
    assert any("would delete" in n for n in result.notes) and any("would create" in n for n in result.notes)
    assert mutations(world) == []


# --------------------------------------------------------------------------------------------------
# rotate


def test_rotation_with_one_key(world: World) -> None:
    old = world.provision()
    world.sink.entries[CONN]["extra"] = {"ram_endpoint": "http://127.0.0.1:1", "tunnel_endpoint": "http://t:1"}
    result = world.manager(grace_period=timedelta(days=3)).rotate()
    new = result.access_key_id
    assert result.action == "rotated" and new != old and result.deactivated == [old]
    assert world.backend.status(old) == "Inactive" and world.backend.status(new) == "Active"
    assert world.events.index(f"deliver {new}") < world.events.index(f"Inactive {old}")
    assert result.pending_deletion == [{"access_key_id": old, "delete_after": "2026-11-04T12:00:00Z"}]
    entry = world.sink.entries[CONN]
    assert entry["extra"]["tunnel_endpoint"] == "http://t:1"  # the entry's own fields survive
    assert entry["password"] == world.backend.keys[new].secret


def test_rotation_with_two_keys_deletes_the_oldest_inactive(world: World) -> None:
    retired = world.provision(status="Inactive", age_days=60)
    current = world.provision(age_days=1)
    result = world.manager().rotate()  # the retired key is still in its grace period: the policy overrides it
    assert result.deleted == [retired] and result.deactivated == [current] and result.action == "rotated"
    assert set(world.backend.keys) == {current, result.access_key_id}


def test_rotation_with_two_keys_and_policy_refuse_changes_nothing(world: World) -> None:
    retired = world.provision(status="Inactive", age_days=2)
    world.provision(age_days=1)
    with pytest.raises(KeyLimitError) as err:
        world.manager(on_key_limit="refuse").rotate()
    message = str(err.value)
    assert retired in message and "on_key_limit='refuse'" in message and "Nothing was changed" in message
    assert mutations(world) == []


def test_key_limit_with_two_active_keys_refuses_under_every_policy(world: World) -> None:
    first, second = world.backend.add(age_days=10), world.backend.add(age_days=5)
    for policy in ("delete_oldest_inactive", "refuse"):
        with pytest.raises(KeyLimitError, match="both keys are Active") as err:
            world.manager(on_key_limit=policy).rotate()
        assert first in str(err.value) and second in str(err.value)
    assert world.backend.status(first) == world.backend.status(second) == "Active" and mutations(world) == []


def test_limit_race_at_create_is_reported(world: World) -> None:
    world.provision()
    world.backend.create_key = lambda user_name: (_ for _ in ()).throw(KeyLimitError("raced"))  # type: ignore[method-assign]
    with pytest.raises(KeyLimitError, match="raced"):
        world.manager().rotate()


def test_verification_failure_deletes_the_new_key_and_keeps_the_old_one_active(world: World) -> None:
    old = world.provision()
    world.backend.unverified_tries = 99
    with pytest.raises(VerificationError) as err:
        world.manager(verify_attempts=3).rotate()
    assert err.value.stage == "authentication"
    assert set(world.backend.keys) == {old} and world.backend.status(old) == "Active"
    assert world.sink_key() == old and world.sink.entries[CONN]["password"] == world.backend.keys[old].secret
    assert world.sleeps == [0.5, 1.0]  # 3 tries, exponential back-off
    assert "was deleted again" in str(err.value)
    assert_no_secret(world, err.value)


def test_new_key_that_propagates_late_is_retried(world: World) -> None:
    world.provision()
    world.backend.unverified_tries = 2
    result = world.manager(verify_attempts=5).rotate()
    assert result.action == "rotated" and world.sleeps == [0.5, 1.0]


def test_sink_write_failure_deletes_the_new_key(world: World) -> None:
    old = world.provision()
    world.sink.fail_deliver = 1
    with pytest.raises(SinkError) as err:
        world.manager().rotate()
    assert "disk full" not in str(err.value) and "OSError" in str(err.value)
    assert set(world.backend.keys) == {old} and world.backend.status(old) == "Active" and world.sink_key() == old
    assert_no_secret(world, err.value)


def test_sink_write_failure_with_ram_down_is_reported_then_cleaned_by_the_next_run(world: World) -> None:
    old = world.provision()
    world.clock.advance(days=1)
    world.sink.fail_deliver = 1
    world.backend.fail.update({"delete": 1, "set_status": 1})
    with pytest.raises(SinkError) as err:
        world.manager().rotate()
    orphan = next(k for k in world.backend.keys if k != old)
    assert f"AccessKey {orphan} is left Active" in str(err.value)
    assert world.backend.status(orphan) == "Active" and world.backend.status(old) == "Active"
    # Next run: the orphan is newer than the sink's key -> deactivated as undelivered, the limit policy
    # frees its slot, and the rotation goes through.
    world.clock.advance(hours=1)
    result = world.manager().rotate()
    assert orphan in result.deactivated and orphan in result.deleted
    assert result.action == "rotated" and world.backend.status(old) == "Inactive"
    assert set(world.backend.keys) == {old, result.access_key_id}


def test_sink_that_silently_drops_the_write_gets_the_new_key_deleted(world: World) -> None:
    old = world.provision()
    world.sink.drop_writes = True
    with pytest.raises(SinkError, match="read back") as err:
        world.manager().rotate()
    assert "was deleted again" in str(err.value)
    assert set(world.backend.keys) == {old} and world.backend.status(old) == "Active" and world.sink_key() == old


def test_a_key_made_by_hand_survives_ensure_but_not_rotation(world: World) -> None:
    by_hand = world.backend.add(age_days=3)  # seed 000 step 2, done in the console
    ensured = world.manager().ensure()
    assert ensured.action == "created" and ensured.deactivated == [] and world.backend.status(by_hand) == "Active"
    world.clock.advance(minutes=1)
    # Rotation assumes every consumer reads the sink: the older key is finished off, no new key is needed.
    rotated = world.manager().rotate()
    assert (rotated.action, rotated.deactivated, rotated.created) == ("completed", [by_hand], None)
    assert world.backend.status(by_hand) == "Inactive"


def test_delivery_that_landed_despite_an_error_counts(world: World) -> None:
    old = world.provision()
    world.sink.fail_deliver, world.sink.land_despite_error = 1, True
    result = world.manager().rotate()
    assert result.action == "rotated" and world.sink_key() == result.access_key_id
    assert world.backend.status(old) == "Inactive"


def test_unknown_delivery_outcome_keeps_both_keys_and_the_next_run_completes(world: World) -> None:
    old = world.provision()
    world.clock.advance(days=1)
    world.sink.fail_deliver, world.sink.land_despite_error, world.sink.fail_read_after_deliver_error = 1, True, True
    with pytest.raises(SinkError, match="cannot be read back"):
        world.manager().rotate()
    new = world.sink_key()
    assert new != old and world.backend.status(new) == world.backend.status(old) == "Active"
    world.sink._broken_reads = False
    result = world.manager().rotate()
    assert result.action == "completed" and result.deactivated == [old] and result.access_key_id == new
    assert result.created is None


def test_deactivation_failure_is_finished_by_the_next_rotation(world: World) -> None:
    old = world.provision()
    world.clock.advance(days=1)
    world.backend.fail["set_status"] = 1
    with pytest.raises(AccessKeyError, match="next rotation run deactivates it") as err:
        world.manager().rotate()
    new = world.sink_key()
    assert new != old and world.backend.status(old) == "Active"
    assert_no_secret(world, err.value)
    result = world.manager().rotate()
    assert (result.action, result.deactivated, result.created) == ("completed", [old], None)
    assert world.backend.status(old) == "Inactive" and world.backend.status(new) == "Active"


# --------------------------------------------------------------------------------------------------
# grace period


def test_grace_period_deletes_on_the_next_run_after_it_ends(world: World) -> None:
    old = world.provision()
    world.manager(grace_period=timedelta(hours=24)).rotate()
    world.clock.advance(hours=23)
    early = world.manager(grace_period=timedelta(hours=24)).ensure()
    assert early.action == "unchanged" and early.deleted == [] and world.backend.status(old) == "Inactive"
    assert early.pending_deletion == [{"access_key_id": old, "delete_after": "2026-11-02T12:00:00Z"}]
    world.clock.advance(hours=1)
    late = world.manager(grace_period=timedelta(hours=24)).ensure()
    assert late.deleted == [old] and late.pending_deletion == [] and old not in world.backend.keys


def test_grace_period_counts_from_a_later_last_use(world: World) -> None:
    world.provision(age_days=10)
    used = T0 - timedelta(hours=2)
    retired = world.backend.add(status="Inactive", age_days=40, last_used=used)
    result = world.manager(grace_period=timedelta(hours=6)).ensure()
    assert result.pending_deletion == [{"access_key_id": retired, "delete_after": "2026-11-01T16:00:00Z"}]


def test_zero_grace_deletes_the_old_key_on_the_next_run(world: World) -> None:
    old = world.provision()
    world.manager(grace_period=timedelta(0)).rotate()
    world.clock.advance(seconds=1)
    assert world.manager(grace_period=timedelta(0)).rotate().deleted == [old]


# --------------------------------------------------------------------------------------------------
# secrets and options


def test_secrets_never_reach_results_messages_or_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    world.provision()
    results = [world.manager().rotate().to_dict(), world.manager().ensure().to_dict()]
    world.sink.fail_deliver = 1
    with pytest.raises(SinkError) as err:
        world.manager(grace_period=timedelta(0)).rotate()
    assert set(world.masked) >= {k.secret for k in world.backend.keys.values()}
    assert_no_secret(world, results, err.value, caplog.text)


def test_options_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="on_key_limit"):
        AccessKeyOptions(on_key_limit="yolo")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="grace_period"):
        AccessKeyOptions(grace_period=timedelta(seconds=-1))
    with pytest.raises(ConfigurationError, match="verify_attempts"):
        AccessKeyOptions(verify_attempts=0)


def test_manager_validates_names(world: World) -> None:
    with pytest.raises(ConfigurationError, match="ram_user"):
        AccessKeyManager(world.backend, world.sink, user_name="bad name;", sink_conn_id=CONN)
    with pytest.raises(ConfigurationError, match="sink_conn_id"):
        AccessKeyManager(world.backend, world.sink, user_name=USER, sink_conn_id=" ")


def test_reader_template_never_copies_the_admins_credentials() -> None:
    admin = {
        "conn_type": "clarityq_maxcompute",
        "login": "LTAIadmin",
        "password": "admin-secret",
        "host": "https://service.cn-shanghai.maxcompute.aliyun.com/api",
        "schema": "proj",
        "extra": '{"sts_token": "tok", "extra__clarityq_maxcompute__role_arn": "acs:ram::1:role/r", '
        '"region": "cn-shanghai", "extra__clarityq_maxcompute__tunnel_endpoint": "https://dt"}',
    }
    assert reader_connection_template(admin) == {
        "conn_type": "clarityq_maxcompute",
        "host": admin["host"],
        "schema": "proj",
        "extra": {"region": "cn-shanghai", "tunnel_endpoint": "https://dt"},
    }


# --------------------------------------------------------------------------------------------------
# What the consumer resolves, the managed user, and keys left by interrupted runs


class Killed(BaseException):
    """The process going away mid-run (as kill -9 would, no clean-up reaches RAM)."""


def kill_during_verification(world: World) -> None:
    def verify(fields: Mapping[str, Any]) -> Verification:
        world.backend.fail.update({"delete": 1, "set_status": 1})  # from now on nothing reaches RAM
        raise Killed

    world.backend.verify = verify  # type: ignore[method-assign]


def test_a_sink_without_the_entry_airflow_resolves_elsewhere_is_refused_before_any_change(world: World) -> None:
    old = world.provision()
    elsewhere = ResolvedConnection(CONN, "the metadata DB", {**world.sink.entries[CONN]})
    world.sink.entries.clear()  # the sink written is a file Airflow does not read: it starts empty
    before = len(world.events)
    with pytest.raises(
        SinkMismatchError, match=r"has no entry 'clarityq_reader', but Airflow resolves it from the metadata DB"
    ):
        world.manager(resolver=lambda conn_id: elsewhere).rotate()
    assert mutations(world, before) == [] and world.backend.status(old) == "Active"


def test_a_delivery_airflow_does_not_see_deletes_the_new_key_and_retires_nothing(world: World) -> None:
    old = world.provision()
    shadow = ResolvedConnection(
        CONN, "the environment variable AIRFLOW_CONN_CLARITYQ_READER", {**world.sink.entries[CONN]}
    )
    with pytest.raises(SinkMismatchError, match=r"Airflow resolves 'clarityq_reader' from the environment") as err:
        world.manager(resolver=lambda conn_id: shadow).rotate()
    assert "Nothing was deactivated" in str(err.value)
    assert set(world.backend.keys) == {old} and world.backend.status(old) == "Active"  # the new key is deleted
    assert world.sink_key() == old  # and the sink holds the reader's key again
    assert world.backend.comments == MANAGED_MARKER
    assert_no_secret(world, str(err.value))


def test_a_sink_holding_another_key_than_airflow_reads_is_refused_before_any_change(world: World) -> None:
    old = world.provision()
    before = len(world.events)
    reader = ResolvedConnection(CONN, "the environment variable AIRFLOW_CONN_CLARITYQ_READER", {"login": "LTAIother"})
    with pytest.raises(SinkMismatchError, match="nothing was created or retired"):
        world.manager(resolver=lambda conn_id: reader).ensure()
    assert mutations(world, before) == [] and world.backend.status(old) == "Active"


def test_a_user_the_provider_does_not_manage_is_refused_before_any_change(world: World) -> None:
    world.provision()
    world.backend.comments = "ETL service account"
    before = len(world.events)
    with pytest.raises(UnmanagedUserError, match="adopt"):
        world.manager().rotate()
    assert world.events[before:] == []


@pytest.mark.parametrize("recorded_id", [True, False])
def test_an_undelivered_key_of_an_interrupted_run_is_deleted_when_never_used(world: World, recorded_id: bool) -> None:
    current = world.provision()
    world.clock.advance(days=1)
    orphan = world.backend.add(age_days=0)  # created by the interrupted run, never delivered, never used
    intent = parse_comments(MANAGED_MARKER).with_intent(world.clock(), orphan if recorded_id else None)
    world.backend.comments = intent.render()
    result = world.manager().ensure()
    assert orphan in result.deleted and world.backend.status(orphan) is None
    assert world.backend.status(current) == "Active" and result.action == "unchanged"
    assert world.backend.comments == MANAGED_MARKER


def test_a_used_undelivered_key_is_deactivated_not_deleted(world: World) -> None:
    world.provision()
    world.clock.advance(days=1)
    orphan = world.backend.add(age_days=0, last_used=world.clock())
    world.backend.comments = parse_comments(MANAGED_MARKER).with_intent(world.clock(), orphan).render()
    result = world.manager().ensure()
    assert result.deactivated == [orphan] and world.backend.status(orphan) == "Inactive" and not result.deleted


def test_two_killed_runs_do_not_stop_the_third(world: World) -> None:
    world.provision()
    for _ in range(2):  # each run dies after CreateAccessKey, before delivery, leaving its key and announcement
        kill_during_verification(world)
        with pytest.raises(Killed):
            world.manager().rotate()
        assert len(world.backend.keys) == 2 and "key-intent" in str(world.backend.comments)
        del world.backend.verify  # back to the class's verifier
        world.clock.advance(minutes=5)
    result = world.manager().rotate()
    assert result.action == "rotated" and world.sink_key() == result.access_key_id
    assert world.backend.status(result.access_key_id) == "Active"
    assert world.backend.comments == MANAGED_MARKER


def test_an_interrupted_run_deletes_its_key_when_it_can(world: World) -> None:
    old = world.provision()

    def verify(fields: Mapping[str, Any]) -> Verification:
        raise TimeoutError("execution_timeout")

    world.backend.verify = verify  # type: ignore[method-assign]
    with pytest.raises(TimeoutError):
        world.manager().rotate()
    assert set(world.backend.keys) == {old} and world.backend.status(old) == "Active"
    assert world.backend.comments == MANAGED_MARKER and world.sink_key() == old

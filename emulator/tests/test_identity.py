"""The identity store on its own: naming rules, key limits, callers, STS expiry, persistence."""

from __future__ import annotations

import json
import re
import threading

import pytest
from clarityq_emulator.ram.models import (
    DeleteConflictError,
    EntityAlreadyExistsError,
    EntityNotExistError,
    IdentityError,
    IdentityStore,
    InvalidParameterError,
    LimitExceededError,
    format_date,
)

T0 = 1_800_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> IdentityStore:
    return IdentityStore(account_id="1234567890123456", clock=clock)


class TestDefaults:
    def test_generated_account_and_owner_key_have_real_shapes(self) -> None:
        store = IdentityStore()
        assert re.fullmatch(r"[1-9][0-9]{15}", store.account_id)
        assert re.fullmatch(r"LTAI[A-Za-z0-9]{20}", store.owner_access_key_id)
        assert re.fullmatch(r"[A-Za-z0-9]{30}", store.owner_access_key_secret)

    def test_two_stores_do_not_share_identities(self) -> None:
        assert IdentityStore().owner_access_key_id != IdentityStore().owner_access_key_id

    def test_owner_key_resolves_to_the_account(self, store: IdentityStore) -> None:
        info = store.lookup_key(store.owner_access_key_id)
        assert info is not None
        assert info.secret == store.owner_access_key_secret
        assert info.caller.kind == "account"
        assert info.caller.user_id == info.caller.account_id == "1234567890123456"
        assert info.caller.arn == "acs:ram::1234567890123456:root"

    def test_unknown_key_is_none(self, store: IdentityStore) -> None:
        assert store.lookup_key("LTAInope") is None


class TestUsers:
    def test_create_and_get_by_name_any_case_and_by_uid(self, store: IdentityStore) -> None:
        user = store.create_user("clarityq", display_name="ClarityQ")
        assert re.fullmatch(r"[0-9]{16}", user.user_id)
        assert store.get_user("CLARITYQ") == user
        assert store.get_user(user.user_id) == user
        assert user.create_date == T0

    def test_display_name_defaults_to_the_name(self, store: IdentityStore) -> None:
        assert store.create_user("bob").display_name == "bob"

    def test_duplicate_name_is_refused_case_insensitively(self, store: IdentityStore) -> None:
        store.create_user("clarityq")
        with pytest.raises(EntityAlreadyExistsError) as exc:
            store.create_user("ClarityQ")
        assert exc.value.code == "EntityAlreadyExists.User"
        assert exc.value.status == 409

    @pytest.mark.parametrize(
        ("name", "code"),
        [
            ("", "InvalidParameter.UserName.Length"),
            ("x" * 65, "InvalidParameter.UserName.Length"),
            ("bad name", "InvalidParameter.UserName.InvalidChars"),
            ("ümlaut", "InvalidParameter.UserName.InvalidChars"),
            ("a@b", "InvalidParameter.UserName.InvalidChars"),
        ],
    )
    def test_bad_names(self, store: IdentityStore, name: str, code: str) -> None:
        with pytest.raises(InvalidParameterError) as exc:
            store.create_user(name)
        assert exc.value.code == code
        assert exc.value.status == 400

    def test_longest_and_odd_but_legal_names(self, store: IdentityStore) -> None:
        assert store.create_user("x" * 64).user_name == "x" * 64
        assert store.create_user("a.b-c_d").user_name == "a.b-c_d"

    def test_rename_moves_the_name_and_keeps_keys(self, store: IdentityStore, clock: FakeClock) -> None:
        store.create_user("old")
        key = store.create_access_key("old")
        clock.now += 10
        renamed = store.update_user("old", new_user_name="new", new_display_name="New")
        assert store.get_user("old") is None
        assert store.get_user("new") == renamed
        assert renamed.update_date == T0 + 10
        assert renamed.display_name == "New"
        info = store.lookup_key(key.access_key_id)
        assert info is not None
        assert info.caller.name == "new"
        assert info.caller.arn.endswith(":user/new")

    def test_rename_onto_a_taken_name_is_refused(self, store: IdentityStore) -> None:
        store.create_user("a")
        store.create_user("b")
        with pytest.raises(EntityAlreadyExistsError):
            store.update_user("a", new_user_name="B")

    def test_delete_conflicts_while_keys_exist(self, store: IdentityStore) -> None:
        store.create_user("u")
        key = store.create_access_key("u")
        with pytest.raises(DeleteConflictError) as exc:
            store.delete_user("u")
        assert exc.value.code == "DeleteConflict.User.AccessKey"
        store.delete_access_key("u", key.access_key_id)
        store.delete_user("u")
        assert store.get_user("u") is None

    def test_missing_user(self, store: IdentityStore) -> None:
        with pytest.raises(EntityNotExistError) as exc:
            store.delete_user("ghost")
        assert exc.value.code == "EntityNotExist.User"
        assert exc.value.status == 404

    def test_uid_is_not_accepted_where_a_user_name_is_required(self, store: IdentityStore) -> None:
        user = store.create_user("u")
        with pytest.raises(EntityNotExistError):
            store.require_user(user.user_id)


class TestAccessKeys:
    def test_limit_is_two(self, store: IdentityStore) -> None:
        store.create_user("u")
        first = store.create_access_key("u")
        second = store.create_access_key("u")
        assert re.fullmatch(r"LTAI[A-Za-z0-9]{20}", first.access_key_id)
        assert first.access_key_id != second.access_key_id
        with pytest.raises(LimitExceededError) as exc:
            store.create_access_key("u")
        assert exc.value.code == "LimitExceeded.User.AccessKey"
        assert {k.access_key_id for k in store.list_access_keys("u")} == {
            first.access_key_id,
            second.access_key_id,
        }

    def test_limit_holds_under_concurrency(self, store: IdentityStore) -> None:
        store.create_user("u")
        outcomes: list[str] = []
        barrier = threading.Barrier(8)

        def attempt() -> None:
            barrier.wait()
            try:
                store.create_access_key("u")
                outcomes.append("ok")
            except LimitExceededError:
                outcomes.append("limit")

        threads = [threading.Thread(target=attempt) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["limit"] * 6 + ["ok"] * 2
        assert len(store.list_access_keys("u")) == 2

    def test_key_resolves_to_its_ram_user(self, store: IdentityStore) -> None:
        user = store.create_user("clarityq")
        key = store.create_access_key("clarityq")
        info = store.lookup_key(key.access_key_id)
        assert info is not None
        assert info.secret == key.secret
        assert info.status == "Active"
        assert info.security_token is None
        assert info.caller.kind == "ram_user"
        assert info.caller.user_id == user.user_id
        assert info.caller.account_id == store.account_id
        assert info.caller.arn == f"acs:ram::{store.account_id}:user/clarityq"

    def test_status_changes_and_bad_status(self, store: IdentityStore) -> None:
        store.create_user("u")
        key = store.create_access_key("u")
        store.update_access_key("u", key.access_key_id, "Inactive")
        info = store.lookup_key(key.access_key_id)
        assert info is not None
        assert info.status == "Inactive"
        with pytest.raises(InvalidParameterError) as exc:
            store.update_access_key("u", key.access_key_id, "active")
        assert exc.value.code == "InvalidParameter.Status"

    def test_key_of_another_user_is_not_found(self, store: IdentityStore) -> None:
        store.create_user("a")
        store.create_user("b")
        key = store.create_access_key("a")
        with pytest.raises(EntityNotExistError) as exc:
            store.delete_access_key("b", key.access_key_id)
        assert exc.value.code == "EntityNotExist.User.AccessKey"
        assert store.lookup_key(key.access_key_id) is not None

    def test_deleted_key_no_longer_resolves(self, store: IdentityStore) -> None:
        store.create_user("u")
        key = store.create_access_key("u")
        store.delete_access_key("u", key.access_key_id)
        assert store.lookup_key(key.access_key_id) is None

    def test_last_used_tracks_the_clock(self, store: IdentityStore, clock: FakeClock) -> None:
        store.create_user("u")
        key = store.create_access_key("u")
        assert store.get_access_key_last_used("u", key.access_key_id) is None
        clock.now += 42
        store.record_key_use(key.access_key_id, "odps")
        assert store.get_access_key_last_used("u", key.access_key_id) == T0 + 42
        store.record_key_use(store.owner_access_key_id, "ram")  # ignored, must not raise


class TestRolesAndSts:
    def test_assume_role_mints_a_temporary_key_that_expires(self, store: IdentityStore, clock: FakeClock) -> None:
        role = store.add_role("reader", max_session_duration=7200)
        session = store.assume_role("READER", "alice", duration_seconds=900)
        assert re.fullmatch(r"STS\.[A-Za-z0-9]{24}", session.access_key_id)
        assert session.expires_at == T0 + 900
        info = store.lookup_key(session.access_key_id)
        assert info is not None
        assert info.security_token == session.security_token
        assert info.caller.kind == "assumed_role"
        assert info.caller.user_id == role.role_id
        assert info.caller.name == "reader/alice"
        assert info.caller.arn == f"acs:ram::{store.account_id}:assumed-role/reader/alice"
        assert not info.is_expired(clock())
        clock.now += 900
        expired = store.lookup_key(session.access_key_id)
        assert expired is not None
        assert expired.is_expired(clock())

    @pytest.mark.parametrize("duration", [899, 7201])
    def test_duration_bounds(self, store: IdentityStore, duration: int) -> None:
        store.add_role("reader", max_session_duration=7200)
        with pytest.raises(InvalidParameterError) as exc:
            store.assume_role("reader", "alice", duration_seconds=duration)
        assert exc.value.code == "InvalidParameter.DurationSeconds"

    @pytest.mark.parametrize("session_name", ["a", "x" * 65, "has space", "slash/no"])
    def test_session_name_rules(self, store: IdentityStore, session_name: str) -> None:
        store.add_role("reader")
        with pytest.raises(InvalidParameterError) as exc:
            store.assume_role("reader", session_name)
        assert exc.value.code == "InvalidParameter.RoleSessionName"

    def test_unknown_role(self, store: IdentityStore) -> None:
        with pytest.raises(EntityNotExistError) as exc:
            store.assume_role("nope", "alice")
        assert exc.value.code == "EntityNotExist.Role"

    def test_long_expired_sessions_are_pruned(self, store: IdentityStore, clock: FakeClock) -> None:
        store.add_role("reader")
        old = store.assume_role("reader", "first")
        clock.now += 3600 + 86400 + 1
        store.assume_role("reader", "second")
        assert store.lookup_key(old.access_key_id) is None


class TestNonces:
    def test_replay_is_detected(self, store: IdentityStore) -> None:
        assert store.remember_nonce("n1", 100.0)
        assert not store.remember_nonce("n1", 101.0)
        assert store.remember_nonce("n2", 101.0)

    def test_cache_forgets_old_entries(self, store: IdentityStore) -> None:
        assert store.remember_nonce("n1", 100.0)
        assert store.remember_nonce("n2", 100.0 + 10_000)
        assert store.remember_nonce("n1", 100.0 + 10_001)


class TestPersistence:
    def test_dump_load_round_trips_exactly(self, store: IdentityStore, clock: FakeClock) -> None:
        store.create_user("clarityq", display_name="ClarityQ", comments="a b", email="x@example.com")
        key = store.create_access_key("clarityq")
        store.update_access_key("clarityq", key.access_key_id, "Inactive")
        store.record_key_use(key.access_key_id, "ram")
        store.add_role("reader", description="read only")
        session = store.assume_role("reader", "s1")
        data = json.loads(json.dumps(store.dump()))
        copy = IdentityStore(clock=clock)
        copy.load(data)
        assert copy.dump() == store.dump()
        assert copy.account_id == store.account_id
        assert copy.lookup_key(key.access_key_id) == store.lookup_key(key.access_key_id)
        assert copy.lookup_key(session.access_key_id) == store.lookup_key(session.access_key_id)
        assert copy.get_user("CLARITYQ") == store.get_user("clarityq")

    def test_load_rejects_unknown_versions(self, store: IdentityStore) -> None:
        data = store.dump()
        data["version"] = 99
        with pytest.raises(ValueError, match="version"):
            store.load(data)

    def test_seed_users_keys_and_roles(self, store: IdentityStore) -> None:
        seed = {
            "ram": {
                "users": [
                    {
                        "name": "clarityq",
                        "display_name": "ClarityQ",
                        "user_id": "2000000000000001",
                        "access_keys": [{"id": "LTAIseedKEY000000000001", "secret": "s" * 30}],
                    }
                ],
                "roles": [{"name": "clarityq-reader", "max_session_duration": 7200}],
            }
        }
        store.load_seed(seed)
        store.load_seed(seed)  # idempotent: nothing duplicated, nothing raised
        user = store.get_user("2000000000000001")
        assert user is not None
        assert user.display_name == "ClarityQ"
        info = store.lookup_key("LTAIseedKEY000000000001")
        assert info is not None
        assert info.secret == "s" * 30
        assert info.caller.user_id == "2000000000000001"
        assert len(store.list_access_keys("clarityq")) == 1
        role = store.get_role("CLARITYQ-READER")
        assert role is not None
        assert role.max_session_duration == 7200

    def test_seed_accepts_the_ram_part_alone(self, store: IdentityStore) -> None:
        store.load_seed({"users": [{"name": "solo", "access_keys": [{"status": "Inactive"}]}]})
        keys = store.list_access_keys("solo")
        assert [k.status for k in keys] == ["Inactive"]

    def test_bad_seed_is_reported(self, store: IdentityStore) -> None:
        with pytest.raises(ValueError, match=r"ram\.users"):
            store.load_seed({"ram": {"users": "clarityq"}})
        with pytest.raises(IdentityError):
            store.load_seed({"ram": {"users": [{"name": "bad name"}]}})


def test_format_date_is_iso_utc_with_z() -> None:
    assert format_date(0) == "1970-01-01T00:00:00Z"
    assert format_date(T0) == "2027-01-15T08:00:00Z"

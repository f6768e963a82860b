"""The I/O layer with a plain in-memory backend: reads, phase order, bounded concurrency, retries,
"already exists" races, stop on failure, re-runs that converge, and request budgets.

The fake answers in MaxCompute's documented *text* forms (``[users]`` / ``Authorization Type: ACL``),
so the parsers' text path is exercised here while the integration tests exercise the JSON path.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_clarityq.core.alibaba.failures import Failure, RetryPolicy, ServiceError
from airflow_provider_clarityq.core.alibaba.identity import CallerIdentity
from airflow_provider_clarityq.core.errors import ConfigurationError, InvalidIdentifierError
from airflow_provider_clarityq.core.grants.backend import CountingBackend, RamUser
from airflow_provider_clarityq.core.grants.model import Grantee, ObjectRef, ProjectAction, TableAction
from airflow_provider_clarityq.core.grants.planner import PlanError
from airflow_provider_clarityq.core.grants.read import caller_as_admin, read_state
from airflow_provider_clarityq.core.grants.run import ensure_ram_user, run_access
from airflow_provider_clarityq.core.grants.spec import default_spec, load_spec
from airflow_provider_clarityq.core.grants.state import ResolvedPrincipal
from airflow_provider_clarityq.core.grants.steps import Phase
from airflow_provider_clarityq.core.identifiers import Principal
from airflow_provider_clarityq.core.managed_user import MANAGED_MARKER, UnmanagedUserError

ACCOUNT = "1234567890123456"
P = "my_project"
NO_WAIT = RetryPolicy(attempts=4, base=0.0, cap=0.0, jitter=0.0, sleep=lambda _s: None)
MUTATING = re.compile(r"(GRANT|REVOKE|ADD|REMOVE|CREATE|DROP)\b", re.IGNORECASE)


# --------------------------------------------------------------------------------------------------
# A plain fake of the services (no pyodps, no SDK)


@dataclass
class _Fault:
    op: str
    match: str
    failure: Failure
    times: int


@dataclass
class FakeProject:
    name: str
    tables: set[str] = field(default_factory=set)
    members: dict[str, str] = field(default_factory=dict)  # uid -> display form used at ADD USER
    roles: set[str] = field(default_factory=lambda: {"admin", "super_administrator"})
    role_members: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # role -> uids
    acl: dict[tuple[str, str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    # (grantee kind, grantee name, resource path) -> actions


class FakeBackend:
    """An :class:`AccessBackend` over dicts, with scripted faults, latency and call timing."""

    def __init__(self, *projects: str, tables: Sequence[str] = ("customers", "orders")) -> None:
        self.account = ACCOUNT
        self.ram_users: dict[str, str] = {}  # lower name -> uid
        self.comments: dict[str, str] = {}  # lower name -> RAM Comments (users made by the fake carry the mark)
        self.projects = {p: FakeProject(p, set(tables)) for p in projects or (P,)}
        self.faults: list[_Fault] = []
        self.calls: list[tuple[str, str]] = []  # (op, detail)
        self.timeline: list[tuple[str, float, float]] = []  # mutating statement, start, end
        self.latency = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.RLock()
        self._next_uid = 2000000000000000

    # ---- helpers for tests

    def fail(self, match: str, times: int = 1, *, op: str = "security_query", **failure: Any) -> None:
        self.faults.append(_Fault(op, match.lower(), Failure(**failure), times))

    def mutations(self) -> list[str]:
        return [
            d for op, d in self.calls if op in ("create_ram_user",) or (op == "security_query" and MUTATING.match(d))
        ]

    def uid_of(self, name: str) -> str:
        return self.ram_users[name.lower()]

    def snapshot(self) -> dict[str, Any]:
        """Everything access-relevant, comparable across runs."""
        return {
            "ram_users": dict(self.ram_users),
            "projects": {
                n: {
                    "members": sorted(p.members),
                    "roles": sorted(p.roles),
                    "role_members": {r: sorted(m) for r, m in p.role_members.items() if m},
                    "acl": {"|".join(k): sorted(v) for k, v in p.acl.items() if v},
                }
                for n, p in self.projects.items()
            },
        }

    def _maybe_fail(self, op: str, detail: str) -> None:
        with self._lock:
            self.calls.append((op, detail))
            for fault in self.faults:
                if fault.op == op and fault.match in detail.lower():
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    raise ServiceError(fault.failure)

    def _uid(self, principal: str) -> str:
        match = re.fullmatch(r"RAM\$(?P<acct>[^:]+):(?P<who>.+)", principal, re.IGNORECASE)
        if match is None or match["acct"] != self.account:
            raise ServiceError.of(status=404, code="NoSuchObject", message=f"Invalid account Name {principal}")
        who = match["who"]
        if who in self.ram_users.values():
            return who
        if who.lower() in self.ram_users:
            return self.ram_users[who.lower()]
        raise ServiceError.of(status=404, code="NoSuchObject", message=f"Invalid account Name {principal}")

    # ---- AccessBackend

    def caller_identity(self) -> CallerIdentity:
        self._maybe_fail("caller_identity", "")
        return CallerIdentity(self.account, "Account", f"acs:ram::{self.account}:root", self.account)

    def get_ram_user(self, name: str) -> RamUser | None:
        self._maybe_fail("get_ram_user", name)
        uid = self.ram_users.get(name.lower())
        return None if uid is None else RamUser(uid, self.comments.get(name.lower(), MANAGED_MARKER))

    def create_ram_user(self, name: str, comments: str) -> str:
        self._maybe_fail("create_ram_user", name)
        with self._lock:
            if name.lower() in self.ram_users:
                raise ServiceError.of(
                    status=409, code="EntityAlreadyExists.User", message="The user does already EXIST."
                )
            self._next_uid += 1
            self.ram_users[name.lower()] = str(self._next_uid)
            self.comments[name.lower()] = comments
            return str(self._next_uid)

    def set_ram_user_comments(self, name: str, comments: str) -> None:
        self._maybe_fail("set_ram_user_comments", name)
        self.comments[name.lower()] = comments

    def list_users(self, project: str) -> list[dict[str, str]]:
        self._maybe_fail("list_users", project)
        owner = [{"ID": self.account, "DisplayName": f"ALIYUN${self.account}"}]
        return owner + [{"ID": uid, "DisplayName": d} for uid, d in self.projects[project].members.items()]

    def list_roles(self, project: str) -> list[dict[str, str]]:
        self._maybe_fail("list_roles", project)
        return [{"Name": r} for r in sorted(self.projects[project].roles)]

    def list_table_names(self, project: str) -> list[str]:
        self._maybe_fail("list_table_names", project)
        return sorted(self.projects[project].tables)

    def security_query(self, project: str, statement: str) -> object:
        mutating = bool(MUTATING.match(statement))
        start = time.perf_counter()
        if mutating:
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            self._maybe_fail("security_query", statement)
            with self._lock:
                return self._run(self.projects[project], statement)
        finally:
            if mutating:
                with self._lock:
                    self.in_flight -= 1
                    self.timeline.append((statement, start, time.perf_counter()))

    # ---- statements (just enough of the grammar this provider renders)

    def _run(self, p: FakeProject, s: str) -> object:
        if m := re.fullmatch(r"ADD USER (\S+)", s):
            uid = self._uid(m[1])
            if uid in p.members:
                raise ServiceError.of(status=409, code="ObjectAlreadyExists", message=f"User {m[1]} already exists")
            p.members[uid] = m[1]
            return "OK"
        if m := re.fullmatch(r"CREATE ROLE (\w+)", s):
            if m[1].lower() in p.roles:
                raise ServiceError.of(status=409, code="ObjectAlreadyExists", message=f"Role {m[1]} already exists")
            p.roles.add(m[1].lower())
            return "OK"
        if m := re.fullmatch(r"(GRANT|REVOKE) ([\w, ]+) ON (PROJECT|TABLE) (\S+) (?:TO|FROM) (ROLE|USER) (\S+)", s):
            verb, actions, otype, name, gkind, gname = m.groups()
            resource = f"projects/{p.name}" if otype == "PROJECT" else f"projects/{p.name}/tables/{name.lower()}"
            if otype == "TABLE" and not name.endswith("*") and name.lower() not in p.tables:
                raise ServiceError.of(status=404, code="NoSuchTable", message=f"Table not found - {name}")
            if gkind == "ROLE" and gname.lower() not in p.roles:
                raise ServiceError.of(status=404, code="NoSuchObject", message=f"Role {gname} does not exist")
            grantee = gname.lower() if gkind == "ROLE" else self._uid(gname)
            key = (gkind.lower(), grantee, resource)
            names = {a.strip() for a in actions.split(",")}
            if verb == "GRANT":
                p.acl[key] |= names
            else:
                p.acl[key] -= names
            return "OK"
        if m := re.fullmatch(r"(GRANT|REVOKE) (\w+) (?:TO|FROM) (\S+)", s):
            verb, role, principal = m.groups()
            uid = self._uid(principal)
            if role.lower() not in p.roles:
                raise ServiceError.of(status=404, code="NoSuchObject", message=f"Role {role} does not exist")
            if uid not in p.members:
                raise ServiceError.of(status=404, code="NoSuchObject", message=f"{principal} is not a member")
            (p.role_members[role.lower()].add if verb == "GRANT" else p.role_members[role.lower()].discard)(uid)
            return "OK"
        if m := re.fullmatch(r"DESCRIBE ROLE (\w+)", s):
            role = m[1].lower()
            if role not in p.roles:
                raise ServiceError.of(status=404, code="NoSuchObject", message=f"Role {role} does not exist")
            lines = ["[users]", *(p.members[u] for u in sorted(p.role_members[role])), "", "Authorization Type: ACL"]
            lines += self._acl_lines(p, "role", role)
            return "\n".join(lines) + "\n"
        if m := re.fullmatch(r"SHOW GRANTS FOR (\S+)", s):
            uid = self._uid(m[1])
            if uid not in p.members:
                raise ServiceError.of(status=404, code="NoSuchObject", message=f"{m[1]} is not a member")
            roles = sorted(r for r, users in p.role_members.items() if uid in users)
            lines = ["[roles]", *roles, "", "Authorization Type: ACL", f"[user/{p.members[uid]}]"]
            lines += self._acl_lines(p, "user", uid)
            for role in roles:
                lines += [f"[role/{role}]", *self._acl_lines(p, "role", role)]
            return "\n".join(lines) + "\n"
        raise ServiceError.of(status=400, code="ParseError", message=f"fake cannot parse {s!r}")

    @staticmethod
    def _acl_lines(p: FakeProject, kind: str, name: str) -> list[str]:
        return [
            f"A\t{resource}: {' | '.join(sorted(actions))}"
            for (k, n, resource), actions in sorted(p.acl.items())
            if k == kind and n == name and actions
        ]


def _user_appears_after_first_get_user(fake: FakeBackend, uid: str) -> None:
    """Another run creates the RAM user between our GetUser and our CreateUser."""
    original = fake.get_ram_user
    seen = {"calls": 0}

    def racing_get(name: str) -> RamUser | None:
        seen["calls"] += 1
        if seen["calls"] == 1:
            fake.calls.append(("get_ram_user", name))
            fake.ram_users[name.lower()] = uid
            return None
        return original(name)

    fake.get_ram_user = racing_get  # type: ignore[method-assign]


def seed_000(fake: FakeBackend, project: str = P) -> dict[str, Any]:
    """The state seed 000 leaves: what every converged run must equal."""
    return {
        "members": [fake.uid_of("clarityq")],
        "role_members": {"clarityq_reader": [fake.uid_of("clarityq")]},
        "acl": {
            f"role|clarityq_reader|projects/{project}": ["CreateInstance", "List"],
            f"role|clarityq_reader|projects/{project}/tables/*": ["Describe", "Select"],
        },
    }


def project_snapshot(fake: FakeBackend, project: str = P) -> dict[str, Any]:
    snap = fake.snapshot()["projects"][project]
    return {k: snap[k] for k in ("members", "role_members", "acl")}


# --------------------------------------------------------------------------------------------------
# The happy path and its request budget


class TestSeed000:
    def test_empty_project_converges_to_seed_000_and_is_verified(self) -> None:
        fake = FakeBackend()
        result = run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        assert result.ok and result.verified is True
        assert project_snapshot(fake) == seed_000(fake)
        uid = fake.uid_of("clarityq")
        assert [r.step.kind for r in result.executed] == [
            "create_ram_user",
            "add_user",
            "create_role",
            "grant_actions",
            "grant_actions",
            "grant_role",
        ]
        # After CreateUser the rest is re-planned: statements name the user by UID (seed 000's form).
        assert result.executed[1].step.statement == f"ADD USER RAM${ACCOUNT}:{uid}"
        assert result.executed[-1].step.statement == f"GRANT clarityq_reader TO RAM${ACCOUNT}:{uid}"
        assert result.principal == f"RAM${ACCOUNT}:{uid}" and result.user_uid == uid
        assert result.to_dict()["summary"]["executed"] == 6

    def test_converged_rerun_makes_three_requests_and_no_mutation(self) -> None:
        fake = FakeBackend()
        run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        fake.calls.clear()
        again = run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        assert again.plan.is_empty and again.verified is None and again.ok
        assert fake.mutations() == []
        # GetCallerIdentity, GetUser, DESCRIBE ROLE: the user holds the role, so LIST USERS is not needed.
        assert again.requests == {"maxcompute:security_query": 1, "ram:GetUser": 1, "sts:GetCallerIdentity": 1}
        assert [op for op, _ in fake.calls] == ["caller_identity", "get_ram_user", "security_query"]

    def test_handed_over_account_and_uid_are_cross_checked_not_trusted(self) -> None:
        fake = FakeBackend()
        run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        uid = fake.uid_of("clarityq")
        fake.calls.clear()
        run_access(fake, default_spec(P), "apply", retry=NO_WAIT, account_id=ACCOUNT, user_uid=uid)
        assert [op for op, _ in fake.calls] == ["caller_identity", "get_ram_user", "security_query"]
        other = "2999999999999999"
        fake.calls.clear()
        with pytest.raises(
            ConfigurationError, match=rf"ram_user_uid.*is {other} but RAM user 'clarityq' has UID {uid}"
        ):
            run_access(fake, default_spec(P), "apply", retry=NO_WAIT, user_uid=other)
        assert fake.mutations() == []

    def test_a_wrong_account_id_is_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="account_id"):
            run_access(FakeBackend(), default_spec(P), "sync", retry=NO_WAIT, account_id="999")

    def test_plan_mode_changes_nothing(self) -> None:
        fake = FakeBackend()
        before = fake.snapshot()
        result = run_access(fake, default_spec(P), "plan", retry=NO_WAIT)
        assert fake.mutations() == [] and fake.snapshot() == before
        assert len(result.plan.steps) == 6 and result.steps == () and result.verified is None
        assert result.to_dict()["plan"]["mode"] == "plan"

    def test_an_injected_identifier_fails_before_any_request(self) -> None:
        fake = FakeBackend()
        with pytest.raises(InvalidIdentifierError, match="role"):
            run_access(fake, {"role": "r; DROP ROLE admin", "projects": [{"project": P}]}, "apply")
        with pytest.raises(ConfigurationError, match="mode"):
            run_access(fake, default_spec(P), "destroy")  # type: ignore[arg-type]
        assert fake.calls == []


class TestStateRead:
    def test_requests_do_not_grow_with_the_number_of_tables(self) -> None:
        counts = []
        for n in (10, 10_000):
            tables = [f"t{i}" for i in range(n)]
            fake = FakeBackend(tables=tables)
            spec = load_spec({"projects": [{"project": P, "tables": tables}]})
            principal = ResolvedPrincipal(ACCOUNT, "clarityq", None)
            counting = CountingBackend(fake)
            read_state(counting, spec, principal, "sync", retry=NO_WAIT)
            counts.append(counting.counts)
        assert counts[0] == counts[1] == {"maxcompute:list_users": 1, "maxcompute:security_query": 1}

    def test_prefixes_list_the_tables_once(self) -> None:
        fake = FakeBackend(tables=["sales_eu", "sales_us", "hr"])
        spec = load_spec({"projects": [{"project": P, "tables": ["sales_*"]}]})
        result = run_access(fake, spec, "apply", retry=NO_WAIT)
        assert result.ok
        granted = {k for k in fake.snapshot()["projects"][P]["acl"] if "/tables/" in k}
        assert granted == {
            f"role|clarityq_reader|projects/{P}/tables/sales_eu",
            f"role|clarityq_reader|projects/{P}/tables/sales_us",
        }
        assert sum(op == "list_table_names" for op, _ in fake.calls) == 2  # the run and its verification

    def test_a_missing_role_is_read_as_absent(self) -> None:
        fake = FakeBackend()
        principal = ResolvedPrincipal(ACCOUNT, "clarityq", None)
        live = read_state(fake, default_spec(P), principal, "apply", retry=NO_WAIT)
        assert "clarityq_reader" not in live.project(P).roles

    def test_an_unexpected_describe_error_is_raised_when_the_role_exists(self) -> None:
        fake = FakeBackend()
        fake.projects[P].roles.add("clarityq_reader")
        fake.fail("DESCRIBE ROLE", status=403, code="NoPermission", message="[4019] no privilege")
        with pytest.raises(ServiceError, match="NoPermission"):
            read_state(fake, default_spec(P), ResolvedPrincipal(ACCOUNT, "clarityq"), "apply", retry=NO_WAIT)

    def test_an_unexpected_describe_error_on_a_missing_role_reads_absent(self) -> None:
        fake = FakeBackend()
        fake.fail("DESCRIBE ROLE", status=400, code="InvalidArgument", message="no such role")
        live = read_state(fake, default_spec(P), ResolvedPrincipal(ACCOUNT, "clarityq"), "apply", retry=NO_WAIT)
        assert "clarityq_reader" not in live.project(P).roles
        assert ("list_roles", P) in fake.calls

    def test_transient_read_failures_are_retried_then_raised(self) -> None:
        fake = FakeBackend()
        fake.fail("", op="list_users", times=2, status=503, code="ServiceUnavailable")
        live = read_state(fake, default_spec(P), ResolvedPrincipal(ACCOUNT, "clarityq"), "apply", retry=NO_WAIT)
        assert live.project(P).members == {f"ALIYUN${ACCOUNT}"}
        fake.fail("", op="list_users", times=10, status=503, code="ServiceUnavailable")
        with pytest.raises(ServiceError, match="503"):
            read_state(fake, default_spec(P), ResolvedPrincipal(ACCOUNT, "clarityq"), "apply", retry=NO_WAIT)

    def test_sync_reads_the_users_own_grants(self) -> None:
        fake = FakeBackend()
        run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        uid = fake.uid_of("clarityq")
        fake.projects[P].acl[("user", uid, f"projects/{P}/tables/orders")].add("Drop")
        live = read_state(fake, default_spec(P), ResolvedPrincipal(ACCOUNT, "clarityq", uid), "sync", retry=NO_WAIT)
        direct = Grantee.user(Principal("ram_user", ACCOUNT, uid))
        assert any(g.grantee == direct and g.action is TableAction.DROP for g in live.project(P).grants)


# --------------------------------------------------------------------------------------------------
# Execution


def _many_tables_spec(n: int) -> tuple[FakeBackend, Any]:
    tables = [f"t{i:03d}" for i in range(n)]
    fake = FakeBackend(tables=tables)
    return fake, load_spec({"projects": [{"project": P, "tables": tables}]})


class TestExecution:
    def test_phases_run_in_order_and_never_overlap(self) -> None:
        fake, spec = _many_tables_spec(12)
        fake.latency = 0.005
        result = run_access(fake, spec, "apply", retry=NO_WAIT, concurrency=8)
        assert result.ok
        phase_of = {r.step.statement: r.step.phase for r in result.executed if r.step.statement}
        spans: dict[Phase, tuple[float, float]] = {}
        for statement, start, end in fake.timeline:
            phase = phase_of[statement]
            low, high = spans.get(phase, (start, end))
            spans[phase] = (min(low, start), max(high, end))
        ordered = [spans[p] for p in sorted(spans)]
        assert [p.name for p in sorted(spans)] == [
            "ADD_USER",
            "CREATE_ROLE",
            "PROJECT_GRANTS",
            "TABLE_GRANTS",
            "ROLE_TO_USER",
        ]
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(ordered))

    def test_concurrency_is_bounded(self) -> None:
        fake, spec = _many_tables_spec(40)
        fake.latency = 0.01
        result = run_access(fake, spec, "apply", retry=NO_WAIT, concurrency=4)
        assert result.ok and len(result.executed) == 45
        assert fake.max_in_flight == 4

    def test_sequential_when_concurrency_is_one(self) -> None:
        fake, spec = _many_tables_spec(10)
        fake.latency = 0.002
        assert run_access(fake, spec, "apply", retry=NO_WAIT, concurrency=1).ok
        assert fake.max_in_flight == 1

    def test_concurrency_must_be_sane(self) -> None:
        with pytest.raises(ConfigurationError, match="concurrency"):
            run_access(FakeBackend(), default_spec(P), "apply", concurrency=0)

    def test_transient_failures_are_retried_with_bounded_backoff(self) -> None:
        waits: list[float] = []
        policy = RetryPolicy(attempts=4, base=0.5, cap=1.0, jitter=0.0, sleep=waits.append)
        fake = FakeBackend()
        fake.fail("GRANT Describe", times=2, status=503, code="ServiceUnavailable")
        fake.fail("CREATE ROLE", status=None, reset=True, message="Connection reset by peer")
        fake.fail("clarityq", op="create_ram_user", status=400, code="Throttling.User")
        result = run_access(fake, default_spec(P), "apply", retry=policy)
        assert result.ok and result.verified
        assert result.retries == 4 and sorted(waits) == [0.5, 0.5, 0.5, 1.0]
        attempts = {r.step.statement or r.step.kind: r.attempts for r in result.steps}
        assert attempts["GRANT Describe, Select ON TABLE * TO ROLE clarityq_reader"] == 3
        assert attempts["CREATE ROLE clarityq_reader"] == 2 and attempts["create_ram_user"] == 2
        assert project_snapshot(fake) == seed_000(fake)

    def test_exhausted_retries_fail_the_step_and_stop_the_run(self) -> None:
        fake = FakeBackend()
        fake.fail("ON PROJECT", times=99, status=503, code="ServiceUnavailable")
        result = run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        assert not result.ok and [r.attempts for r in result.failed] == [NO_WAIT.attempts]
        assert [r.step.kind for r in result.not_run] == ["grant_actions", "grant_role"]
        assert result.verified is None

    def test_a_failure_stops_the_rest_of_its_phase(self) -> None:
        fake, spec = _many_tables_spec(30)
        fake.latency = 0.005
        fake.fail("ON TABLE t003", status=400, code="InvalidArgument", message="invalid privilege")
        result = run_access(fake, spec, "apply", retry=NO_WAIT, concurrency=2)
        assert [r.step.statement for r in result.failed] == [
            "GRANT Describe, Select ON TABLE t003 TO ROLE clarityq_reader"
        ]
        table_grants = [r for r in result.steps if r.step.phase is Phase.TABLE_GRANTS]
        assert len(table_grants) == 30
        assert sum(r.outcome == "not_run" for r in table_grants) >= 20  # queued steps are not started
        assert [r.outcome for r in result.steps if r.step.phase is Phase.ROLE_TO_USER] == ["not_run"]
        assert not any("TO RAM$" in m for m in fake.mutations())

    def test_already_exists_races_count_as_converged(self) -> None:
        fake = FakeBackend()
        fake.fail("CREATE ROLE", status=409, code="ObjectAlreadyExists", message="Role clarityq_reader already exists")
        fake.projects[P].roles.add("clarityq_reader")  # another run created it after our read...
        fake.fail("DESCRIBE ROLE", status=404, code="NoSuchObject", message="Role does not exist")  # ...before it
        result = run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        assert result.ok and result.verified
        assert [r.step.kind for r in result.converged] == ["create_role"]
        assert project_snapshot(fake) == seed_000(fake)

    def test_create_user_race_reads_the_uid_back(self) -> None:
        fake = FakeBackend()
        _user_appears_after_first_get_user(fake, "2888888888888888")
        result = run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        assert result.ok and [r.step.kind for r in result.converged] == ["create_ram_user"]
        assert result.user_uid == "2888888888888888"
        assert result.executed[0].step.statement == f"ADD USER RAM${ACCOUNT}:2888888888888888"

    def test_a_run_killed_halfway_converges_when_rerun(self) -> None:
        fake = FakeBackend()
        fake.fail("GRANT clarityq_reader TO", status=403, code="NoPermission", message="[4019] no privilege")
        first = run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        assert not first.ok and [r.step.kind for r in first.failed] == ["grant_role"]
        second = run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        assert second.ok and [r.step.kind for r in second.executed] == ["grant_role"]
        assert project_snapshot(fake) == seed_000(fake)

    def test_verification_failure_is_reported(self) -> None:
        class Forgetful(FakeBackend):
            def _run(self, p: FakeProject, s: str) -> object:
                return "OK" if s.startswith("GRANT Describe") else super()._run(p, s)

        fake = Forgetful()
        result = run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        assert result.verified is False and not result.ok
        assert result.remaining == ("GRANT Describe, Select ON TABLE * TO ROLE clarityq_reader",)


class TestSync:
    def test_sync_revokes_only_on_the_managed_role_and_user(self) -> None:
        fake = FakeBackend()
        run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        uid = fake.uid_of("clarityq")
        p = fake.projects[P]
        p.acl[("role", "clarityq_reader", f"projects/{P}/tables/orders")].add("Drop")
        p.acl[("user", uid, f"projects/{P}/tables/customers")].add("Update")
        p.roles.add("etl")
        p.acl[("role", "etl", f"projects/{P}/tables/orders")].add("Drop")
        fake.calls.clear()
        result = run_access(fake, default_spec(P), "sync", retry=NO_WAIT)
        assert result.ok and result.verified
        assert sorted(fake.mutations()) == [
            "REVOKE Drop ON TABLE orders FROM ROLE clarityq_reader",
            f"REVOKE Update ON TABLE customers FROM USER RAM${ACCOUNT}:{uid}",
        ]
        assert p.acl[("role", "etl", f"projects/{P}/tables/orders")] == {"Drop"}
        assert project_snapshot(fake)["acl"] == seed_000(fake)["acl"] | {
            f"role|etl|projects/{P}/tables/orders": ["Drop"]
        }

    def test_sync_refuses_to_revoke_from_the_caller(self) -> None:
        class CallerIsTheUser(FakeBackend):
            def caller_identity(self) -> CallerIdentity:
                super().caller_identity()
                uid = self.ram_users.get("clarityq", "")
                return CallerIdentity(ACCOUNT, "RAMUser", f"acs:ram::{ACCOUNT}:user/clarityq", uid)

        fake = CallerIsTheUser()
        run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
        fake.projects[P].acl[("user", fake.uid_of("clarityq"), f"projects/{P}")].add("Write")
        with pytest.raises(PlanError, match="Refusing"):
            run_access(fake, default_spec(P), "sync", retry=NO_WAIT)


class TestEnsureRamUser:
    def test_creates_once_then_reports_the_existing_user(self) -> None:
        fake = FakeBackend()
        first = ensure_ram_user(fake, "clarityq", retry=NO_WAIT)
        second = ensure_ram_user(fake, "clarityq", retry=NO_WAIT)
        assert first.created and not second.created
        assert first.user_uid == second.user_uid == fake.uid_of("clarityq")
        assert second.to_dict() == {
            "user_name": "clarityq",
            "user_uid": first.user_uid,
            "account_id": ACCOUNT,
            "principal": f"RAM${ACCOUNT}:{first.user_uid}",
            "exists": True,
            "created": False,
            "adopted": False,
            "caller": {"account_id": ACCOUNT, "identity_type": "Account", "arn": f"acs:ram::{ACCOUNT}:root"},
            "requests": {"total": 2, "by_call": {"ram:GetUser": 1, "sts:GetCallerIdentity": 1}},
        }

    def test_dry_run_only_reports_a_missing_user(self) -> None:
        fake = FakeBackend()
        result = ensure_ram_user(fake, "clarityq", dry_run=True, retry=NO_WAIT)
        assert not result.exists and result.user_uid is None and result.principal is None
        assert fake.ram_users == {} and fake.mutations() == []

    def test_refuses_without_create_and_validates_the_name_first(self) -> None:
        fake = FakeBackend()
        with pytest.raises(Exception, match="does not exist"):
            ensure_ram_user(fake, "clarityq", create=False, retry=NO_WAIT)
        fake.calls.clear()
        with pytest.raises(InvalidIdentifierError):
            ensure_ram_user(fake, "bad name;", retry=NO_WAIT)
        assert fake.calls == []

    def test_an_existing_user_is_refused_unless_adopted_on_purpose(self) -> None:
        fake = FakeBackend()
        fake.ram_users["etl_prod"] = "2100000000000001"
        fake.comments["etl_prod"] = "ETL service account"
        with pytest.raises(UnmanagedUserError, match="adopt_existing_user=True"):
            ensure_ram_user(fake, "etl_prod", retry=NO_WAIT)
        with pytest.raises(UnmanagedUserError):
            run_access(fake, {"ram_user": "etl_prod", "projects": [{"project": P}]}, "sync", retry=NO_WAIT)
        planned = run_access(fake, {"ram_user": "etl_prod", "projects": [{"project": P}]}, "plan", retry=NO_WAIT)
        assert any("apply and sync will refuse" in w for w in planned.plan.warnings)
        assert fake.mutations() == [] and fake.comments["etl_prod"] == "ETL service account"
        dry = ensure_ram_user(fake, "etl_prod", adopt=True, dry_run=True, retry=NO_WAIT)
        assert dry.adopted and fake.comments["etl_prod"] == "ETL service account"
        adopted = ensure_ram_user(fake, "etl_prod", adopt=True, retry=NO_WAIT)
        assert adopted.adopted and fake.comments["etl_prod"] == f"{MANAGED_MARKER} | ETL service account"
        again = ensure_ram_user(fake, "etl_prod", retry=NO_WAIT)
        assert not again.adopted and again.user_uid == "2100000000000001"

    def test_a_create_race_reads_the_uid_back(self) -> None:
        fake = FakeBackend()
        _user_appears_after_first_get_user(fake, "2777777777777777")
        result = ensure_ram_user(fake, "clarityq", retry=NO_WAIT)
        assert result.user_uid == "2777777777777777" and not result.created


# --------------------------------------------------------------------------------------------------
# The caller as an administrator the planner must not revoke from


class TestCallerIdentity:
    def test_caller_as_admin(self) -> None:
        assert str(caller_as_admin(CallerIdentity(ACCOUNT))) == f"ALIYUN${ACCOUNT}"
        user = caller_as_admin(CallerIdentity(ACCOUNT, "RAMUser", f"acs:ram::{ACCOUNT}:user/ops", "2000000000000001"))
        assert isinstance(user, ResolvedPrincipal) and user.matches(f"RAM${ACCOUNT}:ops")
        role = caller_as_admin(
            CallerIdentity(ACCOUNT, "AssumedRoleUser", f"acs:ram::{ACCOUNT}:assumed-role/ops-role/sess")
        )
        assert str(role) == f"RAM${ACCOUNT}:role/ops-role"
        assert caller_as_admin(CallerIdentity(ACCOUNT, "Federated", "x")) is None


# --------------------------------------------------------------------------------------------------
# Properties: apply converges (and re-planning is empty) from random states, with random transient faults


TABLES = ("customers", "orders", "sales_eu", "sales_us")
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

specs = st.fixed_dictionaries(
    {
        "projects": st.lists(
            st.fixed_dictionaries(
                {
                    "project": st.sampled_from(["proj_a", "proj_b"]),
                    "tables": st.one_of(
                        st.just("*"), st.lists(st.sampled_from([*TABLES, "sales_*", "gone"]), min_size=1, max_size=4)
                    ),
                    "table_actions": st.lists(st.sampled_from(["Describe", "Select"]), min_size=1, max_size=2),
                }
            ),
            min_size=1,
            max_size=2,
            unique_by=lambda g: str(g["project"]),
        )
    }
)
initial = st.fixed_dictionaries(
    {
        "user_exists": st.booleans(),
        "member": st.booleans(),
        "role": st.booleans(),
        "holds_role": st.booleans(),
        "extra": st.lists(
            st.tuples(st.sampled_from((*TABLES, "*")), st.sampled_from(["Describe", "Select", "Drop", "Alter"])),
            max_size=4,
        ),
    }
)
# One fault per filter: a statement matches at most two filters, fewer than NO_WAIT's 4 attempts.
faults = st.lists(
    st.tuples(
        st.sampled_from(["ADD USER", "CREATE ROLE", "GRANT", "ON TABLE", "ON PROJECT", "TO RAM$"]),
        st.sampled_from([503, 429, 0]),
    ),
    max_size=4,
    unique_by=lambda f: f[0],
)


def _prepare(state: Mapping[str, Any]) -> FakeBackend:
    fake = FakeBackend("proj_a", "proj_b", tables=TABLES)
    if state["user_exists"]:
        fake.ram_users["clarityq"] = "2100000000000000"
        for project in fake.projects.values():
            if state["member"]:
                project.members["2100000000000000"] = f"RAM${ACCOUNT}:clarityq"
            if state["role"]:
                project.roles.add("clarityq_reader")
                if state["holds_role"] and state["member"]:
                    project.role_members["clarityq_reader"].add("2100000000000000")
                for table, action in state["extra"]:
                    project.acl[("role", "clarityq_reader", f"projects/{project.name}/tables/{table}")].add(action)
    return fake


def _spec(raw: Mapping[str, Any]) -> Any:
    projects = [
        dict(g, tables=g["tables"] if g["tables"] == "*" else [t for t in g["tables"] if t != "gone"] or "*")
        for g in raw["projects"]
    ]
    return load_spec({"projects": projects})


@PROPS
@given(raw=specs, state=initial, mode=st.sampled_from(["apply", "sync"]))
def test_apply_then_replan_is_empty(raw: Mapping[str, Any], state: Mapping[str, Any], mode: str) -> None:
    spec = _spec(raw)
    fake = _prepare(state)
    result = run_access(fake, spec, mode, retry=NO_WAIT)  # type: ignore[arg-type]
    assert result.ok, result.to_text()
    fake.calls.clear()
    again = run_access(fake, spec, mode, retry=NO_WAIT)  # type: ignore[arg-type]
    assert again.plan.is_empty and fake.mutations() == []


@PROPS
@given(raw=specs, state=initial, injected=faults)
def test_transient_faults_do_not_change_the_outcome(
    raw: Mapping[str, Any], state: Mapping[str, Any], injected: list[tuple[str, int]]
) -> None:
    spec = _spec(raw)
    clean = _prepare(state)
    assert run_access(clean, spec, "apply", retry=NO_WAIT).ok
    faulty = _prepare(state)
    for match, status in injected:
        if status:
            faulty.fail(match, status=status, code="Throttling" if status == 429 else "ServiceUnavailable")
        else:
            faulty.fail(match, reset=True, message="Connection reset by peer")
    result = run_access(faulty, spec, "apply", retry=NO_WAIT)
    assert result.ok, result.to_text()
    assert faulty.snapshot() == clean.snapshot()


def test_step_results_are_json_safe() -> None:
    import json

    fake = FakeBackend()
    result = run_access(fake, default_spec(P), "apply", retry=NO_WAIT)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["format"] == "clarityq.access-result/1" and data["ok"] is True
    assert data["steps"][0]["api_call"] == {
        "service": "ram",
        "action": "CreateUser",
        "params": {"UserName": "clarityq", "Comments": MANAGED_MARKER},
    }
    assert data["plan"]["summary"]["total"] == 6
    assert ObjectRef.for_project(P).path in json.dumps(data) and ProjectAction.LIST.value in json.dumps(data)

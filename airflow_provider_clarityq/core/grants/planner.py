"""The planner: which steps take the live access to the spec's (pure and deterministic: no I/O).

Order (Titan's additive-first, destructive-last): RAM user -> ADD USER -> CREATE ROLE -> project grants ->
table grants -> role to user -> (``sync`` only) revokes. A run killed halfway therefore never leaves the
reader with less access than before, and every step is idempotent, so re-planning and re-applying converges.

Modes: ``plan`` computes what ``apply`` would do and is never executed; ``apply`` adds only what is missing;
``sync`` also revokes what the managed user holds beyond the spec, and what the managed role holds beyond it -
the latter only while nobody else holds the role, or when the spec declares the role ``exclusive_role``.
Nothing else is ever revoked: other roles and other members of the managed role are reported as warnings,
never touched (prior art: Titan's allowlist, Snowflake TF #1845).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from airflow_provider_clarityq.core.errors import ClarityQError, ConfigurationError
from airflow_provider_clarityq.core.grants.model import (
    ADMIN_ROLES,
    Action,
    Grant,
    Grantee,
    ObjectRef,
    TableAction,
    action_order,
    covers,
    expand,
    is_privileged_role,
)
from airflow_provider_clarityq.core.grants.plan import Plan
from airflow_provider_clarityq.core.grants.restriction_plan import restriction_revokes, restriction_steps
from airflow_provider_clarityq.core.grants.spec import AccessSpec, ProjectGrants
from airflow_provider_clarityq.core.grants.state import LiveState, ProjectState, ResolvedPrincipal
from airflow_provider_clarityq.core.grants.steps import (
    MODES,
    AddUser,
    CreateRamUser,
    CreateRole,
    GrantActions,
    GrantRole,
    Mode,
    RevokeActions,
    RevokeRole,
    Step,
)
from airflow_provider_clarityq.core.identifiers import Principal

__all__ = ["PlanError", "make_plan"]


class PlanError(ClarityQError):
    """The plan cannot be made safely (self-lockout, missing state); nothing has been executed."""


def make_plan(
    spec: AccessSpec,
    live: LiveState,
    mode: Mode,
    principal: ResolvedPrincipal,
    *,
    admin: ResolvedPrincipal | Principal | None = None,
) -> Plan:
    """The steps that take ``live`` to ``spec`` for the RAM user ``principal``; pure and deterministic.

    ``admin`` is the identity that will run the plan (STS GetCallerIdentity / WHOAMI): no step may
    revoke anything from it. Raises :class:`PlanError` when the plan would be unsafe or the state is
    incomplete, before anything is executed.
    """
    if mode not in MODES:
        raise ConfigurationError("mode", f"is {mode!r}", "use plan, apply or sync")
    if principal.user_name.lower() != spec.ram_user.lower():
        raise ConfigurationError(
            "ram_user",
            f"is {spec.ram_user!r} but the principal was resolved for {principal.user_name!r}",
            "resolve the spec's user",
        )
    steps: list[Step] = []
    warnings: list[str] = []
    if not principal.exists:
        steps.append(_create_ram_user(spec))
    for index, grants in enumerate(spec.projects):
        planner = _ProjectPlanner(spec, grants, index, live.project(grants.project), principal, mode)
        steps += planner.steps()
        warnings += planner.warnings
    _guard_self_lockout(steps, admin)
    _render_all(steps)
    steps.sort(key=lambda step: step.phase)  # stable: projects and objects keep their order inside a phase
    return Plan(mode=mode, principal=str(principal.principal()), steps=tuple(steps), warnings=tuple(warnings))


def _render_all(steps: Sequence[Step]) -> None:
    """Render every step once now, so a bad identifier fails the planning, not the run halfway."""
    for step in steps:
        if step.statement is None and step.api_call is None:
            raise PlanError(f"step {step.kind} renders to nothing")


def _create_ram_user(spec: AccessSpec) -> CreateRamUser:
    if not spec.create_ram_user:
        raise PlanError(
            f"The RAM user {spec.ram_user!r} does not exist and create_ram_user is false: create it in the RAM "
            "console, or set create_ram_user: true."
        )
    return CreateRamUser(
        project=None, reason=f"the RAM user {spec.ram_user} does not exist (seed 000, step 2)", user_name=spec.ram_user
    )


@dataclass
class _ProjectPlanner:
    """Plans one project; collects warnings about what it sees but must not change."""

    spec: AccessSpec
    grants: ProjectGrants
    index: int
    live: ProjectState
    principal: ResolvedPrincipal
    mode: Mode
    warnings: list[str] = field(default_factory=list)

    @property
    def project(self) -> str:
        return self.grants.project

    @property
    def role(self) -> Grantee:
        return Grantee.role(self.spec.role)

    def steps(self) -> list[Step]:
        desired = self._desired()
        # With ``download`` in the spec, Download grants are the restriction layer's to add and trim.
        held = frozenset(
            g
            for g in self.live.grants
            if g.grantee == self.role
            and g.object.project == self.project
            and not (self.grants.download and g.action is TableAction.DOWNLOAD)
        )
        others = self._other_members()
        # A role others hold is only trimmed when the spec says it is the provider's alone.
        trim_role = self.mode == "sync" and (self.spec.exclusive_role or not others)
        kept = held & desired if trim_role else held
        steps = [*self._membership(), *self._grants(desired, kept), *self._role_bindings()]
        download_tables = self._download_tables()
        steps += restriction_steps(
            self.spec, self.grants, self.live.restrictions, self.principal.principal(), download_tables
        )
        extras = sorted(held - desired, key=Grant.sort_key)
        direct = sorted((g for g in self.live.grants if self._is_managed_user(g)), key=Grant.sort_key)
        extra_roles = sorted(self.live.roles_of(self.principal) - {self.spec.role, *self.spec.extra_roles})
        if self.mode == "sync":
            steps += self._revokes(extras if trim_role else [], direct, extra_roles)
            steps += restriction_revokes(
                self.spec,
                self.grants,
                self.live.restrictions,
                self.principal.principal(),
                download_tables,
                trim_role=trim_role,
            )
            if extras and not trim_role:
                self._note_shared(extras, others)
        else:
            self._note_drift(extras, direct, extra_roles)
        self._note_unmanaged(others)
        return steps

    def _other_members(self) -> list[str]:
        """Who else holds the managed role (they may rely on its grants)."""
        members = self.live.role_members.get(self.spec.role, frozenset())
        return sorted(m for m in members if not self.principal.matches(m))

    # ---- desired state

    def _desired(self) -> frozenset[Grant]:
        project = ObjectRef.for_project(self.project)
        desired = set(expand(self.role, project, self.grants.project_actions))
        if self.grants.table_actions:
            for obj in self._table_objects():
                desired |= expand(self.role, obj, self.grants.table_actions)
        return frozenset(desired)

    def _download_tables(self) -> list[str]:
        """Download goes on the spec's tables: ``*`` for every table (granted to the role), else each name."""
        if not self.grants.download:
            return []
        return [obj.name for obj in self._table_objects() if obj.name is not None]

    def _table_objects(self) -> list[ObjectRef]:
        if self.grants.all_tables:
            return [ObjectRef.for_table(self.project, "*")]
        names = list(self.grants.explicit_tables)
        known = self.live.tables
        if known is not None:
            missing = [n for n in names if n not in known]
            names = [n for n in names if n in known]
            if missing:
                self._warn(f"{len(missing)} listed table(s) do not exist and are skipped: {', '.join(missing[:20])}")
        names += self._prefixed(known)
        return [ObjectRef.for_table(self.project, n) for n in dict.fromkeys(names)]

    def _prefixed(self, known: frozenset[str] | None) -> list[str]:
        if not self.grants.prefixes:
            return []
        if known is None:
            raise PlanError(
                f"projects[{self.index}].tables uses table prefixes, but the tables of project {self.project!r} "
                "were not read: the state reader must list them (ProjectState.tables)."
            )
        names = []
        for prefix in self.grants.prefixes:
            matched = sorted(t for t in known if t.startswith(prefix))
            if not matched:
                self._warn(f"the prefix {prefix}* matches no table")
            names += matched
        return names

    # ---- additive steps

    def _membership(self) -> list[Step]:
        steps: list[Step] = []
        if not any(self.principal.matches(m) for m in self.live.members):
            steps.append(
                AddUser(
                    project=self.project,
                    principal=self.principal.principal(),
                    reason=(
                        f"the RAM user is not a member of project {self.project} (seed 000: ADD USER before any grant)"
                    ),
                )
            )
        if self.spec.role not in self.live.roles:
            steps.append(
                CreateRole(project=self.project, role=self.spec.role, reason=f"role {self.spec.role} does not exist")
            )
        return steps

    def _grants(self, desired: frozenset[Grant], kept: frozenset[Grant]) -> list[Step]:
        patterns = [g for g in kept if g.object.is_pattern]
        missing = [g for g in desired if g not in kept and not any(covers(p, g) for p in patterns)]
        order = {a: i for i, a in enumerate((*self.grants.project_actions, *self.grants.table_actions))}
        steps: list[Step] = []
        for obj, actions in _by_object(missing, order.__getitem__):
            steps.append(
                GrantActions(
                    project=self.project,
                    grantee=self.role,
                    object=obj,
                    actions=actions,
                    reason=f"the spec grants {_names(actions)} on {obj.path} to role {self.spec.role}",
                )
            )
        return steps

    def _role_bindings(self) -> list[Step]:
        steps: list[Step] = []
        for index, role in enumerate((self.spec.role, *self.spec.extra_roles)):
            if self.live.holds_role(role, self.principal):
                continue
            if index > 0 and role not in self.live.roles and role not in ADMIN_ROLES:
                raise PlanError(
                    f"extra_roles[{index - 1}]: role {role!r} does not exist in project {self.project!r}; "
                    "this provider grants existing extra roles but never creates them."
                )
            steps.append(
                self._membership_step(
                    GrantRole, role, f"the RAM user does not hold role {role} in project {self.project}"
                )
            )
        return steps

    def _membership_step(self, kind: type[GrantRole | RevokeRole], role: str, reason: str) -> Step:
        """Grant or revoke the managed user's membership of ``role`` in this project."""
        return kind(project=self.project, role=role, principal=self.principal.principal(), reason=reason)

    # ---- sync: revokes, only on the managed role and the managed user

    def _revokes(self, extras: list[Grant], direct: list[Grant], extra_roles: list[str]) -> list[Step]:
        steps: list[Step] = []
        for role in extra_roles:
            privileged = " (built-in/DataWorks admin role: over-privileged)" if is_privileged_role(role) else ""
            reason = f"the RAM user holds role {role}, which the spec does not give{privileged}"
            steps.append(self._membership_step(RevokeRole, role, reason))
        for grants, whose in ((extras, f"role {self.spec.role}"), (direct, "the RAM user directly")):
            steps += self._revoke_actions(grants, whose)
        return steps

    def _revoke_actions(self, grants: list[Grant], whose: str) -> list[Step]:
        steps: list[Step] = []
        by_grantee: dict[Grantee, list[Grant]] = defaultdict(list)
        for grant in grants:
            by_grantee[grant.grantee].append(grant)
        for grantee, own in by_grantee.items():
            for obj, actions in _by_object(own, action_order):
                if obj.is_pattern and obj.name != "*":
                    self._warn(f"{whose} holds {obj.path} (a pattern ACL cannot be revoked by statement); left as is")
                    continue
                steps.append(
                    RevokeActions(
                        project=self.project,
                        grantee=grantee,
                        object=obj,
                        actions=actions,
                        reason=f"{whose} holds {_names(actions)} on {obj.path} beyond the spec",
                    )
                )
        return steps

    # ---- reporting

    def _note_drift(self, extras: list[Grant], direct: list[Grant], extra_roles: list[str]) -> None:
        for role in extra_roles:
            self._warn(f"the RAM user also holds role {role}; 'sync' would revoke it")
        for grant in (*extras, *direct):
            self._warn(
                f"{grant.grantee} also holds {grant.action.value} on {grant.object.path}; 'sync' would revoke it"
            )

    def _note_shared(self, extras: list[Grant], others: list[str]) -> None:
        held = "; ".join(f"{g.action.value} on {g.object.path}" for g in extras[:10])
        more = f" and {len(extras) - 10} more" if len(extras) > 10 else ""
        self._warn(
            f"role {self.spec.role} is shared with {', '.join(others)}, so 'sync' keeps its {len(extras)} grant(s) "
            f"beyond the spec ({held}{more}); set exclusive_role: true in the spec if the role is this "
            "provider's alone"
        )

    def _note_unmanaged(self, others: list[str]) -> None:
        for member in others:
            self._warn(f"role {self.spec.role} is also granted to {member}: not managed here, left as is")
        for line in self.live.out_of_band:
            self._warn(f"out-of-band grant, reported but not managed: {line}")

    def _is_managed_user(self, grant: Grant) -> bool:
        grantee = grant.grantee
        return grantee.kind == "user" and grant.object.project == self.project and self.principal.matches(grantee.name)

    def _warn(self, message: str) -> None:
        text = f"project {self.project}: {message}"
        if text not in self.warnings:  # the table list is resolved for grants and for Download alike
            self.warnings.append(text)


def _names(actions: Iterable[Action]) -> str:
    return ", ".join(a.value for a in actions)


def _by_object(
    grants: Iterable[Grant], action_key: Callable[[Action], int]
) -> list[tuple[ObjectRef, tuple[Action, ...]]]:
    """Group grants per object (one statement each), objects in a stable order (``*`` before names)."""
    grouped: dict[ObjectRef, list[Action]] = defaultdict(list)
    for grant in grants:
        grouped[grant.object].append(grant.action)
    ordered = sorted(grouped.items(), key=lambda item: item[0].sort_key())
    return [(obj, tuple(sorted(actions, key=action_key))) for obj, actions in ordered]


def _guard_self_lockout(steps: Sequence[Step], admin: ResolvedPrincipal | Principal | None) -> None:
    """Refuse any destructive step aimed at the identity running the plan (prior art lesson 6)."""
    if admin is None:
        return
    for step in steps:
        target = _destructive_target(step)
        if target is not None and _same_identity(admin, target):
            raise PlanError(
                f"Refusing to plan {step.statement!r}: it would revoke access from {target}, the identity running "
                "this plan. Run it as another administrator, or manage a different RAM user."
            )


def _destructive_target(step: Step) -> str | None:
    if isinstance(step, RevokeRole):
        return str(step.principal)
    if isinstance(step, RevokeActions) and step.grantee.kind == "user":
        return step.grantee.name
    return None


def _same_identity(admin: ResolvedPrincipal | Principal, target: str) -> bool:
    if isinstance(admin, ResolvedPrincipal):
        return admin.matches(target)
    return str(admin).lower() == target.lower()

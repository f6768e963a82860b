"""Access as code: ClarityQ's MaxCompute read access as a validated spec, a typed plan and statements.

Pure core (no I/O beyond reading a spec file, no Airflow, no pyodps/Alibaba SDK). The flow:
:func:`load_spec` -> the I/O layer reads :class:`LiveState` with the parsers of :mod:`.state` ->
:func:`make_plan` -> the executor runs :attr:`Plan.steps` phase by phase.
"""

from __future__ import annotations

from airflow_provider_clarityq.core.grants.model import (
    Action,
    Grant,
    Grantee,
    ObjectRef,
    ObjectType,
    ProjectAction,
    TableAction,
)
from airflow_provider_clarityq.core.grants.plan import (
    AddUser,
    CreateRamUser,
    CreateRole,
    GrantActions,
    GrantRole,
    Mode,
    Phase,
    Plan,
    PlanError,
    RevokeActions,
    RevokeRole,
    Step,
    classify_failure,
    make_plan,
    retry_delays,
)
from airflow_provider_clarityq.core.grants.spec import AccessSpec, ProjectGrants, default_spec, load_spec
from airflow_provider_clarityq.core.grants.state import (
    GrantsReport,
    LiveState,
    ProjectState,
    ResolvedPrincipal,
    StateParseError,
    parse_describe_role,
    parse_list_roles,
    parse_list_users,
    parse_show_acl,
    parse_show_grants,
    principal_key,
)

__all__ = [
    "AccessSpec",
    "Action",
    "AddUser",
    "CreateRamUser",
    "CreateRole",
    "Grant",
    "GrantActions",
    "GrantRole",
    "Grantee",
    "GrantsReport",
    "LiveState",
    "Mode",
    "ObjectRef",
    "ObjectType",
    "Phase",
    "Plan",
    "PlanError",
    "ProjectAction",
    "ProjectGrants",
    "ProjectState",
    "ResolvedPrincipal",
    "RevokeActions",
    "RevokeRole",
    "StateParseError",
    "Step",
    "TableAction",
    "classify_failure",
    "default_spec",
    "load_spec",
    "make_plan",
    "parse_describe_role",
    "parse_list_roles",
    "parse_list_users",
    "parse_show_acl",
    "parse_show_grants",
    "principal_key",
    "retry_delays",
]

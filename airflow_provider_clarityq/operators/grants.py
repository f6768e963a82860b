"""Operators for ClarityQ's MaxCompute access: apply an access spec, or run raw security statements.

Thin shells over :mod:`airflow_provider_clarityq.core.grants`: validate the (rendered) inputs before
any request, build the backend from the hook, run, and push a JSON-safe result. pyodps, the Alibaba
SDKs and the core are imported inside ``execute`` only, so a DAG file importing these operators
parses fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_clarityq.core.defaults import DEFAULT_CONN_ID, DEFAULT_ROLE
from airflow_provider_clarityq.links.reports import ClarityQAccessPlanLink
from airflow_provider_clarityq.utils.deprecation import renamed
from airflow_provider_clarityq.utils.lazy_hook import LazyHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_clarityq.core.grants.plan import Plan
    from airflow_provider_clarityq.core.grants.spec import AccessSpec

__all__ = ["ClarityQGrantsOperator", "ClarityQSecurityQueryOperator"]

#: ``MaxComputeHook.default_conn_name``, repeated here so importing the operator does not import the hook.
RESULT_XCOM_KEY = "access_result"


class ClarityQGrantsOperator(LazyHook, BaseOperator):
    """Bring ClarityQ's MaxCompute access in line with an access spec (plan / apply / sync).

    Resolves the RAM user's principal (STS, RAM), reads the project's access state (a fixed number of
    requests per project, whatever the number of tables), plans, logs the plan, and in ``apply``/``sync``
    executes it phase by phase with bounded concurrency and retries, then verifies. Returns the result
    (plan, every step's outcome, retries, requests made) as a JSON XCom; never a secret.

    :param spec: the access spec: a mapping, YAML/JSON text, or a ``.yaml``/``.yml``/``.json`` file
        (rendered by Jinja first - use ``| tojson`` when putting params into YAML). Leave empty to use
        seed 000's default spec built from ``ram_user``, ``role`` and ``project``.
    :param mode: ``plan`` (dry run: log the plan, change nothing), ``apply`` (add what is missing) or
        ``sync`` (also revoke what the managed role and user hold beyond the spec; nothing else).
    :param maxcompute_conn_id: a ``clarityq_maxcompute`` connection with owner/admin credentials.
    :param ram_user: RAM user name for the default spec (``clarityq``).
    :param role: role name for the default spec (``clarityq_reader``).
    :param project: project for the default spec; default: the connection's project.
    :param account_id: main account ID, when known (e.g. from ``ClarityQRamUserOperator``'s XCom): skips STS
        GetCallerIdentity in ``plan``/``apply`` (``sync`` always asks, to never revoke from the caller).
    :param ram_user_uid: the RAM user's UID, when known: skips RAM GetUser.
    :param concurrency: how many steps of one phase run at once (1-64).
    :param verify: read and plan again after changes; the new plan must be empty.
    """

    template_fields: Sequence[str] = (
        "spec",
        "mode",
        "maxcompute_conn_id",
        "ram_user",
        "role",
        "project",
        "account_id",
        "ram_user_uid",
    )
    template_ext: Sequence[str] = (".yaml", ".yml", ".json")
    template_fields_renderers = {"spec": "yaml"}
    operator_extra_links = (ClarityQAccessPlanLink(),)
    ui_color = "#ffe8cc"

    def __init__(
        self,
        *,
        spec: str | Mapping[str, Any] | AccessSpec | None = None,
        mode: str = "apply",
        maxcompute_conn_id: str = DEFAULT_CONN_ID,
        ram_user: str | None = None,
        role: str | None = None,
        project: str | None = None,
        account_id: str | None = None,
        ram_user_uid: str | None = None,
        concurrency: int = 8,
        verify: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.mode = mode
        self.maxcompute_conn_id = maxcompute_conn_id
        self.ram_user = ram_user
        self.role = role
        self.project = project
        self.account_id = account_id
        self.ram_user_uid = ram_user_uid
        self.concurrency = concurrency
        self.verify = verify

    def resolve_spec(self) -> AccessSpec:
        """The validated spec; no request is made (the default project comes from the connection's fields)."""
        from airflow_provider_clarityq.core.errors import ConfigurationError
        from airflow_provider_clarityq.core.grants.spec import load_spec

        defaults = {"ram_user": self.ram_user, "role": self.role, "project": self.project}
        if self.spec not in (None, ""):
            given = [name for name, value in defaults.items() if value not in (None, "")]
            if given:
                raise ConfigurationError(
                    given[0], "is set together with spec", "put it into the spec, or leave spec empty"
                )
            return load_spec(self.spec)
        data: dict[str, Any] = {
            "ram_user": self.ram_user or "clarityq",
            "role": self.role or DEFAULT_ROLE,
            "projects": [{"project": self.project or self.hook.project}],
        }
        return load_spec(data)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_clarityq.core.errors import ConfigurationError
        from airflow_provider_clarityq.core.grants.backend import AlibabaBackend
        from airflow_provider_clarityq.core.grants.parse import StateParseError
        from airflow_provider_clarityq.core.grants.planner import PlanError
        from airflow_provider_clarityq.core.grants.run import run_access
        from airflow_provider_clarityq.core.grants.steps import MODES

        try:
            if self.mode not in MODES:
                raise ConfigurationError("mode", f"is {self.mode!r}", "use plan, apply or sync")
            spec = self.resolve_spec()
            result = run_access(
                AlibabaBackend(self.hook.clients),
                spec,
                self.mode,
                concurrency=int(self.concurrency),
                account_id=self.account_id or None,
                user_uid=self.ram_user_uid or None,
                verify=self.verify,
                on_plan=self._log_plan,
            )
        except (ConfigurationError, PlanError, StateParseError) as err:
            # Retrying cannot fix a bad spec, an unsafe plan or an unreadable answer.
            raise AirflowFailException(str(err)) from err
        self.log.info("%s", result.to_text())
        data = result.to_dict()
        if not result.ok:
            context["ti"].xcom_push(key=RESULT_XCOM_KEY, value=data)
            failed = "; ".join(
                f"{r.step.statement or r.step.kind}: {r.error.describe()}" for r in result.failed if r.error
            )
            raise AirflowException(
                f"Access did not converge ({failed or 'verification found remaining steps'}). Every step is "
                f"idempotent: re-run the task. Details in XCom {RESULT_XCOM_KEY!r}."
            )
        return data

    def _log_plan(self, plan: Plan) -> None:
        from airflow_provider_clarityq.core.grants.plan_diff import plan_diff

        self.log.info("%s", plan_diff(plan.to_dict()).to_text())


class ClarityQSecurityQueryOperator(LazyHook, BaseOperator):
    """Run raw MaxCompute security statements (``SHOW GRANTS``, ``DESCRIBE ROLE``...) for admins.

    Read-only by default: every statement must be one line of plain ASCII with no comment and start with a
    read-only keyword sequence (SHOW GRANTS, DESCRIBE ROLE, LIST USERS, WHOAMI, GET POLICY...; see
    :mod:`airflow_provider_clarityq.core.grants.statements`), unless ``allow_mutation=True``. All statements
    are checked before the first one runs; one statement per item. Returns ``[{"statement", "result"}, ...]``.

    :param statements: one statement, or a list of them.
    :param maxcompute_conn_id: a ``clarityq_maxcompute`` connection.
    :param project: project to run in; default: the connection's project.
    :param allow_mutation: allow GRANT, REVOKE, ADD USER... (prefer an access spec for those).
    :param output_json: return MaxCompute's JSON answer decoded (default) instead of its raw text.
    """

    template_fields: Sequence[str] = ("statements", "maxcompute_conn_id", "project")
    template_fields_renderers = {"statements": "sql"}
    ui_color = "#ffe8cc"

    def __init__(
        self,
        *,
        statements: str | Sequence[str],
        maxcompute_conn_id: str = DEFAULT_CONN_ID,
        project: str | None = None,
        allow_mutation: bool = False,
        output_json: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.statements = statements
        self.maxcompute_conn_id = maxcompute_conn_id
        self.project = project
        self.allow_mutation = allow_mutation
        self.output_json = output_json

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_provider_clarityq.core.errors import ConfigurationError
        from airflow_provider_clarityq.core.grants.statements import check_statements
        from airflow_provider_clarityq.core.identifiers import validate_project_name

        try:
            checked = check_statements(self.statements, allow_mutation=self.allow_mutation)
            project = validate_project_name(self.project or self.hook.project, field="project")
        except ConfigurationError as err:
            raise AirflowFailException(str(err)) from err
        results = []
        for statement in checked:
            self.log.info("Running security statement in project %s: %s", project, statement)
            answer = self.hook.odps.execute_security_query(statement, project=project, output_json=self.output_json)
            results.append({"statement": statement, "result": answer})
        return results


# Names before the ClarityQ prefix: importable, with a deprecation warning, for one release.
__getattr__ = renamed(
    __name__,
    {
        "MaxComputeGrantsOperator": "ClarityQGrantsOperator",
        "MaxComputeSecurityQueryOperator": "ClarityQSecurityQueryOperator",
    },
    globals(),
)

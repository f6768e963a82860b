"""``ClarityQRamUserOperator``: make sure ClarityQ's RAM user exists and hand its UID and principal downstream.

Seed 000 steps 1-3: create the RAM user (no console login, no AccessKey here - keys belong to the
access-keys flow), then read the two UIDs the grants need: the main account's (STS
GetCallerIdentity) and the user's (RAM GetUser). The XCom carries identifiers only, never a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_clarityq.core.defaults import DEFAULT_CONN_ID
from airflow_provider_clarityq.utils.deprecation import renamed
from airflow_provider_clarityq.utils.lazy_hook import LazyHook

if TYPE_CHECKING:
    from airflow.sdk import Context


__all__ = ["ClarityQRamUserOperator"]


class ClarityQRamUserOperator(LazyHook, BaseOperator):
    """Ensure a RAM user exists (RAM CreateUser when missing); return its UID and MaxCompute principal.

    Returns ``{"user_name", "user_uid", "account_id", "principal", "exists", "created", "caller", "requests"}``,
    where ``principal`` is seed 000's ``RAM$<main-account-uid>:<ram-user-uid>``. Pass ``account_id`` and
    ``user_uid`` on to ``ClarityQGrantsOperator`` to save it the same two look-ups.

    :param ram_user: the RAM user name (``clarityq``); validated before any request.
    :param maxcompute_conn_id: a ``clarityq_maxcompute`` connection whose credentials may call RAM
        (the main account, or a RAM user with ``AliyunRAMFullAccess``).
    :param mode: ``plan`` only looks (a missing user is reported with ``user_uid`` ``None``, not
        created); ``apply``/``sync`` create it - the same vocabulary as ``ClarityQGrantsOperator``.
    :param create: create the user when missing; with ``False`` a missing user fails the task.
    :param adopt_existing_user: let the provider manage an existing RAM user it did not create (it marks the
        user's Comments). Without it, such a user is refused: the provider operates only on RAM users it
        manages. Set it in the DAG file for the run that adopts the user; it is deliberately not templated.
    """

    template_fields: Sequence[str] = ("ram_user", "maxcompute_conn_id", "mode")
    ui_color = "#ffe8cc"

    def __init__(
        self,
        *,
        ram_user: str = "clarityq",
        maxcompute_conn_id: str = DEFAULT_CONN_ID,
        mode: str = "apply",
        create: bool = True,
        adopt_existing_user: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ram_user = ram_user
        self.maxcompute_conn_id = maxcompute_conn_id
        self.mode = mode
        self.create = create
        self.adopt_existing_user = adopt_existing_user is True

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_clarityq.core.errors import ConfigurationError
        from airflow_provider_clarityq.core.grants.backend import AlibabaBackend
        from airflow_provider_clarityq.core.grants.result import AccessNotConvergedError
        from airflow_provider_clarityq.core.grants.run import ensure_ram_user
        from airflow_provider_clarityq.core.identifiers import validate_ram_user_name

        try:
            if self.mode not in ("plan", "apply", "sync"):
                raise ConfigurationError("mode", f"is {self.mode!r}", "use plan, apply or sync")
            name = validate_ram_user_name(self.ram_user, field="ram_user")
            backend = AlibabaBackend(self.hook.clients)
            result = ensure_ram_user(
                backend, name, create=self.create, dry_run=self.mode == "plan", adopt=self.adopt_existing_user
            )
        except ConfigurationError as err:
            raise AirflowFailException(str(err)) from err
        except AccessNotConvergedError as err:
            if not self.create:
                raise AirflowFailException(str(err)) from err
            raise
        if not result.exists:
            self.log.info("RAM user %s does not exist; mode %s only reports it.", result.user_name, self.mode)
        else:
            verb = "Created" if result.created else "Adopted" if result.adopted else "Found"
            self.log.info("%s RAM user %s: principal %s", verb, result.user_name, result.principal)
        return result.to_dict()


# Names before the ClarityQ prefix: importable, with a deprecation warning, for one release.
__getattr__ = renamed(__name__, {"RamUserOperator": "ClarityQRamUserOperator"}, globals())

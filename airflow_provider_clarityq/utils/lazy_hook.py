"""The one way an operator or sensor gets its hook: built on first use, on the worker, and then reused.

Light on purpose (no hook import at module level), so DAG files that import our operators stay cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_clarityq.core.health.options import HealthOptions
    from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

__all__ = ["HealthTask", "LazyHook"]


class LazyHook:
    """Mixin for tasks with a ``maxcompute_conn_id``: ``self.hook`` is built at execute time, never at parse time."""

    maxcompute_conn_id: str

    @cached_property
    def hook(self) -> MaxComputeHook:
        """The connection's hook, with its clients, reused across pokes and retries within one process."""
        from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

        return MaxComputeHook(maxcompute_conn_id=self.maxcompute_conn_id)


class HealthTask(LazyHook):
    """Mixin for the tasks that run the health checks: their shared arguments and how bad ones fail."""

    role: str
    table: str | None
    checks: list[str] | None
    accept_degraded: bool
    #: Raised for arguments no retry can fix (an ``AirflowFailException``, so the task fails without retries).
    argument_error: type[Exception]

    def _set_health_arguments(
        self, *, role: str, table: str | None, checks: Sequence[str] | None, accept_degraded: bool
    ) -> None:
        self.role = role
        self.table = table
        self.checks = list(checks) if checks is not None else None
        self.accept_degraded = accept_degraded

    def health_options(self) -> HealthOptions:
        """The (rendered) arguments as validated options; a bad one fails the task, naming the field."""
        from airflow_provider_clarityq.core.errors import ConfigurationError
        from airflow_provider_clarityq.core.health.options import CHECK_NAMES, HealthOptions

        try:
            return HealthOptions(
                role=self.role,
                table=self.table or None,
                checks=tuple(self.checks) if self.checks else CHECK_NAMES,
            )
        except ConfigurationError as err:
            raise self.argument_error(f"invalid {type(self).__name__} arguments: {err}") from None

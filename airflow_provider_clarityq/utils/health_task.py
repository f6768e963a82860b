"""What the health operator and the health sensor share: their arguments, options and look in the UI."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from airflow_provider_clarityq.links.reports import ClarityQHealthReportLink
from airflow_provider_clarityq.utils.lazy_hook import LazyHook

if TYPE_CHECKING:
    from airflow.sdk import BaseOperatorLink

    from airflow_provider_clarityq.core.health.options import HealthOptions

__all__ = ["HealthTask"]


class HealthTask(LazyHook):
    """Mixin for the tasks that run the health checks: their shared arguments and how bad ones fail."""

    role: str
    table: str | None
    checks: list[str] | None
    accept_degraded: bool
    label_access_level: int | None
    operator_extra_links: Collection[BaseOperatorLink] = (ClarityQHealthReportLink(),)
    ui_color = "#d4ecfa"
    #: Raised for arguments no retry can fix (an ``AirflowFailException``, so the task fails without retries).
    argument_error: type[Exception]

    def _set_health_arguments(
        self,
        *,
        role: str,
        table: str | None,
        checks: Sequence[str] | None,
        accept_degraded: bool,
        label_access_level: int | None = None,
    ) -> None:
        self.role = role
        self.table = table
        self.checks = list(checks) if checks is not None else None
        self.accept_degraded = accept_degraded
        self.label_access_level = label_access_level

    def health_options(self) -> HealthOptions:
        """The (rendered) arguments as validated options; a bad one fails the task, naming the field."""
        from airflow_provider_clarityq.core.errors import ConfigurationError
        from airflow_provider_clarityq.core.health.options import CHECK_NAMES, HealthOptions

        try:
            return HealthOptions(
                role=self.role,
                table=self.table or None,
                checks=tuple(self.checks) if self.checks else CHECK_NAMES,
                label_access_level=self.label_access_level,
            )
        except ConfigurationError as err:
            raise self.argument_error(f"invalid {type(self).__name__} arguments: {err}") from None

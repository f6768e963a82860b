"""The one way an operator or sensor gets its hook: built on first use, on the worker, and then reused.

Light on purpose (no hook import at module level), so DAG files that import our operators stay cheap.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

__all__ = ["LazyHook"]


class LazyHook:
    """Mixin for tasks with a ``maxcompute_conn_id``: ``self.hook`` is built at execute time, never at parse time."""

    maxcompute_conn_id: str

    @cached_property
    def hook(self) -> MaxComputeHook:
        """The connection's hook, with its clients, reused across pokes and retries within one process."""
        from airflow_provider_clarityq.hooks.maxcompute import MaxComputeHook

        return MaxComputeHook(maxcompute_conn_id=self.maxcompute_conn_id)

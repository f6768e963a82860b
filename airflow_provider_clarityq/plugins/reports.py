"""The API-server plugin serving the pages the extra links open: ``/clarityq/health/...``, ``/clarityq/plans/...``.

Airflow loads provider plugins in every process, task processes included (for macros), so this module stays
light: the FastAPI app and Airflow's security imports are built on the first request, in the API server only
(:mod:`.report_app`).
"""

from __future__ import annotations

import threading
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_clarityq.links.reports import PLUGIN_PREFIX

__all__ = ["ClarityQReportsPlugin"]


class _LazyApp:
    """An ASGI app that builds the real one on first use."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from airflow_provider_clarityq.plugins.report_app import create_app

                    self._app = create_app()
        await self._app(scope, receive, send)


class ClarityQReportsPlugin(AirflowPlugin):
    """Health history and access plan pages on the API server, for users who may read the DAG's tasks."""

    name = "clarityq_reports"
    fastapi_apps = [{"app": _LazyApp(), "url_prefix": PLUGIN_PREFIX, "name": "ClarityQ reports"}]

"""Old public names that still import, with a deprecation warning, for one release (standard library only)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["renamed"]


def renamed(module: str, names: Mapping[str, str], namespace: Mapping[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that answers each old name in ``names`` with its new object, warning once per use.

    :param module: the module's ``__name__`` (for the message and for unknown names).
    :param names: old name -> new name, both defined in ``namespace``.
    :param namespace: the module's ``globals()``.
    """

    def __getattr__(name: str) -> Any:
        new = names.get(name)
        if new is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        from airflow.exceptions import AirflowProviderDeprecationWarning

        warnings.warn(
            f"{module}.{name} is deprecated and will be removed in the next release: use {module}.{new}.",
            AirflowProviderDeprecationWarning,
            stacklevel=2,
        )
        return namespace[new]

    return __getattr__

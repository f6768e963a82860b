"""A local emulator of Alibaba Cloud MaxCompute (REST, tunnel, SQL, security model), RAM and STS.

Start one in-process with :func:`start_emulator` (a context manager yielding a
:class:`RunningEmulator`), or run the ``clarityq-emulator`` console script. The pytest fixtures
``clarityq_emulator`` and ``clarityq_emulator_module`` are registered when the package is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["EmulatorInfo", "RunningEmulator", "build_emulator", "serve", "start_emulator"]

if TYPE_CHECKING:
    from clarityq_emulator.core.server import EmulatorInfo, RunningEmulator, build_emulator, serve, start_emulator


def __getattr__(name: str) -> Any:
    # Lazy, so ``import clarityq_emulator.cli`` does not pull in the server stack.
    if name in __all__:
        from clarityq_emulator.core import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

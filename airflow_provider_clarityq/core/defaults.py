"""The provider's default names, defined once (standard library only: DAG files import them cheaply)."""

from __future__ import annotations

from typing import Final

__all__ = ["CONN_TYPE", "DEFAULT_CONN_ID", "DEFAULT_RAM_USER", "DEFAULT_READER_CONN_ID", "DEFAULT_ROLE"]

#: The Airflow connection type of a MaxCompute connection (the hook's ``conn_type``).
CONN_TYPE: Final = "clarityq_maxcompute"
#: The admin connection every hook, operator, sensor and trigger uses unless told otherwise.
DEFAULT_CONN_ID: Final = "clarityq_default"
#: The reader's own connection, which receives the RAM user's AccessKey (seed 000: ClarityQ's credentials).
DEFAULT_READER_CONN_ID: Final = "clarityq_reader"
#: Seed 000's RAM user and project role.
DEFAULT_RAM_USER: Final = "clarityq"
DEFAULT_ROLE: Final = "clarityq_reader"

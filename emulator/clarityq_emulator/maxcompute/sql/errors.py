"""MaxCompute SQL error codes and the one exception every SQL failure is raised as."""

from __future__ import annotations

__all__ = [
    "CAST_ERROR",
    "INTERNAL_ERROR",
    "INVALID_ARGUMENT",
    "PARSE_ERROR",
    "PARTITION_ERROR",
    "PROJECT_NOT_FOUND",
    "SEMANTIC_ERROR",
    "TABLE_EXISTS",
    "TABLE_NOT_FOUND",
    "SqlError",
    "sql_error",
]

# MaxCompute error codes and their fixed general descriptions ("code:[l,c] title - detail").
PARSE_ERROR = "ODPS-0130161"
SEMANTIC_ERROR = "ODPS-0130071"
TABLE_NOT_FOUND = "ODPS-0130131"
TABLE_EXISTS = "ODPS-0130211"
PARTITION_ERROR = "ODPS-0123031"
CAST_ERROR = "ODPS-0123091"
INVALID_ARGUMENT = "ODPS-0121095"
PROJECT_NOT_FOUND = "ODPS-0420111"
INTERNAL_ERROR = "ODPS-0010000"

_TITLES: dict[str, str] = {
    PARSE_ERROR: "Parse exception",
    SEMANTIC_ERROR: "Semantic analysis exception",
    TABLE_NOT_FOUND: "Table not found",
    TABLE_EXISTS: "Table or view already exists",
    PARTITION_ERROR: "Partition exception",
    CAST_ERROR: "Illegal type cast",
    INVALID_ARGUMENT: "Invalid argument",
    PROJECT_NOT_FOUND: "Project not found",
    INTERNAL_ERROR: "System internal error",
}


class SqlError(Exception):
    """A failed statement, worded the way MaxCompute reports it (``ODPS-xxxxxxx:[l,c] ...``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sql_error(code: str, detail: str, pos: tuple[int, int] | None = None) -> SqlError:
    where = f"[{pos[0]},{pos[1]}] " if pos is not None else ""
    return SqlError(code, f"{code}:{where}{_TITLES[code]} - {detail}")

"""Errors of the identity model (RAM and STS), each carrying the Alibaba code and HTTP status."""

from __future__ import annotations

import time

__all__ = [
    "DeleteConflictError",
    "EntityAlreadyExistsError",
    "EntityNotExistError",
    "IdentityError",
    "InvalidParameterError",
    "LimitExceededError",
    "NoPermissionError",
    "format_date",
]


class IdentityError(Exception):
    """A rule of the identity model was broken.

    ``code`` is the Alibaba error code to report and ``status`` the HTTP status Alibaba pairs with
    that family of codes; ``detail`` becomes ``AccessDeniedDetail`` when set.
    """

    status = 400

    def __init__(self, code: str, message: str, *, detail: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


class EntityNotExistError(IdentityError):
    """The named user, key or role does not exist."""

    status = 404


class EntityAlreadyExistsError(IdentityError):
    """A name that must be unique is taken."""

    status = 409


class LimitExceededError(IdentityError):
    """A per-entity quota (two AccessKeys per user) is full."""

    status = 409


class DeleteConflictError(IdentityError):
    """The entity still owns something that must be deleted first."""

    status = 409


class InvalidParameterError(IdentityError):
    """A supplied value is missing or breaks a naming or range rule."""


class NoPermissionError(IdentityError):
    """The caller is authenticated but may not perform the action."""

    status = 403


def format_date(epoch: float) -> str:
    """ISO-8601 UTC with a ``Z`` suffix, second precision: the form RAM and STS print."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))

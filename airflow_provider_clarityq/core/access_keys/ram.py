"""The RAM operations the AccessKey manager needs (:class:`KeyBackend`) and their RAM OpenAPI adapter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from airflow_provider_clarityq.core.access_keys.model import (
    ACCESS_KEY_LIMIT,
    AccessKeyError,
    KeyLimitError,
    KeyRecord,
    NewAccessKey,
    UserNotFoundError,
    Verification,
)
from airflow_provider_clarityq.core.access_keys.verification import health_verifier
from airflow_provider_clarityq.core.alibaba.failures import failure_of
from airflow_provider_clarityq.core.dates import parse_iso_utc
from airflow_provider_clarityq.core.errors import one_line

__all__ = ["KeyBackend", "RamKeyBackend"]


class KeyBackend(Protocol):
    """The RAM operations the manager needs, plus a way to test a key (plain fakes implement it in tests)."""

    def list_keys(self, user_name: str) -> list[KeyRecord]: ...

    def create_key(self, user_name: str) -> NewAccessKey:
        """Create a key; implementations hand the secret to their ``on_secret`` before returning."""
        ...

    def set_key_status(self, user_name: str, access_key_id: str, status: Literal["Active", "Inactive"]) -> None: ...

    def delete_key(self, user_name: str, access_key_id: str) -> None:
        """Delete a key; a key that is already gone is not an error."""
        ...

    def last_used(self, user_name: str, access_key_id: str) -> datetime | None: ...

    def user_comments(self, user_name: str) -> str | None:
        """The RAM user's Comments (the provider's mark and intent journal); None when the user does not exist."""
        ...

    def set_user_comments(self, user_name: str, comments: str) -> None: ...

    def verify(self, fields: Mapping[str, Any]) -> Verification:
        """Test the connection ``fields`` (``login``/``password`` are the key); never raise for a refusal."""
        ...


def _error_text(exc: BaseException) -> str:
    data = getattr(exc, "data", None)
    message = data.get("Message") if isinstance(data, dict) else None
    return one_line(str(message or exc))[:200]


class RamKeyBackend:
    """:class:`KeyBackend` over the RAM OpenAPI client (``alibabacloud_ram20150501``) of an admin connection.

    :param ram_client: e.g. ``MaxComputeHook(...).ram_client`` (main account or ``AliyunRAMFullAccess``).
    :param verifier: tests connection fields; default :func:`health_verifier`.
    :param on_secret: called with the new secret as soon as CreateAccessKey returns (``mask_secret``).
    """

    def __init__(
        self,
        ram_client: Any,
        *,
        verifier: Callable[[Mapping[str, Any]], Verification] | None = None,
        on_secret: Callable[[str], None] | None = None,
    ) -> None:
        self.client = ram_client
        self.on_secret = on_secret
        self.verifier = verifier or health_verifier(on_secret=on_secret)

    def __repr__(self) -> str:
        return "RamKeyBackend()"

    def _fail(self, exc: Exception, action: str, user_name: str) -> Exception:
        code = failure_of(exc).code
        if code.startswith("LimitExceeded.User.AccessKey"):
            return KeyLimitError(
                f"RAM refused CreateAccessKey for user {user_name!r}: it already has {ACCESS_KEY_LIMIT} AccessKeys "
                "(another process may have created one meanwhile); re-run to re-plan."
            )
        if code == "EntityNotExist.User":
            return UserNotFoundError(
                "ram_user",
                f"names RAM user {user_name!r}, which does not exist",
                "create it first (ClarityQRamUserOperator, the ensure_ram_user task of clarityq_provision_access)",
            )
        label = code or type(exc).__name__
        return AccessKeyError(f"RAM {action} for user {user_name!r} failed ({label}): {_error_text(exc)}")

    def list_keys(self, user_name: str) -> list[KeyRecord]:
        from alibabacloud_ram20150501 import models

        try:
            body = self.client.list_access_keys(models.ListAccessKeysRequest(user_name=user_name)).body
        except Exception as exc:
            raise self._fail(exc, "ListAccessKeys", user_name) from exc
        keys = getattr(getattr(body, "access_keys", None), "access_key", None) or []
        return [KeyRecord(str(k.access_key_id), str(k.status or ""), parse_iso_utc(k.create_date)) for k in keys]

    def create_key(self, user_name: str) -> NewAccessKey:
        from alibabacloud_ram20150501 import models

        try:
            body = self.client.create_access_key(models.CreateAccessKeyRequest(user_name=user_name)).body
        except Exception as exc:
            raise self._fail(exc, "CreateAccessKey", user_name) from exc
        key = getattr(body, "access_key", None)
        secret = getattr(key, "access_key_secret", None)
        if isinstance(secret, str) and secret and self.on_secret is not None:
            self.on_secret(secret)  # before anything else can see it
        key_id = getattr(key, "access_key_id", None)
        if not key_id or not isinstance(secret, str) or not secret:
            raise AccessKeyError(f"RAM CreateAccessKey for user {user_name!r} answered without a key pair")
        return NewAccessKey(str(key_id), secret, parse_iso_utc(getattr(key, "create_date", None)))

    def set_key_status(self, user_name: str, access_key_id: str, status: Literal["Active", "Inactive"]) -> None:
        from alibabacloud_ram20150501 import models

        request = models.UpdateAccessKeyRequest(user_name=user_name, user_access_key_id=access_key_id, status=status)
        try:
            self.client.update_access_key(request)
        except Exception as exc:
            raise self._fail(exc, f"UpdateAccessKey({access_key_id} -> {status})", user_name) from exc

    def delete_key(self, user_name: str, access_key_id: str) -> None:
        from alibabacloud_ram20150501 import models

        request = models.DeleteAccessKeyRequest(user_name=user_name, user_access_key_id=access_key_id)
        try:
            self.client.delete_access_key(request)
        except Exception as exc:
            if failure_of(exc).code == "EntityNotExist.User.AccessKey":
                return
            raise self._fail(exc, f"DeleteAccessKey({access_key_id})", user_name) from exc

    def last_used(self, user_name: str, access_key_id: str) -> datetime | None:
        from alibabacloud_ram20150501 import models

        request = models.GetAccessKeyLastUsedRequest(user_name=user_name, user_access_key_id=access_key_id)
        try:
            body = self.client.get_access_key_last_used(request).body
        except Exception as exc:
            raise self._fail(exc, f"GetAccessKeyLastUsed({access_key_id})", user_name) from exc
        return parse_iso_utc(getattr(getattr(body, "access_key_last_used", None), "last_used_date", None))

    def user_comments(self, user_name: str) -> str | None:
        from alibabacloud_ram20150501 import models

        try:
            user = self.client.get_user(models.GetUserRequest(user_name=user_name)).body.user
        except Exception as exc:
            if failure_of(exc).code == "EntityNotExist.User":
                return None
            raise self._fail(exc, "GetUser", user_name) from exc
        return str(getattr(user, "comments", None) or "")

    def set_user_comments(self, user_name: str, comments: str) -> None:
        from alibabacloud_ram20150501 import models

        try:
            self.client.update_user(models.UpdateUserRequest(user_name=user_name, new_comments=comments))
        except Exception as exc:
            raise self._fail(exc, "UpdateUser", user_name) from exc

    def verify(self, fields: Mapping[str, Any]) -> Verification:
        return self.verifier(fields)

"""RAM (API version 2015-05-01) action handlers: users and their AccessKeys.

Each handler gets the decoded API parameters, the verified caller and the store, and returns the
JSON payload (without ``RequestId``) plus whether state changed. Rule breaks are raised as
:class:`~.identity.IdentityError`; ``acs`` turns them into Alibaba-shaped JSON errors.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any

from clarityq_emulator.ram.models import (
    AccessKey,
    Caller,
    IdentityStore,
    InvalidParameterError,
    NoPermissionError,
    RamUser,
    format_date,
)

__all__ = ["ACTIONS", "Handler", "require_param"]

Handler = Callable[[Mapping[str, str], Caller, IdentityStore], tuple[dict[str, Any], bool]]

_DEFAULT_MAX_ITEMS = 100
_MAX_MAX_ITEMS = 1000
_MARKER_PREFIX = "u1:"
_DIGITS = re.compile(r"[0-9]{1,9}")


def require_param(params: Mapping[str, str], name: str) -> str:
    """A mandatory parameter; absent is an error, an empty string is left to the value rules."""
    value = params.get(name)
    if value is None:
        raise InvalidParameterError(
            "MissingParameter",
            f'The input parameter "{name}" that is mandatory for processing this request is not supplied.',
        )
    return value


def _optional(params: Mapping[str, str], name: str) -> str | None:
    return params.get(name)


def _ensure_allowed(caller: Caller, identity: IdentityStore, action: str) -> None:
    """The main account may do everything; a RAM user or an assumed role what its attached system policies
    allow (``AliyunRAMFullAccess``...; see :mod:`.federation`)."""
    if caller.kind == "account":
        return
    kind, name = ("user", caller.name) if caller.kind == "ram_user" else ("role", caller.name.split("/", 1)[0])
    if identity.federation.allows(kind, name, f"ram:{action}"):
        return
    raise NoPermissionError(
        "NoPermission",
        "You are not authorized to do this action.",
        detail={
            "AuthAction": f"ram:{action}",
            "AuthPrincipalType": "SubUser" if caller.kind == "ram_user" else "AssumedRoleUser",
            "AuthPrincipalOwnerId": caller.account_id,
            "AuthPrincipalDisplayName": caller.name,
            "NoPermissionType": "ImplicitDeny",
            "PolicyType": "AccountLevelIdentityBasedPolicy",
        },
    )


def _user_view(user: RamUser, *, with_update_date: bool = True) -> dict[str, str]:
    view = {
        "UserId": user.user_id,
        "UserName": user.user_name,
        "DisplayName": user.display_name,
        "CreateDate": format_date(user.create_date),
    }
    if with_update_date:
        view["UpdateDate"] = format_date(user.update_date)
    for key, value in (
        ("Comments", user.comments),
        ("Email", user.email),
        ("MobilePhone", user.mobile_phone),
    ):
        if value:
            view[key] = value
    return view


def _key_view(key: AccessKey) -> dict[str, str]:
    return {
        "AccessKeyId": key.access_key_id,
        "Status": key.status,
        "CreateDate": format_date(key.create_date),
    }


def create_user(params: Mapping[str, str], caller: Caller, identity: IdentityStore) -> tuple[dict[str, Any], bool]:
    _ensure_allowed(caller, identity, "CreateUser")
    user = identity.create_user(
        require_param(params, "UserName"),
        display_name=_optional(params, "DisplayName"),
        comments=params.get("Comments", ""),
        email=params.get("Email", ""),
        mobile_phone=params.get("MobilePhone", ""),
    )
    return {"User": _user_view(user, with_update_date=False)}, True


def get_user(params: Mapping[str, str], caller: Caller, identity: IdentityStore) -> tuple[dict[str, Any], bool]:
    _ensure_allowed(caller, identity, "GetUser")
    user = identity.require_user(require_param(params, "UserName"))
    return {"User": _user_view(user)}, False


def list_users(params: Mapping[str, str], caller: Caller, identity: IdentityStore) -> tuple[dict[str, Any], bool]:
    _ensure_allowed(caller, identity, "ListUsers")
    max_items = _parse_max_items(params.get("MaxItems"))
    after = _decode_marker(params.get("Marker") or "")
    remaining = [u for u in identity.list_users() if u.user_name.lower() > after]
    page = remaining[:max_items]
    payload: dict[str, Any] = {
        "IsTruncated": len(remaining) > max_items,
        "Users": {"User": [_user_view(u) for u in page]},
    }
    if payload["IsTruncated"]:
        payload["Marker"] = _encode_marker(page[-1].user_name.lower())
    return payload, False


def _parse_max_items(raw: str | None) -> int:
    if raw is None or raw == "":
        return _DEFAULT_MAX_ITEMS
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= _MAX_MAX_ITEMS:
        raise InvalidParameterError(
            "InvalidParameter.MaxItems",
            f"The parameter MaxItems must be an integer from 1 to {_MAX_MAX_ITEMS}.",
        )
    return int(raw)


def _encode_marker(last_name: str) -> str:
    return base64.urlsafe_b64encode((_MARKER_PREFIX + last_name).encode("utf-8")).decode("ascii")


def _decode_marker(marker: str) -> str:
    """The lower-cased name the previous page ended on ('' for the first page)."""
    if not marker:
        return ""
    try:
        text = base64.urlsafe_b64decode(marker.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    if not text.startswith(_MARKER_PREFIX):
        raise InvalidParameterError("InvalidParameter.Marker", "The parameter Marker is invalid.")
    return text[len(_MARKER_PREFIX) :]


def update_user(params: Mapping[str, str], caller: Caller, identity: IdentityStore) -> tuple[dict[str, Any], bool]:
    _ensure_allowed(caller, identity, "UpdateUser")
    user = identity.update_user(
        require_param(params, "UserName"),
        new_user_name=_optional(params, "NewUserName"),
        new_display_name=_optional(params, "NewDisplayName"),
        new_comments=_optional(params, "NewComments"),
        new_email=_optional(params, "NewEmail"),
        new_mobile_phone=_optional(params, "NewMobilePhone"),
    )
    return {"User": _user_view(user)}, True


def delete_user(params: Mapping[str, str], caller: Caller, identity: IdentityStore) -> tuple[dict[str, Any], bool]:
    _ensure_allowed(caller, identity, "DeleteUser")
    identity.delete_user(require_param(params, "UserName"))
    return {}, True


def create_access_key(
    params: Mapping[str, str], caller: Caller, identity: IdentityStore
) -> tuple[dict[str, Any], bool]:
    _ensure_allowed(caller, identity, "CreateAccessKey")
    key = identity.create_access_key(require_param(params, "UserName"))
    return {"AccessKey": {**_key_view(key), "AccessKeySecret": key.secret}}, True


def list_access_keys(params: Mapping[str, str], caller: Caller, identity: IdentityStore) -> tuple[dict[str, Any], bool]:
    _ensure_allowed(caller, identity, "ListAccessKeys")
    keys = identity.list_access_keys(require_param(params, "UserName"))
    return {"AccessKeys": {"AccessKey": [_key_view(k) for k in keys]}}, False


def update_access_key(
    params: Mapping[str, str], caller: Caller, identity: IdentityStore
) -> tuple[dict[str, Any], bool]:
    _ensure_allowed(caller, identity, "UpdateAccessKey")
    identity.update_access_key(
        require_param(params, "UserName"),
        require_param(params, "UserAccessKeyId"),
        require_param(params, "Status"),
    )
    return {}, True


def delete_access_key(
    params: Mapping[str, str], caller: Caller, identity: IdentityStore
) -> tuple[dict[str, Any], bool]:
    _ensure_allowed(caller, identity, "DeleteAccessKey")
    identity.delete_access_key(require_param(params, "UserName"), require_param(params, "UserAccessKeyId"))
    return {}, True


def get_access_key_last_used(
    params: Mapping[str, str], caller: Caller, identity: IdentityStore
) -> tuple[dict[str, Any], bool]:
    _ensure_allowed(caller, identity, "GetAccessKeyLastUsed")
    last_used = identity.get_access_key_last_used(
        require_param(params, "UserName"), require_param(params, "UserAccessKeyId")
    )
    # A never-used key gets an empty object, so the SDK reports last_used_date=None.
    view = {} if last_used is None else {"LastUsedDate": format_date(last_used)}
    return {"AccessKeyLastUsed": view}, False


ACTIONS: dict[str, Handler] = {
    "CreateUser": create_user,
    "GetUser": get_user,
    "ListUsers": list_users,
    "UpdateUser": update_user,
    "DeleteUser": delete_user,
    "CreateAccessKey": create_access_key,
    "ListAccessKeys": list_access_keys,
    "UpdateAccessKey": update_access_key,
    "DeleteAccessKey": delete_access_key,
    "GetAccessKeyLastUsed": get_access_key_last_used,
}

"""RAM users, keys, roles, OIDC providers and the ECS instance's role from a seed file's ``ram`` object.

``{"users": [{"name", "access_keys"?, "policies"?}], "roles": [{"name", "trust_policy"?, "policies"?,
"max_session_duration"?}], "oidc_providers": [{"name", "issuer_url", "client_ids"?}],
"ecs": {"instance_role": <role name>, "http_tokens"?: "optional" | "required"}}``;
``policies`` are system policy names (see ``federation``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clarityq_emulator.ram.models import IdentityStore


def load_ram_seed(store: IdentityStore, seed: dict[str, Any]) -> None:
    """See :meth:`IdentityStore.load_seed`."""
    ram = seed.get("ram", seed)
    if ram is None:
        return
    if not isinstance(ram, dict):
        raise ValueError("seed 'ram' must be an object")
    with store.lock:
        for spec in _as_list(ram.get("users"), "ram.users"):
            name = str(spec["name"])
            user = store.get_user(name)
            if user is None or user.user_name.lower() != name.lower():
                user = store.create_user(
                    name,
                    display_name=spec.get("display_name"),
                    comments=str(spec.get("comments", "")),
                    email=str(spec.get("email", "")),
                    mobile_phone=str(spec.get("mobile_phone", "")),
                    user_id=None if spec.get("user_id") is None else str(spec["user_id"]),
                )
            for key_spec in _as_list(spec.get("access_keys"), "ram.users[].access_keys"):
                key_id = key_spec.get("id")
                existing = store.get_access_key(str(key_id)) if key_id else None
                if existing is not None and existing.user_id == user.user_id:
                    continue
                store.create_access_key(
                    user.user_name,
                    access_key_id=None if key_id is None else str(key_id),
                    secret=None if key_spec.get("secret") is None else str(key_spec["secret"]),
                    status=key_spec.get("status", "Active"),
                )
            store.federation.attach("user", user.user_name, spec.get("policies", []))
        federation = store.federation
        for spec in _as_list(ram.get("oidc_providers"), "ram.oidc_providers"):
            federation.add_provider(
                str(spec["name"]), str(spec["issuer_url"]), spec.get("client_ids", ["sts.aliyuncs.com"])
            )
        for spec in _as_list(ram.get("roles"), "ram.roles"):
            if store.get_role(str(spec["name"])) is None:
                store.add_role(
                    str(spec["name"]),
                    max_session_duration=int(spec.get("max_session_duration", 3600)),
                    description=str(spec.get("description", "")),
                    role_id=None if spec.get("role_id") is None else str(spec["role_id"]),
                )
            if spec.get("trust_policy") is not None:
                federation.set_trust_policy(str(spec["name"]), spec["trust_policy"])
            federation.attach("role", str(spec["name"]), spec.get("policies", []))
        ecs = ram.get("ecs") or {}
        if ecs.get("instance_role"):
            federation.instance_role = str(ecs["instance_role"])
        federation.instance_tokens_required = ecs.get("http_tokens", "optional") == "required"


def _as_list(value: Any, where: str) -> Iterable[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"seed {where} must be a list of objects")
    return value

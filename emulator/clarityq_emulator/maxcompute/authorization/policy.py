"""Role and project policies: the JSON documents, validated and parsed the way the service does.

A statement's actions are ``odps:<Action>`` patterns over :data:`POLICY_ACTIONS` (``*`` allowed),
its resources ``acs:odps:*:...`` patterns; project policies also name principals.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from clarityq_emulator.maxcompute.authorization.actions import ACTIONS, MANAGEMENT_ACTIONS


@dataclass(frozen=True)
class PolicyStatement:
    """One statement of a role or project policy, patterns already lower-cased."""

    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]  # "select", "create*", "*" (the "odps:" prefix removed)
    resources: tuple[str, ...]  # "acs:odps:*:projects/p/tables/*"
    principals: tuple[str, ...] | None  # project policies only

    def matches(self, action: str, resource: str) -> bool:
        return any(_glob(p, action.lower()) for p in self.actions) and any(
            _glob(r, resource.lower()) for r in self.resources
        )

    def applies_to(self, forms: set[str]) -> bool:
        return self.principals is None or any(p == "*" or p in forms for p in self.principals)


class PolicyError(ValueError):
    """A policy document the service would refuse (text after ``failed to check policy format:``)."""


def _glob(pattern: str, text: str) -> bool:
    return _glob_regex(pattern).fullmatch(text) is not None


@functools.lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _as_strings(value: Any, what: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise PolicyError(f"invalid {what} value - {json.dumps(value)}")
    return items


#: Actions a policy may name beyond the ACL and management ones: project actions of the newer permission
#: list (jobs, volumes, schemas, packages, models). Accepted and matched; the emulator checks none of them.
POLICY_ONLY_ACTIONS: tuple[str, ...] = (
    "CreateJob",
    "CreateVolume",
    "CreateSchema",
    "CreatePackage",
    "InstallPackage",
    "CreateModel",
    "ShowHistory",
)

#: Every action a role or project policy may name (``odps:<Action>``, ``*`` patterns allowed).
POLICY_ACTIONS: frozenset[str] = frozenset(
    {a.lower() for acts in ACTIONS.values() for a in acts}
    | {"all"}
    | {a.lower() for a in MANAGEMENT_ACTIONS}
    | {a.lower() for a in POLICY_ONLY_ACTIONS}
)


@functools.lru_cache(maxsize=256)
def parse_policy(text: str, *, project_policy: bool = False) -> tuple[PolicyStatement, ...]:
    """Validate and parse a policy document; raise :class:`PolicyError` like the service does."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise PolicyError("policy is not valid JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Statement"), list):
        raise PolicyError("a policy is an object with a Statement list")
    if str(doc.get("Version", "1")) != "1":
        raise PolicyError(f"invalid Version value - {doc.get('Version')}")
    statements = []
    for raw in doc["Statement"]:
        if not isinstance(raw, dict):
            raise PolicyError("each Statement must be an object")
        unknown = set(raw) - {"Action", "Effect", "Resource", "Principal", "Condition"}
        if unknown:
            raise PolicyError(f"invalid Statement key - {sorted(unknown)[0]}")
        if "Condition" in raw:
            raise PolicyError("Condition is not supported by the emulator")
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"invalid Effect value - {effect}")
        actions = []
        for action in _as_strings(raw.get("Action"), "Action"):
            if not action.lower().startswith("odps:"):
                raise PolicyError(f"invalid Action value - {action}")
            pattern = action[5:].lower()
            if not pattern or not any(_glob(pattern, known) for known in POLICY_ACTIONS):
                raise PolicyError(f"invalid Action value - {action}")
            actions.append(pattern)
        resources = []
        for resource in _as_strings(raw.get("Resource"), "Resource"):
            if not resource.lower().startswith("acs:odps:"):
                raise PolicyError(f"invalid Resource value - {resource}")
            resources.append(resource.lower())
        principals: tuple[str, ...] | None = None
        if project_policy:
            principals = tuple(p.lower() for p in _as_strings(raw.get("Principal", "*"), "Principal"))
        elif "Principal" in raw:
            raise PolicyError("a role policy has no Principal")
        statements.append(PolicyStatement(effect, tuple(actions), tuple(resources), principals))
    return tuple(statements)

"""The action vocabulary: what may be granted on each object type, and the management permissions."""

from __future__ import annotations

#: Actions valid per object type (authorization page), plus ``Download`` on tables, functions and
#: instances (download control) and ``Execute`` (an alias of ``Run``) from the newer permission list;
#: an installed package takes ``Read``.
ACTIONS: dict[str, tuple[str, ...]] = {
    "project": ("Read", "Write", "List", "CreateTable", "CreateInstance", "CreateFunction", "CreateResource"),
    "table": ("Describe", "Select", "Alter", "Update", "Drop", "Download"),
    "function": ("Read", "Write", "Delete", "Run", "Execute", "Download"),
    "resource": ("Read", "Write", "Delete"),
    "instance": ("Read", "Write", "Download"),
    "package": ("Read",),
}

#: Actions that are the same permission under two names (the newer docs call ``Run`` ``Execute``).
ACTION_ALIASES: dict[str, str] = {"Execute": "Run"}

#: Project management permissions (the "management role permissions" page). The last five are
#: the emulator's names for statements that page does not list (ACL grants and read-backs).
MANAGEMENT_ACTIONS: tuple[str, ...] = (
    "AddUser",
    "RemoveUser",
    "ListUsers",
    "ListUserRoles",
    "CreateRole",
    "DescribeRole",
    "DropRole",
    "ListRoles",
    "GrantRole",
    "RevokeRole",
    "ListRolePrincipals",
    "GetSecurityConfiguration",
    "SetSecurityConfiguration",
    "Grant",
    "Revoke",
    "ShowGrants",
    "ShowAcl",
    "GetPolicy",
    "SetPolicy",
)

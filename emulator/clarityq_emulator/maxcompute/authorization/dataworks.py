"""The MaxCompute roles DataWorks creates in the projects of a workspace, with the permissions of
seed 003's table ("Permission relationship between MaxCompute and DataWorks").

A standard-mode workspace has a development project and a production project; the same roles exist
in both, with different permissions. "All on the project and its tables, functions, resources,
instances and jobs; Read on packages" becomes ``All`` on the project and on ``*`` of each object
type, and ``Read`` on every package (jobs are not an object type the emulator has). The O&M row's
"Read and Describe on tables" becomes ``Describe``: ``Read`` is not a table action, and the row
gives no ``Select``.
"""

from __future__ import annotations

from typing import Literal

from clarityq_emulator.maxcompute.authorization.model import AclEntry, ProjectSecurity, Role

Environment = Literal["dev", "prod"]
ENVIRONMENTS: tuple[str, ...] = ("dev", "prod")

#: (object type, name, actions); the project's own name stands in for ``"<project>"``.
Grant = tuple[str, str, frozenset[str]]
_ALL = frozenset({"All"})
FULL: tuple[Grant, ...] = (
    ("project", "<project>", _ALL),
    ("table", "*", _ALL),
    ("function", "*", _ALL),
    ("resource", "*", _ALL),
    ("instance", "*", _ALL),
    ("package", "*", frozenset({"Read"})),
)
OPERATIONS: tuple[Grant, ...] = (
    ("project", "<project>", _ALL),
    ("table", "*", frozenset({"Describe"})),
    ("function", "*", _ALL),
    ("resource", "*", _ALL),
    ("instance", "*", _ALL),
    ("package", "*", frozenset({"Read"})),
)
ANALYST: tuple[Grant, ...] = (("project", "<project>", frozenset({"CreateInstance", "CreateTable"})),)

#: MaxCompute role -> (DataWorks role, grants in the dev project, grants in the prod project).
DATAWORKS_ROLES: dict[str, tuple[str, tuple[Grant, ...], tuple[Grant, ...]]] = {
    "role_project_admin": ("Workspace Administrator", FULL, ()),
    "role_project_dev": ("Development", FULL, ()),
    "role_project_pe": ("O&M", OPERATIONS, ()),
    "role_project_deploy": ("Deploy", (), ()),
    "role_project_guest": ("Visitor", (), ()),
    "role_project_security": ("Security Manager", (), ()),
    "role_project_data_analyst": ("Data Analyst", ANALYST, ()),
    "role_project_erd": ("Model Designer", (), ()),
    "role_project_data_governance": ("Data Governance Administrator", (), ()),
    "role_project_scheduler": ("prod scheduling identity", (), FULL),
}


def add_dataworks_roles(project: ProjectSecurity, environment: str) -> None:
    """Create the DataWorks roles in ``project`` (the workspace's ``dev`` or ``prod`` project)."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"dataworks environment {environment!r} of project {project.name}: use 'dev' or 'prod'")
    for name, (title, dev, prod) in DATAWORKS_ROLES.items():
        project.roles[name] = Role(name=name, comment=f"DataWorks {title}")
        for object_type, object_name, actions in dev if environment == "dev" else prod:
            target = project.name if object_name == "<project>" else object_name
            project.acl.append(AclEntry("role", name, object_type, target, set(actions)))

"""Package statements, provider side (``CREATE/DROP PACKAGE``, ``ADD/REMOVE ... PACKAGE``,
``ALLOW/DISALLOW PROJECT``) and consumer side (``INSTALL/UNINSTALL PACKAGE``, ``SHOW PACKAGES``,
``DESCRIBE PACKAGE``). ``GRANT Read ON PACKAGE`` is an ordinary ACL grant (:mod:`.statements`).

Managing packages takes the owner, a Super_Administrator or Admin (management actions
``CreatePackage``, ``InstallPackage``); showing and describing them any member.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.authorization.model import canonical_action, ordered_actions
from clarityq_emulator.maxcompute.authorization.packages import (
    DEFAULT_PRIVILEGES,
    InstalledPackage,
    Package,
)
from clarityq_emulator.maxcompute.security import grammar
from clarityq_emulator.maxcompute.security.output import Output, ascii_table
from clarityq_emulator.maxcompute.security.parser import ObjectRef

if TYPE_CHECKING:
    from clarityq_emulator.maxcompute.security.statements import Session

OK = "OK"
#: Objects one package may hold.
MAX_PACKAGE_OBJECTS = 1000


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(epoch))


def _package(session: Session, name: str) -> Package:
    found = session.p.packages.created.get(name)
    if found is None:
        raise odps_errors.no_such_security_object(session.p.name, "package", name)
    return found


def create_package(session: Session, stmt: grammar.CreatePackage) -> Output:
    session.require("CreatePackage")
    if stmt.name in session.p.packages.created:
        raise odps_errors.security_object_exists(f"Package {stmt.name} already exists in project {session.p.name}")
    session.p.packages.created[stmt.name] = Package(stmt.name, session.state.clock())
    return Output(OK, OK, mutated=True)


def drop_package(session: Session, stmt: grammar.DropPackage) -> Output:
    """Dropping a package also removes its installations (and their ``Read`` grants) in consumer projects."""
    session.require("CreatePackage")
    _package(session, stmt.name)
    del session.p.packages.created[stmt.name]
    full = f"{session.p.name}.{stmt.name}"
    for consumer in session.state.security.projects.values():
        if consumer.packages.installed.pop(full, None) is not None:
            consumer.acl = [e for e in consumer.acl if not (e.object_type == "package" and e.object_name == full)]
    return Output(OK, OK, mutated=True)


def _object_names(session: Session, object_type: str, name: str) -> list[str]:
    """The objects ``ADD`` names (``*`` = every existing one of the type); each must exist."""
    project = session.p.name
    if name == "*":
        if object_type == "table":
            return sorted(t.name.lower() for t in session.state.engine.list_tables(project))
        if object_type == "instance":
            return sorted(i.id.lower() for i in session.state.instances.of_project(project))
        return sorted(session.p.functions if object_type == "function" else session.p.resources)
    if "*" in name:
        raise odps_errors.invalid_security_argument("a package takes one object or every object (*)")
    _, stored = session.target(ObjectRef(object_type, name))
    return [stored]


def add_to_package(session: Session, stmt: grammar.AddToPackage) -> Output:
    session.require("CreatePackage")
    package = _package(session, stmt.package)
    written = stmt.privileges or DEFAULT_PRIVILEGES
    privileges: list[str] = []
    for action in written:
        canonical = canonical_action(stmt.object_type, action)
        if canonical is None:
            if stmt.privileges:
                raise odps_errors.invalid_privilege(action, stmt.object_type)
            continue  # the default set is cut down to what the type takes
        if canonical not in privileges:
            privileges.append(canonical)
    privileges = ordered_actions(stmt.object_type, privileges)
    names = _object_names(session, stmt.object_type, stmt.name)
    before = dict(package.objects)
    for name in names:
        package.objects.pop(f"{stmt.object_type}:{name}", None)  # privileges are frozen: re-adding replaces
        package.objects[f"{stmt.object_type}:{name}"] = privileges
    if len(package.objects) > MAX_PACKAGE_OBJECTS:
        package.objects = before
        raise odps_errors.invalid_security_argument(f"a package holds at most {MAX_PACKAGE_OBJECTS} objects")
    return Output(OK, OK, mutated=before != package.objects)


def remove_from_package(session: Session, stmt: grammar.RemoveFromPackage) -> Output:
    session.require("CreatePackage")
    package = _package(session, stmt.package)
    key = f"{stmt.object_type}:{stmt.name.lower()}"
    if key not in package.objects:
        raise odps_errors.no_such_security_object(
            session.p.name, stmt.object_type, f"{stmt.name.lower()} in package {package.name}"
        )
    del package.objects[key]
    return Output(OK, OK, mutated=True)


def allow_install(session: Session, stmt: grammar.AllowInstall) -> Output:
    session.require("CreatePackage")
    package = _package(session, stmt.package)
    if stmt.allow:
        if session.state.security.get(stmt.project) is None:
            raise odps_errors.no_such_project(stmt.project)
        label = stmt.label or 0
        changed = package.allowed.get(stmt.project) != label
        package.allowed[stmt.project] = label
        return Output(OK, OK, mutated=changed)
    changed = package.allowed.pop(stmt.project, None) is not None
    return Output(OK, OK, mutated=changed)


def install_package(session: Session, stmt: grammar.InstallPackage) -> Output:
    session.require("InstallPackage")
    full = f"{stmt.source_project}.{stmt.package}"
    installed = session.p.packages.installed
    if not stmt.install:
        if installed.pop(full, None) is None:
            raise odps_errors.no_such_security_object(session.p.name, "package", full)
        session.p.acl = [e for e in session.p.acl if not (e.object_type == "package" and e.object_name == full)]
        return Output(OK, OK, mutated=True)
    source = session.state.security.get(stmt.source_project)
    if source is None:
        raise odps_errors.no_such_project(stmt.source_project)
    if stmt.package not in source.packages.created:
        raise odps_errors.no_such_security_object(source.name, "package", stmt.package)
    if session.p.name not in source.packages.created[stmt.package].allowed:
        raise session.forbid(
            f"project {session.p.name} is not allowed to install package {full}; the owner of {source.name} "
            f"runs ALLOW PROJECT {session.p.name} TO INSTALL PACKAGE {stmt.package}."
        )
    if full in installed:
        raise odps_errors.security_object_exists(f"Package {full} is already installed in project {session.p.name}")
    installed[full] = InstalledPackage(source.name, stmt.package, session.state.clock())
    return Output(OK, OK, mutated=True)


def show_packages(session: Session, stmt: grammar.ShowPackages) -> Output:
    created = sorted(session.p.packages.created.values(), key=lambda p: p.name)
    installed = sorted(session.p.packages.installed.values(), key=lambda i: i.full_name)
    value = {
        "createdPackages": [{"name": p.name, "createTime": _iso(p.created)} for p in created],
        "installedPackages": [
            {"name": i.name, "sourceProject": i.source_project, "status": "OK", "installTime": _iso(i.installed)}
            for i in installed
        ],
    }
    text = "Created Packages:\n" + "".join(f"{p.name}\t{_iso(p.created)}\n" for p in created)
    text += "\nInstalled Packages:\n" + "".join(f"{i.full_name}\t{_iso(i.installed)}\n" for i in installed)
    return Output(value, text)


def describe_package(session: Session, stmt: grammar.DescribePackage) -> Output:
    project = stmt.project or session.p.name
    if project != session.p.name and f"{project}.{stmt.package}" not in session.p.packages.installed:
        raise odps_errors.no_such_security_object(session.p.name, "package", f"{project}.{stmt.package}")
    source = session.state.security.get(project)
    package = source.packages.created.get(stmt.package) if source is not None else None
    if package is None:
        raise odps_errors.no_such_security_object(project, "package", stmt.package)
    objects = []
    for key, privileges in sorted(package.objects.items()):
        object_type, name = key.split(":", 1)
        objects.append(
            {"ObjectType": object_type.upper(), "ObjectName": name, "ObjectPrivileges": ",".join(privileges)}
        )
    allowed = [{"ProjectName": p, "UserLabel": n} for p, n in sorted(package.allowed.items())]
    value = {
        "CreateTime": _iso(package.created),
        "PackageName": package.name,
        "SourceProject": project,
        "Objects": objects,
        "AllowedProjects": allowed,
    }
    text = (
        f"CreateTime:         {_iso(package.created)}\nPackageName:        {package.name}\n"
        f"SourceProject:      {project}\n\nObject List\n"
        + ascii_table(["ObjectType", "ObjectName", "ObjectPrivileges"], objects)
        + "\nAllowed Project List\n"
        + ascii_table(["ProjectName", "UserLabel"], allowed)
    )
    return Output(value, text)


HANDLERS: dict[type, Callable[[Session, Any], Output]] = {
    grammar.CreatePackage: create_package,
    grammar.DropPackage: drop_package,
    grammar.AddToPackage: add_to_package,
    grammar.RemoveFromPackage: remove_from_package,
    grammar.AllowInstall: allow_install,
    grammar.InstallPackage: install_package,
    grammar.ShowPackages: show_packages,
    grammar.DescribePackage: describe_package,
}

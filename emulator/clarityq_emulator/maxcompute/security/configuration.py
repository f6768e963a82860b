"""Project-level security settings: the SecurityConfiguration document (``?security_configuration``)
and the project properties and state (``PUT /projects/{p}``, what ``setproject`` sends).

``LabelSecurity`` is the only switch of the configuration the emulator enforces besides the ACL and
policy ones it reports as on; ``ProjectProtection`` may only be sent as off (it is not emulated).
Changing the configuration or the properties takes the owner or a Super_Administrator; the state
only the owner. The owner's ``PUT /projects/{p}`` skips the whitelist and state checks: it stands in
for the console, the owner's way back in after locking the project.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from clarityq_emulator.core.http import Request, Response
from clarityq_emulator.core.state import EmulatorState
from clarityq_emulator.maxcompute import errors as odps_errors
from clarityq_emulator.maxcompute.authorization import network
from clarityq_emulator.maxcompute.authorization.model import ProjectSecurity, display_name, resource_name
from clarityq_emulator.maxcompute.common import ServiceResult
from clarityq_emulator.ram.models import Caller

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _xml_root(body: bytes, tag: str) -> ET.Element:
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise odps_errors.invalid_argument("ODPS-0420411:Invalid argument - DTDs are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise odps_errors.invalid_argument(f"ODPS-0420411:Invalid argument - malformed {tag} XML") from None
    if root.tag != tag:
        raise odps_errors.invalid_argument(f"ODPS-0420411:Invalid argument - expected a {tag} document")
    return root


def _flag(value: bool) -> str:
    return "true" if value else "false"


def configuration_xml(project: ProjectSecurity) -> str:
    return (
        f"{XML_HEAD}<SecurityConfiguration>"
        "<CheckPermissionUsingAcl>true</CheckPermissionUsingAcl>"
        "<CheckPermissionUsingPolicy>true</CheckPermissionUsingPolicy>"
        f"<LabelSecurity>{_flag(project.labels.enabled)}</LabelSecurity>"
        "<ObjectCreatorHasAccessPermission>true</ObjectCreatorHasAccessPermission>"
        "<ObjectCreatorHasGrantPermission>true</ObjectCreatorHasGrantPermission>"
        '<ProjectProtection Protected="false"></ProjectProtection>'
        "<CheckPermissionUsingAclV2>true</CheckPermissionUsingAclV2>"
        "<CheckPermissionUsingPolicyV2>true</CheckPermissionUsingPolicyV2>"
        "<SupportACL>true</SupportACL><SupportPolicy>true</SupportPolicy><SupportPackage>true</SupportPackage>"
        "<SupportACLV2>true</SupportACLV2><SupportPackageV2>true</SupportPackageV2>"
        "<CheckPermissionUsingPackage>true</CheckPermissionUsingPackage>"
        "<CreatePackage>true</CreatePackage><CreatePackageV2>true</CreatePackageV2>"
        "</SecurityConfiguration>"
    )


#: Switches the emulator always has on; a PUT may only repeat them.
_FIXED_ON = ("CheckPermissionUsingAcl", "CheckPermissionUsingPolicy", "ObjectCreatorHasAccessPermission")


def _require_security_admin(state: EmulatorState, caller: Caller, project: ProjectSecurity, action: str) -> None:
    if not project.is_super_admin(caller):
        raise odps_errors.no_privilege(
            project.name, action, resource_name(project.name, "project", None), display_name(caller)
        )


def security_configuration(state: EmulatorState, caller: Caller, project: str, req: Request) -> ServiceResult:
    with state.security.lock:
        info = state.security.require_member(caller, project)
        if req.method == "GET":
            if not info.may_manage(caller, "GetSecurityConfiguration"):
                raise odps_errors.no_privilege(
                    info.name,
                    "GetSecurityConfiguration",
                    resource_name(info.name, "project", None),
                    display_name(caller),
                )
            return ServiceResult(Response.xml(configuration_xml(info)))
        if req.method != "PUT":
            raise odps_errors.method_not_allowed(req.method, req.path)
        _require_security_admin(state, caller, info, "SetSecurityConfiguration")
        root = _xml_root(req.body, "SecurityConfiguration")
        for name in _FIXED_ON:
            if (root.findtext(name) or "true").strip().lower() != "true":
                raise odps_errors.not_implemented(f"turning {name} off")
        protection = root.find("ProjectProtection")
        if protection is not None and protection.get("Protected", "false").lower() == "true":
            raise odps_errors.not_implemented("project protection (ProjectProtection)")
        label = root.findtext("LabelSecurity")
        changed = False
        if label is not None:
            enabled = label.strip().lower() == "true"
            changed = enabled != info.labels.enabled
            info.labels.enabled = enabled
        return ServiceResult(Response(status=200), mutated=changed)


def update_project(state: EmulatorState, caller: Caller, project: str, req: Request) -> ServiceResult:
    """``PUT /projects/{p}``: each property sent replaces its value (an empty value clears it); ``<State>``
    moves the project between AVAILABLE and FROZEN."""
    with state.security.lock:
        info = state.security.get(project)
        if info is None:
            raise odps_errors.no_such_project(project)
        if not info.is_member(caller):
            raise odps_errors.not_a_member(info.name, display_name(caller))
        if not info.is_owner(caller):
            state.security.require_reachable(info)
        _require_security_admin(state, caller, info, "SetProjectProperty")
        root = _xml_root(req.body, "Project")
        updates: dict[str, str] = {}
        for prop in root.findall("Properties/Property"):
            name = (prop.findtext("Name") or "").strip()
            value = (prop.findtext("Value") or "").strip()
            if not name:
                raise odps_errors.invalid_argument("ODPS-0420411:Invalid argument - a Property without a Name")
            if name in (network.IP_WHITELIST, network.VPC_WHITELIST):
                try:
                    network.validate(value)
                except network.InvalidWhitelist as exc:
                    raise odps_errors.invalid_argument(
                        f"ODPS-0420411:Invalid argument - {name}: {str(exc)!r} is not an address, CIDR block or range"
                    ) from None
            updates[name] = value
        new_state = (root.findtext("State") or "").strip().upper()
        if new_state and new_state != info.state:
            if new_state not in ("AVAILABLE", "FROZEN"):
                raise odps_errors.invalid_argument(
                    f"ODPS-0420411:Invalid argument - State {escape(new_state)}: the emulator sets AVAILABLE or FROZEN"
                )
            if not info.is_owner(caller):
                raise odps_errors.security_forbidden(
                    info.name, "only the project owner can change the project state.", display_name(caller)
                )
        changed = any(info.properties.get(k) != v for k, v in updates.items()) or (
            bool(new_state) and new_state != info.state
        )
        info.properties.update(updates)
        if new_state:
            info.state = new_state
        return ServiceResult(Response(status=204), mutated=changed)

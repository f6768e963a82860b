"""The steps of the restrictions beyond ACL grants (reference sections 1-4): labels, Download, packages, role policy.

Same contract as :mod:`.steps`: typed fields, one phase each, rendered by :mod:`.render`, rebuilt from JSON (their
kinds are registered in :data:`.steps.BUILDERS` when this module is imported, which :mod:`.plan` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_clarityq.core.grants import render
from airflow_provider_clarityq.core.grants.model import Grantee
from airflow_provider_clarityq.core.grants.steps import BUILDERS, Phase, Step
from airflow_provider_clarityq.core.identifiers import Principal, parse_principal

__all__ = [
    "GrantDownload",
    "GrantLabel",
    "GrantPackageRead",
    "InstallPackage",
    "PutRolePolicy",
    "RevokeDownload",
    "RevokeLabel",
    "RevokePackageRead",
    "SetUserLabel",
]


@dataclass(frozen=True, kw_only=True)
class SetUserLabel(Step):
    """``SET LABEL n TO USER <reader>``: the reader's label access level."""

    kind: ClassVar[str] = "set_user_label"
    project: str
    principal: Principal
    level: int

    @property
    def phase(self) -> Phase:
        return Phase.RESTRICTION_GRANTS

    @property
    def statement(self) -> str:
        return render.set_user_label_statement(self.level, self.principal)

    def args(self) -> dict[str, Any]:
        return {"principal": str(self.principal), "level": self.level}


@dataclass(frozen=True, kw_only=True)
class _LabelStep(Step):
    project: str
    grantee: Grantee
    table: str
    columns: tuple[str, ...] = ()

    def args(self) -> dict[str, Any]:
        return {"grantee": _grantee_args(self.grantee), "table": self.table, "columns": list(self.columns)}


@dataclass(frozen=True, kw_only=True)
class GrantLabel(_LabelStep):
    kind: ClassVar[str] = "grant_label"
    level: int
    expiry_days: int

    @property
    def phase(self) -> Phase:
        return Phase.RESTRICTION_GRANTS

    @property
    def statement(self) -> str:
        return render.grant_label_statement(
            self.level, self.table, self.columns, self.grantee, expiry_days=self.expiry_days
        )

    def args(self) -> dict[str, Any]:
        return {**super().args(), "level": self.level, "expiry_days": self.expiry_days}


@dataclass(frozen=True, kw_only=True)
class RevokeLabel(_LabelStep):
    kind: ClassVar[str] = "revoke_label"
    destructive: ClassVar[bool] = True

    @property
    def phase(self) -> Phase:
        return Phase.REVOKE_RESTRICTION_GRANTS

    @property
    def statement(self) -> str:
        return render.revoke_label_statement(self.table, self.columns, self.grantee)


@dataclass(frozen=True, kw_only=True)
class _DownloadStep(Step):
    project: str
    grantee: Grantee
    table: str

    def args(self) -> dict[str, Any]:
        return {"grantee": _grantee_args(self.grantee), "table": self.table}


@dataclass(frozen=True, kw_only=True)
class GrantDownload(_DownloadStep):
    kind: ClassVar[str] = "grant_download"

    @property
    def phase(self) -> Phase:
        return Phase.RESTRICTION_GRANTS

    @property
    def statement(self) -> str:
        return render.grant_download_statement(self.table, self.grantee)


@dataclass(frozen=True, kw_only=True)
class RevokeDownload(_DownloadStep):
    kind: ClassVar[str] = "revoke_download"
    destructive: ClassVar[bool] = True

    @property
    def phase(self) -> Phase:
        return Phase.REVOKE_RESTRICTION_GRANTS

    @property
    def statement(self) -> str:
        return render.revoke_download_statement(self.table, self.grantee)


@dataclass(frozen=True, kw_only=True)
class InstallPackage(Step):
    """``INSTALL PACKAGE <source>.<pkg>`` in the consumer project (the provider must have allowed it)."""

    kind: ClassVar[str] = "install_package"
    project: str
    source_project: str
    package: str

    @property
    def phase(self) -> Phase:
        return Phase.INSTALL_PACKAGES

    @property
    def statement(self) -> str:
        return render.install_package_statement(self.source_project, self.package)

    def args(self) -> dict[str, Any]:
        return {"source_project": self.source_project, "package": self.package}


@dataclass(frozen=True, kw_only=True)
class _PackageReadStep(Step):
    project: str
    grantee: Grantee
    source_project: str
    package: str

    def args(self) -> dict[str, Any]:
        return {"grantee": _grantee_args(self.grantee), "source_project": self.source_project, "package": self.package}


@dataclass(frozen=True, kw_only=True)
class GrantPackageRead(_PackageReadStep):
    kind: ClassVar[str] = "grant_package_read"

    @property
    def phase(self) -> Phase:
        return Phase.RESTRICTION_GRANTS

    @property
    def statement(self) -> str:
        return render.grant_package_read_statement(self.source_project, self.package, self.grantee)


@dataclass(frozen=True, kw_only=True)
class RevokePackageRead(_PackageReadStep):
    kind: ClassVar[str] = "revoke_package_read"
    destructive: ClassVar[bool] = True

    @property
    def phase(self) -> Phase:
        return Phase.REVOKE_RESTRICTION_GRANTS

    @property
    def statement(self) -> str:
        return render.revoke_package_read_statement(self.source_project, self.package, self.grantee)


@dataclass(frozen=True, kw_only=True)
class PutRolePolicy(Step):
    """Replace the managed role's policy with the spec's Allow statements (``PUT ...roles/<r>?policy``)."""

    kind: ClassVar[str] = "put_role_policy"
    project: str
    role: str
    policy: Mapping[str, Any]

    @property
    def phase(self) -> Phase:
        return Phase.RESTRICTION_GRANTS

    @property
    def api_call(self) -> dict[str, object]:
        return render.put_role_policy_call(self.project, self.role, dict(self.policy))

    def args(self) -> dict[str, Any]:
        return {"role": self.role, "policy": dict(self.policy)}


def _grantee_args(grantee: Grantee) -> dict[str, str]:
    return {"kind": grantee.kind, "name": grantee.name}


def _grantee(args: Mapping[str, Any]) -> Grantee:
    return Grantee(args["grantee"]["kind"], args["grantee"]["name"])


BUILDERS.update(
    {
        "set_user_label": lambda p, r, a: SetUserLabel(
            project=p, reason=r, principal=parse_principal(a["principal"]), level=a["level"]
        ),
        "grant_label": lambda p, r, a: GrantLabel(
            project=p,
            reason=r,
            grantee=_grantee(a),
            table=a["table"],
            columns=tuple(a["columns"]),
            level=a["level"],
            expiry_days=a["expiry_days"],
        ),
        "revoke_label": lambda p, r, a: RevokeLabel(
            project=p, reason=r, grantee=_grantee(a), table=a["table"], columns=tuple(a["columns"])
        ),
        "grant_download": lambda p, r, a: GrantDownload(project=p, reason=r, grantee=_grantee(a), table=a["table"]),
        "revoke_download": lambda p, r, a: RevokeDownload(project=p, reason=r, grantee=_grantee(a), table=a["table"]),
        "install_package": lambda p, r, a: InstallPackage(
            project=p, reason=r, source_project=a["source_project"], package=a["package"]
        ),
        "grant_package_read": lambda p, r, a: GrantPackageRead(
            project=p, reason=r, grantee=_grantee(a), source_project=a["source_project"], package=a["package"]
        ),
        "revoke_package_read": lambda p, r, a: RevokePackageRead(
            project=p, reason=r, grantee=_grantee(a), source_project=a["source_project"], package=a["package"]
        ),
        "put_role_policy": lambda p, r, a: PutRolePolicy(project=p, reason=r, role=a["role"], policy=a["policy"]),
    }
)

"""Who an AccessKey belongs to: STS GetCallerIdentity's answer, as the grants and health sides both read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_clarityq.core.identifiers import validate_uid

__all__ = ["CallerIdentity", "caller_identity"]


@dataclass(frozen=True)
class CallerIdentity:
    """The main account (for ``RAM$<account>:<uid>``) and the caller itself (STS, or derived from WHOAMI).

    ``identity_type`` is STS's: ``Account``, ``RAMUser`` or ``AssumedRoleUser``.
    """

    account_id: str
    identity_type: str = "Account"
    arn: str = ""
    user_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "account_id", validate_uid(self.account_id, field="account_id"))

    @property
    def user_name(self) -> str | None:
        """The RAM user name from an ARN ``acs:ram::<acct>:user/<name>``."""
        _, sep, name = self.arn.partition(":user/")
        return (name or None) if sep else None

    @property
    def role_name(self) -> str | None:
        """The RAM role of an assumed-role ARN ``acs:ram::<acct>:assumed-role/<role>/<session>``."""
        _, sep, rest = self.arn.partition(":assumed-role/")
        return (rest.split("/", 1)[0] or None) if sep else None

    @property
    def principal(self) -> str:
        """The MaxCompute principal: ``RAM$<acct>:<uid>`` (seed 000's form), ``ALIYUN$<acct>``, or a role."""
        if self.identity_type == "Account":
            return f"ALIYUN${self.account_id}"
        if self.identity_type == "AssumedRoleUser" and self.role_name:
            return f"RAM${self.account_id}:role/{self.role_name}"
        return f"RAM${self.account_id}:{self.user_id}"

    def describe(self) -> str:
        if self.identity_type == "Account":
            return f"the main account {self.principal}"
        if self.identity_type == "AssumedRoleUser":
            return f"assumed RAM role {self.role_name or '?'} ({self.principal})"
        name = f" {self.user_name}" if self.user_name else ""
        return f"RAM user{name} ({self.principal})"

    def to_dict(self) -> dict[str, str]:
        return {"account_id": self.account_id, "identity_type": self.identity_type, "arn": self.arn}


def caller_identity(sts_client: Any) -> CallerIdentity:
    """STS GetCallerIdentity with the client's credentials (one request)."""
    body = sts_client.get_caller_identity().body
    return CallerIdentity(
        account_id=str(body.account_id),
        identity_type=str(body.identity_type or "RAMUser"),
        arn=str(body.arn or ""),
        user_id=str(body.user_id or body.principal_id or ""),
    )

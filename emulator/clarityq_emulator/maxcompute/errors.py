"""MaxCompute's XML error envelope and the errors the emulator raises on the MaxCompute side.

pyodps only honours ``<Code>`` when all four elements (Code, Message, RequestId, HostId) are
present; it then picks the exception class named by the code (``NoSuchProject``,
``SignatureNotMatch``, ...) or, for ``ODPS-xxxxxxx`` codes, its numeric table.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from clarityq_emulator.core.http import Response

HOST_ID = "clarityq-emulator"


class OdpsError(Exception):
    """An error answered to a MaxCompute client with the real status and code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_response(self, request_id: str) -> Response:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>"
            f"<RequestId>{escape(request_id)}</RequestId><HostId>{HOST_ID}</HostId></Error>"
        )
        return Response.xml(body, status=self.status)


# --- authentication (ODPS-041xxxx) -----------------------------------------------------------


def missing_authorization() -> OdpsError:
    # The text contains "invalid or missing" on purpose: pyodps then retries a v4-signed
    # request with the default scheme, as it does against the real service.
    return OdpsError(401, "AuthorizationRequired", "The Authorization header is invalid or missing")


def unknown_access_key() -> OdpsError:
    return OdpsError(401, "Unauthorized", "ODPS-0410051:Invalid credentials - accessKeyId not found")


def inactive_access_key() -> OdpsError:
    return OdpsError(401, "Unauthorized", "ODPS-0410051:Invalid credentials - accessKeyId is disabled")


def signature_mismatch() -> OdpsError:
    # "dose" is the real service's spelling.
    return OdpsError(401, "SignatureNotMatch", "ODPS-0410042:Invalid signature value - User signature dose not match")


def sts_token_expired() -> OdpsError:
    return OdpsError(
        401, "AuthenticationRequestExpired", "ODPS-0410031:Authentication request expired - security token expired"
    )


def sts_token_invalid() -> OdpsError:
    return OdpsError(401, "Unauthorized", "ODPS-0410051:Invalid credentials - invalid security token")


def missing_date() -> OdpsError:
    # Not "invalid or missing": pyodps would take that as "retry with the v2 scheme".
    return OdpsError(401, "AuthorizationRequired", "A signed request needs a Date header (RFC 1123, GMT)")


def malformed_date(sent: str) -> OdpsError:
    return OdpsError(401, "AuthorizationRequired", f"The Date header {sent[:64]!r} is not an RFC 1123 date")


def time_skewed() -> OdpsError:
    return OdpsError(403, "RequestTimeTooSkewed", "ODPS-0410021:Request time is too skewed from server time")


# --- resources --------------------------------------------------------------------------------


def no_such_project(project: str) -> OdpsError:
    return OdpsError(404, "NoSuchProject", f"ODPS-0420111: Project not found - '{project}'.")


def no_such_table(project: str, table: str) -> OdpsError:
    return OdpsError(404, "NoSuchTable", f"ODPS-0130131:Table not found - table {project}.{table} cannot be resolved")


def no_such_partition(project: str, table: str, spec: str) -> OdpsError:
    return OdpsError(404, "NoSuchPartition", f"ODPS-0130131:Partition not found - {project}.{table} ({spec})")


def no_such_resource(project: str, name: str) -> OdpsError:
    return OdpsError(404, "NoSuchObject", f"ODPS-0420111:Resource not found - '{project}/resources/{name}'")


def already_exists(what: str) -> OdpsError:
    return OdpsError(409, "ObjectAlreadyExists", f"ODPS-0420111:Object already exists - {what}")


def invalid_state(instance_id: str, status: str) -> OdpsError:
    return OdpsError(409, "InvalidStateSetting", f"Instance {instance_id} is already {status}; it cannot be stopped")


def no_such_object(what: str) -> OdpsError:
    return OdpsError(404, "NoSuchObject", f"The specified object does not exist: {what}")


def invalid_argument(message: str) -> OdpsError:
    return OdpsError(400, "InvalidArgument", message)


def not_implemented(what: str) -> OdpsError:
    return OdpsError(501, "NotImplemented", f"The emulator does not implement {what}")


def method_not_allowed(method: str, path: str) -> OdpsError:
    return OdpsError(405, "MethodNotAllowed", f"Method {method} is not allowed on {path}")


def service_unavailable() -> OdpsError:
    return OdpsError(503, "ServiceUnavailable", "ODPS-0420153: Service is temporarily unavailable, please retry")


# --- authorization (ODPS-0420095 / ODPS-0130013) ------------------------------------------------


def not_a_member(project: str, principal: str) -> OdpsError:
    return OdpsError(
        403,
        "NoPermission",
        f"ODPS-0420095: Access Denied - Authorization Failed [4002], You don't exist in project {project}. "
        f"Context ID:emulator. --->Tips: Pricipal:{principal};",
    )


def no_privilege(project: str, action: str, resource: str, principal: str) -> OdpsError:
    return OdpsError(
        403,
        "NoPermission",
        f"ODPS-0420095: Access Denied - Authorization Failed [4019], You have NO privilege "
        f"'odps:{action}' on {{{resource}}}. Context ID:emulator. "
        f"--->Tips: CurrentProject:{project}; Pricipal:{principal};",
    )


def project_not_available(project: str, state: str) -> OdpsError:
    # The overdue/suspended text; no source shows the one for a project an operator froze.
    return OdpsError(
        403,
        "NoPermission",
        f"ODPS-0420095: Access Denied - Authorization Failed [4093], You have NO privilege to do the restricted "
        f"operation on {{acs:odps:*:projects/{project}}}. Access Mode is AllDenied. Project state: {state}.",
    )


def ip_not_whitelisted(project: str, ip: str) -> OdpsError:
    # The sentence is the observed client text; its code and status are not documented.
    return OdpsError(
        403,
        "NoPermission",
        f"ODPS-0420095: Access Denied - Access denied by project ip white list: sourceIP:'{ip}' is not in white "
        f"list. project: {project}",
    )


def label_too_low(
    project: str, resource: str, column: str, sensitivity: int, effective: int, principal: str
) -> OdpsError:
    return OdpsError(
        403,
        "NoPermission",
        f"ODPS-0420095: Access Denied - Authorization Failed [4031], You have NO privilege 'odps:Select' on "
        f"{{{resource}}}. CheckLabelSecurity failed. The sensitive label of column '{column}' is {sensitivity}, "
        f"but your effective label is {effective}. Context ID:emulator. "
        f"--->Tips: CurrentProject:{project}; Pricipal:{principal};",
    )


def package_read_missing(provider: str, current: str, packages: list[str], principal: str) -> OdpsError:
    # "intalled" is the service's spelling.
    return OdpsError(
        403,
        "NoPermission",
        f"ODPS-0420095: Access Denied - Authorization Failed [4002], You don't exist in project {provider}. "
        f"Context ID:emulator. --->Tips: CurrentProject:{current}; Pricipal:{principal}; Resource has been "
        f"intalled, You Need 'odps:Read' privilege on one of following packages {', '.join(packages)}",
    )


def denied_by_policy(project: str, action: str, resource: str, principal: str) -> OdpsError:
    return OdpsError(
        403,
        "NoPermission",
        f"ODPS-0420095: Access Denied - Authorization Failed [4011], You have NO privilege "
        f"'odps:{action}' on {{{resource}}}. Explicitly denied by policy. Context ID:emulator. "
        f"--->Tips: CurrentProject:{project}; Pricipal:{principal};",
    )


# --- security statements (POST /projects/{p}/authorization) and the users/roles API --------------
# No source shows the real texts for these; they are kept here, in one place, for later correction.


def security_parse_error(line: int, column: int, detail: str) -> OdpsError:
    # pyodps maps ODPS-0130161 to ParseError; the Code names the class directly as well.
    return OdpsError(400, "ParseError", f"ODPS-0130161:[{line},{column}] Parse exception - {detail}")


def statement_too_long(length: int, limit: int) -> OdpsError:
    return OdpsError(
        400, "InvalidArgument", f"ODPS-0420411:Invalid argument - statement is {length} characters, limit {limit}"
    )


def invalid_account(name: str) -> OdpsError:
    return OdpsError(404, "NoSuchObject", f"FAILED: Invalid account Name {name}")


def principal_not_in_project(principal: str, project: str) -> OdpsError:
    return OdpsError(
        404, "NoSuchObject", f"FAILED: {principal} is not a member of project {project}; run ADD USER first"
    )


def no_such_role(project: str, role: str) -> OdpsError:
    return OdpsError(404, "NoSuchObject", f"FAILED: Role {role} does not exist in project {project}")


def no_such_security_object(project: str, object_type: str, name: str) -> OdpsError:
    return OdpsError(404, "NoSuchObject", f"FAILED: {object_type.capitalize()} {project}.{name} does not exist")


def security_object_exists(message: str) -> OdpsError:
    return OdpsError(409, "ObjectAlreadyExists", f"FAILED: {message}")


def invalid_privilege(action: str, object_type: str) -> OdpsError:
    return OdpsError(
        400,
        "InvalidArgument",
        f"ODPS-0420411:Invalid argument - invalid privilege type {action} for {object_type.upper()}",
    )


def invalid_security_argument(message: str) -> OdpsError:
    return OdpsError(400, "InvalidArgument", f"ODPS-0420411:Invalid argument - {message}")


def security_conflict(message: str) -> OdpsError:
    return OdpsError(409, "DeleteConflict", f"FAILED: {message}")


def security_forbidden(project: str, message: str, principal: str) -> OdpsError:
    return OdpsError(
        403,
        "NoPermission",
        f"ODPS-0420095: Access Denied - {message} --->Tips: CurrentProject:{project}; Pricipal:{principal};",
    )


def invalid_policy(detail: str) -> OdpsError:
    return OdpsError(400, "InvalidArgument", f"failed to check policy format: {detail}")

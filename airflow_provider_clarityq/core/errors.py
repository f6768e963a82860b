"""Exception hierarchy of the provider (no Airflow import).

Every error raised on purpose derives from :class:`ClarityQError`, so callers can tell "our" failures
(bad configuration, refused credentials) from bugs. Messages are single lines that name the field
and the fix, and they never carry a secret: values that could be secret are never interpolated, and
:func:`redact` scrubs known secrets from text that comes from elsewhere (SDK exception messages).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

REDACTED = "***"


#: A cut-off piece of a secret at least this long is still treated as the secret.
MIN_SECRET_FRAGMENT = 12


def _secret_forms(secret: str) -> set[str]:
    """The secret as other systems echo it: plain, URL-encoded (path and form style) and JSON-escaped."""
    from urllib.parse import quote, quote_plus

    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace each non-empty secret in ``text`` with ``***``: its plain, URL-encoded and JSON-escaped forms,
    and the start or end of any of them cut to :data:`MIN_SECRET_FRAGMENT` characters or more (an error
    that quotes a truncated request still holds part of the key).

    Longest forms go first so a secret that contains another is not half-replaced.
    """
    forms = {form for secret in secrets if secret for form in _secret_forms(secret)}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
        for size in range(len(form) - 1, MIN_SECRET_FRAGMENT - 1, -1):
            head, tail = form[:size], form[-size:]
            if head in text:
                text = text.replace(head, REDACTED)
            if tail in text:
                text = text.replace(tail, REDACTED)
    return text


def one_line(text: str) -> str:
    """Collapse whitespace runs (newlines included) so a message stays on one log line."""
    return " ".join(text.split())


class ClarityQError(Exception):
    """Base class of every error this provider raises on purpose."""


class ConfigurationError(ClarityQError, ValueError):
    """A setting is missing or malformed; the message names the field and says how to fix it.

    ``str(err)`` is one line: ``"<context> '<label>' (<field>) <problem>: <fix>"``, e.g.
    ``Connection field 'AccessKey Secret' (password) is empty: paste the RAM user's AccessKey secret
    into the connection's Password field.``
    """

    def __init__(
        self,
        field: str,
        problem: str,
        fix: str,
        *,
        label: str | None = None,
        context: str = "Field",
    ) -> None:
        self.field = field
        self.problem = one_line(problem)
        self.fix = one_line(fix)
        self.label = label
        self.context = context
        super().__init__(self._render())

    @property
    def subject(self) -> str:
        """How the field is named in the message: ``'Label' (field)`` or ``'field'``."""
        if self.label and self.label != self.field:
            return f"'{self.label}' ({self.field})"
        return f"'{self.field}'"

    def _render(self) -> str:
        end = "" if self.fix.endswith(".") else "."
        return f"{self.context} {self.subject} {self.problem}: {self.fix}{end}"

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as cls(*args); ours need the parts, not the rendered message.
        return (
            _rebuild_configuration_error,
            (type(self), self.field, self.problem, self.fix, self.label, self.context),
        )

    def for_field(self, field: str, *, label: str | None = None, context: str | None = None) -> ConfigurationError:
        """Return the same error (same class) re-addressed to another field name/label/context.

        Validators name a generic field ("project"); the connection parser re-addresses the error to
        the form field the user actually has to edit.
        """
        return type(self)(
            field,
            self.problem,
            self.fix,
            label=label,
            context=self.context if context is None else context,
        )

    def redacted(self, secrets: Iterable[str | None]) -> ConfigurationError:
        """Return a copy whose problem/fix text has the given secrets replaced by ``***``."""
        secrets = list(secrets)
        return type(self)(
            self.field,
            redact(self.problem, secrets),
            redact(self.fix, secrets),
            label=self.label,
            context=self.context,
        )


def _rebuild_configuration_error(
    cls: type[ConfigurationError], field: str, problem: str, fix: str, label: str | None, context: str
) -> ConfigurationError:
    return cls(field, problem, fix, label=label, context=context)


class InvalidIdentifierError(ConfigurationError):
    """A name (project, table, role, user, principal, endpoint...) breaks MaxCompute/RAM naming rules.

    Raised before any such value can reach a URL or a statement.
    """


class CredentialsError(ClarityQError):
    """Credentials could not be obtained, e.g. STS AssumeRole was refused or unreachable.

    ``diagnosis`` is the health report's code for it and ``fix`` the remediation, when the source knows
    them better than the generic AssumeRole advice (a bad OIDC token file, an untrusted issuer...).
    """

    def __init__(self, message: str, *, diagnosis: str = "ASSUME_ROLE_FAILED", fix: str | None = None) -> None:
        super().__init__(message)
        self.diagnosis = diagnosis
        self.fix = fix

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_credentials_error, (str(self), self.diagnosis, self.fix))


def _rebuild_credentials_error(message: str, diagnosis: str, fix: str | None) -> CredentialsError:
    return CredentialsError(message, diagnosis=diagnosis, fix=fix)


# --------------------------------------------------------------------------------------------------
# Explaining service errors


_AUTH_CODES = ("SignatureNotMatch", "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidSecurityToken")
_AUTH_CLASSES = {"SignatureNotMatch", "AuthorizationRequired", "Unauthorized", "AuthenticationRequestExpired"}
_MEMBERSHIP_MARKERS = ("[4002]", "You don't exist in project")
_MAX_DETAIL = 300


def _detail(exc: BaseException, secrets: Iterable[str | None]) -> str:
    text = redact(one_line(str(exc)), secrets)
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "..."


def explain_service_error(
    exc: BaseException,
    *,
    project: str,
    endpoint: str,
    secrets: Iterable[str | None] = (),
    missing: str | None = None,
) -> str:
    """One line saying what a MaxCompute/STS failure means and how to fix it.

    Works on pyodps and Alibaba SDK exceptions without importing them: it looks at class names (the
    whole MRO) and the ``code`` attribute both libraries set. ``secrets`` are scrubbed from any text
    taken from the exception. ``missing="project"`` says that a bare ``NoSuchObject`` (a 404 without
    details) can only mean the project, as when reading the project's metadata.
    """
    secrets = list(secrets)
    if isinstance(exc, ClarityQError):
        return redact(one_line(str(exc)), secrets)
    names = {cls.__name__ for cls in type(exc).__mro__}
    code = str(getattr(exc, "code", "") or "")
    text = one_line(str(exc))
    detail = _detail(exc, secrets)
    label = code if code and code != "None" else type(exc).__name__

    if names & _AUTH_CLASSES or code.startswith(_AUTH_CODES):
        return (
            f"authentication failed ({label}): check the AccessKey ID and AccessKey Secret in the "
            "connection, and that the AccessKey is active in the RAM console (an STS security token, "
            "if set, must not have expired)."
        )
    if "RequestTimeTooSkewed" in names or code.startswith("RequestTimeTooSkewed"):
        return "the request time was rejected as skewed: synchronise this machine's clock (NTP)."
    project_missing = "NoSuchProject" in names or "ODPS-0420111" in text or "project not found" in text.lower()
    if project_missing or ("NoSuchObject" in names and missing == "project"):
        return (
            f"project {project!r} was not found at {endpoint}: check the Project name and that the "
            "Endpoint is the one of the project's region."
        )
    if (
        "NoPermission" in names
        or code.startswith(("NoPermission", "Forbidden"))
        or any(marker in text for marker in _MEMBERSHIP_MARKERS)
    ):
        if any(marker in text for marker in _MEMBERSHIP_MARKERS):
            return (
                f"the RAM user is not a member of project {project!r}: as the project owner run "
                f"ADD USER RAM$<main-account-uid>:<ram-user-uid>; in project {project!r}."
            )
        return (
            f"access denied in project {project!r} ({detail}): make sure ADD USER was run for the RAM "
            "user and that its role has the privileges the action needs (e.g. GRANT CreateInstance, "
            f"List ON PROJECT {project} TO ROLE clarityq_reader)."
        )
    if "NoSuchObject" in names:
        return f"not found ({detail}): check the name and that it exists in project {project!r}."
    if isinstance(exc, OSError):
        return (
            f"cannot reach {endpoint} ({type(exc).__name__}): check the Endpoint URL, DNS, firewall and proxy settings."
        )
    return f"{label}: {detail}"

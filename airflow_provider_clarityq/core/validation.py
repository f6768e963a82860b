"""pydantic models that fail like the rest of the provider: with a :class:`ConfigurationError` naming the field.

No Airflow import. The access spec, the health options and custom validations are pydantic models (their JSON
Schema is generated, not written by hand); their validators reuse the provider's identifier rules, which raise
``ConfigurationError``. :func:`to_configuration_error` turns pydantic's error list into that one error, addressed
to the field's path (``projects[0].tables[3]``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo

from airflow_provider_clarityq.core.errors import ConfigurationError

__all__ = ["StrictModel", "checked_by", "to_configuration_error"]

_PROBLEMS = {"extra_forbidden": "is not a known field", "too_short": "is empty"}
_FIXES = {"missing": "add it", "bool_type": "write true or false", "extra_forbidden": "remove it or fix its spelling"}


def _join(path: str, suffix: str) -> str:
    if not suffix:
        return path
    if not path or suffix.startswith("["):
        return path + suffix
    return f"{path}.{suffix}"


def _loc_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path = _join(path, f"[{part}]" if isinstance(part, int) else str(part))
    return path


def to_configuration_error(
    exc: ValidationError,
    *,
    context: str = "Field",
    root: str = "value",
    problems: Mapping[str, str] | None = None,
    fixes: Mapping[str, str] | None = None,
    nested: bool = True,
) -> ConfigurationError:
    """The first pydantic error as a :class:`ConfigurationError` addressed to its path.

    A validator's own ``ConfigurationError`` keeps its message; ``nested`` appends its field to the path (a
    validator that names a part of the value), otherwise its field stands as it is (or the path, when empty).
    """
    error = exc.errors()[0]
    path = _loc_path(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ConfigurationError):
        field = _join(path, cause.field) if nested else (cause.field or path)
        return cause.for_field(field, context=context)
    problem = error["msg"][0].lower() + error["msg"][1:]
    problem = {**_PROBLEMS, **(problems or {})}.get(error["type"], problem)
    fix = {**_FIXES, **(fixes or {})}.get(error["type"], f"check {path or root}")
    return ConfigurationError(path or root, problem, fix, context=context)


class StrictModel(BaseModel):
    """Frozen, no unknown fields, and construction errors raised as :class:`ConfigurationError`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: How errors name the model's fields ("Field 'role' ...", "Spec field ...").
    error_context: ClassVar[str] = "Field"

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise to_configuration_error(exc, context=self.error_context, nested=False) from None


def checked_by(check: Callable[..., Any], *, optional: bool = False, named: bool = True) -> BeforeValidator:
    """A field's pydantic validator that is one of the provider's rules (``check(value, field=...)``).

    Used as ``Annotated[str, checked_by(validate_project_name)]`` so a model declares which rule guards each
    field instead of repeating a validator method per field. ``optional`` lets ``None`` through; ``named``
    passes the field's own name to the rule (else ``""``, for models whose errors are addressed by their path).
    """

    def run(value: object, info: ValidationInfo) -> Any:
        if optional and value is None:
            return None
        return check(value, field=(info.field_name or "") if named else "")

    return BeforeValidator(run)

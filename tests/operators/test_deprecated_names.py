"""The operators' old names still import, for one release, with a deprecation warning naming the new one."""

from __future__ import annotations

import importlib

import pytest
from airflow.exceptions import AirflowProviderDeprecationWarning


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("grants", "MaxComputeGrantsOperator", "ClarityQGrantsOperator"),
        ("grants", "MaxComputeSecurityQueryOperator", "ClarityQSecurityQueryOperator"),
        ("ram", "RamUserOperator", "ClarityQRamUserOperator"),
        ("access_keys", "RamAccessKeyOperator", "ClarityQAccessKeyOperator"),
        ("access_keys", "RamAccessKeyRotationOperator", "ClarityQAccessKeyRotationOperator"),
    ],
)
def test_old_names_warn_and_are_the_new_classes(module: str, old: str, new: str) -> None:
    mod = importlib.import_module(f"airflow_provider_clarityq.operators.{module}")
    with pytest.warns(AirflowProviderDeprecationWarning, match=f"{old} is deprecated .* use .*{new}"):
        cls = getattr(mod, old)
    assert cls is getattr(mod, new)
    assert old not in mod.__all__ and new in mod.__all__


def test_from_import_of_an_old_name_warns_too() -> None:
    with pytest.warns(AirflowProviderDeprecationWarning, match="RamUserOperator"):
        from airflow_provider_clarityq.operators.ram import RamUserOperator  # noqa: F401


def test_unknown_names_are_still_errors() -> None:
    from airflow_provider_clarityq.operators import grants

    with pytest.raises(AttributeError, match="NoSuchOperator"):
        _ = grants.NoSuchOperator  # type: ignore[attr-defined]

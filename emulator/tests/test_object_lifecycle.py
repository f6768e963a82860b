"""Grants are a sub-resource of their object (seed 002): dropping a table drops its grants."""

from __future__ import annotations

import pytest
from clarityq_emulator import RunningEmulator
from odps import ODPS, options

pytestmark = pytest.mark.integration


def test_dropping_a_table_drops_its_grants(clarityq_emulator: RunningEmulator) -> None:
    options.retry_times = 0
    info = clarityq_emulator.info
    odps = ODPS(info.access_key_id, info.access_key_secret, info.project, endpoint=info.maxcompute_endpoint)
    odps.execute_sql("CREATE TABLE short_lived (id BIGINT)")
    odps.execute_security_query("CREATE ROLE auditor")
    odps.execute_security_query("GRANT Describe, Select ON TABLE short_lived TO ROLE auditor")
    odps.execute_security_query("GRANT Describe ON TABLE customers TO ROLE auditor")

    def table_grants() -> set[str]:
        result = odps.execute_security_query("SHOW GRANTS FOR ROLE auditor")
        resources = [r for entry in result["ACL"][""] for r in entry["Resource"]]
        return {r.split("/tables/", 1)[1] for r in resources if "/tables/" in r}

    assert table_grants() == {"short_lived", "customers"}
    odps.execute_sql("DROP TABLE short_lived")
    odps.execute_sql("CREATE TABLE short_lived (id BIGINT)")
    assert table_grants() == {"customers"}

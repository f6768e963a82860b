"""The read-only allowlist of hand-written security statements: by characters and keywords, never a first word."""

from __future__ import annotations

import pytest
from allowlist_probes import PROBES

from airflow_provider_clarityq.core.errors import ConfigurationError
from airflow_provider_clarityq.core.grants.statements import check_statement, check_statements


@pytest.mark.parametrize("probe", PROBES)
def test_every_smuggling_probe_is_refused_even_with_mutation_allowed(probe: str) -> None:
    for allow in (False, True):
        with pytest.raises(ConfigurationError):
            check_statement(probe, allow_mutation=allow)


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("SHOW GRANTS\u2028DROP ROLE admin", "U+2028 (LINE SEPARATOR) at position 11"),
        ("SHOW GRANTS\u0085x", "U+0085 at position 11"),
        ("SHOW GRANTS\uff1bDROP ROLE admin", "U+FF1B (FULLWIDTH SEMICOLON)"),
        ("SHOW GRANTS; DROP ROLE admin", "';' at position 11"),
        ("SHOW GRANTS -- hidden", "comment marker '--'"),
        ("SHOW GRANTS /* x */", "U+002F (SOLIDUS) at position 12"),
        ("DROP ROLE admin", "starts with 'DROP ROLE'"),
        ("SHOW TABLES", "starts with 'SHOW TABLES'"),
        ("GET", "starts with 'GET'"),
    ],
)
def test_refusals_name_the_character_or_keyword(statement: str, named: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        check_statement(statement)
    assert named in str(err.value)


@pytest.mark.parametrize(
    "statement",
    [
        "SHOW GRANTS",
        "show grants for RAM$1234567890123456:clarityq;",
        "SHOW GRANTS FOR ROLE clarityq_reader",
        "SHOW ACL FOR orders ON TYPE Table",
        'SHOW GRANTS ON TABLE t PRIVILEGEPROPERTIES("refobject"="true", "refproject"="p")',
        "DESCRIBE ROLE clarityq_reader",
        "desc role admin",
        "LIST USERS",
        "list roles",
        "WHOAMI;",
        "GET POLICY ON ROLE clarityq_reader",
        "SHOW LABEL 2 GRANTS ON TABLE t",
        "DESCRIBE PACKAGE p.pkg",
    ],
)
def test_read_only_statements_pass_without_their_semicolon(statement: str) -> None:
    assert check_statement(statement) == statement.strip().removesuffix(";")


def test_mutation_when_allowed_and_every_item_checked_first() -> None:
    assert (
        check_statement("GRANT Select ON TABLE t TO ROLE r", allow_mutation=True) == "GRANT Select ON TABLE t TO ROLE r"
    )
    with pytest.raises(ConfigurationError, match=r"statements\[1\]"):
        check_statements(["SHOW GRANTS", "CREATE ROLE x"])
    with pytest.raises(ConfigurationError, match="is empty"):
        check_statements([])
    for empty in ("", " ; ", None):
        with pytest.raises(ConfigurationError, match="is empty"):
            check_statement(empty)

"""Shared set-up of the restriction tests: the owner's and a reader's pyodps clients on one emulator."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from clarityq_emulator import RunningEmulator
from odps import ODPS, options


@dataclass
class Setup:
    """The emulator, the owner, a reader (a RAM user added to the default project) and its principal."""

    emu: RunningEmulator
    owner: ODPS
    reader: ODPS
    principal: str


def client(emu: RunningEmulator, ak: str, sk: str, project: str | None = None) -> ODPS:
    return ODPS(ak, sk, project or emu.info.project, endpoint=emu.info.maxcompute_endpoint)


def owner_client(emu: RunningEmulator, project: str | None = None) -> ODPS:
    return client(emu, emu.info.access_key_id, emu.info.access_key_secret, project)


def with_reader(emu: RunningEmulator, *statements: str, user: str = "clarityq") -> Setup:
    """Add RAM user ``user`` to the default project and run ``statements`` as the owner
    (``{p}`` is the reader's principal, ``{project}`` the project)."""
    options.retry_times = 0
    owner = owner_client(emu)
    emu.state.identity.create_user(user)
    key = emu.state.identity.create_access_key(user)
    principal = f"RAM${emu.info.account_id}:{user}"
    owner.execute_security_query(f"add user {principal}")
    for statement in statements:
        owner.execute_security_query(statement.format(p=principal, project=emu.info.project))
    return Setup(emu, owner, client(emu, key.access_key_id, key.secret), principal)


def sql_rows(o: ODPS, sql: str, project: str | None = None) -> list[list[object]]:
    """A query's rows, read through the instance tunnel as pyodps does by default."""
    with o.execute_sql(sql, project=project).open_reader(tunnel=True) as reader:
        return [list(r.values) for r in reader]


def text_form(o: ODPS, query: str) -> str:
    """A statement's odpscmd text answer (``ResponseInJsonFormat=false``), sent by pyodps' REST client."""
    body = (
        f"<Authorization><Query>{escape(query)}</Query><ResponseInJsonFormat>false</ResponseInJsonFormat>"
        "</Authorization>"
    )
    url = o.get_project().resource() + "/authorization"
    resp = o.rest.post(url, data=body.encode(), headers={"Content-Type": "application/xml"})
    return ET.fromstring(resp.content).findtext("Result") or ""  # noqa: S314 - the emulator's own answer

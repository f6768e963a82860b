"""What every MaxCompute route shares: path prefixes, the result record, XML and date helpers."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass

from clarityq_emulator.core.http import Response

#: The REST API's path prefix (the endpoint handed to clients ends with it).
REST_PREFIX = "/api"
#: The tunnel's path prefix: the tunnel host serves ``/projects/...`` without ``/api``.
TUNNEL_PREFIX = "/projects"


@dataclass
class ServiceResult:
    """A route's answer: the response, the statement it ran (for the log), whether state changed."""

    response: Response
    statement: str | None = None
    mutated: bool = False


def cdata(text: str) -> str:
    """Wrap text in CDATA; a ``]]>`` inside (e.g. echoed from a query) is split across sections."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)

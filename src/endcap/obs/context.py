"""The request id: taken from the caller's ``X-Request-ID`` or made up, returned in the
response header, and carried (a context variable) into every log line and store call
made while the request is served."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

HEADER = "x-request-id"
#: The id of the request being served in this task, None outside a request.
request_id: ContextVar[str | None] = ContextVar("endcap_request_id", default=None)
_ACCEPTED = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


def choose_request_id(incoming: str | None) -> str:
    """The caller's id when it is a sane token (a proxy's or the storefront's, so the
    trail continues across systems), else a new random one."""
    if incoming and _ACCEPTED.fullmatch(incoming):
        return incoming
    return os.urandom(8).hex()

"""Errors that reach the user: a code, a message, and the field to fix."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<name>[^`]*)`")


class EndcapError(Exception):
    """An error the API turns into ``{"error": {"code", "message", "details"}}``."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details)
        if field is not None:
            self.details["field"] = field


class BadRequest(EndcapError):
    status = 400
    code = "bad_request"


class Invalid(EndcapError):
    status = 422
    code = "invalid"


class Unauthorized(EndcapError):
    status = 401
    code = "unauthorized"


class Forbidden(EndcapError):
    status = 403
    code = "forbidden"


class NotFound(EndcapError):
    status = 404
    code = "not_found"


class Conflict(EndcapError):
    """The request is valid but the resource's state forbids it (409)."""

    status = 409
    code = "conflict"


class TooLarge(EndcapError):
    status = 413
    code = "too_large"


class Unavailable(EndcapError):
    status = 503
    code = "unavailable"
    #: Seconds the client should wait before retrying (sent as ``Retry-After``).
    retry_after = 1


def field_of(err: msgspec.ValidationError | msgspec.DecodeError) -> str | None:
    """The JSON path msgspec blames (``items[3].price``), or None for the whole body.

    For an unknown or missing field the path names that field itself."""
    text = str(err)
    m = _PATH.search(text)
    path = m.group("path") if m else ""
    named = _NAMED.match(text)
    if named:
        path += "." + named.group("name")
    return path.lstrip(".") or None


def message_of(err: msgspec.ValidationError | msgspec.DecodeError) -> str:
    """msgspec's message without its trailing path (the path goes in ``field``)."""
    return _PATH.sub("", str(err))


T = TypeVar("T")


def decode(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """``body`` decoded, or :class:`Invalid` (422) naming the bad field, or
    :class:`BadRequest` (400) for malformed JSON."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as e:
        raise Invalid(message_of(e), field=field_of(e) or "body") from None
    except msgspec.DecodeError as e:
        raise BadRequest(f"malformed JSON: {e}", field="body") from None

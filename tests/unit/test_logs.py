"""JSON log lines carry the request id of the request being served."""

from __future__ import annotations

import io
import logging

import msgspec

from endcap.obs.context import choose_request_id, request_id
from endcap.obs.logs import JsonFormatter, RequestIdFilter


def _logger() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("endcap.test-logs")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def test_json_lines_with_request_id_extras_and_traceback() -> None:
    logger, out = _logger()
    logger.info("outside")
    token = request_id.set("abc123")
    try:
        logger.warning("inside %s", "a request", extra={"route": "events", "status": 400})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        request_id.reset(token)
    lines = [msgspec.json.decode(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 3
    assert "request_id" not in lines[0] and lines[0]["message"] == "outside"
    assert lines[1]["request_id"] == "abc123" and lines[1]["level"] == "warning"
    assert lines[1]["message"] == "inside a request"
    assert (lines[1]["route"], lines[1]["status"]) == ("events", 400)
    assert lines[1]["time"].endswith("Z") and lines[1]["logger"] == "endcap.test-logs"
    assert "ValueError: boom" in lines[2]["exception"]


def test_request_ids_from_callers_are_kept_only_when_sane() -> None:
    assert choose_request_id("req-42.a:b/c") == "req-42.a:b/c"
    for bad in (None, "", "has space", "x" * 129, "new\nline"):
        made = choose_request_id(bad)
        assert len(made) == 16 and int(made, 16) >= 0
    assert choose_request_id(None) != choose_request_id(None)

"""Settings are validated at start, with one clear message per bad value."""

from __future__ import annotations

import pytest

from endcap.settings import load_settings


def test_defaults_and_environment() -> None:
    s = load_settings({}, env={"ENDCAP_PORT": "9000", "ENDCAP_TRACING": "otlp",
                               "ENDCAP_DRAIN_SECONDS": "2.5"})
    assert (s.port, s.tracing, s.drain_seconds, s.log_format) == (9000, "otlp", 2.5, "json")


def test_flags_override_environment() -> None:
    s = load_settings({"port": 7000, "host": None}, env={"ENDCAP_PORT": "9000"})
    assert s.port == 7000 and s.host == "127.0.0.1"


def test_every_bad_value_is_named() -> None:
    env = {"ENDCAP_PORT": "eighty", "ENDCAP_LOG_LEVEL": "loud", "ENDCAP_DRAIN_SECONDS": "-1",
           "ENDCAP_OTEL_SAMPLE_RATIO": "2", "ENDCAP_TRACNG": "otlp",
           "ENDCAP_MODEL_POLL_SECONDS": "2"}
    with pytest.raises(SystemExit) as exc:
        load_settings({}, env=env)
    message = str(exc.value)
    lines = message.splitlines()[1:]
    assert len(lines) == 5, message  # the good value is not mentioned
    assert any(line.strip().startswith("ENDCAP_PORT='eighty': Expected `int`")
               for line in lines), message
    assert any("ENDCAP_LOG_LEVEL='loud'" in line and "one of: critical, error" in line
               for line in lines)
    assert any("ENDCAP_DRAIN_SECONDS='-1'" in line and ">= 0" in line for line in lines)
    assert any("ENDCAP_OTEL_SAMPLE_RATIO='2'" in line and "<= 1" in line for line in lines)
    assert any("ENDCAP_TRACNG: unknown setting (did you mean ENDCAP_TRACING?)" in line
               for line in lines)


def test_a_port_out_of_range() -> None:
    with pytest.raises(SystemExit, match=r"ENDCAP_PORT=70000: Expected `int` <= 65535"):
        load_settings({"port": 70000}, env={})

"""Settings: one validated object per role, from flags and ``ENDCAP_*`` variables.

Built by the role's entry point, never at import time. Unknown ``ENDCAP_*``
variables are rejected so that a typo does not silently fall back to a default.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta

Port = Annotated[int, Meta(ge=0, le=65535)]


class ServeSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The api role (and the all-in-one demo)."""

    host: str = "127.0.0.1"
    port: Port = 8000
    #: The gRPC port (recommendations and events, health, reflection) on the same host;
    #: 0, the default, serves no gRPC: a second listener is opt-in, and a fixed default
    #: would collide when several processes share a machine.
    grpc_port: Port = 0
    store_url: str = "file://var/endcap"
    #: How often replicas look for a newly published model.
    model_poll_seconds: Annotated[float, Meta(gt=0)] = 2.0
    #: Retrain every tenant this often in the all-in-one process (0: never).
    train_interval_seconds: Annotated[float, Meta(ge=0)] = 0.0
    max_body_bytes: Annotated[int, Meta(ge=1024)] = 64 * 1024 * 1024
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    #: "json": one JSON object per line with the request id (for log shippers);
    #: "text": the human-readable format.
    log_format: Literal["json", "text"] = "json"
    #: One log line per API request: method, route, status, duration and request id.
    access_log: bool = False
    #: OpenTelemetry tracing: "otlp" exports spans (one per request, with the store
    #: calls as children) over OTLP/HTTP to ``otel_endpoint``; "off" costs nothing.
    tracing: Literal["off", "otlp"] = "off"
    otel_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    otel_service_name: str = "endcap-api"
    otel_sample_ratio: Annotated[float, Meta(ge=0, le=1)] = 1.0
    #: After SIGTERM, stay up this long answering /readyz with 503 (so that the load
    #: balancer stops sending new requests) before closing the listener.
    drain_seconds: Annotated[float, Meta(ge=0, le=300)] = 0.0
    #: Then wait at most this long for in-flight requests to finish.
    shutdown_timeout_seconds: Annotated[float, Meta(gt=0, le=300)] = 10.0
    #: Freeze start-up objects and raise GC thresholds: the largest p99 lever in CPython.
    gc_tuning: bool = True
    #: Origins whose browser pages may call the API directly, comma-separated ("*": any);
    #: empty, the default, sends no CORS headers.
    cors_origins: str = ""
    #: The embedding provider: "auto" (the local model when the `semantic` extra is
    #: installed, else the remote endpoint when a URL is set), "local", "remote", "off".
    embeddings: Literal["auto", "local", "remote", "off"] = "auto"
    #: An OpenAI-compatible ``/v1/embeddings`` endpoint's base URL (".../v1").
    embeddings_url: str = ""
    embeddings_model: str = ""
    embeddings_api_key: str = ""
    embeddings_timeout_seconds: Annotated[float, Meta(gt=0, le=600)] = 10.0
    embeddings_retries: Annotated[int, Meta(ge=0, le=10)] = 3
    embeddings_batch_size: Annotated[int, Meta(ge=1, le=2048)] = 64

    def __post_init__(self) -> None:
        if self.grpc_port and self.grpc_port == self.port:
            raise ValueError(f"ENDCAP_GRPC_PORT and ENDCAP_PORT are both {self.port}: give "
                             "gRPC a port of its own (or 0: no gRPC)")


_ENV_PREFIX = "ENDCAP_"
#: ``ENDCAP_*`` variables that belong to other roles or tools, not to ``endcap serve``.
_NOT_SETTINGS = {"ENDCAP_SAMPLE_DATA", "ENDCAP_PUSHGATEWAY_URL"}


def load_settings(overrides: Mapping[str, Any], env: Mapping[str, str] | None = None
                  ) -> ServeSettings:
    """Settings from ``ENDCAP_*`` variables, overridden by explicit (flag) values."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    for key, value in env.items():
        if key.startswith(_ENV_PREFIX) and key not in _NOT_SETTINGS:
            raw[key[len(_ENV_PREFIX):].lower()] = value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(raw, ServeSettings, strict=False)
    except msgspec.ValidationError as e:
        problems = setting_errors(raw) or [str(e)]  # else settings that clash
    raise SystemExit("endcap: bad settings:\n" + "\n".join(f"  {p}" for p in problems))


def setting_errors(raw: Mapping[str, Any]) -> list[str]:
    """One message per bad value in ``raw`` (msgspec stops at the first): each setting
    is checked on its own, which works because every setting has a default."""
    known = set(ServeSettings.__struct_fields__)
    hints = get_type_hints(ServeSettings)
    problems = []
    for key, value in raw.items():
        name = f"ENDCAP_{key.upper()}"
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean ENDCAP_{close[0].upper()}?)" if close else ""
            problems.append(f"{name}: unknown setting{hint}")
            continue
        try:
            msgspec.convert({key: value}, ServeSettings, strict=False)
        except msgspec.ValidationError as e:
            problem = str(e).split(" - at ")[0]
            choices = get_args(hints[key]) if get_origin(hints[key]) is Literal else ()
            if choices:
                problem += f" (one of: {', '.join(map(str, choices))})"
            problems.append(f"{name}={value!r}: {problem}")
    return problems

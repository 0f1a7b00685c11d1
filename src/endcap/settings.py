"""Settings: one validated object per role, from flags and ``ENDCAP_*`` variables.

Built by the role's entry point, never at import time. Unknown ``ENDCAP_*``
variables are rejected so that a typo does not silently fall back to a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

Port = Annotated[int, Meta(ge=0, le=65535)]


class ServeSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The api role (and the all-in-one demo)."""

    host: str = "127.0.0.1"
    port: Port = 8000
    store_url: str = "file://var/endcap"
    #: How often replicas look for a newly published model.
    model_poll_seconds: Annotated[float, Meta(gt=0)] = 2.0
    #: Retrain every tenant this often in the all-in-one process (0: never).
    train_interval_seconds: Annotated[float, Meta(ge=0)] = 0.0
    max_body_bytes: Annotated[int, Meta(ge=1024)] = 64 * 1024 * 1024
    log_level: str = "info"
    access_log: bool = False
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


_ENV_PREFIX = "ENDCAP_"
_NOT_SETTINGS = {"ENDCAP_SAMPLE_DATA"}


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
        raise SystemExit(f"endcap: bad setting: {e}") from None

"""What every role's entry point shares: logging, the event loop, the server, GC."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from types import FrameType
from typing import Any, TypeVar

import uvicorn
from starlette.types import ASGIApp

from endcap.obs import logs
from endcap.settings import ServeSettings

log = logging.getLogger("endcap")

T = TypeVar("T")


def setup_logging(level: str = "info", fmt: str | None = None, *, service: bool = False
                  ) -> None:
    """Logging for a role: "json" lines with the request id, or "text". Without ``fmt``,
    ``ENDCAP_LOG_FORMAT`` decides, else "json" for the long-running services (stream)
    and "text" for commands people run by hand (train, embed)."""
    if fmt is None:
        fmt = os.environ.get("ENDCAP_LOG_FORMAT", "json" if service else "text")
    if fmt not in ("json", "text"):
        raise SystemExit(f"endcap: bad settings:\n  ENDCAP_LOG_FORMAT={fmt!r}: "
                         "expected 'json' or 'text'")
    logs.setup_logging(level, fmt)


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on uvloop when it is installed, else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def tune_gc() -> None:
    """Move everything built at start-up (catalog, models) out of the collector's reach
    and make young-generation collections rarer: the largest p99 lever in CPython."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


async def serve(app: ASGIApp, settings: ServeSettings,
                before: Callable[[], Awaitable[None]] | None = None,
                on_drain: Callable[[], None] | None = None) -> None:
    """Serve ``app`` with uvicorn (httptools, one worker) until SIGTERM or SIGINT, then
    drain: ``on_drain`` runs at once (readiness turns false), the listener stays open
    ``settings.drain_seconds`` so that load balancers notice, then closes, and requests in
    flight get ``settings.shutdown_timeout_seconds`` to finish. A second signal cuts the
    wait short."""
    config = uvicorn.Config(app, host=settings.host, port=settings.port,
                            http="httptools", log_level=settings.log_level,
                            access_log=False, lifespan="on",
                            proxy_headers=False, server_header=False, log_config=None,
                            timeout_graceful_shutdown=settings.shutdown_timeout_seconds)  # type: ignore[arg-type]
    server = DrainingServer(config, settings.drain_seconds, on_drain)
    if before is not None:
        await before()
    if settings.gc_tuning:
        tune_gc()
    await server.serve()


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a drain phase before its graceful shutdown, exiting with
    status 0 (uvicorn re-raises the signal after shutting down, which kills the process
    with -SIGTERM)."""

    def __init__(self, config: uvicorn.Config, drain_seconds: float,
                 on_drain: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._drain_seconds = drain_seconds
        self._on_drain = on_drain
        self._deadline: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._deadline is None:  # the first signal: start draining
            self._deadline = time.monotonic() + self._drain_seconds
            if self._on_drain is not None:
                self._on_drain()
            log.info("received %s: draining for %.1f s, then waiting for requests in flight",
                     signal.Signals(sig).name, self._drain_seconds)
            if self._drain_seconds <= 0:
                self.should_exit = True
        elif not self.should_exit:
            self.should_exit = True  # a second signal ends the drain phase
        else:
            self.force_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self.should_exit = True
        return await super().on_tick(counter)

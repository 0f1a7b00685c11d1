"""A store that times and counts its calls (``endcap_<role>_store_call_duration_seconds``
and ``_store_errors_total`` by operation), and traces them as children of the request's
span when tracing is on. Wraps any :class:`~endcap.store.protocol.Store`."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from prometheus_client import Counter, Histogram

from endcap.obs.context import request_id
from endcap.obs.tracing import Tracing
from endcap.store.protocol import Store

#: The store's coroutine methods (each a bounded ``op`` label value).
OPERATIONS = tuple(sorted(
    name for name, fn in inspect.getmembers(Store, inspect.isfunction)
    if not name.startswith("_") and inspect.iscoroutinefunction(fn)))


def instrumented(store: Store, duration: Histogram, errors: Counter,
                 tracing: Tracing | None = None) -> Store:
    """``store`` with every protocol call timed, counted on error and traced."""
    return cast(Store, _Instrumented(store, duration, errors, tracing))


class _Instrumented:
    def __init__(self, inner: Store, duration: Histogram, errors: Counter,
                 tracing: Tracing | None) -> None:
        self._inner = inner
        for op in OPERATIONS:
            fn = getattr(inner, op, None)
            if fn is not None:
                setattr(self, op, _wrap(op, fn, duration.labels(op), errors.labels(op),
                                        tracing))

    def __getattr__(self, name: str) -> Any:  # the back-end's own extras (cache, ...)
        return getattr(self._inner, name)


def _wrap(op: str, fn: Callable[..., Awaitable[Any]], duration: Any, errors: Any,
          tracing: Tracing | None) -> Callable[..., Awaitable[Any]]:
    observe = duration.observe
    span_name = f"store.{op}"

    async def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        except Exception:
            errors.inc()
            raise
        finally:
            observe(time.perf_counter() - start)

    if tracing is None:
        return timed

    async def traced(*args: Any, **kwargs: Any) -> Any:
        attrs = {"db.operation.name": op}
        rid = request_id.get()
        if rid is not None:
            attrs["endcap.request_id"] = rid
        with tracing.span(span_name, attrs):
            return await timed(*args, **kwargs)

    return traced

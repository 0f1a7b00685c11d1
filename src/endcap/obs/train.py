"""The train role's metrics (``endcap_train_…``). Training is a batch job, so they are
pushed to a Prometheus Pushgateway after each tenant when ``ENDCAP_PUSHGATEWAY_URL``
is set (grouped by job and tenant, so a later run replaces them)."""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

log = logging.getLogger("endcap.train")


def push_train_metrics(gateway: str, tenant: str, *, seconds: float, published: bool,
                       model_trained_at: float | None) -> None:
    """Push one tenant's run; a failed push is logged, never fatal to training."""
    registry = CollectorRegistry()
    now = time.time()
    Gauge("endcap_train_duration_seconds", "How long the last training run took",
          registry=registry).set(seconds)
    Gauge("endcap_train_published", "1 if the last run published a model, 0 if the gate "
          "kept the current one", registry=registry).set(int(published))
    Gauge("endcap_train_last_run_timestamp_seconds", "When the last run finished",
          registry=registry).set(now)
    if published:
        Gauge("endcap_train_last_success_timestamp_seconds",
              "When a run last published a model", registry=registry).set(now)
    if model_trained_at is not None:
        Gauge("endcap_train_model_trained_timestamp_seconds",
              "When the tenant's current model was trained", registry=registry
              ).set(model_trained_at)
    try:
        push_to_gateway(gateway, job="endcap_train", grouping_key={"tenant": tenant},
                        registry=registry, timeout=10)
    except OSError as e:
        log.warning("could not push training metrics to %s: %s", gateway, e)

"""The api role's Prometheus metrics, ``endcap_api_<what>_<unit>``.

Built per app on its own registry (nothing is registered at import time). Label
values come from small fixed sets; pod ids, which tenants choose, are capped.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5)
#: Distinct pod label values kept before the rest are counted as "other".
MAX_POD_LABELS = 200


class ApiMetrics:
    """Counters and histograms of one api process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("endcap_api_requests_total", "HTTP requests by route and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("endcap_api_request_duration_seconds",
                                 "HTTP request latency by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.pod_requests = Counter("endcap_api_pod_requests_total",
                                    "Recommendation requests by pod", ["pod"], registry=r)
        self.pod_latency = Histogram("endcap_api_pod_request_duration_seconds",
                                     "Recommendation latency by pod", ["pod"],
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.pod_empty = Counter("endcap_api_pod_empty_results_total",
                                 "Recommendation responses with no results", ["pod"], registry=r)
        self.strategy_results = Counter("endcap_api_strategy_results_total",
                                        "Results served, by the strategy that produced them",
                                        ["strategy"], registry=r)
        self.events = Counter("endcap_api_events_total", "Events received, by outcome",
                              ["outcome"], registry=r)
        self.items = Counter("endcap_api_items_upserted_total", "Catalog items upserted",
                             registry=r)
        self.model_version = Gauge("endcap_api_model_info", "Model version served per tenant",
                                   ["tenant", "version"], registry=r)
        self.model_trained_at = Gauge("endcap_api_model_trained_timestamp_seconds",
                                      "When the served model was trained", ["tenant"],
                                      registry=r)
        self._pods: set[str] = set()

    def pod_label(self, pod_id: str) -> str:
        """``pod_id`` itself for the first :data:`MAX_POD_LABELS` pods, else "other"."""
        if pod_id in self._pods:
            return pod_id
        if len(self._pods) < MAX_POD_LABELS:
            self._pods.add(pod_id)
            return pod_id
        return "other"

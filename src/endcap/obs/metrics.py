"""The api role's Prometheus metrics, ``endcap_api_<what>_<unit>``.

Built per app on its own registry (nothing is registered at import time). Label
values come from small fixed sets; pod ids, which tenants choose, are capped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from endcap.store.local_cache import LocalCache

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.025, 0.05,
                   0.1, 0.25, 0.5, 1.0, 2.5)
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
        self.degraded = Counter("endcap_api_degraded_responses_total",
                                "Recommendations served without the store (from caches and "
                                "the model)", registry=r)
        self.strategy_latency = Histogram("endcap_api_strategy_duration_seconds",
                                          "Time spent in each strategy of a pod's chain",
                                          ["strategy"], buckets=LATENCY_BUCKETS, registry=r)
        self.strategy_empty = Counter("endcap_api_strategy_empty_total",
                                      "Strategy calls that contributed no result",
                                      ["strategy"], registry=r)
        self.store_latency = Histogram("endcap_api_store_call_duration_seconds",
                                       "Store calls by operation (local cache hits included)",
                                       ["op"], buckets=LATENCY_BUCKETS, registry=r)
        self.store_errors = Counter("endcap_api_store_errors_total",
                                    "Store calls that raised, by operation", ["op"], registry=r)
        self.inflight = Gauge("endcap_api_inflight_requests", "Requests being served",
                              registry=r)
        self.ready = Gauge("endcap_api_ready", "1 when the process is ready for traffic, 0 "
                           "while it starts or drains", registry=r)
        self._pods: dict[str, PodSeries] = {}
        self._strategy_timing: dict[str, tuple[Histogram, Counter]] = {}
        self._strategies: dict[str, Counter] = {}
        self._requests: dict[tuple[str, str, int], Counter] = {}

    def pod(self, pod_id: str) -> PodSeries:
        """The series of one pod (labels resolved once: ``labels()`` costs microseconds).
        The first :data:`MAX_POD_LABELS` pods get their own label, the rest "other"."""
        series = self._pods.get(pod_id)
        if series is None:
            label = pod_id if len(self._pods) < MAX_POD_LABELS else "other"
            series = PodSeries(self.pod_requests.labels(label), self.pod_latency.labels(label),
                               self.pod_empty.labels(label))
            if label != "other":
                self._pods[pod_id] = series
        return series

    def strategy(self, name: str) -> Counter:
        child = self._strategies.get(name)
        if child is None:
            child = self._strategies[name] = self.strategy_results.labels(name)
        return child

    def strategy_timing(self, name: str) -> tuple[Histogram, Counter]:
        """The latency histogram and empty-call counter of one strategy."""
        pair = self._strategy_timing.get(name)
        if pair is None:
            pair = self._strategy_timing[name] = (self.strategy_latency.labels(name),
                                                  self.strategy_empty.labels(name))
        return pair

    def request(self, route: str, method: str, status: int) -> Counter:
        key = (route, method, status)
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = self.requests.labels(route, method, str(status))
        return child


class PodSeries(NamedTuple):
    requests: Counter
    latency: Histogram
    empty: Counter


class CacheCollector(Collector):
    """The in-process cache's hits, misses and sizes, read at scrape time
    (hit ratio: ``rate(endcap_api_cache_hits_total[5m]) / (rate(hits) + rate(misses))``)."""

    def __init__(self, cache: LocalCache) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Metric]:
        hits = CounterMetricFamily("endcap_api_cache_hits", "In-process cache hits",
                                   labels=["cache"])
        misses = CounterMetricFamily("endcap_api_cache_misses", "In-process cache misses",
                                     labels=["cache"])
        size = GaugeMetricFamily("endcap_api_cache_entries", "Entries in the in-process cache",
                                 labels=["cache"])
        sizes = self._cache.sizes()
        for name, stats in self._cache.stats.items():
            hits.add_metric([name], stats.hits)
            misses.add_metric([name], stats.misses)
            size.add_metric([name], sizes[name])
        yield from (hits, misses, size)

"""The stream role's Prometheus metrics, ``endcap_stream_<what>_<unit>``.

Built per process on its own registry (nothing is registered at import time).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: From 1 ms to 10 s: an applied event's age when its effect is visible.
EFFECT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                  10.0)
#: Outcomes of a consumed stream entry. ``reclaimed`` counts entries taken over from
#: another (dead or slow) consumer, on top of their applied/repeat/bad outcome.
STORE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                 5.0)
OUTCOMES = ("applied", "repeat", "bad", "reclaimed")


class StreamMetrics:
    """Counters, gauges and the event-to-effect histogram of one ``endcap stream``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.effect = Histogram(
            "endcap_stream_event_to_effect_seconds",
            "Time from the API appending an event to the stream to its effect on "
            "real-time state", buckets=EFFECT_BUCKETS, registry=r)
        events = Counter("endcap_stream_events_total", "Stream entries consumed, by outcome",
                         ["outcome"], registry=r)
        self.events = {o: events.labels(o) for o in OUTCOMES}
        self.store_errors = Counter("endcap_stream_store_errors_total",
                                    "Store calls that failed (and were retried)", registry=r)
        self.store_latency = Histogram(
            "endcap_stream_store_call_duration_seconds",
            "Store calls of the stream worker by operation (read a batch, apply it, ack it)",
            ["op"], buckets=STORE_BUCKETS, registry=r)
        self.archived = Counter("endcap_stream_archived_events_total",
                                "Events written to the Parquet archive", registry=r)
        self.archive_files = Counter("endcap_stream_archive_files_total",
                                     "Parquet files written (a rewrite counts again)",
                                     registry=r)
        self.trimmed = Counter("endcap_stream_trimmed_entries_total",
                               "Stream entries trimmed after being applied and archived",
                               registry=r)
        self.pending = Gauge("endcap_stream_pending_entries",
                             "Entries delivered to a consumer group but not acknowledged",
                             ["tenant", "group"], registry=r)
        self.lag = Gauge("endcap_stream_lag_entries",
                         "Entries not yet delivered to a consumer group", ["tenant", "group"],
                         registry=r)
        self._backlog: dict[tuple[str, str], dict[int, tuple[int, int]]] = {}

    def backlog(self, tenant: str, group: str, shard: int, pending: int, lag: int) -> None:
        """Record one shard's backlog; the gauges hold the sum over a tenant's shards."""
        shards = self._backlog.setdefault((tenant, group), {})
        shards[shard] = (pending, lag)
        self.pending.labels(tenant, group).set(sum(p for p, _ in shards.values()))
        self.lag.labels(tenant, group).set(sum(n for _, n in shards.values()))

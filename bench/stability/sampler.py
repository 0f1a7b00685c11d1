"""Once a second, in a thread of the orchestrator: each process's RSS and CPU, the stream
worker's lag gauges (its /metrics) and the apply group's backlog read from Redis."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from .system import TENANT, System, scrape

CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """VmRSS of a live process in MB (NaN once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    m = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(m[1]) / 1024 if m else float("nan")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def lag_gauges(metrics: dict[str, float]) -> tuple[float, float, float]:
    """(apply lag + pending, archive lag + pending, events applied) from the worker's
    metrics; NaN when absent."""
    found: dict[tuple[str, str], float] = {}
    for key, value in metrics.items():
        name, _, labels = key.partition("{")
        if name in ("endcap_stream_lag_entries", "endcap_stream_pending_entries"):
            got = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            if got.get("tenant") == TENANT:
                found[(name, got.get("group", ""))] = value

    def backlog(group: str) -> float:
        return (found.get(("endcap_stream_lag_entries", group), float("nan"))
                + found.get(("endcap_stream_pending_entries", group), float("nan")))

    applied = metrics.get('endcap_stream_events_total{outcome="applied"}', float("nan"))
    return backlog("apply"), backlog("archive"), applied


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    vals = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(vals) - vals[3] - vals[4], sum(vals)


class Sampler(threading.Thread):
    """Rows of {t, wall, rss_<role>, cpu_<role> (% of a core), cpu_loadgen, cpu_others
    (every other process on the machine: the neighbours of a shared box), lag_metric,
    lag_archive_metric, backlog_redis, redis_used_mb, redis_keys, applied} every ``every``
    s, ``t`` from :attr:`t0` (perf_counter)."""

    def __init__(self, system: System, every: float = 1.0) -> None:
        super().__init__(name="stability-sampler", daemon=True)
        self.system, self.every = system, every
        self.rows: list[dict[str, Any]] = []
        self.t0 = time.perf_counter()
        self._halt = threading.Event()
        self._pids = system.pids()
        self._metrics = f"http://127.0.0.1:{system.metrics_port}/metrics"
        #: the load generator, once it runs (its CPU is sampled too)
        self.loadgen_pid: int | None = None

    def run(self) -> None:
        client = self.system.redis_client()
        last = {r: (time.perf_counter(), cpu_seconds(p)) for r, p in self._pids.items()}
        last_machine = machine_ticks()
        try:
            next_at = time.perf_counter()
            while not self._halt.is_set():
                row = self._row(client, last)
                ticks = machine_ticks()
                busy = 100 * (ticks[0] - last_machine[0]) / max(1, ticks[1] - last_machine[1])
                last_machine = ticks
                ours = sum(v for k, v in row.items() if k.startswith("cpu_"))
                # the machine's busy share of all CPUs, in % of one core, less ours
                own = self._own_cpu(last)
                row["cpu_others"] = (max(0.0, busy * (os.cpu_count() or 1) - ours - own)
                                     if self.rows else float("nan"))  # the 1st: no interval
                self.rows.append(row)
                next_at += self.every
                self._halt.wait(max(0.0, next_at - time.perf_counter()))
        finally:
            client.close()

    def _own_cpu(self, last: dict[str, tuple[float, float]]) -> float:
        """This orchestrator's own share (sampler, scrapes), in % of a core."""
        now, cpu = time.perf_counter(), time.process_time()
        t_prev, c_prev = last.get("self", (now, cpu))
        last["self"] = (now, cpu)
        return 100 * (cpu - c_prev) / max(1e-6, now - t_prev) if now > t_prev else 0.0

    def _row(self, client: Any, last: dict[str, tuple[float, float]]) -> dict[str, Any]:
        now = time.perf_counter()
        row: dict[str, Any] = {"t": now - self.t0, "wall": time.time()}
        pids = dict(self._pids)
        if self.loadgen_pid is not None:
            pids["loadgen"] = self.loadgen_pid
        for role, pid in pids.items():
            if role != "loadgen":
                row[f"rss_{role}"] = rss_mb(pid)
            cpu = cpu_seconds(pid)
            t_prev, c_prev = last.get(role, (now, cpu))
            row[f"cpu_{role}"] = (100 * (cpu - c_prev) / max(1e-6, now - t_prev)
                                  if now > t_prev else 0.0)
            last[role] = (now, cpu)
        try:
            row["lag_metric"], row["lag_archive_metric"], row["applied"] = lag_gauges(
                scrape(self._metrics))
        except Exception:  # a failed scrape is a gap in the plot, not a failed run
            row["lag_metric"] = row["lag_archive_metric"] = row["applied"] = float("nan")
        try:
            row["backlog_redis"] = self.system.backlog(client)
            row["redis_used_mb"] = int(client.info("memory")["used_memory"]) / 2**20
            row["redis_keys"] = int(client.dbsize())
        except Exception:
            row["backlog_redis"] = float("nan")
        return row

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

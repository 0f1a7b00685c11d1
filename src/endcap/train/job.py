"""The train role's job: read a tenant's catalog and event log, fit, gate, publish.

:func:`train_tenant` fits a candidate on the log before a recent window and compares it
with the current model on that window (:mod:`endcap.train.gate`); only if the candidate
is not worse does it refit on the whole log and publish that, with the gate's report in
``stats["gate"]``. The first model of a tenant, and a log with no test shopper in its
window, skip the comparison.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from endcap.catalog.model import Item
from endcap.events.model import Event
from endcap.semantic.job import embed_catalog, load_current
from endcap.semantic.provider import EmbeddingProvider
from endcap.store.protocol import ModelStore, Store
from endcap.train.fit import TrainParams, fit_model
from endcap.train.gate import (
    DAY,
    GateReport,
    GateSettings,
    align,
    evaluate_window,
    judge,
    relevant_pairs,
    split_window,
    unseen_part,
)
from endcap.train.interactions import Interactions, collect
from endcap.train.model import Model, new_version
from endcap.train.tune import ForYouParams

log = logging.getLogger("endcap.train")

#: The stages a run reports, in order (some are skipped: see :func:`train_tenant`).
STAGES = ("embed catalog", "read events", "fit candidate", "evaluate", "refit", "publish")


class Progress(Protocol):
    """Where a long run reports how far it got (the CLI draws it; the API never does)."""

    def stage(self, name: str) -> None:
        """A stage of :data:`STAGES` begins."""
        ...

    def note(self, line: str) -> None:
        """A one-line detail of the current stage (a tuning trial)."""
        ...


@dataclass(frozen=True, slots=True)
class TrainResult:
    tenant: str
    report: GateReport
    #: The published model, or None when the gate kept the current one.
    model: Model | None
    #: The version served before this run (None for a tenant's first model).
    previous: str | None


async def train_tenant(store: Store, tenant: str, *, gate: GateSettings | None = None,
                       force: bool = False, params: TrainParams | None = None,
                       progress: Progress | None = None,
                       embedder: EmbeddingProvider | None = None) -> TrainResult:
    """Fit a model on everything logged so far and make it the current version, unless
    a candidate fitted before the recent window does worse on it than the current
    model (``force`` publishes anyway; the report records it). With an ``embedder``,
    first bring the catalog's embeddings up to date (only changed texts are embedded)."""
    g = gate or GateSettings()
    p = params or TrainParams()
    if embedder is not None:
        _stage(progress, "embed catalog")
        report_line = (await embed_catalog(store, tenant, embedder)).line()
        if progress is not None:
            progress.note(report_line)
    _stage(progress, "read events")
    items = await store.all_items(tenant)
    events = await store.read_events(tenant)
    previous = await store.current_model(tenant)
    current = await _load(store, tenant, previous)
    started = time.perf_counter()  # the log line's time: gate, fit and publish
    report, end, tuned = await asyncio.to_thread(_gate, items, events, current, g, p,
                                                 force, progress)
    if not report.published:
        log.info("tenant %s: kept model %s: %s", tenant, previous, report.reason)
        return TrainResult(tenant, report, None, previous)

    _stage(progress, "refit")
    note = progress.note if progress else None
    # The refit keeps the candidate's tuned for_you settings: tuning again on nearly
    # the same log would cost as much as the candidate's fit for the same answer.
    embeddings = await load_current(store, tenant) if embedder is not None else None
    fitted = await asyncio.to_thread(fit_model, items, events,
                                     params=p if tuned is None else
                                     replace(p, for_you_params=tuned),
                                     version=new_version(), now=end, progress=note,
                                     embeddings=embeddings)
    model = replace(fitted, stats={**fitted.stats, "gate": report.as_dict()})
    _stage(progress, "publish")
    artifact = await asyncio.to_thread(model.to_bytes)
    await store.publish_model(tenant, model.version, artifact)
    log.info("tenant %s: model %s from %d items and %d events in %.1f s (%d bytes; "
             "gate: %s)", tenant, model.version, len(items), len(events),
             time.perf_counter() - started, len(artifact),
             f"{report.decision}, forced" if force else report.decision)
    return TrainResult(tenant, report, model, previous)


def _stage(progress: Progress | None, name: str) -> None:
    if progress is not None:
        progress.stage(name)


async def _load(store: ModelStore, tenant: str, version: str | None) -> Model | None:
    """The current model, or None when there is none or it cannot be read (an older
    format): then there is nothing to compare with, and the new model replaces it."""
    artifact = None if version is None else await store.load_model(tenant, version)
    if artifact is None:
        return None
    try:
        return await asyncio.to_thread(Model.from_bytes, artifact)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as e:
        log.warning("tenant %s: the current model %s cannot be read (%s); the gate "
                    "treats the new model as the first", tenant, version, e)
        return None


def _gate(items: Sequence[Item], events: Sequence[Event], current: Model | None,
          g: GateSettings, p: TrainParams, force: bool, progress: Progress | None
          ) -> tuple[GateReport, float | None, ForYouParams | None]:
    """The gate's report, the time the final model is fitted up to (the window's end:
    the newest event), and the candidate's tuned ``for_you`` settings, if it had any."""
    item_ids = [it.id for it in items]
    rows = collect(events, {iid: i for i, iid in enumerate(item_ids)},
                   default_time=time.time(), session_gap=p.session_gap_minutes * 60.0)
    window = split_window(rows, g.window_days)
    if window is not None and current is not None and g.window == "unseen":
        window = unseen_part(window, current.reference_time)
    base = GateReport(decision="first model", published=True, forced=force,
                      tolerance=g.tolerance, window=window)
    if current is None:
        return base, None if window is None else window.end, None
    if window is None:
        return (replace(base, decision="no evidence", current_version=current.version),
                None, None)
    inside = window.inside(rows)
    before, recent = rows.select(~inside), rows.select(inside)
    shoppers, _, _ = relevant_pairs(before, recent, len(item_ids))
    base = replace(base, events_before=_events(before), events_in_window=_events(recent),
                   shoppers=len(shoppers), current_version=current.version,
                   current_saw_days=max(0.0, min(current.reference_time, window.end)
                                        - window.start) / DAY)
    if len(shoppers) == 0:
        return replace(base, decision="no evidence"), window.end, None

    _stage(progress, "fit candidate")
    # Strictly before the window: fit_model keeps the rows at or before ``now``.
    cutoff = float(np.nextafter(window.start, -np.inf))
    candidate = fit_model(items, events, params=p, now=cutoff,
                          progress=progress.note if progress else None)
    _stage(progress, "evaluate")
    n = len(item_ids)
    new = evaluate_window(candidate, before, recent, n, g.k)
    tuned = _tuned(candidate)
    del candidate
    old = evaluate_window(align(current, item_ids), before, recent, n, g.k)
    decision = judge(new, old, g.tolerance)
    return (replace(base, decision=decision, published=force or decision != "reject",
                    candidate=new, current=old), window.end, tuned)


def _tuned(model: Model) -> ForYouParams | None:
    """The ``for_you`` settings ``model`` was fitted with, if it has the linear model."""
    fy = model.stats.get("for_you", {})
    if fy.get("model") != "linear":
        return None
    return ForYouParams(lam=float(fy["lam"]), alpha=float(fy["alpha"]),
                        decay=float(fy["decay"]))


def _events(rows: Interactions) -> int:
    return len(np.unique(rows.event))


def artifact_meta(artifact: bytes) -> dict[str, Any]:
    """A model artifact's metadata (version, times, ``stats``) without loading its
    tables: an ``.npz`` is a zip, and only its ``meta`` member is read."""
    with np.load(io.BytesIO(artifact), allow_pickle=False) as z:
        meta: dict[str, Any] = json.loads(z["meta"].tobytes().decode())
    return meta


async def model_history(store: ModelStore, tenant: str) -> list[dict[str, Any]]:
    """Every published version, oldest first: its metadata plus ``current`` (whether it
    is served)."""
    current = await store.current_model(tenant)
    out = []
    for version in await store.model_versions(tenant):
        artifact = await store.load_model(tenant, version)
        meta = {} if artifact is None else await asyncio.to_thread(artifact_meta, artifact)
        meta.pop("categories", None)
        out.append({**meta, "version": version, "current": version == current})
    return out

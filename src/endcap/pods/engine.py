"""The pod engine: run a pod's strategy chain, filter, dedupe, apply rules, cut.

Strategies yield candidates lazily; the engine pulls them in small chunks, looks the
items up, and stops as soon as the pod is full, so a request touches a few dozen
items however large the catalog.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import NamedTuple

from endcap.catalog.model import Item
from endcap.pods.filters import Predicate, predicate
from endcap.pods.model import Pod
from endcap.pods.reasons import reason
from endcap.store.protocol import ItemReader
from endcap.strategies.base import Context
from endcap.strategies.registry import STRATEGIES

#: The most candidates one strategy may offer before the engine gives up on it.
MAX_SCAN = 5_000


@dataclass(slots=True)
class Result:
    item: Item
    score: float
    strategy: str
    #: Why it is there: a code of :data:`endcap.pods.reasons.REASONS`.
    reason: str = ""


class StrategyTiming(NamedTuple):
    strategy: str
    seconds: float
    results: int


async def recommend(
    catalog: ItemReader,
    tenant: str,
    pod: Pod,
    ctx: Context,
    num_results: int,
    exclude: set[str],
    timings: list[StrategyTiming] | None = None,
) -> list[Result]:
    """Fill up to ``num_results`` from the pod's pins and strategy chain, in order.
    ``timings``, when given, receives each strategy's time and how many results it gave."""
    test = predicate(ctx.filters)
    banned = set(exclude) | set(ctx.seeds) | set(pod.rules.exclude)
    bought = {} if pod.allow_repurchase else ctx.history.purchased
    cap = pod.rules.max_per_category
    per_cat: dict[str, int] = {}
    out: list[Result] = []
    boosts = [(predicate(b.filters), b.factor) for b in pod.rules.boost]

    def admissible(item: Item | None) -> bool:
        return item is not None and item.id not in banned and item.id not in bought and (
            test is None or test(item))

    def take(item: Item | None, score: float, strategy: str) -> bool:
        if item is None or not admissible(item):
            return False
        if cap is not None:
            cat = item.categories[0] if item.categories else ""
            if per_cat.get(cat, 0) >= cap:
                return False
            per_cat[cat] = per_cat.get(cat, 0) + 1
        banned.add(item.id)
        out.append(Result(item, score, strategy, reason(strategy, item.id, ctx)))
        return True

    if pod.rules.pin:
        for item in await catalog.get_items(tenant, pod.rules.pin):
            if len(out) < num_results:
                take(item, 0.0, "pinned")
    for name in pod.chain():
        if len(out) >= num_results:
            break
        started, before = time.perf_counter(), len(out)
        candidates: Iterator[tuple[str, float]] = STRATEGIES[name](ctx)
        scanned = 0
        window: list[tuple[Item, float]] = []  # boosted pods: admissible, not yet ranked
        while len(out) < num_results and scanned < MAX_SCAN:
            chunk = list(islice(candidates, max(2 * (num_results - len(out)), 16)))
            scanned += len(chunk)
            fresh = [c for c in chunk if c[0] not in banned]
            items = await catalog.get_items(tenant, [c[0] for c in fresh]) if fresh else []
            if boosts:
                window += [(it, sc) for (_, sc), it in zip(fresh, items, strict=True)
                           if it is not None and admissible(it)]
                if chunk and len(window) < max(3 * (num_results - len(out)), 30):
                    continue  # the window is not full yet
                for item, score in reranked(window, boosts):
                    if take(item, score, name) and len(out) >= num_results:
                        break
                window = []
            else:
                for (_, score), item in zip(fresh, items, strict=True):
                    if take(item, score, name) and len(out) >= num_results:
                        break
            if not chunk:
                break
        if timings is not None:
            timings.append(StrategyTiming(name, time.perf_counter() - started, len(out) - before))
    return out


def reranked(window: list[tuple[Item, float]],
             boosts: list[tuple[Predicate | None, float]]) -> list[tuple[Item, float]]:
    """``window`` by score × the factor of every boost an item matches, best first;
    equal scores keep the strategy's order."""
    def boosted(item: Item, score: float) -> float:
        for test, factor in boosts:
            if test is None or test(item):
                score *= factor
        return score

    scored = [(item, boosted(item, score)) for item, score in window]
    scored.sort(key=lambda p: -p[1])
    return scored

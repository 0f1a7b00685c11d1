"""``GET /v1/pods/{pod_id}/recommendations``: the hot path."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from msgspec.structs import replace
from starlette.requests import Request
from starlette.responses import Response

from endcap.api.http import JSON, AppState
from endcap.errors import BadRequest, NotFound, Unavailable
from endcap.experiments.assign import bucket, shopper_key
from endcap.pods.engine import Result, StrategyTiming, recommend
from endcap.pods.filters import narrow, parse_query_filters
from endcap.pods.model import MAX_RESULTS, SEMANTIC, Filters, Pod
from endcap.semantic.artifact import ItemEmbeddings
from endcap.store.local_cache import CachedItems
from endcap.store.protocol import Credential
from endcap.strategies.base import Context
from endcap.stream.history import ShopperHistory

MAX_SEEDS = 50
MAX_EXCLUDE = 1_000
MAX_ID = 256
#: Ids may hold any character but control characters (the same rule as the schemas).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(slots=True)
class RecQuery:
    user_id: str | None = None
    session_id: str | None = None
    seeds: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    num_results: int | None = None
    query: str | None = None
    filters: Filters | None = None


def parse_query(pairs: list[tuple[str, str]]) -> RecQuery:
    """The request's parameters, or a 400 naming the first bad one."""
    q = RecQuery()
    filter_pairs = []
    for key, value in pairs:
        if key in ("item_id", "exclude"):
            target = q.seeds if key == "item_id" else q.exclude
            target.extend(_id(key, v) for v in value.split(",") if v)
        elif key in ("user_id", "session_id"):
            setattr(q, key, _id(key, value))
        elif key == "num_results":
            if not value.isdigit() or not 1 <= int(value) <= MAX_RESULTS:
                raise BadRequest(f"num_results must be an integer from 1 to {MAX_RESULTS}",
                                 field="num_results")
            q.num_results = int(value)
        elif key == "query":
            q.query = value[:1_000]
        elif key.startswith("filters[") and key.endswith("]"):
            filter_pairs.append((key, value))
        else:
            raise BadRequest(f"unknown parameter {key!r}", field=key)
    if len(q.seeds) > MAX_SEEDS:
        raise BadRequest(f"at most {MAX_SEEDS} item_id values", field="item_id")
    if len(q.exclude) > MAX_EXCLUDE:
        raise BadRequest(f"at most {MAX_EXCLUDE} exclude values", field="exclude")
    if filter_pairs:
        q.filters = parse_query_filters(filter_pairs)
    return q


def query_pairs(raw: bytes) -> list[tuple[str, str]]:
    """``a=1&b=%20x`` as pairs, blank values kept; decodes only what needs decoding
    (Starlette's QueryParams costs several times more on this path)."""
    if not raw:
        return []
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True)
    out = []
    for part in text.split("&"):
        if part:
            key, _, value = part.partition("=")
            out.append((key, value))
    return out


def _id(name: str, value: str) -> str:
    if not value or len(value) > MAX_ID or _CONTROL.search(value):
        raise BadRequest(f"{name} must be 1 to {MAX_ID} characters, none a control character",
                         field=name)
    return value


async def recommendations(state: AppState, request: Request, cred: Credential) -> Response:
    return JSON(await answer(state, cred.tenant_id, request.path_params["pod_id"],
                             query_pairs(request.scope["query_string"])))


async def answer(state: AppState, tenant: str, pod_id: str, pairs: list[tuple[str, str]]
                 ) -> dict[str, Any]:
    """The response body for ``pod_id`` and the request's parameters ``pairs`` (as in the
    HTTP query string; the gRPC servicer builds the same pairs), counted and timed in the
    pod's metrics. Raises :class:`EndcapError` for what the caller must fix."""
    start = time.perf_counter()
    pod = await state.store.get_pod(tenant, pod_id)
    if pod is None:
        raise NotFound(f"unknown pod {pod_id!r}", field="pod_id")
    q = parse_query(pairs)
    variant_id: str | None = None
    if pod.experiment is not None and pod.experiment.status == "running":
        pod, variant_id = as_assigned(tenant, pod, q)
    store = state.store
    degraded = False
    if q.seeds:
        try:
            found = await store.get_items(tenant, q.seeds)
        except Unavailable:
            degraded = True  # the model knows the seeds by id; judge them when it is back
        else:
            missing = [s for s, it in zip(q.seeds, found, strict=True) if it is None]
            if missing:
                raise NotFound(f"unknown item {missing[0]!r}", field="item_id", items=missing)
    keys = []
    if q.user_id is not None:
        keys.append("u:" + q.user_id)
    if q.session_id is not None:
        keys.append("s:" + q.session_id)
    history = ShopperHistory()
    if keys:
        try:
            history = ShopperHistory.merged(await store.histories(tenant, keys))
        except Unavailable:
            degraded = True
    model = state.models.get(tenant)
    if model is None:
        model = await state.models.ensure(tenant)
    ctx = Context(model=model, seeds=q.seeds, history=history,
                  filters=pod.filters if q.filters is None else narrow(pod.filters, q.filters),
                  now=time.time(),
                  exclude_bought=not pod.allow_repurchase)
    chain = pod.chain()
    if "semantic_search" in chain or ("for_you" in chain and history.events):
        ctx.embeddings = await _embeddings(state, tenant)
    if "semantic_search" in chain:
        await _semantic_query(state, pod, q, ctx)
    n = q.num_results or pod.num_results
    exclude = set(q.exclude)
    results = None
    timings: list[StrategyTiming] = []
    if not degraded:
        try:
            results = await recommend(store, tenant, pod, ctx, n, exclude, timings)
        except Unavailable:
            degraded = True
    if results is None:
        results = await _degraded(state, tenant, pod, ctx, n, exclude)
    body = {
        "pod": {"id": pod.id, "display_name": pod.display_name, "strategy": pod.strategy},
        "result_id": os.urandom(16).hex(),
        "variant": variant_id,
        "model_version": model.version if model else None,
        "results": [
            {"id": r.item.id, "name": r.item.name, "price": r.item.price,
             "image_url": r.item.image_url, "url": r.item.url,
             "score": r.score, "strategy": r.strategy, "reason": r.reason}
            for r in results
        ],
        "total": len(results),
        "degraded": degraded,
    }
    m = state.metrics
    series = m.pod(pod.id)
    series.requests.inc()
    series.latency.observe(time.perf_counter() - start)
    if not results:
        series.empty.inc()
    for t in timings:
        latency, empty = m.strategy_timing(t.strategy)
        latency.observe(t.seconds)
        if not t.results:
            empty.inc()
    per_strategy: dict[str, int] = {}
    for r in results:
        per_strategy[r.strategy] = per_strategy.get(r.strategy, 0) + 1
    for name, count in per_strategy.items():
        m.strategy(name).inc(count)
    if degraded:
        m.degraded.inc()
    return body


def as_assigned(tenant: str, pod: Pod, q: RecQuery) -> tuple[Pod, str | None]:
    """The pod as the shopper's variant configures it, and the variant's id; the pod
    itself for a shopper outside the experiment (or with no id to assign by)."""
    exp = pod.experiment
    key = shopper_key(q.user_id, q.session_id)
    if exp is None or key is None or not exp.allocations:
        return pod, None
    owner = exp.allocations[-1].owner[bucket(tenant, exp.id, key)]
    if owner < 0:
        return pod, None
    v = exp.variants[owner]
    return replace(pod, strategy=v.strategy if v.strategy is not None else [],
                   filters=v.filters, rules=v.rules,
                   num_results=v.num_results or pod.num_results), v.id


async def _embeddings(state: AppState, tenant: str) -> ItemEmbeddings | None:
    cache = state.semantic.embeddings
    return cache.get(tenant) if cache.known(tenant) else await cache.ensure(tenant)


async def _semantic_query(state: AppState, pod: Pod, q: RecQuery, ctx: Context) -> None:
    """Embed the request's intent into ``ctx`` and narrow its filters by what the text
    states. A pod that has nothing but semantic strategies cannot answer without them
    (400 without a query, 503 without embeddings or a provider); in a chain, the other
    strategies fill in."""
    alone = all(name in SEMANTIC for name in pod.chain())
    if q.query is None or not q.query.strip():
        if alone:
            raise BadRequest(f"pod {pod.id!r} searches by text: send the shopper's words "
                             "as query=", field="query")
        return
    if ctx.embeddings is None:
        if alone:
            raise Unavailable("semantic search is unavailable: this tenant has no item "
                              "embeddings yet (run `endcap embed`, or wait for the next "
                              "training)", field="query")
        return
    try:
        intent, ctx.filters = state.semantic.intent(ctx.embeddings, q.query, ctx.filters)
        ctx.query = await state.semantic.encode(intent.text)
    except Unavailable:
        if alone:
            raise
        ctx.query = None


async def _degraded(state: AppState, tenant: str, pod: Pod, ctx: Context, n: int,
                    exclude: set[str]) -> list[Result]:
    """While the store is down: the pod's chain, then the model's bestsellers, over the
    items this replica has cached."""
    cache = getattr(state.store, "cache", None)
    if cache is None:
        raise Unavailable("the store is unavailable")
    chain = pod.chain()
    if not chain:  # an experiment's holdout serves nothing, degraded or not
        return []
    fallback = replace(pod, strategy=chain if "bestsellers" in chain else
                       [*chain, "bestsellers"])
    return await recommend(CachedItems(cache), tenant, fallback, ctx, n, exclude)

"""Experiments simulation (issue 6): does the report's decision rule pick the better variant?

    .venv/bin/python bench/experiments_sim.py [--served-runs 20] [--runs 20] [--look 1000]
        [--horizon 10000] [--concurrency 8] [--seed 1] [--json out.json] [--quick]

A simulated shop built from the UCI Online Retail data, served by one real
``endcap serve`` (file store in a temp dir, 127.0.0.1):

* **Training data.** The items and every event before the cutoff (the last 30 days of the
  data are held out), shifted in time so that the cutoff is now (the shop's history ends
  as the experiments begin), are loaded into one tenant; ``endcap train --no-embed`` runs
  once.
* **Shoppers.** The customers who bought both before and after the cutoff. A shopper's
  truth is the set of items they really bought after the cutoff, each with its real
  quantity and price. Every simulated visit gets a fresh user id; it first replays the
  customer's last 10 distinct pre-cutoff items as ``view`` events (so ``for_you`` has a
  real-time history), then asks the experiment's pod for 10 recommendations, sends an
  ``impression`` with the result id, and clicks and buys by the click model below. All
  events go through ``POST /v1/events`` with the result id and pod id.
* **Click model.** Position k (0-based) is examined with probability 1 / (k + 1) ** 0.7.
  An examined item is clicked with probability 0.6 if it is in the shopper's truth,
  else 0.02. A clicked truth item is bought with probability 0.5 (real quantity and
  price); a clicked other item with probability 0.05 (quantity 1, catalog price).
* **Ground truth.** Before the runs, each strategy's expected revenue per shopper is
  computed exactly from the click model over all test shoppers, from the lists the
  strategy returns through a plain (non-experiment) pod.
* **A/B.** Pod variants control = bestsellers, treatment = for_you, 50/50, the report's
  defaults (revenue per shopper, each purchase line capped at the 0.99 quantile of line
  revenue in the 30 days before the start, mde 0.10) and a declared horizon
  ``max_shoppers`` (``--horizon``). Each run is a new experiment (its id is in the
  assignment hash, so every split differs). Shoppers come in seeded random order,
  ``--concurrency`` visits in flight; after every ``--look`` visits the report is read
  (``GET /v1/experiments/{id}/report``), and the run stops when the report's
  ``decision`` is no longer ``continue``: ``winner:<variant>`` (the pick) or
  ``no_difference`` at the horizon (a failure for an A/B). The pool is cycled
  (re-shuffled) when a run needs more visits than there are customers: each visit is a
  new shopper id.
* **A/A.** Both variants bestsellers, the same procedure; a ``winner`` is a false
  positive, ``no_difference`` at the horizon the right answer.

Served runs are the bar. ``--runs`` also replays the decision rule offline (no HTTP: the
lists each test shopper got from the server's plain pods, the click model sampled per
position, a random 50/50 split, the report's own :class:`AlwaysValid` with the same mde
and line cap after every look, the same horizon), a cheap cross-check of the served runs.

The bar (issue 6): the right pick in at least 19 of 20 runs, and no significant A/A
difference in at least 18 of 20.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from proc import cli, free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TENANT = "sim"
POD = "home"
HOLD_OUT_DAYS = 30
HISTORY_ITEMS = 10
NUM_RESULTS = 10
EXAMINE_POWER = 0.7
CLICK_TRUTH, CLICK_OTHER = 0.6, 0.02
BUY_TRUTH, BUY_OTHER = 0.5, 0.05
BATCH = 1_000
STRATEGIES = {"bestsellers": "bestsellers", "for_you": "for_you"}
#: The experiments' alpha and mde: the report's defaults.
ALPHA, MDE = 0.05, 0.10
CAP_QUANTILE = 0.99


def examine(k: int) -> float:
    return float(1.0 / (k + 1) ** EXAMINE_POWER)


@dataclass(slots=True)
class Shopper:
    customer: str
    history: list[str]
    #: item -> (quantity, unit price) of their real purchases after the cutoff
    truth: dict[str, tuple[int, float]]


@dataclass(slots=True)
class Run:
    kind: str
    run: int
    experiment: str
    #: visits made, and the exposed shoppers at the look that decided (the report's)
    visits: int = 0
    shoppers: int | None = None
    looks: int = 0
    decision: str = "continue"
    p_value: float | None = None
    lift: float | None = None
    pick: str | None = None
    correct: bool | None = None
    srm: bool = False
    revenue_cap: float | None = None
    tau: float | None = None
    seconds: float = 0.0
    #: of which reading the report (it reads the whole event log every time)
    report_seconds: float = 0.0
    per_variant: dict[str, dict[str, float]] = field(default_factory=dict)


def judged(res: Run, better: str, t0: float) -> Run:
    """``res`` with its pick (the report's winner) and whether it is right: the truly
    better variant for an A/B, no difference for an A/A."""
    if res.decision.startswith("winner:"):
        res.pick = res.decision.removeprefix("winner:")
    if res.kind == "ab":
        res.correct = res.pick == better
    else:
        res.correct = res.decision == "no_difference"
    res.seconds = time.perf_counter() - t0
    return res


# --- setup -------------------------------------------------------------------------


def build_shop(store_url: str) -> tuple[dict[str, str], list[Shopper], dict[str, float], str,
                                        float | None]:
    """Load items and pre-cutoff events (shifted so the cutoff is now) into a new
    tenant; the test shoppers; the line-revenue cap the report will compute."""
    import msgspec

    from endcap.cli.demo import load_shop
    from endcap.experiments.report import revenue_cap
    from endcap.pods.model import Pod
    from endcap.sampledata.online_retail import load_online_retail
    from endcap.sampledata.shop import SampleShop
    from endcap.store.embedded import EmbeddedStore
    from endcap.store.url import open_store
    from endcap.tenants.service import create_tenant

    shop = load_online_retail()
    last = max(float(e.timestamp) for e in shop.events)  # type: ignore[arg-type]
    cutoff = last - HOLD_OUT_DAYS * 86_400
    shift = time.time() - 60 - cutoff  # the history ends a minute ago
    before = [msgspec.structs.replace(e, timestamp=float(e.timestamp) + shift)  # type: ignore[arg-type]
              for e in shop.events if float(e.timestamp) < cutoff]  # type: ignore[arg-type]
    after = [e for e in shop.events if float(e.timestamp) >= cutoff]  # type: ignore[arg-type]
    price = {it.id: float(it.price or 0.0) for it in shop.items}

    history: dict[str, list[str]] = {}
    for e in before:  # sorted by time: keep the latest distinct items, newest last
        if e.type == "view" and e.user_id and e.item_id:
            h = history.setdefault(e.user_id, [])
            if e.item_id in h:
                h.remove(e.item_id)
            h.append(e.item_id)
    truth: dict[str, dict[str, list[float]]] = {}
    for e in after:
        if e.type == "purchase" and e.user_id and e.user_id in history:
            t = truth.setdefault(e.user_id, {})
            for line in e.items or []:
                q, r = t.setdefault(line.id, [0.0, 0.0])
                t[line.id] = [q + line.quantity, r + line.quantity * (line.price or 0.0)]
    shoppers = [Shopper(c, history[c][-HISTORY_ITEMS:],
                        {i: (int(q), round(r / q, 2)) for i, (q, r) in t.items() if q > 0})
                for c, t in sorted(truth.items())]

    async def load() -> dict[str, str]:
        store = open_store(store_url)
        assert isinstance(store, EmbeddedStore)
        store.claim()
        try:
            new = await create_tenant(store, TENANT, "experiments simulation")
            await load_shop(store, TENANT, SampleShop(shop.items, before, ""), progress=False)
            for name, strategy in STRATEGIES.items():
                await store.put_pod(TENANT, Pod(id=f"plain-{name}",
                                                strategy=strategy))  # type: ignore[arg-type]
            await store.put_pod(TENANT, Pod(id=POD, strategy="bestsellers"))
            return {"public": new.public_key, "secret": new.secret_token}
        finally:
            await store.close()

    keys = asyncio.run(load())
    info = (f"{len(shop.items):,} items; {len(before):,} events before the cutoff "
            f"({time.strftime('%Y-%m-%d', time.gmtime(cutoff))}, shifted to now) loaded; "
            f"{len(shoppers):,} test shoppers (bought before and after it), "
            f"{sum(len(s.truth) for s in shoppers):,} held-out (shopper, item) purchases")
    # The report's line cap for an experiment starting now, before any simulated
    # purchase: the 0.99 quantile of line revenue in the 30 days before (the served
    # reports compute their own, which later runs' simulated purchases also enter).
    cap = revenue_cap(before, cutoff + shift + 60, CAP_QUANTILE)
    return keys, shoppers, price, info, cap


def start_server(store_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "endcap.cli.main", "serve", "--store", store_url,
         "--port", str(port)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, "ENDCAP_MODEL_POLL_SECONDS": "0.5"})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited; see {log}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("server did not start in 5 minutes")


# --- the simulated visits -----------------------------------------------------------

class Clock:
    """Strictly increasing event times, never ahead of the wall clock by much."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        self.t = max(self.t + 1e-4, time.time())
        return self.t


async def post_events(pub: httpx.AsyncClient, events: list[dict[str, object]]) -> None:
    for i in range(0, len(events), BATCH):
        r = await pub.post("/v1/events", json=events[i:i + BATCH])
        r.raise_for_status()
        body = r.json()
        if body.get("rejected"):
            sys.exit(f"events rejected: {json.dumps(body)[:500]}")


def views(visits: list[tuple[str, Shopper]], clock: Clock) -> list[dict[str, object]]:
    return [{"event_id": f"{sid}-v{k}", "type": "view", "user_id": sid, "item_id": item,
             "timestamp": clock()} for sid, s in visits for k, item in enumerate(s.history)]


async def recommend_all(pub: httpx.AsyncClient, pod: str, sids: list[str], concurrency: int
                        ) -> list[dict[str, object]]:
    """One recommendations request per shopper, ``concurrency`` in flight; in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(sid: str) -> dict[str, object]:
        async with gate:
            r = await pub.get(f"/v1/pods/{pod}/recommendations",
                              params={"user_id": sid, "num_results": NUM_RESULTS})
        r.raise_for_status()
        out: dict[str, object] = r.json()
        return out

    return list(await asyncio.gather(*(one(sid) for sid in sids)))


def expected_revenue(items: list[str], s: Shopper, price: dict[str, float]) -> float:
    total = 0.0
    for k, item in enumerate(items):
        if item in s.truth:
            q, p = s.truth[item]
            total += examine(k) * CLICK_TRUTH * BUY_TRUTH * q * p
        else:
            total += examine(k) * CLICK_OTHER * BUY_OTHER * price.get(item, 0.0)
    return total


def behave(rng: random.Random, sid: str, body: dict[str, object], s: Shopper,
           price: dict[str, float], clock: Clock) -> list[dict[str, object]]:
    items = [str(r["id"]) for r in body["results"]]  # type: ignore[attr-defined]
    rid = body["result_id"]
    out: list[dict[str, object]] = [{
        "event_id": f"{sid}-imp", "type": "impression", "user_id": sid, "pod_id": POD,
        "result_id": rid, "variant": body.get("variant"),
        "items": [{"id": i} for i in items], "timestamp": clock()}]
    for k, item in enumerate(items):
        if rng.random() >= examine(k):
            continue
        hit = item in s.truth
        if rng.random() >= (CLICK_TRUTH if hit else CLICK_OTHER):
            continue
        out.append({"event_id": f"{sid}-c{k}", "type": "click", "user_id": sid,
                    "item_id": item, "pod_id": POD, "result_id": rid, "timestamp": clock()})
        if rng.random() >= (BUY_TRUTH if hit else BUY_OTHER):
            continue
        q, p = s.truth[item] if hit else (1, price.get(item, 0.0))
        out.append({"event_id": f"{sid}-b{k}", "type": "purchase", "user_id": sid,
                    "pod_id": POD, "result_id": rid, "revenue": round(q * p, 2),
                    "items": [{"id": item, "quantity": q, "price": p}],
                    "timestamp": clock()})
    return out


async def ground_truth(pub: httpx.AsyncClient, shoppers: list[Shopper],
                       price: dict[str, float], clock: Clock, cap: float | None,
                       concurrency: int
                       ) -> tuple[dict[str, float], dict[str, list[list[str]]]]:
    """Each strategy's exact expected revenue per shopper under the click model (and
    with each line capped at ``cap``, as the report tests it), and the list it shows
    each shopper."""
    visits = [(f"gt-{s.customer}", s) for s in shoppers]
    await post_events(pub, views(visits, clock))
    await asyncio.sleep(0.5)
    out: dict[str, float] = {}
    lists: dict[str, list[list[str]]] = {}
    for name in STRATEGIES:
        bodies = await recommend_all(pub, f"plain-{name}", [sid for sid, _ in visits],
                                     concurrency)
        lists[name] = [[str(r["id"]) for r in b["results"]]  # type: ignore[attr-defined]
                       for b in bodies]
        out[name] = statistics.fmean(expected_revenue(items, s, price)
                                     for items, (_, s) in zip(lists[name], visits,
                                                              strict=True))
        out[f"{name}_capped"] = statistics.fmean(
            expected_revenue(items, capped(s, cap), price)
            for items, (_, s) in zip(lists[name], visits, strict=True))
        out[f"{name}_empty_lists"] = float(sum(not x for x in lists[name]))
    return out, lists


def capped(s: Shopper, cap: float | None) -> Shopper:
    """``s`` with each held-out line's revenue capped at ``cap`` (as unit price)."""
    if cap is None:
        return s
    return Shopper(s.customer, s.history,
                   {i: (q, min(q * p, cap) / q) for i, (q, p) in s.truth.items()})


# --- the decision rule offline: same statistics, same click model, no HTTP ----------

def offline(kind: str, n: int, seed: int, shoppers: list[Shopper], price: dict[str, float],
            lists: dict[str, list[list[str]]], look: int, horizon: int, better: str,
            cap: float | None) -> Run:
    """One run of the report's decision rule without the server: the lists each
    shopper got from the server, visits drawn as in the served runs, a 50/50 split, the
    click model sampled per position, each line capped at ``cap``, and
    :class:`AlwaysValid` (mde as the report's) fed the cumulative per-arm summaries
    after every look, to the same horizon."""
    import numpy as np

    from endcap.experiments.stats import AlwaysValid, Summary

    arms = ["bestsellers", "for_you"] if kind == "ab" else ["bestsellers", "bestsellers"]
    prob = []
    value = []
    for name in arms:
        p = np.zeros((len(shoppers), NUM_RESULTS))
        v = np.zeros((len(shoppers), NUM_RESULTS))
        for i, (s, items) in enumerate(zip(shoppers, lists[name], strict=True)):
            for k, item in enumerate(items[:NUM_RESULTS]):
                hit = item in s.truth
                p[i, k] = examine(k) * (CLICK_TRUTH * BUY_TRUTH if hit
                                        else CLICK_OTHER * BUY_OTHER)
                q, pr = s.truth[item] if hit else (1, price.get(item, 0.0))
                v[i, k] = q * pr if cap is None else min(q * pr, cap)
        prob.append(p)
        value.append(v)
    rng = np.random.default_rng([seed, n, 0 if kind == "ab" else 1])
    sums = np.zeros((2, 3))  # per arm: n, sum, sum of squares
    tracker = AlwaysValid(mde_relative=MDE)
    res = Run(kind, n, f"offline-{kind}-{n}")
    order = np.empty(0, dtype=np.int64)
    t0 = time.perf_counter()
    while True:
        while len(order) < look:
            order = np.concatenate([order, rng.permutation(len(shoppers))])
        today, order = order[:look], order[look:]
        arm = (rng.random(look) < 0.5).astype(np.int64)
        u = rng.random((look, NUM_RESULTS))
        for a in (0, 1):
            idx = today[arm == a]
            rev = ((u[arm == a] < prob[a][idx]) * value[a][idx]).sum(axis=1)
            sums[a] += (len(idx), rev.sum(), (rev * rev).sum())
        res.visits += look
        res.looks += 1
        summ = []
        for a in (0, 1):
            m, tot, sq = sums[a]
            mean = tot / m if m else float("nan")
            var = (sq - m * mean * mean) / (m - 1) if m > 1 else float("nan")
            summ.append(Summary(int(m), mean, var))
        res.p_value = tracker.update(summ[1], summ[0])
        res.lift = summ[1].mean / summ[0].mean - 1 if summ[0].mean else None
        if res.p_value <= ALPHA:  # as report._decide for two arms
            res.decision = "winner:" + (arms[1] if summ[1].mean > summ[0].mean else arms[0])
            if kind == "aa":
                res.decision = "winner:" + ("b" if summ[1].mean > summ[0].mean else "a")
            break
        if res.visits >= horizon:
            res.decision = "no_difference"
            break
    res.shoppers = res.visits
    res.tau, res.revenue_cap = tracker.tau, cap
    return judged(res, better, t0)


# --- experiments through the server -----------------------------------------------------

async def new_experiment(sec: httpx.AsyncClient, exp_id: str,
                         variants: list[dict[str, object]], previous: str | None,
                         horizon: int) -> None:
    if previous is not None:
        (await sec.post(f"/v1/experiments/{previous}/stop")).raise_for_status()
    body = {"pod_id": POD, "variants": variants, "primary_metric": "revenue_per_shopper",
            "max_shoppers": horizon}
    r = await sec.put(f"/v1/experiments/{exp_id}" + ("?replace=1" if previous else ""),
                      json=body)
    if r.status_code != 201:
        sys.exit(f"PUT experiment {exp_id}: {r.status_code} {r.text}")
    (await sec.post(f"/v1/experiments/{exp_id}/start")).raise_for_status()


async def served(kind: str, n: int, args: argparse.Namespace, pub: httpx.AsyncClient,
                 sec: httpx.AsyncClient, shoppers: list[Shopper], price: dict[str, float],
                 clock: Clock, previous: str | None, better: str) -> Run:
    """One experiment through the server, read every ``args.look`` visits until the
    report's decision is not ``continue``."""
    exp_id = f"{kind}-s{args.seed}-r{n}"
    if kind == "ab":
        variants: list[dict[str, object]] = [
            {"id": "bestsellers", "share": 0.5, "strategy": "bestsellers"},
            {"id": "for_you", "share": 0.5, "strategy": "for_you"}]
    else:
        variants = [{"id": "a", "share": 0.5, "strategy": "bestsellers"},
                    {"id": "b", "share": 0.5, "strategy": "bestsellers"}]
    await new_experiment(sec, exp_id, variants, previous, args.horizon)
    rng = random.Random(f"{args.seed}-{kind}-{n}")
    order: list[Shopper] = []
    res = Run(kind, n, exp_id)
    t0 = time.perf_counter()
    rep: dict[str, object] = {}
    while res.visits < 2 * args.horizon:  # a guard: the horizon ends every run before
        while len(order) < args.look:
            more = list(shoppers)
            rng.shuffle(more)
            order.extend(more)
        today, order = order[:args.look], order[args.look:]
        visits = [(f"{kind}{args.seed}.{n}.{res.visits + k}-{s.customer}", s)
                  for k, s in enumerate(today)]
        if kind == "ab":  # bestsellers does not read the history: A/A skips the replay
            await post_events(pub, views(visits, clock))
        bodies = await recommend_all(pub, POD, [sid for sid, _ in visits], args.concurrency)
        events: list[dict[str, object]] = []
        for (sid, s), body in zip(visits, bodies, strict=True):
            events += behave(rng, sid, body, s, price, clock)
        await post_events(pub, events)
        res.visits += len(visits)
        t = time.perf_counter()
        r = await sec.get(f"/v1/experiments/{exp_id}/report")
        r.raise_for_status()
        rep = r.json()
        res.report_seconds += time.perf_counter() - t
        res.looks += 1
        comp = rep["comparisons"][0]  # type: ignore[index]
        res.p_value, res.lift, res.tau = comp["p_value"], comp["lift"], comp["tau"]
        res.srm = bool(rep["sample_ratio_mismatch"])
        res.decision = str(rep["decision"])
        res.revenue_cap = rep["revenue_cap"]  # type: ignore[assignment]
        if res.decision != "continue":
            res.shoppers = rep["decided_shoppers"]  # type: ignore[assignment]
            break
    res.per_variant = {v["id"]: {"shoppers": v["shoppers"], "revenue": v["revenue"],
                                 "revenue_per_shopper": v["revenue_per_shopper"],
                                 "conversion_rate": v["conversion_rate"]}
                       for v in rep.get("variants", [])}  # type: ignore[attr-defined]
    return judged(res, better, t0)


# --- output ---------------------------------------------------------------------------

def fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


HEADER = ("| run | decision | correct | shoppers at stop | visits | lift | always-valid p "
          "| line cap | s |\n|---|---|---|---|---|---|---|---|---|")


def row(res: Run) -> str:
    ok = "yes" if res.correct else "**NO**"
    return (f"| {res.kind} {res.run} | {res.decision} | {ok} | "
            f"{fmt(res.shoppers, ',d')} | {res.visits:,} | {fmt(res.lift, '+.1%')} | "
            f"{fmt(res.p_value, '.4f')} | {fmt(res.revenue_cap, '.0f')} | "
            f"{res.seconds:.0f} |{' SRM!' if res.srm else ''}")


def totals(runs: list[Run]) -> dict[str, object]:
    ab = [r for r in runs if r.kind == "ab"]
    aa = [r for r in runs if r.kind == "aa"]
    taken = [r.shoppers for r in ab if r.decision.startswith("winner:") and r.shoppers]
    aa_taken = [r.shoppers for r in aa if r.shoppers]
    return {
        "correct_picks": sum(bool(r.correct) for r in ab), "ab_runs": len(ab),
        "no_decision": sum(not r.decision.startswith("winner:") for r in ab),
        "aa_no_difference": sum(bool(r.correct) for r in aa), "aa_runs": len(aa),
        "aa_shoppers_median": statistics.median(aa_taken) if aa_taken else None,
        "shoppers_median": statistics.median(taken) if taken else None,
        "shoppers_min": min(taken) if taken else None,
        "shoppers_max": max(taken) if taken else None,
        "srm_flags": sum(r.srm for r in runs),
        "seconds": round(sum(r.seconds for r in runs)),
        "report_seconds": round(sum(r.report_seconds for r in runs)),
    }


def say(label: str, t: dict[str, object]) -> None:
    print(f"{label}: A/B correct picks {t['correct_picks']}/{t['ab_runs']} (no winner "
          f"{t['no_decision']}); A/A no difference {t['aa_no_difference']}/{t['aa_runs']} "
          f"(median {t['aa_shoppers_median']} shoppers); A/B shoppers to a winner: "
          f"median {t['shoppers_median']}, range {t['shoppers_min']}-{t['shoppers_max']}; "
          f"SRM flags {t['srm_flags']}; {t['seconds']} s of runs, "
          f"{t['report_seconds']} s of them reading reports", flush=True)


async def serve_all(args: argparse.Namespace, url: str, keys: dict[str, str],
                    shoppers: list[Shopper], price: dict[str, float], cap: float | None,
                    out: dict[str, object]) -> None:
    limits = httpx.Limits(max_connections=args.concurrency + 2)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits, headers={
            "Authorization": f"Bearer {keys['public']}"}) as pub, httpx.AsyncClient(
            base_url=url, timeout=300, headers={
                "Authorization": f"Bearer {keys['secret']}"}) as sec:
        clock = Clock()
        t = time.perf_counter()
        truth, lists = await ground_truth(pub, shoppers, price, clock, cap, args.concurrency)
        better = max(STRATEGIES, key=lambda s: truth[s])
        out.update(expected_revenue_per_shopper=truth, better=better)
        print(f"expected revenue per shopper (exact, click model, {len(shoppers):,} "
              f"shoppers): " + ", ".join(f"{s} {truth[s]:.3f}" for s in STRATEGIES)
              + f"; truly better: {better} "
              f"({truth['for_you'] / truth['bestsellers'] - 1:+.1%} for for_you); with "
              f"lines capped at {cap}: " + ", ".join(
                  f"{s} {truth[s + '_capped']:.3f}" for s in STRATEGIES)
              + f"; empty for_you lists: {truth['for_you_empty_lists']:.0f} "
              f"[{time.perf_counter() - t:.0f} s]", flush=True)

        if args.runs:
            print(f"\nOFFLINE decision rule (report statistics, a look every {args.look} "
                  f"visits, horizon {args.horizon:,})\n{HEADER}")
            off: list[Run] = []
            for kind in ("ab", "aa"):
                for n in range(args.runs):
                    off.append(offline(kind, n, args.seed, shoppers, price, lists,
                                       args.look, args.horizon, better, cap))
                    print(row(off[-1]), flush=True)
            out.update(offline_runs=[asdict(r) for r in off], offline_totals=totals(off))
            say("offline", totals(off))

        print(f"\nSERVED through endcap serve (report read every {args.look} visits, "
              f"horizon {args.horizon:,} shoppers, {args.concurrency} visits in flight)\n"
              f"{HEADER}")
        runs: list[Run] = []
        previous: str | None = None
        for n in range(args.served_runs):  # interleaved: a cut-short run has both kinds
            for kind in ("ab", "aa"):
                res = await served(kind, n, args, pub, sec, shoppers, price, clock,
                                   previous, better)
                previous = res.experiment
                runs.append(res)
                print(row(res), flush=True)
                out.update(served_runs=[asdict(r) for r in runs], served_totals=totals(runs))
                if args.json:
                    args.json.write_text(json.dumps(out, indent=2))
        print()
        if args.runs:
            say("offline", out["offline_totals"])  # type: ignore[arg-type]
        say("served", totals(runs))
        means = {v: statistics.mean(r.per_variant[v]["revenue_per_shopper"]
                                    for r in runs if r.kind == "ab")
                 for v in STRATEGIES} if any(r.kind == "ab" for r in runs) else {}
        out["served_ab_revenue_per_shopper"] = means
        print("served A/B report revenue per shopper (uncapped), mean over runs: "
              + ", ".join(f"{v} {m:.3f}" for v, m in means.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--served-runs", type=int, default=20,
                    help="served A/B and A/A runs each")
    ap.add_argument("--runs", type=int, default=20,
                    help="offline replays of the decision rule, A/B and A/A each (0: none)")
    ap.add_argument("--look", type=int, default=1_000, help="visits between report reads")
    ap.add_argument("--horizon", type=int, default=10_000,
                    help="the experiments' declared max_shoppers")
    ap.add_argument("--concurrency", type=int, default=8, help="visits in flight")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write every run and the totals here")
    ap.add_argument("--quick", action="store_true",
                    help="2 served and 5 offline runs each, horizon 3,000")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.served_runs, args.horizon = 5, 2, 3_000
    wall = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="endcap-exp-sim-"))
    store_url = f"file://{tmp / 'store'}"
    t = time.perf_counter()
    keys, shoppers, price, info, cap = build_shop(store_url)
    print(info)
    print(f"line revenue cap (0.99 quantile of purchase-line revenue in the 30 days "
          f"before the first start, as the report computes it): {cap}")
    print(f"loaded in {time.perf_counter() - t:.0f} s", flush=True)
    t = time.perf_counter()
    cli("train", "--store", store_url, "--no-embed")
    print(f"trained in {time.perf_counter() - t:.0f} s", flush=True)
    proc, url = start_server(store_url, tmp / "server.log")
    out: dict[str, object] = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "setup": info, "line_cap_at_first_start": cap}
    try:
        asyncio.run(serve_all(args, url, keys, shoppers, price, cap, out))
        out["wall_seconds"] = round(time.perf_counter() - wall, 1)
        print(f"wall {out['wall_seconds']:.0f} s")
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

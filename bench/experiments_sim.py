"""Experiments simulation (issue 6): does the report's decision rule pick the better variant?

    .venv/bin/python bench/experiments_sim.py [--runs 20] [--served-runs 5] [--day 200]
        [--max-shoppers 2000] [--offline-max 400000] [--seed 1] [--json out.json] [--quick]

A simulated shop built from the UCI Online Retail data, served by one real
``endcap serve`` (file store in a temp dir, 127.0.0.1):

* **Training data.** The items and every event before the cutoff (the last 30 days of the
  data are held out) are loaded into one tenant, and ``endcap train --no-embed`` runs once.
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
* **A/B.** Pod variants control = bestsellers, treatment = for_you, 50/50. Each run is a
  new experiment (its id is in the assignment hash, so every split differs). Shoppers
  come in seeded random order, in "days" of ``--day`` visits; after each day the report is
  read, and the run stops when the primary comparison (revenue per shopper) is
  significant. The sign of the lift is the pick. No decision within ``--max-shoppers``
  counts as a failure. The pool is cycled (re-shuffled) when a run needs more visits
  than there are customers: each visit is a new shopper id.
* **A/A.** Both variants bestsellers, the same procedure to the full budget; a run with
  a significant comparison at any look is a false positive.

Two ways to run the decision rule:

* **Offline** (``--runs``, to ``--offline-max`` visits): the lists each test shopper got
  from the server's plain pods, the same visit order, a random 50/50 split, the click
  model sampled per position, and the report's own :class:`AlwaysValid` fed cumulative
  per-arm summaries after each day. This is the 20-run result: a decision takes tens of
  thousands of visits here, far more than the served path can do in minutes.
* **Served** (``--served-runs``, to ``--max-shoppers`` visits): every visit through
  ``endcap serve`` and the experiment's report. A check that the served report measures
  what the offline model assumes (per-variant revenue per shopper, no SRM, p-values);
  about 13 ms a visit on 2 cores (measured end to end, not broken down).

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
    shoppers: int = 0
    days: int = 0
    p_value: float | None = None
    lift: float | None = None
    significant: bool = False
    pick: str | None = None
    correct: bool | None = None
    srm: bool = False
    seconds: float = 0.0
    per_variant: dict[str, dict[str, float]] = field(default_factory=dict)


def judged(res: Run, kind: str, better: str, t0: float) -> Run:
    """``res`` with its pick (an A/B's significant lift's sign) and whether it is right."""
    if kind == "ab" and res.significant and res.lift is not None:
        res.pick = "for_you" if res.lift > 0 else "bestsellers"
        res.correct = res.pick == better
    elif kind == "ab":
        res.correct = False
    res.seconds = time.perf_counter() - t0
    return res


# --- setup -------------------------------------------------------------------------


def build_shop(store_url: str) -> tuple[dict[str, str], list[Shopper], dict[str, float], str,
                                        float | None]:
    """Load items and pre-cutoff events into a new tenant; the test shoppers."""
    from endcap.cli.demo import load_shop
    from endcap.pods.model import Pod
    from endcap.sampledata.online_retail import load_online_retail
    from endcap.sampledata.shop import SampleShop
    from endcap.store.embedded import EmbeddedStore
    from endcap.store.url import open_store
    from endcap.tenants.service import create_tenant

    shop = load_online_retail()
    last = max(float(e.timestamp) for e in shop.events)  # type: ignore[arg-type]
    cutoff = last - HOLD_OUT_DAYS * 86_400
    before = [e for e in shop.events if float(e.timestamp) < cutoff]  # type: ignore[arg-type]
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
                await store.put_pod(TENANT, Pod(id=f"plain-{name}", strategy=strategy))
            await store.put_pod(TENANT, Pod(id=POD, strategy="bestsellers"))
            return {"public": new.public_key, "secret": new.secret_token}
        finally:
            await store.close()

    keys = asyncio.run(load())
    info = (f"{len(shop.items):,} items; {len(before):,} events before the cutoff "
            f"({time.strftime('%Y-%m-%d', time.gmtime(cutoff))}) loaded; "
            f"{len(shoppers):,} test shoppers (bought before and after it), "
            f"{sum(len(s.truth) for s in shoppers):,} held-out (shopper, item) purchases")
    # The report's revenue cap for an experiment starting at the cutoff: the 0.99
    # quantile of per-buyer revenue in the 30 days before it (report.revenue_cap).
    from endcap.experiments.report import revenue_cap

    cap = revenue_cap(before, cutoff, 0.99)
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


def post_events(pub: httpx.Client, events: list[dict[str, object]]) -> None:
    for i in range(0, len(events), BATCH):
        r = pub.post("/v1/events", json=events[i:i + BATCH])
        r.raise_for_status()
        body = r.json()
        if body.get("rejected"):
            sys.exit(f"events rejected: {json.dumps(body)[:500]}")


def replay_views(pub: httpx.Client, visits: list[tuple[str, Shopper]], clock: Clock) -> None:
    post_events(pub, [{"event_id": f"{sid}-v{k}", "type": "view", "user_id": sid,
                       "item_id": item, "timestamp": clock()}
                      for sid, s in visits for k, item in enumerate(s.history)])


def recommend(pub: httpx.Client, pod: str, sid: str) -> dict[str, object]:
    r = pub.get(f"/v1/pods/{pod}/recommendations",
                params={"user_id": sid, "num_results": NUM_RESULTS})
    r.raise_for_status()
    out: dict[str, object] = r.json()
    return out


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


def ground_truth(pub: httpx.Client, shoppers: list[Shopper], price: dict[str, float],
                 clock: Clock) -> tuple[dict[str, float], dict[str, list[list[str]]]]:
    """Each strategy's exact expected revenue per shopper under the click model, and the
    list it shows each shopper."""
    visits = [(f"gt-{s.customer}", s) for s in shoppers]
    replay_views(pub, visits, clock)
    time.sleep(0.5)
    out: dict[str, float] = {}
    lists: dict[str, list[list[str]]] = {}
    for name in STRATEGIES:
        total = 0.0
        lists[name] = []
        for sid, s in visits:
            body = recommend(pub, f"plain-{name}", sid)
            items = [str(r["id"]) for r in body["results"]]  # type: ignore[attr-defined]
            lists[name].append(items)
            total += expected_revenue(items, s, price)
        out[name] = total / len(visits)
        out[f"{name}_empty_lists"] = float(sum(not x for x in lists[name]))
    return out, lists


# --- the decision rule offline: same statistics, same click model, no HTTP ----------

def offline(kind: str, n: int, seed: int, shoppers: list[Shopper], price: dict[str, float],
            lists: dict[str, list[list[str]]], day: int, budget: int,
            better: str, cap: float | None = None) -> Run:
    """One run of the report's decision rule without the server: the lists each
    shopper got from the server, visits drawn as in the served runs, a 50/50 split, the
    click model sampled per position, and :class:`AlwaysValid` fed the cumulative
    per-arm summaries after every day (the report's daily looks)."""
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
                v[i, k] = q * pr
        prob.append(p)
        value.append(v)
    rng = np.random.default_rng([seed, n, 0 if kind == "ab" else 1])
    sums = np.zeros((2, 3))  # per arm: n, sum, sum of squares
    tracker = AlwaysValid()
    res = Run(kind, n, f"offline-{kind}-{n}")
    order = np.empty(0, dtype=np.int64)
    t0 = time.perf_counter()
    while res.shoppers < budget:
        size = min(day, budget - res.shoppers)
        while len(order) < size:
            order = np.concatenate([order, rng.permutation(len(shoppers))])
        today, order = order[:size], order[size:]
        arm = (rng.random(size) < 0.5).astype(np.int64)
        u = rng.random((size, NUM_RESULTS))
        for a in (0, 1):
            idx = today[arm == a]
            rev = ((u[arm == a] < prob[a][idx]) * value[a][idx]).sum(axis=1)
            if cap is not None:  # as the report tests revenue per shopper
                rev = np.minimum(rev, cap)
            sums[a] += (len(idx), rev.sum(), (rev * rev).sum())
        res.shoppers += size
        res.days += 1
        summ = []
        for a in (0, 1):
            m, tot, sq = sums[a]
            mean = tot / m if m else float("nan")
            var = (sq - m * mean * mean) / (m - 1) if m > 1 else float("nan")
            summ.append(Summary(int(m), mean, var))
        res.p_value = tracker.update(summ[1], summ[0])
        res.lift = summ[1].mean / summ[0].mean - 1 if summ[0].mean else None
        if res.p_value <= 0.05:
            res.significant = True
            if kind == "ab":
                break
    return judged(res, kind, better, t0)


# --- experiments ----------------------------------------------------------------------

def new_experiment(sec: httpx.Client, exp_id: str, variants: list[dict[str, object]],
                   previous: str | None) -> None:
    if previous is not None:
        sec.post(f"/v1/experiments/{previous}/stop").raise_for_status()
    body = {"pod_id": POD, "variants": variants, "primary_metric": "revenue_per_shopper"}
    r = sec.put(f"/v1/experiments/{exp_id}" + ("?replace=1" if previous else ""), json=body)
    if r.status_code != 201:
        sys.exit(f"PUT experiment {exp_id}: {r.status_code} {r.text}")
    sec.post(f"/v1/experiments/{exp_id}/start").raise_for_status()


def run_one(kind: str, n: int, seed: int, args: argparse.Namespace, pub: httpx.Client,
            sec: httpx.Client, shoppers: list[Shopper], price: dict[str, float],
            clock: Clock, previous: str | None, better: str | None) -> Run:
    exp_id = f"{kind}-s{seed}-r{n}"
    if kind == "ab":
        variants: list[dict[str, object]] = [
            {"id": "bestsellers", "share": 0.5, "strategy": "bestsellers"},
            {"id": "for_you", "share": 0.5, "strategy": "for_you"}]
    else:
        variants = [{"id": "a", "share": 0.5, "strategy": "bestsellers"},
                    {"id": "b", "share": 0.5, "strategy": "bestsellers"}]
    new_experiment(sec, exp_id, variants, previous)
    rng = random.Random(f"{seed}-{kind}-{n}")
    order: list[Shopper] = []
    res = Run(kind, n, exp_id)
    t0 = time.perf_counter()
    rep: dict[str, object] = {}
    while res.shoppers < args.max_shoppers:
        size = min(args.day, args.max_shoppers - res.shoppers)
        while len(order) < size:
            more = list(shoppers)
            rng.shuffle(more)
            order.extend(more)
        today, order = order[:size], order[size:]
        visits = [(f"{kind}{seed}.{n}.{res.shoppers + k}-{s.customer}", s)
                  for k, s in enumerate(today)]
        if kind == "ab":  # bestsellers does not read the history: A/A skips the replay
            replay_views(pub, visits, clock)
        events: list[dict[str, object]] = []
        for sid, s in visits:
            events += behave(rng, sid, recommend(pub, POD, sid), s, price, clock)
        post_events(pub, events)
        res.shoppers += size
        res.days += 1
        r = sec.get(f"/v1/experiments/{exp_id}/report")
        r.raise_for_status()
        rep = r.json()
        comp = rep["comparisons"][0]  # type: ignore[index]
        res.p_value, res.lift = comp["p_value"], comp["lift"]
        res.srm = bool(rep["sample_ratio_mismatch"])
        if comp["significant"]:
            res.significant = True
            if kind == "ab":
                break  # the decision rule stops the A/B; A/A runs on, counting any look
    res.per_variant = {v["id"]: {"shoppers": v["shoppers"], "revenue": v["revenue"],
                                 "revenue_per_shopper": v["revenue_per_shopper"],
                                 "conversion_rate": v["conversion_rate"]}
                       for v in rep.get("variants", [])}  # type: ignore[attr-defined]
    return judged(res, kind, better, t0)


def fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def row(res: Run) -> str:
    ok = ("yes" if res.correct else "NO") if res.kind == "ab" else (
        "FP" if res.significant else "ok")
    return (f"{res.kind} {res.run:3d} | {res.shoppers:7,d} | {res.days:4d} | "
            f"{fmt(res.lift, '+.1%'):>7} | {fmt(res.p_value, '.4f')} | "
            f"{res.pick or '-':11} | {ok:3} | {'!' if res.srm else '-'} | {res.seconds:.1f}")


HEADER = "kind run | shoppers | days |    lift | p      | pick        | ok  | SRM | s"


def totals(runs: list[Run]) -> dict[str, object]:
    ab = [r for r in runs if r.kind == "ab"]
    aa = [r for r in runs if r.kind == "aa"]
    taken = [r.shoppers for r in ab if r.significant]
    return {
        "correct_picks": sum(bool(r.correct) for r in ab), "ab_runs": len(ab),
        "no_decision": sum(not r.significant for r in ab),
        "aa_false_positives": sum(r.significant for r in aa), "aa_runs": len(aa),
        "aa_shoppers": aa[0].shoppers if aa else None,
        "shoppers_median": statistics.median(taken) if taken else None,
        "shoppers_min": min(taken) if taken else None,
        "shoppers_max": max(taken) if taken else None,
        "srm_flags": sum(r.srm for r in runs),
    }


def say(label: str, t: dict[str, object]) -> None:
    print(f"{label}: correct picks {t['correct_picks']}/{t['ab_runs']} (no decision "
          f"{t['no_decision']}), A/A false positives {t['aa_false_positives']}/"
          f"{t['aa_runs']} (at {t['aa_shoppers']} shoppers each), shoppers to a decision: "
          f"median {t['shoppers_median']}, range {t['shoppers_min']}-{t['shoppers_max']}; "
          f"SRM flags {t['srm_flags']}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--day", type=int, default=200, help="visits between report reads")
    ap.add_argument("--served-runs", type=int, default=5,
                    help="served A/B and A/A runs each (slow: about 13 ms a visit)")
    ap.add_argument("--max-shoppers", type=int, default=2000,
                    help="visits per served run at most")
    ap.add_argument("--offline-max", type=int, default=400_000,
                    help="visits per offline run at most")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-cap", action="store_true",
                    help="offline: test uncapped revenue per shopper (the report caps it "
                         "at the 0.99 quantile of buyers' revenue before the start)")
    ap.add_argument("--json", type=Path, help="write every run and the totals here")
    ap.add_argument("--quick", action="store_true",
                    help="3 offline and 2 served runs each, 100,000 and 600 visits at most")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.served_runs = 3, 2
        args.max_shoppers, args.offline_max = 600, 100_000
    wall = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="endcap-exp-sim-"))
    store_url = f"file://{tmp / 'store'}"
    t = time.perf_counter()
    keys, shoppers, price, info, cap = build_shop(store_url)
    if args.no_cap:
        cap = None
    print(info)
    print(f"revenue cap (0.99 quantile of buyers' revenue in the 30 days before the "
          f"cutoff, as the report computes it before a start): {cap}")
    print(f"loaded in {time.perf_counter() - t:.0f} s", flush=True)
    t = time.perf_counter()
    cli("train", "--store", store_url, "--no-embed")
    print(f"trained in {time.perf_counter() - t:.0f} s", flush=True)
    proc, url = start_server(store_url, tmp / "server.log")
    pub = httpx.Client(base_url=url, timeout=60,
                       headers={"Authorization": f"Bearer {keys['public']}"})
    sec = httpx.Client(base_url=url, timeout=120,
                       headers={"Authorization": f"Bearer {keys['secret']}"})
    clock = Clock()
    try:
        t = time.perf_counter()
        truth, lists = ground_truth(pub, shoppers, price, clock)
        better = max(STRATEGIES, key=lambda s: truth[s])
        print(f"expected revenue per shopper (exact, click model, {len(shoppers):,} "
              f"shoppers): " + ", ".join(f"{s} {truth[s]:.3f}" for s in STRATEGIES)
              + f"; truly better: {better} "
              f"({truth['for_you'] / truth['bestsellers'] - 1:+.1%} for for_you); "
              f"empty for_you lists: {truth['for_you_empty_lists']:.0f} "
              f"[{time.perf_counter() - t:.0f} s]", flush=True)

        print(f"\nOFFLINE decision rule (report statistics, daily looks of {args.day}, "
              f"at most {args.offline_max:,} visits a run)\n{HEADER}")
        off: list[Run] = []
        for kind in ("ab", "aa"):
            for n in range(args.runs):
                off.append(offline(kind, n, args.seed, shoppers, price, lists, args.day,
                                   args.offline_max, better, cap))
                print(row(off[-1]), flush=True)
        off_totals = totals(off)

        print(f"\nSERVED through endcap serve (report read every {args.day} visits, at "
              f"most {args.max_shoppers:,} visits a run)\n{HEADER}")
        runs: list[Run] = []
        previous: str | None = None
        for kind in ("ab", "aa"):
            for n in range(args.served_runs):
                res = run_one(kind, n, args.seed, args, pub, sec, shoppers, price, clock,
                              previous, better)
                previous = res.experiment
                runs.append(res)
                print(row(res), flush=True)
        served = totals(runs)
        means = {v: statistics.mean(r.per_variant[v]["revenue_per_shopper"]
                                    for r in runs if r.kind == "ab")
                 for v in STRATEGIES} if runs else {}
        print()
        say("offline", off_totals)
        say("served", served)
        print("served A/B report revenue per shopper, mean over runs: "
              + ", ".join(f"{v} {m:.3f}" for v, m in means.items()))
        wall_s = round(time.perf_counter() - wall, 1)
        print(f"wall {wall_s:.0f} s")
        if args.json:
            args.json.write_text(json.dumps({
                "args": {k: (str(v) if isinstance(v, Path) else v)
                         for k, v in vars(args).items()},
                "setup": info, "expected_revenue_per_shopper": truth, "better": better,
                "offline_runs": [asdict(r) for r in off], "offline_totals": off_totals,
                "served_runs": [asdict(r) for r in runs], "served_totals": served,
                "served_ab_revenue_per_shopper": means, "wall_seconds": wall_s},
                indent=2))
    finally:
        pub.close()
        sec.close()
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

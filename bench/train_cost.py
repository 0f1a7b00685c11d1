"""Training cost as the catalog grows (issue 4): time per stage, peak memory and model
size at 10k, 100k and 1M items, with 10 events per item.

    .venv/bin/python bench/train_cost.py                   # 10k, 100k, 1M items
    .venv/bin/python bench/train_cost.py --quick           # 10k and 100k
    .venv/bin/python bench/train_cost.py --sizes 20000,200000 --events-per-item 20 \\
        --json cost.json

The shop comes from :mod:`endcap.sampledata.scale` (Zipf items and shoppers, sessions,
co-views, baskets with complements, repeat purchases), built straight into the trainer's
columns, and is fitted by ``fit_interactions`` with the default ``TrainParams`` (so
``for_you`` is tuned on a validation split, as ``endcap train`` does).

Each size runs in a fresh process, so its peak RSS is its own. The process reports:
the fit's wall time per stage (``model.stats["timings"]``); the resident memory before
the fit (the shop's data) and the fit's own peak above it (``VmHWM`` is reset after
generating, where the kernel allows; RSS is also sampled every 0.2 s); the process's
``ru_maxrss``; the size of ``Model.to_bytes()`` per item; and each neighbour table's
width (K) and fill. A sampling profiler in the same process attributes thread time and
memory to the trainer's functions, so a run that is killed (``--timeout``,
``--max-rss-gb``) still says where its time and memory went.

The growth of each figure per 10x items is printed as an exponent b (cost ~ n^b) and
flagged when it exceeds n log n's (about 1.1 over these sizes) by more than 0.15.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which these machines set, slow numpy's dense
kernels (EASE's inverse) by up to 15x: the script runs itself again without them before
numpy loads, and says so.
"""


from __future__ import annotations

import os
import sys

from openblas import UNSET_NOTE, without_openblas_vars

if __name__ == "__main__":
    without_openblas_vars()

import argparse
import itertools
import json
import math
import platform
import resource
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

MB = 1 << 20
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Stages of ``model.stats["timings"]``, in the order the trainer runs them.
STAGES = ("popularity", "text", "cooccurrence", "neighbours", "tune", "linear")
#: Growth exponents above n log n's by more than this are flagged.
SLACK = 0.15
#: Figures smaller than these (in the larger run) are too small to judge growth by.
MIN_SECONDS = 1.0
MIN_MB = 100.0


# --- the child: one size, in its own process -------------------------------------------

def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM, and with it ru_maxrss) to the current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class Sampler(threading.Thread):
    """Every ``interval`` seconds: the RSS, and for each thread that is inside endcap its
    chain of endcap functions (``fit_interactions>_neighbours>text_vectors``) and
    innermost endcap line. Writes a status file every few seconds, and ends the process
    when RSS passes ``max_rss``."""

    def __init__(self, status: Path | None, max_rss: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.status, self.max_rss, self.interval = status, max_rss, interval
        self.phase = "start"
        self.started = time.perf_counter()
        self.chains: Counter[str] = Counter()  # thread-seconds
        self.lines: Counter[str] = Counter()
        self.peak: dict[str, Any] = {"rss": 0, "at": ""}
        self.peak_in_phase: dict[str, int] = {}
        #: The furthest item a neighbour block (fit.py's ``block(a, b)``) has started at.
        self.block_at, self.block_n, self.block_since, self.block_last = -1, 0, 0.0, 0.0
        #: What the run has measured so far (written with the status), and the fit's
        #: finished stages (its ``timings`` as it goes) and the time the fit began.
        self.known: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.fit_started = 0.0
        self.stop = threading.Event()

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        if phase == "fit":
            self.fit_started = time.perf_counter()
        self.peak_in_phase.setdefault(phase, 0)

    def run(self) -> None:
        last_write = 0.0
        last = time.perf_counter()
        me = threading.get_ident()
        while not self.stop.wait(self.interval):
            now = time.perf_counter()
            # Weigh each sample by the time since the last: a loaded machine wakes the
            # sampler late.
            dt, last = now - last, now
            rss = _status_kb("VmRSS") * 1024
            where = []
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                names, inner = [], ""
                f: Any = frame
                while f is not None:
                    code = f.f_code
                    if "/endcap/" in code.co_filename:
                        names.append(code.co_name)
                        if not inner:
                            inner = (f"{Path(code.co_filename).name}:{f.f_lineno} "
                                     f"{code.co_name}")
                        if code.co_name == "block" and isinstance(f.f_locals.get("a"), int):
                            self._block(f.f_locals["a"], f.f_locals.get("n"), now)
                        elif code.co_name == "fit_interactions":
                            self.timings = dict(f.f_locals.get("timings") or {})
                    f = f.f_back
                if names:
                    chain = ">".join(reversed(names))
                    self.chains[chain] += dt
                    self.lines[inner] += dt
                    where.append(chain)
            self.peak_in_phase[self.phase] = max(self.peak_in_phase.get(self.phase, 0), rss)
            if rss > self.peak["rss"]:
                self.peak = {"rss": rss, "at": " | ".join(where) or self.phase}
            if rss > self.max_rss:
                self._write({"killed": f"RSS {rss / MB:,.0f} MB passed the limit of "
                                       f"{self.max_rss / MB:,.0f} MB"})
                os._exit(3)
            if now - last_write > 5.0:
                self._write({})
                last_write = now

    def _block(self, a: int, n: Any, now: float) -> None:
        if self.block_at < 0:
            self.block_since = now
        if a > self.block_at:
            self.block_at, self.block_last = a, now
        self.block_n = n if isinstance(n, int) else self.block_n

    def neighbours_progress(self) -> dict[str, Any]:
        """How far the neighbour blocks got, and when they would end at that pace."""
        if self.block_at < 0 or not self.block_n:
            return {}
        spent = self.block_last - self.block_since
        done = self.block_at / self.block_n
        return {"neighbour_blocks_done": round(done, 4),
                "neighbour_blocks_seconds": round(spent, 1),
                "neighbour_blocks_projected_s": round(spent / done, 0) if done > 0 else None}

    def profile(self, top: int = 12) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "elapsed_s": round(time.perf_counter() - self.started, 1),
            "rss_now_mb": round(_status_kb("VmRSS") / 1024, 1),
            "rss_peak_sampled_mb": round(self.peak["rss"] / MB, 1),
            "rss_peak_during": self.peak["at"],
            "rss_peak_by_phase_mb": {k: round(v / MB, 1) for k, v in self.peak_in_phase.items()},
            "fit_elapsed_s": round(time.perf_counter() - self.fit_started, 1)
            if self.fit_started else None,
            "timings_so_far": self.timings,
            **self.neighbours_progress(),
            "thread_seconds_by_chain": {k: round(v, 1) for k, v in self.chains.most_common(top)},
            "thread_seconds_by_line": {k: round(v, 1) for k, v in self.lines.most_common(top)},
        }

    def _write(self, extra: dict[str, Any]) -> None:
        if self.status is not None:
            tmp = self.status.with_suffix(".tmp")
            tmp.write_text(json.dumps({**self.profile(), "result": self.known, **extra},
                                      indent=1))
            tmp.replace(self.status)


def train_params(overrides: list[str]) -> Any:
    """``TrainParams()`` with ``NAME=VALUE`` overrides, each parsed as its default's type."""
    import dataclasses

    from endcap.train.fit import TrainParams

    base = TrainParams()
    changes: dict[str, Any] = {}
    for item in overrides:
        name, _, text = item.partition("=")
        if name not in {f.name for f in dataclasses.fields(base)}:
            raise SystemExit(f"--param {item}: TrainParams has no field {name!r}")
        default = getattr(base, name)
        if isinstance(default, bool):
            changes[name] = text.lower() in ("1", "true", "yes")
        elif isinstance(default, tuple):
            changes[name] = tuple(float(x) for x in text.split(","))
        elif isinstance(default, (int, float)) or default is None:
            changes[name] = None if text == "None" else type(default or 0)(text)
        else:
            changes[name] = text
    return dataclasses.replace(base, **changes)


def fit_for_you(rows: Any, n: int, params: Any, progress: Any) -> tuple[dict[str, float], Any]:
    """Only ``for_you``'s stages (tuning, then the EASE and transitions table), as
    ``fit_interactions`` runs them, with an empty fallback for items outside EASE's
    head: to measure them at sizes where the neighbour stage cannot finish."""
    from endcap.train import fit
    from endcap.train.model import Neighbours
    from endcap.train.tune import ForYouParams, tune

    timings: dict[str, float] = {}
    t = time.perf_counter()
    chosen = ForYouParams()
    if params.tune:
        chosen, _ = tune(rows, n, k=params.for_you_neighbours,
                         max_items=params.linear_max_items, progress=progress)
        timings["tune"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
    table = fit._linear_table(rows, n, params, chosen,
                              Neighbours.empty(n, params.for_you_neighbours))
    timings["linear"] = round(time.perf_counter() - t, 2)
    return timings, {"related": table}


def child(args: argparse.Namespace) -> int:
    import numpy as np

    from endcap.sampledata.scale import generate_scale_shop, kind_shares
    from endcap.train.fit import fit_interactions

    status = Path(args.status) if args.status else None
    sampler = Sampler(status, int(args.max_rss_gb * (1 << 30)))
    out: dict[str, Any] = {"items": args.items, "events_per_item": args.events_per_item,
                           "params": args.param, "only_for_you": args.only_for_you,
                           "load_before": os.getloadavg()[0]}
    sampler.known = out
    sampler.start()

    def log(msg: str) -> None:
        print(f"  [{args.items:,} items, {time.perf_counter() - sampler.started:6.1f} s] "
              f"{msg}", file=sys.stderr, flush=True)

    sampler.set_phase("generate")
    t = time.perf_counter()
    shop = generate_scale_shop(args.items, events_per_item=args.events_per_item,
                               seed=args.seed)
    rows = shop.rows
    out["generate_s"] = round(time.perf_counter() - t, 2)
    out["generate_peak_mb"] = round(_status_kb("VmHWM") / 1024, 1)
    out["events"] = shop.n_events
    out["interactions"] = len(rows)
    out["kinds"] = {k: round(v, 4) for k, v in kind_shares(rows).items()}
    counts = np.sort(np.bincount(rows.item, minlength=args.items))[::-1]
    out["top_1pct_items_share"] = round(float(counts[:max(1, args.items // 100)].sum()
                                              / max(1, counts.sum())), 3)
    log(f"generated {shop.n_events:,} events ({len(rows):,} rows) in {out['generate_s']} s")

    out["peak_reset"] = _reset_peak()
    out["rss_before_fit_mb"] = round(_status_kb("VmRSS") / 1024, 1)
    sampler.set_phase("fit")
    t = time.perf_counter()
    params = train_params(args.param)
    progress = (lambda m: log(f"tune {m}")) if args.verbose else None
    if args.only_for_you:
        timings, tables = fit_for_you(rows, len(shop.items), params, progress)
        model = None
    else:
        model = fit_interactions(shop.items, rows, params=params, progress=progress)
        timings = model.stats["timings"]
        tables = {name: getattr(model, name)
                  for name in ("alternatives", "complements", "related")}
        out["for_you"] = model.stats.get("for_you")
    out["fit_s"] = round(time.perf_counter() - t, 2)
    out["fit_peak_mb"] = (round(_status_kb("VmHWM") / 1024, 1) if out["peak_reset"]
                          else sampler.peak_in_phase["fit"] / MB)
    out["fit_peak_sampled_mb"] = round(sampler.peak_in_phase["fit"] / MB, 1)
    out["timings"] = timings
    log(f"fitted in {out['fit_s']} s: {timings}")

    out["tables"] = {}
    for name, nb in tables.items():
        filled = (nb.idx >= 0).sum(axis=1)
        out["tables"][name] = {"k": int(nb.idx.shape[1]),
                               "mean_filled": round(float(filled.mean()), 1),
                               "items_with_any": round(float((filled > 0).mean()), 3)}
    if model is not None:
        sampler.set_phase("serialise")
        t = time.perf_counter()
        data = model.to_bytes()
        out["to_bytes_s"] = round(time.perf_counter() - t, 2)
        out["artefact_bytes"] = len(data)
        out["artefact_bytes_per_item"] = round(len(data) / args.items, 1)
        out["category_lists_entries"] = int(sum(len(v) for v in model.category_order.values()))
    sampler.stop.set()
    out["ru_maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["profile"] = sampler.profile()
    out["load_after"] = os.getloadavg()[0]
    Path(args.out).write_text(json.dumps(out, indent=1))
    return 0


# --- the parent: one child per size, then the tables -----------------------------------

def run_size(n: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out, status = work / f"{n}.json", work / f"{n}.status.json"
    cmd = [sys.executable, __file__, "--child", "--items", str(n), "--events-per-item",
           str(args.events_per_item), "--seed", str(args.seed), "--out", str(out),
           "--status", str(status), "--max-rss-gb", str(args.max_rss_gb)]
    if args.verbose:
        cmd.append("--verbose")
    cmd += [f"--param={p}" for p in args.param]
    if args.only_for_you:
        cmd.append("--only-for-you")
    started = time.perf_counter()
    env = dict(os.environ)
    if args.blas_threads:
        env.update({v: str(args.blas_threads) for v in BLAS_THREAD_VARS})
    proc = subprocess.Popen(cmd, env=env)
    code: int | None = None
    try:
        code = proc.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:  # also on Ctrl-C or SIGTERM: never leave the child running
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = round(time.perf_counter() - started, 1)
    if code == 0 and out.exists():
        result: dict[str, Any] = json.loads(out.read_text())
        result["process_s"] = wall
        return result
    partial = json.loads(status.read_text()) if status.exists() else {}
    reason = partial.pop("killed", None) or (
        f"timed out after {args.timeout:.0f} s" if code is None else f"exit status {code}")
    return {**partial.pop("result", {}), "items": n, "failed": reason, "process_s": wall,
            "timings": partial.get("timings_so_far", {}), "profile": partial,
            "load_after": os.getloadavg()[0]}


def _exp(x1: float, x2: float, n1: int, n2: int) -> float:
    return math.log(x2 / x1) / math.log(n2 / n1) if x1 > 0 and x2 > 0 else float("nan")


def growth(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For consecutive sizes, each figure's exponent b (cost ~ n^b) and whether it grows
    faster than n log n."""
    ok = [r for r in results if "failed" not in r]
    rows = []
    for a, b in itertools.pairwise(ok):
        n1, n2 = a["items"], b["items"]
        nlogn = _exp(n1 * math.log(n1), n2 * math.log(n2), n1, n2)
        figures = [("fit time", a["fit_s"], b["fit_s"], "s")]
        figures += [(f"  {s}", a["timings"][s], b["timings"][s], "s")
                    for s in STAGES if s in a["timings"] and s in b["timings"]]
        figures += [
            ("fit peak RSS above the data", a["fit_peak_mb"] - a["rss_before_fit_mb"],
             b["fit_peak_mb"] - b["rss_before_fit_mb"], "MB"),
            ("process peak RSS (ru_maxrss)", a["ru_maxrss_mb"], b["ru_maxrss_mb"], "MB"),
            ("artefact bytes", a.get("artefact_bytes", 0) / MB, b.get("artefact_bytes", 0) / MB,
             "MB"),
            ("generate time", a["generate_s"], b["generate_s"], "s"),
        ]
        for name, x1, x2, unit in figures:
            if not (x1 and x2):
                continue
            e = _exp(x1, x2, n1, n2)
            big = x2 >= (MIN_SECONDS if unit == "s" else MIN_MB)
            rows.append({"from": n1, "to": n2, "figure": name.strip(), "label": name,
                         "a": x1, "b": x2, "unit": unit, "ratio": x2 / x1 if x1 else None,
                         "exponent": e, "nlogn": nlogn,
                         "flag": bool(big and e == e and e > nlogn + SLACK)})
    return rows


def _fmt_mb(x: float) -> str:
    return f"{x:,.0f}"


def _cells(r: dict[str, Any]) -> list[str]:
    """One row of the main table; a killed run shows what it had finished, and where
    it was stopped."""
    t, tb = r.get("timings", {}), r.get("tables", {})
    stages = [f"{t[s]:.1f}" if s in t else "-" for s in STAGES]
    fit = f"{r['fit_s']:.1f}" if "fit_s" in r else "-"
    if "failed" in r:
        prof = r.get("profile", {})
        spent = prof.get("fit_elapsed_s") or 0.0
        fit = f"killed after {spent:,.0f}"
        first = next((i for i, s in enumerate(STAGES) if s not in t), None)
        if first is not None:
            running = spent - sum(v for k, v in t.items() if k in STAGES)
            note = f"killed after {running:,.0f}"
            if STAGES[first] == "neighbours" and prof.get("neighbour_blocks_projected_s"):
                note += (f" ({prof['neighbour_blocks_done']:.1%} done: "
                         f"~{prof['neighbour_blocks_projected_s']:,.0f} projected)")
            stages[first] = note
    names = [k for k in ("alternatives", "complements", "related") if k in tb]
    size = r.get("artefact_bytes")
    peak = r.get("fit_peak_mb") or r.get("profile", {}).get("rss_peak_by_phase_mb", {}).get("fit")
    maxrss = r.get("ru_maxrss_mb")
    return [f"{r['items']:,}", f"{r['events']:,}" if "events" in r else "-",
            f"{r['interactions']:,}" if "interactions" in r else "-",
            f"{r['generate_s']:.1f}" if "generate_s" in r else "-", fit, *stages,
            _fmt_mb(r["rss_before_fit_mb"]) if "rss_before_fit_mb" in r else "-",
            _fmt_mb(peak) if peak else "-", _fmt_mb(maxrss) if maxrss else "-",
            f"{size / MB:,.1f}" if size else "-",
            f"{r['artefact_bytes_per_item']:,.0f}" if size else "-",
            "/".join(str(tb[k]["k"]) for k in names) or "-",
            "/".join(f"{tb[k]['mean_filled']:.0f}" for k in names) or "-",
            f"{r['load_before']:.1f}→{r['load_after']:.1f}" if "load_before" in r else "-"]


def render(results: list[dict[str, Any]], env: dict[str, Any]) -> str:
    lines = [f"Training cost, {env['date']}; {env['cpus']} CPUs, "
             f"{env['mem_gib']:.0f} GiB; Python {env['python']}, numpy {env['numpy']}; "
             f"BLAS {env['blas']}.",
             f"OpenBLAS variables: {env['openblas_vars']}."]
    params = next((r.get("params") for r in results if r.get("params")), None)
    lines += [f"TrainParams overrides: {', '.join(params)}." if params
              else "TrainParams: the defaults."]
    if any(r.get("only_for_you") for r in results):
        lines.append("Only for_you's stages (tune, linear) were fitted (--only-for-you).")
    lines.append("")
    head = ["items", "events", "rows", "gen s", "fit s", *[f"{s} s" for s in STAGES],
            "RSS before fit MB", "fit peak MB", "ru_maxrss MB", "model MB", "B/item",
            "K (alt/comp/rel)", "filled (alt/comp/rel)", "load"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in results:
        lines.append("| " + " | ".join(_cells(r)) + " |")
    g = growth(results)
    if g:
        lines += ["", "Growth per step (exponent b: cost ~ n^b; n log n is about "
                      f"{g[0]['nlogn']:.2f}; flagged above it by more than {SLACK}):", "",
                  "| figure | from → to items | values | ratio | b | |",
                  "|---|---|---:|---:|---:|---|"]
        for row in g:
            unit = row["unit"]
            vals = (f"{row['a']:,.1f} → {row['b']:,.1f} {unit}")
            ratio = f"{row['ratio']:.1f}x" if row["ratio"] else "-"
            lines.append(f"| {row['label']} | {row['from']:,} → {row['to']:,} | {vals} | "
                         f"{ratio} | {row['exponent']:.2f} | "
                         f"{'FASTER THAN n log n' if row['flag'] else ''} |")
    for r in results:
        if "failed" in r:
            prof = r["profile"]
            lines += ["", f"{r['items']:,} items were stopped ({r['failed']}) in the "
                          f"{prof.get('phase', '?')} phase. Peak RSS (sampled) "
                          f"{prof.get('rss_peak_sampled_mb', 0):,.0f} MB during "
                          f"{prof.get('rss_peak_during', '?')}.", "Thread-seconds by "
                          "function chain: " + "; ".join(
                              f"{k} {v}" for k, v in prof.get("thread_seconds_by_chain",
                                                              {}).items()),
                      "Thread-seconds by line: " + "; ".join(
                          f"{k} {v}" for k, v in prof.get("thread_seconds_by_line",
                                                          {}).items())]
    for r in results:
        if "failed" not in r:
            prof = r["profile"]
            lines += ["", f"{r['items']:,} items: peak RSS (sampled) "
                          f"{prof['rss_peak_sampled_mb']:,.0f} MB during "
                          f"{prof['rss_peak_during']}; thread-seconds by function chain: "
                          + "; ".join(f"{k} {v}" for k, v in
                                      list(prof["thread_seconds_by_chain"].items())[:6])]
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    import numpy as np
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} "
                     f"({i.get('num_threads')} threads)"
                     for i in threadpool_info() if i.get("user_api") == "blas")
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "python": platform.python_version(),
            "numpy": np.__version__, "cpus": os.cpu_count(), "blas": blas,
            "mem_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30),
            "openblas_vars": ("unset for this run (were " + os.environ[UNSET_NOTE] + ")"
                              if UNSET_NOTE in os.environ else "not set")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000",
                    help="comma-separated catalog sizes (default: 10k, 100k, 1M)")
    ap.add_argument("--quick", action="store_true", help="10k and 100k items only")
    ap.add_argument("--events-per-item", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1200.0,
                    help="seconds one size may take before it is killed (default 1200: "
                         "twice the 10 minutes a 1M-item fit should take)")
    ap.add_argument("--max-rss-gb", type=float, default=20.0,
                    help="a size whose RSS passes this is stopped (default 20 GiB)")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="override a TrainParams field (repeatable), e.g. tune=false")
    ap.add_argument("--only-for-you", action="store_true",
                    help="fit only for_you's tuning and table (the stages after the "
                         "neighbour tables), to measure them where those cannot finish")
    ap.add_argument("--blas-threads", type=int,
                    help="BLAS threads in the fit (default: the library's, one per CPU); "
                         "on a loaded machine 1 can be much faster than 2")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--verbose", action="store_true", help="show the tuning trials")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--items", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--status", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = [10_000, 100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    env = environment()
    if args.blas_threads:
        env["blas"] += f"; the fit limited to {args.blas_threads} BLAS thread(s)"
    print(f"OpenBLAS variables: {env['openblas_vars']}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="train-cost-") as tmp:
        for n in sizes:
            print(f"{n:,} items, {args.events_per_item:g} events per item ...", flush=True)
            results.append(run_size(n, args, Path(tmp)))
    report = render(results, env)
    print()
    print(report)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"environment": env, "results": results, "growth": growth(results)}, indent=1))
    return 0 if all("failed" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

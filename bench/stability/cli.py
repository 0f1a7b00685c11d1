"""``python bench/stability``: the stability run (see bench/README.md, "Stability").

Starts redis-server, ``endcap serve`` (the api, pinned to CPU 0) and ``endcap stream`` on a
fresh private Redis, loads the shop, trains, creates the pods; measures the maximum
throughput of the recommendations mix (closed loop); then sends the mix open loop at
``--fraction`` of it (or ``--rate``) for ``--duration`` seconds with event batches, probes
and one catalog update; samples RSS, CPU and stream lag every second; checks the SLOs,
prints the table and writes the report. Exit status 0 when every SLO is met, 1 when one
is missed, 2 when the run itself failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import report
from .sampler import Sampler, lag_gauges
from .system import System, api_statuses, pin, scrape, shop_for_mix, start

ROOT = Path(__file__).resolve().parents[2]
ENTRY = Path(__file__).resolve().parent  # bench/stability, run as a directory


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/stability", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument
    a("--duration", type=float, default=600.0, help="seconds of open-loop load (default 600)")
    a("--fraction", type=float, default=0.5,
      help="offered recommendations rate as a fraction of the measured maximum (default 0.5)")
    a("--rate", type=float, help="recommendations per second (skips the maximum ramp)")
    a("--warmup", type=float, default=60.0,
      help="seconds excluded from the RSS baseline (default 60; at most a quarter of the run)")
    a("--data", default="online-retail",
      help="online-retail (the bundled UCI shop, default) or synthetic:ITEMS:SHOPPERS:EVENTS")
    a("--embed", action="store_true",
      help="train with item embeddings (loads the language model); default --no-embed")
    a("--stream-args", default="",
      help="extra flags for endcap stream, e.g. '--archive-interval 10 --batch 200'")
    a("--zipf", type=float, default=1.0, help="Zipf exponent of shoppers and items (1.0)")
    a("--batch-size", type=int, default=10, help="events per batch (default 10)")
    a("--batch-share", type=float, default=0.05,
      help="event batches per recommendations request (default 0.05)")
    a("--probe-every", type=float, default=1.0, help="seconds between event-to-effect probes")
    a("--update-at", type=float, help="when the catalog update is sent (default mid-run)")
    a("--catalog-changes", type=int, default=200,
      help="popular items re-priced by the catalog update (plus 50 new ones)")
    a("--pool", type=int, default=64, help="most connections the open loop opens (64)")
    a("--ramp", default="2,4,8,16,32,64", help="closed-loop connections, step by step")
    a("--step-seconds", type=float, default=5.0, help="seconds per ramp step (default 5)")
    a("--maximum", choices=("sustained", "closed"), default="sustained",
      help="which maximum --fraction applies to: the highest open-loop rate that kept up "
           "(default; found in steps after the closed loop) or the closed-loop peak")
    a("--sustained-seconds", type=float, default=15.0,
      help="seconds per open-loop step of the sustained search (default 15)")
    a("--knee-ms", type=float, default=100.0,
      help="an open-loop step keeps up when its p99 is under this (default 100 ms, five "
           "times the SLO) and nothing failed")
    a("--no-pin", action="store_true",
      help="do not pin the api to CPU 0 and the rest to CPU 1, nor renice redis-server (-5) "
           "and the stream worker (+5)")
    a("--out", default=str(ROOT / "var" / "stability"),
      help="reports go to OUT/<UTC time>/ (default var/stability)")
    a("--keep", action="store_true", help="keep the work directory (Redis dir, shop, archive)")
    a("--settle", type=float, default=5.0,
      help="seconds sampled after the backlog drained, for the plots (default 5)")
    a("--profile", action="store_true",
      help="record the api with py-spy during the open loop (py-spy must be on PATH): "
           "api-profile.txt, collapsed stacks")
    a("--seed", type=int, default=1)
    a("--slo-p99-ms", type=float, default=20.0)
    a("--slo-effect-p99-ms", type=float, default=100.0)
    a("--slo-drain-s", type=float, default=5.0)
    a("--slo-rss-growth", type=float, default=0.10)
    a("--slo-error-rate", type=float, default=0.001)
    a("--loadgen", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def loadgen(system: System, cfg: dict[str, Any], name: str, timeout: float,
            sampler: Sampler | None = None) -> tuple[dict[str, Any], float]:
    """Run the load generator in its own process (on CPU 1 when pinning): its summary
    and the share of a core it used."""
    base = system.work / name
    cfg = {**cfg, "out": str(base)}
    (base.with_suffix(".cfg.json")).write_text(json.dumps(cfg))
    log = system.logs / f"loadgen-{name}.log"
    with log.open("ab") as f:
        proc = subprocess.Popen([*pin(1 if system.pin else None), sys.executable, str(ENTRY),
                                 "--loadgen", str(base.with_suffix(".cfg.json"))],
                                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if sampler is not None:
        sampler.loadgen_pid = proc.pid
    t0, deadline = time.perf_counter(), time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise SystemExit(f"the load generator ({name}) did not finish in time; see {log}")
        for role, child in system.children.items():
            if child.poll() is not None:
                proc.kill()
                proc.wait()
                raise SystemExit(f"{role} exited with {child.returncode} during the load; see "
                                 f"{system.logs / (role + '.log')}")
        time.sleep(0.2)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"the load generator ({name}) failed ({code}):\n"
                         f"{log.read_text(errors='replace')[-3000:]}")
    wall = time.perf_counter() - t0
    cpu = 100 * (usage.ru_utime + usage.ru_stime) / max(1e-6, wall)
    return json.loads(Path(str(base) + ".json").read_text()), cpu


def drain(system: System, timeout: float = 60.0) -> dict[str, Any]:
    """After the load: seconds until the apply group's backlog is 0 in Redis (polled every
    0.1 s), and until the worker's own gauge says so."""
    client = system.redis_client()
    metrics = f"http://127.0.0.1:{system.metrics_port}/metrics"
    t0 = time.perf_counter()
    at_stop = system.backlog(client)
    redis_s = metric_s = None
    try:
        while time.perf_counter() - t0 < timeout and (redis_s is None or metric_s is None):
            now = time.perf_counter() - t0
            if redis_s is None and system.backlog(client) == 0:
                redis_s = now
            if metric_s is None:
                try:
                    if lag_gauges(scrape(metrics))[0] == 0:
                        metric_s = now
                except Exception:
                    pass
            time.sleep(0.1)
    finally:
        client.close()
    return {"at_stop": at_stop, "redis_s": redis_s, "metric_s": metric_s}


def effect_hist(metrics: dict[str, float]) -> dict[float, float]:
    return report.buckets(metrics, "endcap_stream_event_to_effect_seconds")


def run(args: argparse.Namespace, system: System, out: Path) -> int:
    print("starting the system", file=sys.stderr)
    shop_dir = start(system, args.data, args.embed, shlex.split(args.stream_args))
    mix_shop, records = shop_for_mix(shop_dir, args.catalog_changes)
    base = {"host": "127.0.0.1", "port": system.api_port, "public_key": system.public_key,
            "secret_token": system.secret_token, "shop": mix_shop, "zipf_s": args.zipf,
            "seed": args.seed, "run_id": datetime.now(UTC).strftime("%H%M%S")}
    ramp: list[dict[str, Any]] = []
    sustained: list[dict[str, Any]] = []
    closed_rps = float("nan")
    if args.rate:
        rate, max_rps, how = args.rate, float("nan"), "not measured: --rate given"
        # the ramp warms the api's caches; without it, 3 s of closed loop do
        cfg = {**base, "mode": "max", "connections": [4], "step_seconds": 3.0}
        loadgen(system, cfg, "warm-up", timeout=120)
    else:
        print("measuring the maximum throughput (closed loop)", file=sys.stderr)
        cfg = {**base, "mode": "max", "connections": [int(c) for c in args.ramp.split(",")],
               "step_seconds": args.step_seconds, "batch_share": args.batch_share,
               "batch_size": args.batch_size}
        got, _ = loadgen(system, cfg, "max", timeout=60 + 10 * args.step_seconds * 10)
        ramp, closed_rps = got["steps"], float(got["max_rps"])
        best = max(ramp, key=lambda s: s["rps"])
        how = (f"closed loop: best of a {len(ramp)}-step ramp of {args.step_seconds:g} s, "
               f"at {best['connections']} connections, p99 {best['p99_ms']:.1f} ms")
        print(f"  closed-loop peak {closed_rps:,.0f} req/s", file=sys.stderr)
        max_rps = closed_rps
        if args.maximum == "sustained":
            time.sleep(2.0)
            print("measuring the sustained maximum (open loop, in steps)", file=sys.stderr)
            rates = [round(closed_rps * 0.3 * 1.15 ** k) for k in range(12)
                     if 0.3 * 1.15 ** k <= 1.2]
            cfg = {**base, "mode": "sustained", "rates": rates,
                   "step_seconds": args.sustained_seconds, "knee_ms": args.knee_ms,
                   "batch_share": args.batch_share, "batch_size": args.batch_size,
                   "pool_limit": args.pool}
            got, _ = loadgen(system, cfg, "sustained",
                             timeout=60 + 2 * len(rates) * (args.sustained_seconds + 15))
            sustained = got["steps"]
            max_rps = float(got["max_rps"])
            if not max_rps:
                raise SystemExit("the first open-loop step did not keep up: lower --knee-ms "
                                 "or look at the api's log")
            how = (f"sustained: the highest of {len(sustained)} open-loop steps of "
                   f"{args.sustained_seconds:g} s that kept up (p99 under {args.knee_ms:g} ms, "
                   f"no error); the closed-loop peak was {closed_rps:,.0f} req/s "
                   f"({how.removeprefix('closed loop: ')})")
        rate = args.fraction * max_rps
        print(f"  maximum {max_rps:,.0f} req/s; running at {rate:,.0f} req/s", file=sys.stderr)
        time.sleep(2.0)
    duration = args.duration
    warmup = min(args.warmup, duration / 4)
    update_at = args.update_at if args.update_at is not None else duration / 2
    cfg = {**base, "mode": "run", "rate": rate, "duration": duration,
           "batch_share": args.batch_share, "batch_size": args.batch_size,
           "probe_every": args.probe_every, "update_at": update_at, "pool_limit": args.pool,
           "catalog_records": records}
    api_metrics = f"{system.api_url}/metrics"
    stream_metrics = f"http://127.0.0.1:{system.metrics_port}/metrics"
    api0, stream0 = scrape(api_metrics), scrape(stream_metrics)
    sampler = Sampler(system)
    sampler.start()
    spy = None
    if args.profile:
        spy = subprocess.Popen(
            ["py-spy", "record", "--pid", str(system.children["api"].pid), "--format", "raw",
             "--rate", "200", "--duration", str(int(duration) + 2), "--output",
             str(out / "api-profile.txt"), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=(system.logs / "py-spy.log").open("ab"))
    print(f"open loop: {rate:,.0f} rec/s for {duration:.0f} s", file=sys.stderr)
    try:
        gen, gen_cpu = loadgen(system, cfg, "run", timeout=duration + 180, sampler=sampler)
        # the generator exits once every answer is in: this long after the last send
        exit_gap = time.time() - (gen["start_wall"] + duration)
        drained = {**drain(system), "exit_after_last_send_s": exit_gap}
        time.sleep(args.settle)  # a few more samples: the plots show the system settled
    finally:
        sampler.stop()
        if spy is not None:
            spy.wait(timeout=60)
    client = system.redis_client()
    try:
        mark_bytes = system.mark_bytes(client)
    finally:
        client.close()
    api1, stream1 = scrape(api_metrics), scrape(stream_metrics)
    rows = sampler.rows
    for r in rows:
        r["t"] = r["wall"] - gen["start_wall"]
    data = dict(np.load(system.work / "run.npz"))
    shutil.copy(system.work / "run.npz", out / "requests.npz")
    h0, h1 = effect_hist(stream0), effect_hist(stream1)
    hd = {le: h1[le] - h0.get(le, 0.0) for le in h1}
    s0, s1 = api_statuses(api0), api_statuses(api1)
    key = 'endcap_api_events_total{outcome="accepted"}'
    slo = report.Slo(p99_ms=args.slo_p99_ms, effect_p99_ms=args.slo_effect_p99_ms,
                     drain_s=args.slo_drain_s, rss_growth=args.slo_rss_growth,
                     max_error_rate=args.slo_error_rate)
    ctx: dict[str, Any] = {
        "warmup": warmup, "duration": duration, "rate": rate, "fraction":
        rate / max_rps if max_rps == max_rps else float("nan"), "max_rps": max_rps,
        "max_how": how, "ramp": ramp, "step_seconds": args.step_seconds,
        "sustained": sustained, "closed_rps": closed_rps, "maximum": args.maximum,
        "mark_bytes": mark_bytes,
        "batch_size": args.batch_size, "roles":
        list(system.pids()), "drain": drained, "effect_hist_p50": report.hist_quantile(hd, 0.5),
        "effect_hist_p99": report.hist_quantile(hd, 0.99),
        "effect_hist_n": hd.get(float("inf"), 0.0),
        "events_accepted": api1.get(key, 0.0) - api0.get(key, 0.0),
        "server_statuses": {k: s1[k] - s0.get(k, 0.0) for k in sorted(s1)},
        "loadgen_cpu_pct": gen_cpu,
        "api_routes": report.server_side(api0, api1, "endcap_api_request_duration_seconds",
                                         "route"),
        "api_store": report.server_side(api0, api1, "endcap_api_store_call_duration_seconds",
                                        "op"), "steps": system.steps, "slo": slo,
        "model_version": system.model_version,
        "command": "python bench/stability " + shlex.join(sys.argv[1:])}
    f, checks = report.figures(data, gen, rows, ctx, slo)
    title = "endcap stability run"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    placing = ("pinned to CPU 0, redis-server, endcap stream and the load generator to "
               "CPU 1" if system.pin else "not pinned")
    intro = (f"{stamp}; nproc {os.cpu_count()}; {args.data} shop; api {placing}; model "
             f"{system.model_version} "
             f"({'with' if args.embed else 'without'} embeddings); {rate:,.0f} rec/s for "
             f"{duration:.0f} s, warm-up {warmup:.0f} s.")
    report.write(out, title, intro, checks, f, rows, ctx)
    for log in system.logs.glob("*.log"):
        shutil.copy(log, out / log.name)
    print("\n" + report.table(checks) + "\n\n" + report.figures_table(f, ctx) + "\n")
    print(f"report: {out / 'report.html'}")
    return 0 if all(c.ok for c in checks) else 1


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.loadgen:
        from .loadgen import main as loadgen_main

        loadgen_main(Path(args.loadgen))
        return 0
    if args.profile and not shutil.which("py-spy"):
        print("--profile needs py-spy on PATH (pip install py-spy)", file=sys.stderr)
        return 2
    if not shutil.which("redis-server"):
        print("redis-server not found: `make install` installs it (Debian package "
              "redis-server)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda n, _f: sys.exit(128 + n))
    out = Path(args.out) / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    latest = Path(args.out) / "latest"
    if latest.is_symlink() or not latest.exists():
        latest.unlink(missing_ok=True)
        latest.symlink_to(out.name)
    work = Path(tempfile.mkdtemp(prefix="endcap-stability-"))
    system = System(work, pin=not args.no_pin and (os.cpu_count() or 1) >= 2)
    try:
        return run(args, system, out)
    except SystemExit as e:
        if isinstance(e.code, str):
            print(f"stability run failed: {e.code}", file=sys.stderr)
            for log in system.logs.glob("*.log"):
                shutil.copy(log, out / log.name)
            return 2
        raise
    finally:
        system.stop()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

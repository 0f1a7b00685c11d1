"""Scale benchmark: endcap on a deterministic synthetic shop, through its CLI and HTTP API.

    .venv/bin/python bench/scale.py [--small] [--items N] [--shoppers S] [--events E]
                                    [--clients 4] [--duration 10] [--connections 32] [--keep]

Does what an operator would do, timing each step, and prints one Markdown table:

1. ``endcap generate`` a synthetic shop (default 50,000 items, 60,000 shoppers,
   1,000,000 events, seed 1; ``--small``: 10,000 / 12,000 / 200,000);
2. ``endcap tenants create`` and ``endcap serve`` on a fresh ``file://`` store, the server
   pinned to CPU 0;
3. loads the catalog with ``PUT /v1/items`` (NDJSON, 10,000 items a request) and the events
   with ``POST /v1/events`` (1,000 a request) from ``--clients`` concurrent clients in a
   loader process pinned to CPU 1, and checks that every item and event was accepted;
4. ``endcap train`` in its own process while the server runs, then waits until a
   recommendations response carries the new ``model_version``;
5. creates the pods ``for_you`` (for_you, bestsellers) and ``similar`` (alternative_items,
   filtered_items) and drives them with wrk pinned to CPU 1 over 1,000 random real
   shoppers with history and 1,000 random items, like bench/load.py;
6. stops the server with SIGTERM, restarts it on the same store, and times start-up (the
   embedded store replays its event log before it answers ``/healthz``) and its RSS.

Only 127.0.0.1 is used. Every child process is stopped on exit, also on errors. The work
directory (shop, store, logs, Lua scripts) is removed unless ``--keep`` is given.
Needs wrk (Debian package ``wrk``) and taskset (util-linux).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import lua_paths, pin  # bench/load.py, the serving benchmark

HOST = "127.0.0.1"
ITEMS_PER_PUT = 10_000
EVENTS_PER_POST = 1_000
SAMPLE = 1_000  # shoppers and items the wrk scripts pick from
CHILDREN: list[subprocess.Popen[bytes]] = []


# -- child processes ------------------------------------------------------------------------


def endcap() -> list[str]:
    exe = Path(sys.executable).with_name("endcap")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "endcap.cli.main"]


def spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    CHILDREN.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> float | None:
    """SIGTERM, then SIGKILL after ``timeout``; the seconds it took to exit on SIGTERM."""
    if proc.poll() is not None:
        return None
    t0 = time.perf_counter()
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
        return time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return None


def stop_all() -> None:
    for proc in CHILDREN:
        if proc.poll() is None:
            stop(proc, timeout=10)


def run_measured(cmd: list[str], log: Path, timeout: float) -> tuple[float, int, float, str]:
    """Run ``cmd`` to the end: (seconds, exit code, peak RSS in MB, its output)."""
    t0 = time.perf_counter()
    proc = spawn(cmd, log)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait(timeout=10)
            raise SystemExit(f"timed out after {timeout:.0f} s: {shlex.join(cmd)} "
                             f"(see {log})")
        time.sleep(0.05)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, proc.returncode, usage.ru_maxrss / 1024, log.read_text(errors="replace")


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a live process, in MB."""
    text = Path(f"/proc/{pid}/status").read_text()
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M))
    return int(found.get("VmRSS", 0)) / 1024, int(found.get("VmHWM", 0)) / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(store_url: str, port: int, log: Path, timeout: float
                 ) -> tuple[subprocess.Popen[bytes], float]:
    """``endcap serve`` pinned to CPU 0; seconds from process start to ``/healthz`` 200."""
    url = f"http://{HOST}:{port}/healthz"
    try:
        httpx.get(url, timeout=1)
        raise SystemExit(f"something already answers on {url}")
    except httpx.TransportError:
        pass
    t0 = time.perf_counter()
    proc = spawn([*pin(0), *endcap(), "serve", "--store", store_url, "--host", HOST,
                  "--port", str(port)], log)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"endcap serve exited with {proc.returncode}; see {log}")
            try:
                if client.get(url).status_code == 200:
                    return proc, time.perf_counter() - t0
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    raise SystemExit(f"endcap serve did not answer /healthz within {timeout:.0f} s; see {log}")


# -- the loader (runs in its own process, pinned to CPU 1) -----------------------------------


async def _send(url: str, method: str, path: str, headers: dict[str, str],
                bodies: list[tuple[int, bytes]], clients: int, deadline: float
                ) -> dict[str, Any]:
    """Send every body from ``clients`` concurrent connections; tally the answers."""
    todo = iter(bodies)
    tally: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    latencies: list[float] = []

    async def worker(client: httpx.AsyncClient) -> None:
        for n, body in todo:
            if time.monotonic() > deadline or tally["transport_errors"] >= 10:
                tally["not_sent"] += n
                continue
            t0 = time.perf_counter()
            try:
                r = await client.request(method, path, content=body, headers=headers)
            except httpx.TransportError as e:
                tally["transport_errors"] += 1
                tally["not_sent"] += n
                problems.append(f"{type(e).__name__}: {e}")
                continue
            latencies.append(time.perf_counter() - t0)
            statuses[r.status_code] += 1
            try:
                answer = r.json()
            except ValueError:
                answer = {}
            if path == "/v1/items":
                ok = r.status_code == 200 and answer.get("upserted") == n
                tally["accepted"] += answer.get("upserted", 0) if r.status_code == 200 else 0
            else:
                for k in ("accepted", "duplicated", "rejected"):
                    tally[k] += answer.get(k, 0)
                ok = r.status_code == 202 and answer.get("accepted") == n
            if not ok and len(problems) < 5:
                problems.append(f"HTTP {r.status_code}: {r.text[:300]}")

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        seconds = time.perf_counter() - t0
    latencies.sort()
    return {"sent": sum(n for n, _ in bodies), "seconds": seconds, **tally,
            "statuses": {str(k): v for k, v in statuses.items()}, "problems": problems,
            "p50_ms": 1000 * statistics.median(latencies) if latencies else 0.0,
            "max_ms": 1000 * latencies[-1] if latencies else 0.0}


def chunks(lines: list[bytes], size: int) -> list[list[bytes]]:
    return [lines[i:i + size] for i in range(0, len(lines), size)]


def loader(cfg: dict[str, Any]) -> None:
    """PUT the catalog, then POST the events; print one JSON line with the tallies."""
    shop = Path(cfg["shop"])
    items = [ln for ln in (shop / "items.ndjson").read_bytes().splitlines() if ln.strip()]
    events = [ln for ln in (shop / "events.ndjson").read_bytes().splitlines() if ln.strip()]
    item_bodies = [(len(c), b"\n".join(c) + b"\n") for c in chunks(items, ITEMS_PER_PUT)]
    event_bodies = [(len(c), b"[" + b",".join(c) + b"]") for c in chunks(events,
                                                                          EVENTS_PER_POST)]
    deadline = time.monotonic() + cfg["timeout"]
    out = {
        "items": asyncio.run(_send(
            cfg["url"], "PUT", "/v1/items",
            {"Authorization": f"Bearer {cfg['secret']}",
             "Content-Type": "application/x-ndjson"},
            item_bodies, cfg["clients"], deadline)),
        "events": asyncio.run(_send(
            cfg["url"], "POST", "/v1/events",
            {"Authorization": f"Bearer {cfg['public']}", "Content-Type": "application/json"},
            event_bodies, cfg["clients"], deadline)),
    }
    print(json.dumps(out))


# -- wrk ------------------------------------------------------------------------------------


def wrk(target: str, script: Path | None, connections: int, duration: int
        ) -> tuple[dict[str, Any], str]:
    """One wrk run pinned to CPU 1: (figures, the command line)."""
    cmd = [*pin(1), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(target)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    out = done.stdout
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr or out}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\b", out)
        if m is None or rps is None:
            raise SystemExit(f"cannot read wrk's output:\n{out}")
        lat[pct] = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    assert rps is not None
    return ({"rps": float(rps.group(1)), "p50": lat["50"], "p99": lat["99"],
             "non2xx": float(bad.group(1)) if bad else 0.0,
             "socket_errors": sock.group(1).strip() if sock else ""},
            shlex.join(cmd))


# -- the benchmark --------------------------------------------------------------------------


def sample_ids(shop: Path, rng: random.Random) -> tuple[list[str], list[str]]:
    """1,000 random user_ids that have events, and 1,000 random catalog item ids."""
    users: set[str] = set()
    with (shop / "events.ndjson").open("rb") as f:
        for line in f:
            u = json.loads(line).get("user_id")
            if u:
                users.add(u)
    items = [json.loads(line)["id"] for line in
             (shop / "items.ndjson").read_bytes().splitlines() if line.strip()]
    return (rng.sample(sorted(users), min(SAMPLE, len(users))),
            rng.sample(items, min(SAMPLE, len(items))))


def strategy_mix(url: str, key: str, paths: list[str]) -> tuple[Counter[str], int, int]:
    """Which strategies filled the responses: (results per strategy, empty, non-200)."""
    mix: Counter[str] = Counter()
    empty = errors = 0
    with httpx.Client(base_url=url, timeout=10,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        for p in paths:
            r = client.get(p)
            if r.status_code != 200:
                errors += 1
                continue
            results = r.json()["results"]
            empty += not results
            mix.update(x["strategy"] for x in results)
    return mix, empty, errors


def share(mix: Counter[str]) -> str:
    total = sum(mix.values()) or 1
    return ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in mix.most_common())


def server_accepted(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    m = re.search(r'endcap_api_events_total\{outcome="accepted"\} ([\d.e+]+)', text)
    return float(m.group(1)) if m else 0.0


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def bench(args: argparse.Namespace, work: Path) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    shop, store, logs = work / "shop", work / "store", work / "logs"
    logs.mkdir()
    store_url = f"file://{store}"
    port = args.port or free_port()
    url = f"http://{HOST}:{port}"
    ec = "endcap"  # how the reproducing command lines name the CLI

    # 1. generate
    gen = ["generate", "--items", str(args.items), "--shoppers", str(args.shoppers),
           "--events", str(args.events), "--seed", str(args.seed), "--out", str(shop)]
    secs, code, peak, out = run_measured([*endcap(), *gen], logs / "generate.log", 3600)
    if code != 0:
        raise SystemExit(f"endcap generate failed ({code}):\n{out}")
    size = du_mb(shop)
    rows.append(("generate: wall time", f"{secs:.1f} s (peak RSS {peak:,.0f} MB, "
                 f"{size:,.0f} MB of NDJSON)", shlex.join([ec, *gen])))
    print(f"generated in {secs:.1f} s", file=sys.stderr)

    # 2. tenant, server
    secs, code, _, out = run_measured([*endcap(), "tenants", "create", "scale", "--store",
                                       store_url], logs / "tenants.log", 120)
    keys = dict(re.findall(r"^(public key|secret token):\s+(\S+)", out, re.M))
    if code != 0 or len(keys) != 2:
        raise SystemExit(f"endcap tenants create failed ({code}):\n{out}")
    public, secret = keys["public key"], keys["secret token"]
    serve_cmd = shlex.join(["taskset", "-c", "0", ec, "serve", "--store", store_url,
                            "--port", str(port)])
    server, startup = start_server(store_url, port, logs / "serve-1.log", 120)
    rows.append(("serve: start to /healthz, empty store", f"{startup:.2f} s", serve_cmd))

    # 3. load over HTTP from a process on CPU 1
    cfg = {"url": url, "shop": str(shop), "public": public, "secret": secret,
           "clients": args.clients, "timeout": args.load_timeout}
    before = server_accepted(url)
    secs, code, _, out = run_measured(
        [*pin(1), sys.executable, str(Path(__file__).resolve()), "--loader", json.dumps(cfg)],
        logs / "loader.log", args.load_timeout + 120)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if code != 0 or not lines:
        raise SystemExit(f"loader failed ({code}):\n{out[-3000:]}")
    load = json.loads(lines[-1])
    counted = server_accepted(url) - before
    for what, unit, per, path in (("items", "items", ITEMS_PER_PUT, "PUT /v1/items (NDJSON)"),
                                  ("events", "events", EVENTS_PER_POST, "POST /v1/events")):
        r = load[what]
        got = r.get("accepted", 0)
        note = "all accepted" if got == r["sent"] else f"ONLY {got:,} of {r['sent']:,} accepted"
        extra = [f"{k} {r[k]:,}" for k in ("duplicated", "rejected", "not_sent",
                                           "transport_errors") if r.get(k)]
        if what == "events" and counted != got:
            extra.append(f"server counter says {counted:,.0f}")
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        rows.append((f"load {what}: {unit}/s",
                     f"{got / r['seconds']:,.0f} {unit}/s ({r['sent']:,} in "
                     f"{r['seconds']:.1f} s; {note}{'; ' if extra else ''}{', '.join(extra)}; "
                     f"HTTP {statuses}; per request p50 {r['p50_ms']:.0f} ms, "
                     f"max {r['max_ms']:.0f} ms)",
                     f"{path}, {per:,} a request, {args.clients} concurrent clients on CPU 1"))
        for p in r["problems"]:
            print(f"{what}: {p}", file=sys.stderr)
    rss, hwm = memory_mb(server.pid)
    rows.append(("serve: RSS after the load", f"{rss:,.0f} MB (peak {hwm:,.0f} MB)",
                 f"grep VmRSS /proc/{server.pid}/status"))
    brief = {k: {x: v for x, v in r.items() if x != "problems"} for k, r in load.items()}
    print(f"loaded: {json.dumps(brief)}", file=sys.stderr)

    # pods (the recommendations requests below need them)
    auth = {"Authorization": f"Bearer {secret}"}
    for pod_id, strategy in (("for_you", ["for_you", "bestsellers"]),
                             ("similar", ["alternative_items", "filtered_items"])):
        r = httpx.put(f"{url}/v1/pods/{pod_id}", json={"strategy": strategy}, headers=auth,
                      timeout=30)
        if r.status_code not in (200, 201):
            raise SystemExit(f"PUT /v1/pods/{pod_id}: HTTP {r.status_code} {r.text[:300]}")

    # 4. train alongside the server
    users, items = sample_ids(shop, random.Random(7))
    probe = f"{url}/v1/pods/for_you/recommendations?user_id={users[0]}&num_results=10"
    pub = {"Authorization": f"Bearer {public}"}
    old = httpx.get(probe, headers=pub, timeout=30).json().get("model_version")
    train = [ec, "train", "--store", store_url]
    started = time.time()
    secs, code, peak, out = run_measured([*endcap(), *train[1:]], logs / "train.log",
                                         args.train_timeout)
    if code != 0:
        raise SystemExit(f"endcap train failed ({code}):\n{out[-3000:]}")
    m = re.search(r"published model (\S+)", out)
    version = m.group(1) if m else None
    rows.append(("train: wall time (own process, server running)",
                 f"{secs:.1f} s (peak RSS {peak:,.0f} MB; {train_phases(out, started, secs)})",
                 shlex.join(train)))
    t0 = time.perf_counter()
    seen = old
    with httpx.Client(headers=pub, timeout=30) as client:
        while time.perf_counter() - t0 < 60:
            seen = client.get(probe).json().get("model_version")
            if seen == version and seen != old:
                break
            time.sleep(0.1)
    swapped = time.perf_counter() - t0
    if seen != version:
        rows.append(("serve: new model picked up", f"NOT within 60 s (still {seen})",
                     f"GET {probe}"))
    else:
        lag = swap_lag(out, (logs / "serve-1.log").read_text(errors="replace"), version)
        rows.append(("serve: new model served after it is published",
                     f"{lag} (by the two logs); in responses {swapped:.1f} s after train "
                     "exited", "GET /v1/pods/for_you/recommendations (server polls every 2 s)"))
    rss, hwm = memory_mb(server.pid)
    rows.append(("serve: RSS with the model", f"{rss:,.0f} MB (peak {hwm:,.0f} MB)",
                 f"grep VmRSS /proc/{server.pid}/status"))

    # 5. serving under wrk
    floor, cmd = wrk(f"{url}/healthz", None, args.connections, args.duration)
    rows.append(("floor: GET /healthz", fmt_wrk(floor), cmd))
    for pod_id, param, values in (("for_you", "user_id", users), ("similar", "item_id", items)):
        paths = [f"/v1/pods/{pod_id}/recommendations?{param}={v}&num_results=10"
                 for v in values]
        mix, empty, errors = strategy_mix(url, public, paths[:200])
        script = work / f"{pod_id}.lua"
        script.write_text(lua_paths(paths, public))
        wrk(url, script, args.connections, 2)  # warm-up
        r, cmd = wrk(url, script, args.connections, args.duration)
        rows.append((f"{pod_id} ({param}), 1,000 random ids", fmt_wrk(r), cmd))
        rows.append((f"{pod_id}: who filled the results (200 requests)",
                     f"{share(mix)}; {empty} empty, {errors} non-200",
                     f"GET /v1/pods/{pod_id}/recommendations?{param}=...&num_results=10"))
    rss, hwm = memory_mb(server.pid)
    rows.append(("serve: RSS after wrk", f"{rss:,.0f} MB (peak {hwm:,.0f} MB)",
                 f"grep VmRSS /proc/{server.pid}/status"))

    # 6. restart: the embedded store replays its event log before it serves
    took = stop(server, timeout=60)
    graceful = "Finished server process" in (logs / "serve-1.log").read_text(errors="replace")
    rows.append(("serve: SIGTERM to exit",
                 f"{took:.2f} s, {'graceful' if graceful else 'NOT graceful'} (exit status "
                 f"{server.returncode}: uvicorn re-raises the signal)" if took is not None
                 else "did not exit within 60 s: killed", f"kill -TERM {server.pid}"))
    size = du_mb(store)
    server, startup = start_server(store_url, port, logs / "serve-2.log", args.load_timeout)
    rss, hwm = memory_mb(server.pid)
    rows.append(("serve: restart to /healthz 200 (replays the store)",
                 f"{startup:.2f} s (store {size:,.0f} MB on disk)", serve_cmd))
    rows.append(("serve: RSS after restart", f"{rss:,.0f} MB (peak {hwm:,.0f} MB)",
                 f"grep VmRSS /proc/{server.pid}/status"))
    r = httpx.get(probe, headers=pub, timeout=30)
    again = r.json().get("model_version") if r.status_code == 200 else None
    rows.append(("serve: model after restart",
                 "same model" if again == version else f"HTTP {r.status_code}, model {again}",
                 f"GET {probe}"))
    stop(server)
    return rows


LOG_TIME = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "


def log_time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def train_phases(out: str, started: float, wall: float) -> str:
    """Split ``endcap train``'s wall time using its log line, which gives the fit time and
    when the model was published (the version is the UTC time the fit started)."""
    m = re.search(LOG_TIME + r".*model (\d{8}T\d{6})(\d{3})Z from .* in ([\d.]+) s", out,
                  re.M)
    if m is None:
        return "phases unknown: the train log line changed"
    fit_start = (datetime.strptime(m.group(2), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
                 .timestamp() + int(m.group(3)) / 1000)
    published = log_time(m.group(1))
    return (f"{fit_start - started:.1f} s opening the store and reading events, "
            f"{float(m.group(4)):.1f} s fitting and publishing, "
            f"{started + wall - published:.1f} s exiting")


def swap_lag(train_out: str, serve_log: str, version: str | None) -> str:
    """Seconds from the train log's publish line to the server's 'serving model' line."""
    a = re.search(LOG_TIME + r".*endcap\.train: .*model " + re.escape(str(version)), train_out,
                  re.M)
    b = re.search(LOG_TIME + r".*serving model " + re.escape(str(version)), serve_log, re.M)
    if a is None or b is None:
        return "lag unknown: a log line changed"
    return f"{log_time(b.group(1)) - log_time(a.group(1)):.2f} s"


def fmt_wrk(r: dict[str, Any]) -> str:
    text = (f"{r['rps']:,.0f} req/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, "
            f"non-2xx {r['non2xx']:.0f}")
    return text + (f", socket errors: {r['socket_errors']}" if r["socket_errors"] else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true",
                    help="10,000 items, 12,000 shoppers, 200,000 events")
    ap.add_argument("--items", type=int)
    ap.add_argument("--shoppers", type=int)
    ap.add_argument("--events", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clients", type=int, default=4, help="concurrent loader clients")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections")
    ap.add_argument("--port", type=int, default=0, help="default: a free port")
    ap.add_argument("--load-timeout", type=float, default=1800,
                    help="seconds allowed for the HTTP load and for a restart")
    ap.add_argument("--train-timeout", type=float, default=1800)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--loader", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.loader:
        loader(json.loads(args.loader))
        return
    small = args.small
    args.items = args.items or (10_000 if small else 50_000)
    args.shoppers = args.shoppers or (12_000 if small else 60_000)
    args.events = args.events or (200_000 if small else 1_000_000)
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")

    # a SIGTERM to the benchmark still runs the clean-up below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="endcap-scale-"))
    t0 = time.perf_counter()
    try:
        rows = bench(args, work)
    finally:
        stop_all()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    rerun = shlex.join([".venv/bin/python", "bench/scale.py", *sys.argv[1:]])
    print(f"\nendcap scale benchmark: {args.items:,} items, {args.shoppers:,} shoppers, "
          f"{args.events:,} events (seed {args.seed}); nproc {os.cpu_count()}; "
          f"server on CPU 0, loader and wrk on CPU 1; wrk -t1 -c{args.connections} "
          f"-d{args.duration}s after a 2 s warm-up; {time.perf_counter() - t0:.0f} s in all.\n"
          f"Rerun: `{rerun}`. $WORK was {work} ({'kept' if args.keep else 'removed'}).\n")
    print("| step | result | command |")
    print("|---|---|---|")
    for step, result, cmd in rows:
        print(f"| {step} | {result} | `{cmd.replace(str(work), '$WORK')}` |")


if __name__ == "__main__":
    main()

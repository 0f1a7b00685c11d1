"""Serving and ingestion throughput of one api worker, measured with wrk.

    .venv/bin/python bench/load.py [--duration 10] [--connections 32] [--fresh]

Starts ``endcap demo`` (the UCI Online Retail shop, trained) pinned to CPU 0, drives it
with wrk pinned to CPU 1 over loopback, and prints one table:

* the floor: ``/healthz`` on the same stack (Starlette + uvicorn/httptools, one worker);
* ``for_you`` for random real customers and ``alternative_items`` for random real items;
* event ingestion: batches of 500 new ``view`` events (unique ids, so none is a
  duplicate), reported in events/s, checked against the server's accepted counter.

Needs wrk (Debian package ``wrk``) and taskset (util-linux).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(tempfile.gettempdir()) / "endcap-bench-demo"


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and os.cpu_count() else []


def start_demo(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    log = (data_dir.parent / "endcap-bench-server.log").open("wb")
    proc = subprocess.Popen(
        [*pin(0), sys.executable, "-m", "endcap.cli.main", "demo", "--port", str(port),
         "--data-dir", str(data_dir)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"demo exited; see {log.name}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    sys.exit("demo did not start within 15 minutes")


def lua_paths(paths: list[str], key: str) -> str:
    table = ",\n".join(json.dumps(p) for p in paths)
    return f"""
wrk.headers["Authorization"] = "Bearer {key}"
local paths = {{{table}}}
local n = #paths
math.randomseed(42)
request = function()
  return wrk.format("GET", paths[math.random(n)])
end
"""


def lua_events(users: list[str], items: list[str], key: str, batch: int) -> str:
    u = ",".join(json.dumps(x) for x in users)
    it = ",".join(json.dumps(x) for x in items)
    return f"""
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.headers["Content-Type"] = "application/json"
local users = {{{u}}}
local items = {{{it}}}
local run = tostring(os.time()) .. tostring(math.random(1000000))
local counter = 0
request = function()
  counter = counter + 1
  local parts = {{}}
  for k = 1, {batch} do
    parts[k] = string.format(
      '{{"event_id":"bench-%s-%d-%d","type":"view","session_id":"%s","item_id":"%s"}}',
      run, counter, k, users[math.random(#users)], items[math.random(#items)])
  end
  return wrk.format(nil, "/v1/events", nil, "[" .. table.concat(parts, ",") .. "]")
end
"""


def wrk(url: str, script: str | None, connections: int, duration: int) -> dict[str, float]:
    args = [*pin(1), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script or "")
    if script:
        args += ["-s", f.name]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        lat[pct] = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"],
            "non2xx": float(errors.group(1)) if errors else 0.0}


def accepted(url: str) -> float:
    text = httpx.get(url + "/metrics").text
    m = re.search(r'endcap_api_events_total\{outcome="accepted"\} ([\d.e+]+)', text)
    return float(m.group(1)) if m else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--fresh", action="store_true", help="rebuild the demo store")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    if args.fresh and CACHE.exists():
        shutil.rmtree(CACHE)
    if not (CACHE / "demo-credentials.json").exists():  # build the demo store once
        t0 = time.perf_counter()
        builder = start_demo(args.port, CACHE)
        builder.terminate()
        builder.wait(timeout=60)
        print(f"demo store built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    # each run serves a copy, so the events it sends never pile up in the cached store
    work = Path(tempfile.mkdtemp(prefix="endcap-bench-"))
    shutil.copytree(CACHE, work / "demo")
    t0 = time.perf_counter()
    proc = start_demo(args.port, work / "demo")
    print(f"demo ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    url = f"http://127.0.0.1:{args.port}"
    creds = json.loads((work / "demo" / "demo-credentials.json").read_text())
    key = creds["public_key"]
    try:
        from endcap.sampledata.online_retail import load_online_retail

        shop = load_online_retail()
        rng = random.Random(7)
        users = sorted({e.user_id for e in shop.events if e.user_id})
        items = [it.id for it in shop.items]
        users_s, items_s = rng.sample(users, 1000), rng.sample(items, 1000)
        # warm-up, then the measured runs
        wrk(url + "/healthz", None, args.connections, 2)
        rows = []
        floor = wrk(url + "/healthz", None, args.connections, args.duration)
        rows.append(("floor: GET /healthz", floor))
        for pod, param, values in (("for-you", "user_id", users_s),
                                   ("product-similar", "item_id", items_s)):
            paths = [f"/v1/pods/{pod}/recommendations?{param}={v}&num_results=10"
                     for v in values]
            script = lua_paths(paths, key)
            wrk(url, script, args.connections, 2)
            rows.append((f"{pod} ({param})", wrk(url, script, args.connections, args.duration)))
        before = accepted(url)
        ev = wrk(url, lua_events(users_s, items_s, key, 500), 8, args.duration)
        got = accepted(url) - before
        ev_rate = got / args.duration
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nendcap load benchmark: 1 api worker on CPU 0, wrk -t1 on CPU 1, "
          f"c={args.connections}, {args.duration} s per row\n")
    print(f"| {'endpoint':34} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | "
          f"{'vs floor':>8} | {'non-2xx':>7} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 10}|{'-' * 9}|")
    for name, r in rows:
        print(f"| {name:34} | {r['rps']:8.0f} | {r['p50']:7.2f} | {r['p99']:7.2f} | "
              f"{r['rps'] / floor['rps']:8.2f} | {r['non2xx']:7.0f} |")
    print(f"| {'events: POST 500/batch (c=8)':34} | {ev['rps']:8.0f} | {ev['p50']:7.2f} | "
          f"{ev['p99']:7.2f} | {'':8} | {ev['non2xx']:7.0f} |")
    print(f"\nevents accepted: {got:.0f} in {args.duration} s = {ev_rate:,.0f} events/s "
          f"(counted by the server)")


if __name__ == "__main__":
    main()

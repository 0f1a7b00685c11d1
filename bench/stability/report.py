"""The run's figures, its SLO checks, and the report (HTML with inline SVG plots, JSON and
Markdown summaries)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from .loadgen import KIND_CODE, KINDS, REC_KINDS, TIMED_OUT
from .svg import line_chart

WINDOW = 10.0  # seconds per latency window in the plots


@dataclass
class Slo:
    p99_ms: float = 20.0
    max_5xx: int = 0
    max_error_rate: float = 0.001
    effect_p99_ms: float = 100.0
    drain_s: float = 5.0
    rss_growth: float = 0.10


@dataclass
class Check:
    name: str
    target: str
    value: str
    ok: bool


def pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def hist_quantile(buckets: dict[float, float], q: float) -> float:
    """Prometheus-style quantile from cumulative buckets {le: count} (linear within a
    bucket)."""
    les = sorted(buckets)
    total = buckets.get(math.inf, 0.0)
    if total <= 0:
        return float("nan")
    rank, prev_le, prev_c = q * total, 0.0, 0.0
    for le in les:
        c = buckets[le]
        if c >= rank:
            if math.isinf(le):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(1e-12, c - prev_c)
        prev_le, prev_c = le, c
    return prev_le


def buckets(metrics: dict[str, float], name: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for k, v in metrics.items():
        m = re.fullmatch(rf'{name}_bucket\{{le="([^"]+)"\}}', k)
        if m:
            out[float(m[1])] = v
    return out


def labelled_hists(metrics: dict[str, float], name: str, label: str
                   ) -> dict[str, dict[float, float]]:
    """A labelled histogram's cumulative buckets by the label's value."""
    out: dict[str, dict[float, float]] = {}
    for k, v in metrics.items():
        if not k.startswith(name + "_bucket{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', k))
        if label in labels and "le" in labels:
            out.setdefault(labels[label], {})[float(labels["le"])] = v
    return out


def server_side(before: dict[str, float], after: dict[str, float], name: str, label: str
                ) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) and count per label value of a histogram over the run (the delta)."""
    h0, h1 = labelled_hists(before, name, label), labelled_hists(after, name, label)
    out = {}
    for value, b1 in h1.items():
        b0 = h0.get(value, {})
        d = {le: c - b0.get(le, 0.0) for le, c in b1.items()}
        if d.get(math.inf, 0.0) > 0:
            out[value] = {"n": d[math.inf], "p50_ms": 1000 * hist_quantile(d, 0.5),
                          "p99_ms": 1000 * hist_quantile(d, 0.99)}
    return out


def rss_growth(rows: list[dict[str, Any]], role: str, warmup: float, end: float,
               span: float) -> tuple[float, float, float]:
    """(base, end, growth): median RSS over ``span`` s after ``warmup`` against the median
    over the last ``span`` s of the load (which ends at ``end``)."""
    key = f"rss_{role}"
    base = [r[key] for r in rows if warmup <= r["t"] <= warmup + span and key in r]
    last = [r[key] for r in rows if end - span <= r["t"] <= end and key in r]
    if not base or not last:
        return float("nan"), float("nan"), float("nan")
    b, e = float(np.nanmedian(base)), float(np.nanmedian(last))
    return b, e, (e - b) / b


def redis_marks(rows: list[dict[str, Any]], warmup: float, end: float, span: float,
                mark_bytes: float | None) -> dict[str, float]:
    """What Redis keeps by design over the RSS windows: the keys it gained (nearly all
    idempotency marks, one per event taken in, kept ``dedupe_hours``), their estimated
    size, and the Redis RSS growth that is left once they are set aside."""
    def median(key: str, lo: float, hi: float) -> float:
        vals = [r[key] for r in rows if lo <= r["t"] <= hi and key in r]
        return float(np.nanmedian(vals)) if vals else float("nan")

    keys0, keys1 = median("redis_keys", warmup, warmup + span), median("redis_keys",
                                                                        end - span, end)
    used0, used1 = median("redis_used_mb", warmup, warmup + span), median(
        "redis_used_mb", end - span, end)
    rss0, rss1 = median("rss_redis", warmup, warmup + span), median("rss_redis",
                                                                     end - span, end)
    per = float(mark_bytes) if mark_bytes is not None else float("nan")
    marks_mb = (keys1 - keys0) * per / 2**20
    return {"keys_base": keys0, "keys_end": keys1, "mark_bytes": per, "marks_mb": marks_mb,
            "used_base_mb": used0, "used_end_mb": used1,
            "growth_without_marks": (rss1 - marks_mb - rss0) / rss0}


def figures(data: dict[str, np.ndarray], gen: dict[str, Any], rows: list[dict[str, Any]],
            ctx: dict[str, Any], slo: Slo) -> tuple[dict[str, Any], list[Check]]:
    """Everything the report states, and the SLO checks."""
    kind, lat, status = data["kind"], data["latency_ms"], data["status"]
    rec = np.isin(kind, [KIND_CODE[k] for k in REC_KINDS])
    duration, warmup = float(gen["duration"]), float(ctx["warmup"])
    f: dict[str, Any] = {}
    rl = lat[rec]
    f["recommendations"] = {
        "requests": int(rec.sum()), "rate_per_s": float(rec.sum()) / duration,
        "p50_ms": pct(rl, 50), "p90_ms": pct(rl, 90), "p99_ms": pct(rl, 99),
        "p999_ms": pct(rl, 99.9), "max_ms": float(rl.max()) if len(rl) else float("nan"),
        "p99_after_warmup_ms": pct(lat[rec & (data["sched"] >= warmup)], 99),
        "empty_results": int(((data["results"] == 0) & rec & (status == 200)).sum()),
    }
    f["by_kind"] = {}
    for k in KINDS:
        m = kind == KIND_CODE[k]
        if m.any():
            f["by_kind"][k] = {"requests": int(m.sum()), "p50_ms": pct(lat[m], 50),
                               "p99_ms": pct(lat[m], 99),
                               "max_ms": float(lat[m].max()),
                               "non_2xx": int(((status[m] < 200) | (status[m] > 299)).sum()),
                               "empty": int(((data["results"] == 0) & (status == 200) & m).sum())
                               if k in REC_KINDS else 0}
    windows = _windows(data, rec, duration)
    f["worst_window_p99_ms"] = max((w["p99"] for w in windows if w["n"]), default=math.nan)
    f["statuses"] = {str(s): int(n) for s, n in zip(*np.unique(status, return_counts=True),
                                                    strict=True)}
    n5xx = int(((status >= 500) & (status <= 599)).sum())
    bad = int(((status < 200) | (status > 299)).sum())
    f["errors"] = {"5xx": n5xx, "non_2xx": bad, "transport": int((status == 0).sum()),
                   "timed_out": int((status == TIMED_OUT).sum()),
                   "rate": bad / max(1, len(status))}
    ev = kind == KIND_CODE["events"]
    f["events"] = {"batches": int(ev.sum()), "batch_size": ctx["batch_size"],
                   "p99_ms": pct(lat[ev], 99),
                   "accepted_by_server": ctx.get("events_accepted")}
    probes = [p for p in gen["probes"] if p is not None]
    lost = sum(1 for p in gen["probes"] if p is None)
    pm = np.array(probes) * 1000
    f["event_to_effect"] = {
        "probes": len(gen["probes"]), "not_seen_within_5s": lost,
        "p50_ms": pct(pm, 50), "p99_ms": pct(pm, 99),
        "max_ms": float(pm.max()) if len(pm) else float("nan"),
        "stream_histogram_p50_ms": 1000 * ctx["effect_hist_p50"],
        "stream_histogram_p99_ms": 1000 * ctx["effect_hist_p99"],
        "stream_histogram_events": ctx["effect_hist_n"]}
    f["drain"] = ctx["drain"]
    span = max(3.0, min(30.0, 0.1 * duration))
    f["rss"] = {}
    for role in ctx["roles"]:
        b, e, g = rss_growth(rows, role, warmup, duration, span)
        peak = max((r.get(f"rss_{role}", 0.0) for r in rows), default=0.0)
        cpu = [r[f"cpu_{role}"] for r in rows if 1 <= r["t"] <= duration and
               f"cpu_{role}" in r]
        f["rss"][role] = {"base_mb": b, "end_mb": e, "growth": g, "peak_mb": peak,
                          "cpu_mean_pct": float(np.nanmean(cpu)) if cpu else float("nan")}
    f["rss_window_s"] = span
    f["redis_marks"] = redis_marks(rows, warmup, duration, span, ctx.get("mark_bytes"))
    others = [r["cpu_others"] for r in rows if 1 <= r["t"] <= duration and "cpu_others" in r]
    f["cpu_others_mean_pct"] = float(np.nanmean(others)) if others else float("nan")
    f["cpu_others_max_pct"] = float(np.nanmax(others)) if others else float("nan")
    f["generator"] = {"late_ms": gen["generator_late_ms"],
                      "connections_opened": gen["connections_opened"],
                      "cpu_mean_pct": ctx.get("loadgen_cpu_pct")}
    f["catalog_update"] = gen["catalog_update"]
    f["server_statuses"] = ctx.get("server_statuses")
    # what the api measured itself (from its histograms; interpolated within buckets): the
    # gap to the client's figures is time spent queued before the app saw the request
    f["api_measured"] = {"routes": ctx.get("api_routes", {}),
                         "store_calls": ctx.get("api_store", {})}

    # from the last scheduled send; when the backlog was already 0 as the generator exited,
    # the exit is the bound
    d = ctx["drain"]
    drain_s = None if d["redis_s"] is None else d["redis_s"] + d["exit_after_last_send_s"]
    f["drain_after_last_send_s"] = drain_s
    checks = [
        Check("5xx responses (all requests)", f"= {slo.max_5xx}", f"{n5xx}",
              n5xx <= slo.max_5xx),
        Check("error rate (non-2xx, timeouts, transport)", f"≤ {100 * slo.max_error_rate:g} %",
              f"{100 * f['errors']['rate']:.3f} % ({bad})", f["errors"]["rate"] <=
              slo.max_error_rate),
        Check("recommendations p99 (whole run, from scheduled send)", f"< {slo.p99_ms:g} ms",
              f"{f['recommendations']['p99_ms']:.2f} ms",
              f["recommendations"]["p99_ms"] < slo.p99_ms),
        Check("event-to-effect p99 (probes)", f"< {slo.effect_p99_ms:g} ms",
              f"{f['event_to_effect']['p99_ms']:.1f} ms ({lost} not seen)",
              lost == 0 and f["event_to_effect"]["p99_ms"] < slo.effect_p99_ms),
        Check("stream lag back to 0 after the load (Redis XINFO)", f"≤ {slo.drain_s:g} s",
              _drain_text(drain_s), drain_s is not None and drain_s <= slo.drain_s),
    ]
    for role, r in f["rss"].items():
        marks = f.get("redis_marks") if role == "redis" else None
        if marks and math.isfinite(marks["growth_without_marks"]):
            # Redis keeps one idempotency mark per event for dedupe_hours (6 h) by design:
            # it grows with the events taken in until then, leak or not. What is checked
            # is the growth once the marks added over the window are set aside.
            g = marks["growth_without_marks"]
            checks.append(Check(
                "RSS growth after warm-up: redis, less the idempotency marks it keeps "
                "for dedupe_hours", f"< {100 * slo.rss_growth:g} %",
                f"{100 * g:+.1f} % (with the marks {100 * r['growth']:+.1f} %: "
                f"{r['base_mb']:.0f} → {r['end_mb']:.0f} MB, of which "
                f"{marks['marks_mb']:.0f} MB are {marks['keys_end'] - marks['keys_base']:,.0f}"
                " new marks)", g < slo.rss_growth))
            continue
        checks.append(Check(f"RSS growth after warm-up: {role}",
                            f"< {100 * slo.rss_growth:g} %",
                            f"{100 * r['growth']:+.1f} % ({r['base_mb']:.0f} → "
                            f"{r['end_mb']:.0f} MB)",
                            math.isfinite(r["growth"]) and r["growth"] < slo.rss_growth))
    f["windows"] = windows
    return f, checks


def _drain_text(s: float | None) -> str:
    return "not within the wait" if s is None else f"{s:.2f} s"


def _windows(data: dict[str, np.ndarray], rec: np.ndarray, duration: float
             ) -> list[dict[str, float]]:
    out = []
    sched, lat, status = data["sched"], data["latency_ms"], data["status"]
    ev = data["kind"] == KIND_CODE["events"]
    for w0 in np.arange(0.0, duration, WINDOW):
        m = rec & (sched >= w0) & (sched < w0 + WINDOW)
        e = ev & (sched >= w0) & (sched < w0 + WINDOW)
        width = min(WINDOW, duration - w0)
        out.append({"t": float(w0 + width / 2), "n": int(m.sum()),
                    "rps": float(m.sum()) / width, "batches_per_s": float(e.sum()) / width,
                    "p50": pct(lat[m], 50), "p99": pct(lat[m], 99),
                    "errors": int(((status[m] < 200) | (status[m] > 299)).sum())})
    return out


def table(checks: list[Check]) -> str:
    rows = ["| SLO | target | measured | |", "|---|---|---|---|"]
    rows += [f"| {c.name} | {c.target} | {c.value} | {'pass' if c.ok else '**FAIL**'} |"
             for c in checks]
    return "\n".join(rows)


def figures_table(f: dict[str, Any], ctx: dict[str, Any]) -> str:
    r, e2e, g = f["recommendations"], f["event_to_effect"], f["generator"]
    lines = ["| figure | value |", "|---|---|",
             "| maximum throughput, the run's mix | " + (
                 f"{ctx['max_rps']:,.0f} req/s ({ctx['max_how']}) |"
                 if math.isfinite(ctx["max_rps"]) else f"{ctx['max_how']} |"),
             f"| offered load | {ctx['rate']:,.0f} rec/s"
             + (f" ({100 * ctx['fraction']:.0f} % of the maximum)"
                if math.isfinite(ctx["fraction"]) else "")
             + f" + {f['events']['batches'] / ctx['duration']:,.1f} event batches/s "
             f"of {f['events']['batch_size']}, for {ctx['duration']:.0f} s |",
             f"| recommendations | {r['requests']:,} ({r['rate_per_s']:,.0f}/s); p50 "
             f"{r['p50_ms']:.2f} ms, p90 {r['p90_ms']:.2f}, p99 {r['p99_ms']:.2f}, p99.9 "
             f"{r['p999_ms']:.2f}, max {r['max_ms']:.1f} ms; p99 after warm-up "
             f"{r['p99_after_warmup_ms']:.2f} ms; worst 10-s window p99 "
             f"{f['worst_window_p99_ms']:.2f} ms |",
             f"| empty recommendation lists | {r['empty_results']:,} |",
             "| statuses seen by the client (all requests) | "
             + ", ".join(f"{k}: {v:,}" for k, v in f["statuses"].items()) + " |",
             "| statuses counted by the api (endcap_api_requests_total delta) | "
             + ", ".join(f"{k}: {v:,.0f}" for k, v in (f["server_statuses"] or {}).items())
             + " |",
             f"| events | {f['events']['batches']:,} batches, p99 {f['events']['p99_ms']:.2f} "
             f"ms; accepted by the api: {f['events']['accepted_by_server'] or 0:,.0f} |",
             f"| event-to-effect, probes (POST view → visible in recently-viewed) | "
             f"p50 {e2e['p50_ms']:.1f} ms, p99 {e2e['p99_ms']:.1f} ms, max "
             f"{e2e['max_ms']:.1f} ms ({e2e['probes']} probes, {e2e['not_seen_within_5s']} "
             "not seen within 5 s) |",
             f"| event-to-effect, stream histogram (append → applied) | p50 "
             f"{e2e['stream_histogram_p50_ms']:.1f} ms, p99 "
             f"{e2e['stream_histogram_p99_ms']:.1f} ms ({e2e['stream_histogram_events']:,.0f}"
             " events) |",
             f"| stream backlog after the load | {f['drain']['at_stop']:,} entries when the "
             f"generator exited ({f['drain']['exit_after_last_send_s']:.2f} s after its last "
             f"scheduled send, once every answer was in); 0 after "
             f"{_drain_text(f['drain']['redis_s'])} (Redis XINFO, polled every 0.1 s); "
             f"the worker's lag gauge read 0 after {_drain_text(f['drain']['metric_s'])} "
             "(it refreshes every 5 s) |"]
    for role, x in f["rss"].items():
        lines.append(f"| {role}: RSS | {x['base_mb']:.1f} MB after warm-up → "
                     f"{x['end_mb']:.1f} MB at the end ({100 * x['growth']:+.1f} %), peak "
                     f"{x['peak_mb']:.1f} MB; CPU {x['cpu_mean_pct']:.0f} % of a core |")
    m = f.get("redis_marks")
    if m and math.isfinite(m["keys_end"]):
        lines.append(
            f"| redis: what it keeps by design | {m['keys_end'] - m['keys_base']:+,.0f} keys "
            f"over the RSS windows ({m['keys_base']:,.0f} → {m['keys_end']:,.0f}), nearly all "
            f"idempotency marks (one per event, kept dedupe_hours) of about "
            f"{m['mark_bytes']:.0f} bytes each: {m['marks_mb']:.1f} MB; used_memory "
            f"{m['used_base_mb']:.1f} → {m['used_end_mb']:.1f} MB; RSS growth without the "
            f"marks {100 * m['growth_without_marks']:+.1f} % |")
    lines.append(f"| load generator | sent late p99 {g['late_ms']['p99']:.2f} ms, max "
                 f"{g['late_ms']['max']:.1f} ms; {g['connections_opened']} connections; CPU "
                 f"{g['cpu_mean_pct'] or 0:.0f} % of a core |")
    for title, key in (("api's own request latency (endcap_api_request_duration_seconds)",
                        "routes"),
                       ("api's store calls (endcap_api_store_call_duration_seconds)",
                        "store_calls")):
        got = f["api_measured"][key]
        if got:
            lines.append(f"| {title} | " + "; ".join(
                f"{k}: p50 {v['p50_ms']:.2f} ms, p99 {v['p99_ms']:.2f} ms ({v['n']:,.0f})"
                for k, v in sorted(got.items(), key=lambda kv: -kv[1]["n"])[:6]) + " |")
    lines.append(f"| other processes on the machine (not this run's) | CPU mean "
                 f"{f['cpu_others_mean_pct']:.0f} %, max {f['cpu_others_max_pct']:.0f} % of a "
                 "core, over the load |")
    cu = f["catalog_update"]
    lines.append(f"| catalog update at {cu['at_s']:.0f} s | PUT {cu['items_put']} items: "
                 f"HTTP {cu['put_status']} in {cu['put_ms']:.0f} ms; then {cu['patched']} "
                 f"PATCH in_stock=false (statuses {sorted(set(cu['statuses']))}) |")
    return "\n".join(lines)


def kinds_table(f: dict[str, Any]) -> str:
    rows = ["| request kind | requests | p50 ms | p99 ms | max ms | non-2xx | empty lists |",
            "|---|---|---|---|---|---|---|"]
    rows += [f"| {k} | {v['requests']:,} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | "
             f"{v['max_ms']:.1f} | {v['non_2xx']} | {v['empty']} |"
             for k, v in f["by_kind"].items()]
    return "\n".join(rows)


def html(title: str, intro: str, checks: list[Check], f: dict[str, Any],
         rows: list[dict[str, Any]], ctx: dict[str, Any]) -> str:
    w = f["windows"]
    marks = {"warm-up ends": ctx["warmup"], "catalog update": f["catalog_update"]["at_s"],
             "load stops": ctx["duration"]}
    charts = [
        line_chart("Recommendations latency per 10-s window (from the scheduled send)",
                   {"p50": [(x["t"], x["p50"]) for x in w],
                    "p99": [(x["t"], x["p99"]) for x in w]}, "ms", marks=marks,
                   hline=(f"SLO p99 {ctx['slo'].p99_ms:g} ms", ctx["slo"].p99_ms)),
        line_chart("Throughput per 10-s window",
                   {"recommendations/s": [(x["t"], x["rps"]) for x in w],
                    "event batches/s": [(x["t"], x["batches_per_s"]) for x in w]},
                   "requests/s", marks=marks),
        line_chart("RSS per process", {role: [(r["t"], r.get(f"rss_{role}", math.nan))
                                              for r in rows] for role in ctx["roles"]},
                   "MB", marks=marks),
        line_chart("CPU per process (others: every other process on the machine)",
                   {role: [(r["t"], r.get(f"cpu_{role}", math.nan)) for r in rows]
                    for role in [*ctx["roles"], "loadgen", "others"]},
                   "% of one core", marks=marks),
        line_chart("Stream backlog of the apply group",
                   {"Redis XINFO (lag + pending)": [(r["t"], r["backlog_redis"]) for r in rows],
                    "worker gauge (lag + pending)": [(r["t"], r["lag_metric"]) for r in rows]},
                   "entries", marks=marks),
    ]
    check_rows = "".join(
        f"<tr><td>{escape(c.name)}</td><td>{escape(c.target)}</td><td>{escape(c.value)}</td>"
        f"<td class={'ok' if c.ok else 'fail'}>{'pass' if c.ok else 'FAIL'}</td></tr>"
        for c in checks)
    fig = figures_table(f, ctx).splitlines()[2:]
    fig_rows = "".join("<tr>" + "".join(f"<td>{escape(cell.strip())}</td>" for cell in
                                        line.strip("|").split(" | ")) + "</tr>" for line in fig)
    kinds = "".join(f"<tr><td>{escape(k)}</td><td>{v['requests']:,}</td>"
                    f"<td>{v['p50_ms']:.2f}</td><td>{v['p99_ms']:.2f}</td>"
                    f"<td>{v['max_ms']:.1f}</td><td>{v['non_2xx']}</td><td>{v['empty']}</td></tr>"
                    for k, v in f["by_kind"].items())
    steps = "".join(f"<tr><td>{escape(n)}</td><td>{s:.1f} s</td><td>{escape(d)}</td></tr>"
                    for n, s, d in ctx["steps"])
    ramp = "".join(f"<tr><td>{s['connections']}</td><td>{s['rps']:,.0f}</td>"
                   f"<td>{s.get('event_batches', 0) / (0.75 * ctx['step_seconds']):,.1f}</td>"
                   f"<td>{s['p50_ms']:.2f}</td><td>{s['p99_ms']:.2f}</td><td>{s['errors']}</td>"
                   "</tr>" for s in ctx["ramp"])
    sustained = "".join(f"<tr><td>{s['rate']:,.0f}</td><td>{s['p50_ms']:.2f}</td>"
                        f"<td>{s['p99_ms']:.2f}</td><td>{s['errors']}</td>"
                        f"<td>{'yes' if s['kept_up'] else 'no'}</td></tr>"
                        for s in ctx.get("sustained", []))
    verdict = "all SLOs met" if all(c.ok for c in checks) else "SLOs missed"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:1em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;
padding:3px 8px;text-align:left;vertical-align:top}}.ok{{color:#2a2}}.fail{{color:#c22;
font-weight:bold}}</style></head><body>
<h1>{escape(title)}: {verdict}</h1><p>{escape(intro)}</p>
<h2>SLOs</h2><table><tr><th>SLO</th><th>target</th><th>measured</th><th></th></tr>
{check_rows}</table>
<h2>Plots</h2>{"".join(f"<div>{c}</div>" for c in charts)}
<h2>Figures</h2><table>{fig_rows}</table>
<h2>Latency by kind of request (ms, from the scheduled send)</h2>
<table><tr><th>kind</th><th>requests</th><th>p50</th><th>p99</th><th>max</th><th>non-2xx</th>
<th>empty lists</th></tr>{kinds}</table>
<h2>Maximum throughput ramp (closed loop: recommendations, and event batches at the run's
share)</h2>
<table><tr><th>connections</th><th>rec/s</th><th>event batches/s</th><th>p50 ms</th>
<th>p99 ms</th><th>errors</th></tr>
{ramp}</table>
<h2>Sustained maximum (open-loop steps, the run's mix)</h2>
<table><tr><th>rec/s offered</th><th>p50 ms</th><th>p99 ms</th><th>errors</th><th>kept up</th>
</tr>{sustained}</table>
<h2>Set-up</h2><table>{steps}</table>
<h2>Command</h2><pre>{escape(ctx["command"])}</pre>
</body></html>"""


def write(out: Path, title: str, intro: str, checks: list[Check], f: dict[str, Any],
          rows: list[dict[str, Any]], ctx: dict[str, Any]) -> None:
    """report.html, summary.json and summary.md into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(html(title, intro, checks, f, rows, ctx))
    summary = {"checks": [c.__dict__ for c in checks], "figures": f, "samples": rows,
               "context": {k: v for k, v in ctx.items() if k != "slo"}}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_json))
    (out / "summary.md").write_text(f"# {title}\n\n{intro}\n\n{table(checks)}\n\n"
                                    f"{figures_table(f, ctx)}\n\n{kinds_table(f)}\n")


def _json(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    return str(o)

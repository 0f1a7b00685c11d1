"""``endcap experiments``: list a tenant's experiments; print a report as a table or CSV."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from endcap.cli.commands import _opened
from endcap.cli.runtime import run
from endcap.errors import NotFound
from endcap.experiments.report import Report, VariantStats, build_report
from endcap.store.protocol import Store

#: The columns of the per-variant table and CSV, in order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("variant", "id"), ("shoppers", "shoppers"), ("impressions", "impressions"),
    ("clicks", "clicks"), ("clicks_vt", "clicks_view_through"), ("ctr", "ctr"),
    ("atc_rate", "add_to_cart_rate"), ("conv_rate", "conversion_rate"),
    ("purchases", "purchases"), ("purchases_vt", "purchases_view_through"),
    ("revenue", "revenue"), ("revenue_vt", "revenue_view_through"),
    ("rev/shopper", "revenue_per_shopper"), ("rev/1k_imp", "revenue_per_1000_impressions"),
)


async def _find_report(store: Store, tenant: str, exp_id: str) -> Report:
    for pod in await store.list_pods(tenant):
        if pod.experiment is not None and pod.experiment.id == exp_id:
            events = await store.read_events(tenant)
            return build_report(tenant, pod.experiment, events, time.time())
    raise NotFound(f"tenant {tenant!r} has no experiment {exp_id!r}")


def _cell(v: VariantStats, attr: str) -> str:
    x = getattr(v, attr)
    if isinstance(x, float):
        return f"{x:.4f}" if attr.endswith(("ctr", "rate")) else f"{x:.2f}"
    return str(x)


def table(rep: Report) -> str:
    rows = [[name for name, _ in COLUMNS]] + [
        [_cell(v, attr) for _, attr in COLUMNS] for v in rep.variants]
    widths = [max(len(r[c]) for r in rows) for c in range(len(COLUMNS))]
    lines = [f"experiment {rep.experiment} on pod {rep.pod_id} ({rep.status}); metric "
             f"{rep.metric}; attribution window {rep.attribution_window_hours:g} h; "
             f"{rep.looks} looks; minimum detectable effect {rep.mde:.0%}; horizon "
             f"{f'{rep.max_shoppers:,} shoppers' if rep.max_shoppers else 'none'}", ""]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.append("")
    for c in rep.comparisons:
        lines.append(f"{c.variant} vs {c.control}: {c.metric} {c.mean:.4f} vs "
                     f"{c.control_mean:.4f}, lift {c.lift:+.2%} (95% CI {c.lift_low:+.2%} "
                     f"to {c.lift_high:+.2%}), always-valid p = {c.p_value:.4f}"
                     f"{f' (tau {c.tau:.4g})' if c.tau is not None else ''}"
                     f"{' (significant)' if c.significant else ''}")
    lines.append(f"sample-ratio check: p = {rep.srm_p_value:.4f}"
                 f"{' MISMATCH' if rep.sample_ratio_mismatch else ''}")
    lines.append(f"decision: {rep.decision} ({rep.decision_reason})")
    lines += [f"note: {n}" for n in rep.notes]
    lines.append(f"method: {rep.method}")
    return "\n".join(lines)


def write_csv(rep: Report, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([attr for _, attr in COLUMNS] + ["lift", "lift_low", "lift_high",
                                                    "p_value", "significant"])
        by = {c.variant: c for c in rep.comparisons}
        for v in rep.variants:
            c = by.get(v.id)
            w.writerow([getattr(v, attr) for _, attr in COLUMNS] + (
                [c.lift, c.lift_low, c.lift_high, c.p_value, c.significant] if c else
                ["", "", "", "", ""]))


def cmd_experiments(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with _opened(args.store_url) as store:
            if args.experiments_command == "list":
                for pod in await store.list_pods(args.tenant):
                    e = pod.experiment
                    if e is not None:
                        shares = ", ".join(f"{v.id} {v.share:g}" for v in e.variants)
                        print(f"{e.id:24} {e.status:8} pod {pod.id}: {shares}")
                return 0
            try:
                rep = await _find_report(store, args.tenant, args.experiment_id)
            except NotFound as e:
                print(f"endcap: {e.message}", file=sys.stderr)
                return 2
        if args.json:
            print(json.dumps(rep.as_dict(), indent=2))
        else:
            print(table(rep))
        if args.csv:
            write_csv(rep, Path(args.csv))
        return 0

    return run(main)

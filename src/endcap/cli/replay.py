"""``endcap replay``: estimate another pod configuration on the pod's logged traffic.

Importing this module is cheap (argparse only), so ``endcap --help`` stays fast; the
store and the estimator are imported when the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from endcap.experiments.replay import ReplayReport

DAY = 86_400.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``endcap replay`` on ``sub`` (the top-level sub-parsers)."""
    rp = sub.add_parser("replay", help="estimate how another strategy chain would have "
                                       "done on a pod's logged impressions (off-policy, "
                                       "position-based click model)")
    rp.add_argument("--store", dest="store_url", required=True)
    rp.add_argument("--tenant", required=True)
    rp.add_argument("--pod", required=True, help="the pod whose impressions are replayed")
    rp.add_argument("--strategy", required=True, metavar="NAME[,NAME...]",
                    help="the candidate's strategy chain, comma-separated")
    rp.add_argument("--filters", metavar="JSON",
                    help="the candidate's filters as a JSON object (default: the pod's)")
    rp.add_argument("--since", type=float, metavar="DAYS",
                    help="only impressions of the last DAYS days (default: all)")
    rp.add_argument("--window-hours", type=float, default=24.0,
                    help="view-through attribution window (default 24)")
    rp.add_argument("--eta", type=float, default=1.0,
                    help="position bias: position k (0-based) is examined with "
                         "probability 1/(k+1)^eta (default 1)")
    rp.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    rp.add_argument("--json", action="store_true", help="print the report as JSON")


def _fail(message: str) -> int:
    print(f"endcap: {message}", file=sys.stderr)
    return 2


def cmd_replay(args: argparse.Namespace) -> int:
    import msgspec

    from endcap.cli.commands import _opened
    from endcap.experiments.replay import ReplayError, replay
    from endcap.pods.model import Filters
    from endcap.train.model import Model

    strategy = [s.strip() for s in args.strategy.split(",") if s.strip()]
    filters = None
    if args.filters:
        try:
            filters = msgspec.json.decode(args.filters.encode(), type=Filters)
        except msgspec.DecodeError as e:
            return _fail(f"--filters: {e}")
    if not (args.window_hours > 0 and math.isfinite(args.window_hours)):
        return _fail("--window-hours must be a positive number")
    if args.since is not None and not args.since > 0:
        return _fail("--since must be a positive number of days")
    if not args.eta >= 0:
        return _fail("--eta must be at least 0")
    now = time.time()

    async def main() -> ReplayReport | str:
        async with _opened(args.store_url) as store:
            if await store.get_tenant(args.tenant) is None:
                return f"unknown tenant {args.tenant!r}"
            pod = await store.get_pod(args.tenant, args.pod)
            if pod is None:
                return f"tenant {args.tenant!r} has no pod {args.pod!r}"
            version = await store.current_model(args.tenant)
            data = None if version is None else await store.load_model(args.tenant, version)
            model = None if data is None else await asyncio.to_thread(Model.from_bytes, data)
            events = await store.read_events(args.tenant)
            try:
                return await replay(
                    store, args.tenant, pod, strategy, model, events, filters=filters,
                    since=0.0 if args.since is None else now - args.since * DAY,
                    until=now, window_hours=args.window_hours, eta=args.eta,
                    seed=args.seed)
            except ReplayError as e:
                return str(e)

    out = asyncio.run(main())
    if isinstance(out, str):
        return _fail(out)
    if args.json:
        print(json.dumps(out.as_dict(), indent=2))
    else:
        print(render(out))
    return 0


def render(r: ReplayReport) -> str:
    """The logged-vs-candidate table."""
    def row(name: str, clicks: str, revenue: str, overlap: str) -> str:
        return f"{name:<10} {clicks:>28} {revenue:>32} {overlap:>8}"

    def ci(v: float, lo: float, hi: float, digits: int) -> str:
        return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"

    lines = [
        f"pod {r.pod_id} of {r.tenant}: {r.impressions} impressions, {r.shoppers} shoppers "
        f"(attribution window {r.attribution_window_hours:g} h, eta {r.eta:g})",
        row("", "clicks/impression [95%]", "revenue/impression [95%]", "overlap"),
        row("observed", f"{r.observed_clicks_per_impression:.4f}",
            f"{r.observed_revenue_per_impression:.2f}", ""),
    ]
    for name, e in (("logged", r.logged), ("candidate", r.candidate)):
        lines.append(row(name, ci(e.clicks_per_impression, e.clicks_low, e.clicks_high, 4),
                         ci(e.revenue_per_impression, e.revenue_low, e.revenue_high, 2),
                         "-" if math.isnan(e.overlap) else f"{e.overlap:.1%}"))
    lines.append(row("diff", f"[{r.clicks_diff_low:+.4f}, {r.clicks_diff_high:+.4f}]",
                     f"[{r.revenue_diff_low:+.2f}, {r.revenue_diff_high:+.2f}]", ""))
    lines.append(f"logged: {','.join(r.logged_strategy)}; candidate: "
                 f"{','.join(r.candidate_strategy)}")
    lines.append(f"method: {r.method}")
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)

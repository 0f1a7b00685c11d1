"""``endcap <command>``: parse the command line and hand over to one role."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from endcap import __version__
from endcap.cli import replay as replay_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endcap", description=__doc__)
    p.add_argument("--version", action="version", version=f"endcap {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")

    demo = sub.add_parser("demo", help="load the sample shop, train, and serve it "
                                       "(all-in-one, embedded store)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--data-dir", default=None,
                      help="where the demo keeps its state (default: "
                           "~/.local/share/endcap/demo)")
    demo.add_argument("--reset", action="store_true", help="start from an empty store")

    serve = sub.add_parser("serve", help="run the api role")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--grpc-port", type=int,
                       help="also serve the recommendations and events APIs over gRPC on "
                            "this port (default 0: no gRPC)")
    serve.add_argument("--store", dest="store_url", help="store URL (memory://, file:///dir)")
    serve.add_argument("--embedded", action="store_true",
                       help="all-in-one: also retrain every --train-interval seconds")
    serve.add_argument("--train-interval", dest="train_interval_seconds", type=float)

    train = sub.add_parser("train", help="fit models and publish them unless they do worse "
                                         "than the current ones on a recent window (the "
                                         "train role)")
    train.add_argument("--store", dest="store_url", required=True)
    train.add_argument("--tenant", help="only this tenant (default: every tenant)")
    train.add_argument("--window-days", type=_positive_float, default=7.0,
                       help="compare on the log's last this many days (default 7; a log "
                            "shorter than 4 windows: its last 10%% of events)")
    train.add_argument("--window", choices=["recent", "unseen"], default="unseen",
                       help="unseen (default): compare only on the part of that window "
                            "after the current model's newest event, which neither model "
                            "has seen; recent: on the whole window, which the current "
                            "model has usually partly been trained on (it favours keeping "
                            "it)")
    train.add_argument("--tolerance", type=_fraction, default=0.02,
                       help="publish when the new for_you NDCG@10 is at least (1 - this) x "
                            "the current model's (default 0.02)")
    train.add_argument("--force", action="store_true",
                       help="publish even if the gate rejects (recorded in the report)")
    train.add_argument("--fail-on-reject", action="store_true",
                       help="exit with status 3 when a tenant's new model is rejected")
    train.add_argument("--progress", action="store_true",
                       help="draw the progress display on stderr even when it is not a "
                            "terminal")
    train.add_argument("--no-embed", action="store_true",
                       help="do not refresh the item embeddings first (they are refreshed "
                            "by default when an embedding provider is available)")

    emb = sub.add_parser("embed", help="embed new and changed catalog items with the "
                                       "language model and publish the vector index")
    emb.add_argument("--store", dest="store_url", required=True)
    emb.add_argument("--tenant", help="only this tenant (default: every tenant)")
    emb.add_argument("--watch", type=_positive_float, metavar="SECONDS",
                     help="keep going: look for catalog changes every SECONDS")
    emb.add_argument("--progress", action="store_true",
                     help="draw a progress bar even when stderr is not a terminal")

    stream = sub.add_parser("stream", help="apply the Redis event streams to real-time "
                                           "state, and archive them (the stream role)")
    stream.add_argument("--store", dest="store_url", required=True,
                        help="a redis:// or redis+cluster:// store URL; with "
                             "archive=file:///dir the streams are archived and trimmed")
    stream.add_argument("--consumer", help="this worker's name in the consumer groups "
                                           "(default: <hostname>-<pid>)")
    stream.add_argument("--batch", type=_positive_int, default=500,
                        help="entries per read and apply (default 500)")
    stream.add_argument("--block-ms", type=_positive_int, default=1000,
                        help="how long a read waits for new entries (default 1000)")
    stream.add_argument("--claim-idle", type=float, default=30.0,
                        help="take over entries another worker left pending this many "
                             "seconds (default 30)")
    stream.add_argument("--archive-batch", type=_positive_int, default=50_000,
                        help="events per archive file batch (default 50000)")
    stream.add_argument("--archive-interval", type=float, default=60.0,
                        help="the longest an event waits to be archived, in seconds "
                             "(default 60)")
    stream.add_argument("--metrics-port", type=int, default=9464,
                        help="Prometheus metrics port (default 9464; 0: none)")
    stream.add_argument("--metrics-host", default="127.0.0.1")

    ten = sub.add_parser("tenants", help="create and list tenants")
    ten_sub = ten.add_subparsers(dest="tenants_command", required=True, metavar="action")
    create = ten_sub.add_parser("create", help="create a tenant and print its keys once")
    create.add_argument("tenant_id")
    create.add_argument("--name", default="")
    create.add_argument("--store", dest="store_url", required=True)
    lst = ten_sub.add_parser("list", help="list tenants")
    lst.add_argument("--store", dest="store_url", required=True)

    exps = sub.add_parser("experiments", help="list a tenant's experiments, or print one's "
                                              "report (table, CSV or JSON)")
    exps_sub = exps.add_subparsers(dest="experiments_command", required=True, metavar="action")
    elist = exps_sub.add_parser("list", help="experiments with their status and shares")
    erep = exps_sub.add_parser("report", help="per variant: shoppers, impressions, clicks, "
                                              "rates, revenue; lifts and p-values")
    erep.add_argument("experiment_id")
    erep.add_argument("--csv", metavar="FILE", help="also write the per-variant table as CSV")
    erep.add_argument("--json", action="store_true", help="print the report as JSON")
    for p_ in (elist, erep):
        p_.add_argument("--store", dest="store_url", required=True)
        p_.add_argument("--tenant", required=True)

    models = sub.add_parser("models", help="list a tenant's model versions, or roll back")
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="action")
    mlist = models_sub.add_parser("list", help="published versions, oldest first, with "
                                               "the gate's decision; * = current")
    mlist.add_argument("--json", action="store_true",
                       help="print every version's metadata, statistics and gate report")
    back = models_sub.add_parser("rollback", help="serve an earlier version (replicas switch "
                                                  "within their poll interval)")
    back.add_argument("--to", dest="version",
                      help="the version to serve (default: the one before the current)")
    for action in (mlist, back):
        action.add_argument("--store", dest="store_url", required=True)
        action.add_argument("--tenant", required=True)

    gen = sub.add_parser("generate", help="write a deterministic synthetic shop as NDJSON")
    gen.add_argument("--items", type=int, default=10_000)
    gen.add_argument("--shoppers", type=int, default=20_000)
    gen.add_argument("--events", type=int, default=200_000)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--start", type=_utc_date, default=_utc_date("2024-01-01"),
                     help="first day of the events, YYYY-MM-DD (default 2024-01-01; give a "
                          "recent date for trending to have recent events)")
    gen.add_argument("--days", type=int, default=30, help="how many days the events span")
    gen.add_argument("--out", required=True, help="directory for items.ndjson, events.ndjson")

    load = sub.add_parser("load", help="load items.ndjson and events.ndjson into a store")
    load.add_argument("--store", dest="store_url", required=True)
    load.add_argument("--tenant", required=True)
    load.add_argument("--dir", required=True, help="directory written by 'endcap generate'")

    conv = sub.add_parser("convert", help="convert a public data set to the canonical "
                                          "interaction format (CSV or Parquet)")
    conv.add_argument("dataset", choices=["online-retail", "amazon-beauty", "movielens",
                                          "yoochoose"])
    conv.add_argument("src_dir", metavar="SRC_DIR", help="the data set's directory, as "
                                                         "published")
    conv.add_argument("out", metavar="OUT", help="the interaction file to write: .csv, "
                                                 ".csv.gz, .parquet or .pq")
    conv.add_argument("--items", metavar="ITEMS.ndjson",
                      help="also write the catalog as NDJSON endcap items")

    ev = sub.add_parser("evaluate", help="offline evaluation: split an interaction file, "
                                         "fit each recommender, score its top-k lists")
    ev.add_argument("--events", required=True, metavar="FILE",
                    help="interactions in the canonical format (.csv, .csv.gz, .parquet)")
    ev.add_argument("--items", metavar="FILE", help="the catalog as NDJSON endcap items "
                                                    "(prices fill in missing ones)")
    ev.add_argument("--protocol", choices=["leave-last-out", "time-split"],
                    default="leave-last-out",
                    help="leave-last-out (default): each user's last item is the test; "
                         "time-split: the latest 10%% of interactions are")
    ev.add_argument("--k", type=_positive_int, default=10, help="list length (default 10)")
    ev.add_argument("--models", default="endcap,most-popular,ease", metavar="NAMES",
                    help="comma-separated: endcap (for_you as served), most-popular, ease "
                         "(left out above 20,000 items); default all three")
    ev.add_argument("--json", action="store_true", help="print the results as JSON")
    replay_cli.add_parser(sub)
    return p


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 0 and below 1")
    return value


def _utc_date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "experiments":
        from endcap.cli.experiments import cmd_experiments

        return cmd_experiments(args)
    if args.command in ("convert", "evaluate"):  # offline: no store, no server
        from endcap.cli import quality

        return int(getattr(quality, f"cmd_{args.command}")(args))
    from endcap.cli import commands  # deferred: keeps `endcap --help` fast
    from endcap.store.redis import StoreMisconfigured, StoreUnavailable

    module = replay_cli if args.command == "replay" else commands
    handler = getattr(module, f"cmd_{args.command}")
    try:
        return int(handler(args) or 0)
    except (StoreMisconfigured, StoreUnavailable) as e:
        print(f"endcap: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

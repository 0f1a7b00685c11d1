"""``endcap convert`` and ``endcap evaluate`` on slices of the real data sets.

The research-only data sets are read from ``../shared/data`` (never copied into the
project); their tests skip when it is missing. Online Retail (CC BY 4.0) ships in
``data/online-retail``. Each converter's rows are checked against the issue's rules,
re-implemented here with the standard library.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from endcap.quality import convert
from endcap.quality.dataset import read_interactions, read_items
from tests.conftest import endcap

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
RETAIL = ROOT / "data" / "online-retail"

Rows = list[tuple[str, str, float]]


def shared(name: str) -> Path:
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"{path} not found: the research-only data sets live outside the project, "
                    "in ../shared/data")
    return path


def head(src: Path, dst: Path, lines: int) -> None:
    """The first ``lines`` lines (header included) of a text file, gzipped or not."""
    opener: Callable[..., object] = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rt") as f, opener(dst, "wt") as out:
        for n, line in enumerate(f):
            if n == lines:
                break
            out.write(line)


def retail_slice(tmp_path: Path, lines: int = 3001) -> tuple[Path, Rows]:
    src = tmp_path / "online-retail"
    src.mkdir()
    head(RETAIL / "online_retail.part-00.csv.gz", src / "online_retail.part-00.csv.gz", lines)
    want = []
    with gzip.open(src / "online_retail.part-00.csv.gz", "rt", newline="") as f:
        for r in csv.DictReader(f):
            code = r["StockCode"].upper()
            if (r["CustomerID"] and not r["InvoiceNo"].startswith("C")
                    and int(r["Quantity"]) > 0 and code[:5].isdigit() and len(code) >= 5):
                t = datetime.fromisoformat(r["InvoiceDate"]).replace(tzinfo=UTC).timestamp()
                want.append((r["CustomerID"], code, t))
    return src, want


def beauty_slice(tmp_path: Path) -> tuple[Path, Rows]:
    data, src = shared("amazon-beauty"), tmp_path / "amazon-beauty"
    src.mkdir()
    head(data / "Beauty.txt", src / "Beauty.txt", 200)
    (src / "Beauty_item2attributes.json").write_bytes(
        (data / "Beauty_item2attributes.json").read_bytes())
    want = [(user, item, float(pos))
            for user, *items in (line.split() for line in (src / "Beauty.txt").open())
            for pos, item in enumerate(items)]
    return src, want


def movielens_slice(tmp_path: Path) -> tuple[Path, Rows]:
    data, src = shared("movielens-small"), tmp_path / "movielens"
    src.mkdir()
    head(data / "ratings.csv", src / "ratings.csv", 3001)
    (src / "movies.csv").write_bytes((data / "movies.csv").read_bytes())
    with (src / "ratings.csv").open(newline="") as f:
        want = [(r["userId"], r["movieId"], float(r["timestamp"])) for r in csv.DictReader(f)]
    return src, want


def yoochoose_slice(tmp_path: Path) -> tuple[Path, Rows]:
    data, src = shared("yoochoose-100k"), tmp_path / "yoochoose"
    src.mkdir()
    want = []
    for name in convert.YOOCHOOSE_FILES:
        head(data / name, src / name, 2001)
        with (src / name).open(newline="") as f:
            want += [(r["SessionId"], r["ItemId"], float(r["Time"]))
                     for r in csv.DictReader(f, delimiter="\t")]
    return src, want


SLICES: dict[str, Callable[[Path], tuple[Path, Rows]]] = {
    "online-retail": retail_slice,
    "amazon-beauty": beauty_slice,
    "movielens": movielens_slice,
    "yoochoose": yoochoose_slice,
}


def evaluate(*args: str) -> dict[str, object]:
    report: dict[str, object] = json.loads(endcap("evaluate", *args, "--json"))
    return report


@pytest.mark.parametrize("name", list(SLICES))
def test_convert_then_evaluate(tmp_path: Path, name: str) -> None:
    src, want = SLICES[name](tmp_path)
    out, items = tmp_path / f"{name}.csv.gz", tmp_path / f"{name}-items.ndjson"
    stdout = endcap("convert", name, str(src), str(out), "--items", str(items))

    frame = read_interactions(out)
    got = frame.select("user_id", "item_id", "timestamp").rows()
    assert got == want
    users, n_items = len({u for u, _, _ in want}), len({i for _, i, _ in want})
    assert f"{len(want):,} interactions, {users:,} users, {n_items:,} items" in stdout
    catalog = read_items(items)
    assert {i for _, i, _ in want} <= {i.id for i in catalog}

    # Every recommender on one data set; the dense EASE costs too much to repeat.
    models = "endcap,most-popular,ease" if name == "online-retail" else "endcap,most-popular"
    report = evaluate("--events", str(out), "--items", str(items), "--models", models)
    distinct: dict[str, set[str]] = {}
    for u, i, _ in want:
        distinct.setdefault(u, set()).add(i)
    testable = sum(len(s) >= 3 for s in distinct.values())
    assert report["split"] == {"users": users, "items": n_items,
                               "train_rows": sum(map(len, distinct.values())) - testable,
                               "test_users": testable, "test_rows": testable}
    results = report["results"]
    assert isinstance(results, list)
    assert {r["name"] for r in results} == (
        {"endcap for_you", "most-popular", "EASE"} if name == "online-retail"
        else {"endcap for_you", "most-popular"})
    for r in results:
        m = r["metrics"]
        assert m["users"] == testable and m["k"] == 10 and m["recall_k"] == 20
        for key in ("ndcg", "hit_rate", "recall", "mrr", "coverage"):
            assert 0.0 <= m[key] <= 1.0, (r["name"], key)
        assert m["recall"] >= m["hit_rate"] >= m["mrr"] >= 0.0
        priced = name == "online-retail"
        assert (m["revenue_hit_rate"] is not None) == priced


def test_canonical_csv_parquet_and_time_split(tmp_path: Path) -> None:
    src, _ = retail_slice(tmp_path, 15_001)  # a week: some customers come back
    endcap("convert", "online-retail", str(src), str(tmp_path / "r.parquet"))
    endcap("convert", "online-retail", str(src), str(tmp_path / "r.csv"))
    assert read_interactions(tmp_path / "r.parquet").equals(
        read_interactions(tmp_path / "r.csv"))

    report = evaluate("--events", str(tmp_path / "r.csv"), "--protocol", "time-split",
                      "--k", "5", "--models", "endcap,most-popular")
    assert report["protocol"] == "time-split" and report["k"] == 5
    split = report["split"]
    assert isinstance(split, dict) and split["test_rows"] >= split["test_users"] > 0

    table = endcap("evaluate", "--events", str(tmp_path / "r.csv"), "--models", "most-popular")
    head_line = table.splitlines()[0].split()
    assert head_line == ["name", "NDCG@10", "HR@10", "Recall@20", "MRR@10", "coverage@10",
                         "revenue", "HR@10", "fit", "s", "users"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "endcap.cli.main", *args],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_bad_files_exit_2_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,timestamp\nu,i,1\nu,j,last tuesday\n")
    r = run_cli("evaluate", "--events", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{bad}, row 2 (line 3), column 'timestamp': not a timestamp" in r.stderr

    few = tmp_path / "few.csv"
    few.write_text("user_id,item_id,timestamp\nu,i,1\nu,j,2\n")
    r = run_cli("evaluate", "--events", str(few))
    assert r.returncode == 2 and "no user has 3 distinct items" in r.stderr

    items = tmp_path / "items.ndjson"
    items.write_text('{"id": "i", "colour": "red"}\n')
    few.write_text("user_id,item_id,timestamp\nu,i,1\nu,j,2\nu,k,3\n")
    r = run_cli("evaluate", "--events", str(few), "--items", str(items))
    assert r.returncode == 2 and "items.ndjson: line 1: not an endcap item" in r.stderr

    r = run_cli("evaluate", "--events", str(few), "--models", "endcap,svd")
    assert r.returncode == 2 and "unknown recommender 'svd'" in r.stderr

    r = run_cli("convert", "movielens", str(tmp_path), str(tmp_path / "out.csv"))
    assert r.returncode == 2 and "ratings.csv: no such file" in r.stderr
    r = run_cli("convert", "movielens", str(tmp_path), str(tmp_path / "out.json"))
    assert r.returncode == 2 and "unknown file type" in r.stderr
    assert "Traceback" not in r.stderr


# The counts published in ../shared/data/*/SOURCE.md: (rows, users, items), where the
# converters keep every row; Online Retail's are the purchases the rules keep.
FULL = {
    "online-retail": (RETAIL, (396_370, 4_335, 3_659), 3_791),
    "amazon-beauty": (SHARED / "amazon-beauty", (198_502, 22_363, 12_101), 12_101),
    "movielens": (SHARED / "movielens-small", (100_836, 610, 9_724), 9_742),
    "yoochoose": (SHARED / "yoochoose-100k", (70_278 + 13_568, 17_794 + 3_416, 2_933), 2_933),
}


@pytest.mark.parametrize("name", list(FULL))
def test_full_data_set_counts(name: str) -> None:
    src, counts, catalog = FULL[name]
    if not src.is_dir():
        pytest.skip(f"{src} not found: the research-only data sets live outside the project, "
                    "in ../shared/data")
    frame, items = convert.CONVERTERS[name](src)
    assert (len(frame), frame["user_id"].n_unique(), frame["item_id"].n_unique()) == counts
    assert len(items) == catalog == len({i.id for i in items})
    assert frame["_row"].to_list() == list(range(len(frame)))
    assert frame.filter(pl.col("timestamp").is_null()).is_empty()

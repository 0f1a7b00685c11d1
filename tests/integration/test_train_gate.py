"""``endcap train``'s gate and ``endcap models list`` as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from endcap.cli import demo
from endcap.sampledata.synthetic import generate_shop
from endcap.store.url import open_store
from endcap.tenants.service import create_tenant
from tests.conftest import endcap


async def load_shop(url: str) -> None:
    """A 40-day synthetic shop in a new tenant (in this process: the set-up is not what
    is tested, and each ``endcap`` process costs seconds of imports)."""
    store = open_store(url, histories=True)
    try:
        await create_tenant(store, "shop")
        await demo.load_shop(store, "shop", generate_shop(150, 200, 2500, seed=5, days=40),
                             progress=False)
    finally:
        await store.close()


def train(url: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "endcap.cli.main", "train", "--store", url,
                           *flags], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TQDM_MININTERVAL": "0"})


def test_train_twice_is_gated_and_models_list_shows_the_report(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'store'}"
    asyncio.run(load_shop(url))

    first = train(url)
    assert first.returncode == 0, first.stderr
    assert "published model" in first.stdout and "gate: first model" in first.stdout
    assert "fit candidate" not in first.stderr  # stderr is a pipe: no progress display
    v1 = first.stdout.split("published model ")[1].split()[0]

    # By default the gate compares on what the current model has not seen: on an
    # unchanged log that is nothing, so the retrain is published as "no evidence".
    again = train(url)
    assert again.returncode == 0, again.stderr
    assert "gate: no evidence" in again.stdout
    v_again = again.stdout.split("published model ")[1].split()[0]

    # On the whole recent window the current model, trained on all of it, beats a
    # candidate fitted only before it: rejected, and the current version stays.
    kept = train(url, "--window", "recent")
    assert kept.returncode == 0, kept.stderr
    assert "rejected (candidate NDCG@10" in kept.stdout
    assert f"kept version {v_again}" in kept.stdout
    assert "biased towards keeping it" in kept.stdout
    assert "for_you NDCG@10" in kept.stdout
    assert train(url, "--window", "recent", "--fail-on-reject").returncode == 3

    forced = train(url, "--window", "recent", "--force", "--progress")
    assert forced.returncode == 0, forced.stderr
    assert "forced past the gate" in forced.stdout
    for stage in ("read events", "fit candidate", "evaluate", "refit", "publish"):
        assert f"shop: {stage}" in forced.stderr
    v2 = forced.stdout.split("published model ")[1].split()[0]

    history = json.loads(endcap("models", "list", "--store", url, "--tenant", "shop",
                                "--json"))
    assert [v["version"] for v in history] == [v1, v_again, v2]
    assert [v["current"] for v in history] == [False, False, True]
    assert history[0]["stats"]["gate"]["decision"] == "first model"
    assert history[1]["stats"]["gate"]["decision"] == "no evidence"
    gate = history[2]["stats"]["gate"]
    assert gate["decision"] == "reject" and gate["forced"] and gate["published"]
    assert gate["current_version"] == v_again and gate["tolerance"] == 0.02
    assert gate["window"]["rule"] == "last 7 days" and gate["shoppers"] > 0
    assert gate["candidate"]["for_you"]["ndcg"] < gate["current"]["for_you"]["ndcg"]
    assert history[2]["stats"]["items"] == 150

    lines = endcap("models", "list", "--store", url, "--tenant", "shop").splitlines()
    assert lines[0].split()[:2] == ["VERSION", "TRAINED"]
    assert lines[1].startswith(f"  {v1}") and "first model" in lines[1]
    assert lines[2].startswith(f"  {v_again}") and "no evidence" in lines[2]
    assert lines[3].startswith(f"* {v2}") and "forced" in lines[3]
    assert f"{gate['candidate']['for_you']['ndcg']:.4f} / " in lines[3]
    assert lines[3].endswith(f"({v_again})")

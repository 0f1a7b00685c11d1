"""The CLI as an operator uses it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import Server, create_tenant, endcap


def test_one_writer_per_embedded_store(tmp_path: Path,
                                       start_server: Callable[..., Server]) -> None:
    url = f"file://{tmp_path / 'store'}"
    create_tenant(url, "shop")
    start_server(url)
    endcap("generate", "--items", "20", "--shoppers", "5", "--events", "50",
           "--out", str(tmp_path / "shop"))

    def load(folder: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "endcap.cli.main", "load", "--store", url, "--tenant",
             "shop", "--dir", str(tmp_path / folder)], capture_output=True, text=True,
            timeout=60)

    second = load("shop")
    assert second.returncode != 0 and "in use by another endcap process" in second.stderr
    missing = load("nothing")
    assert missing.returncode == 2 and "items.ndjson not found" in missing.stderr
    # readers are welcome while the server runs
    assert "shop" in endcap("tenants", "list", "--store", url)


def test_generate_then_load_then_serve(tmp_path: Path,
                                       start_server: Callable[..., Server]) -> None:
    shop = tmp_path / "shop"
    out = endcap("generate", "--items", "300", "--shoppers", "200", "--events", "3000",
                 "--seed", "3", "--out", str(shop))
    assert "300 items" in out and "3000 events" in out
    url = f"file://{tmp_path / 'store'}"
    tenant = create_tenant(url, "synthetic")
    assert "3000 new events" in endcap("load", "--store", url, "--tenant", "synthetic",
                                       "--dir", str(shop))
    assert "published model" in endcap("train", "--store", url)
    server = start_server(url)
    auth = {"Authorization": f"Bearer {tenant.secret_token}"}
    httpx.put(server.url + "/v1/pods/top", json={"strategy": "bestsellers", "num_results": 5},
              headers=auth).raise_for_status()
    r = httpx.get(server.url + "/v1/pods/top/recommendations", headers=auth).json()
    assert r["total"] == 5 and r["model_version"] is not None

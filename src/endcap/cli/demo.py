"""``endcap demo``: the bundled sample shop, trained and served in one process."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tqdm import tqdm

from endcap.events.ingest import ingest
from endcap.pods.model import Pod
from endcap.sampledata.shop import SampleShop
from endcap.store.protocol import Store
from endcap.tenants.service import create_tenant

TENANT = "demo"
CREDENTIALS = "demo-credentials.json"
BATCH = 1_000
#: The demo retrains this often, so the events you send reach the models too.
RETRAIN_SECONDS = 900.0

#: The demo's placements, each a strategy with a fallback.
DEMO_PODS = [
    Pod(id="home-bestsellers", display_name="Bestsellers", strategy="bestsellers"),
    Pod(id="home-trending", display_name="Trending now", strategy=["trending", "bestsellers"]),
    Pod(id="for-you", display_name="Picked for you", strategy=["for_you", "bestsellers"]),
    Pod(id="recently-viewed", display_name="Recently viewed", strategy="recently_viewed",
        allow_repurchase=True),
    Pod(id="product-similar", display_name="Similar items",
        strategy=["alternative_items", "filtered_items"]),
    Pod(id="cart-complements", display_name="Goes well with",
        strategy=["complementary_items", "bestsellers"]),
    Pod(id="category-browse", display_name="Popular in this category",
        strategy="filtered_items"),
    Pod(id="search", display_name="Search by intent", strategy="semantic_search"),
]


def default_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "endcap" / "demo"


def reset(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


async def ensure_tenant(store: Store, path: Path) -> dict[str, str]:
    """The demo tenant's credentials, created (and saved, mode 0600) on first run."""
    creds_file = path / CREDENTIALS
    if creds_file.exists() and await store.get_tenant(TENANT) is not None:
        creds: dict[str, str] = json.loads(creds_file.read_text())
        return creds
    new = await create_tenant(store, TENANT, "endcap demo shop (UCI Online Retail)")
    creds = {"tenant": TENANT, "public_key": new.public_key, "secret_token": new.secret_token}
    creds_file.write_text(json.dumps(creds, indent=2))
    creds_file.chmod(0o600)
    return creds


async def load_shop(store: Store, tenant: str, shop: SampleShop, progress: bool = True) -> int:
    """Store the shop's items, then send its events through normal ingestion."""
    for i in range(0, len(shop.items), 10_000):
        await store.upsert_items(tenant, shop.items[i:i + 10_000])
    accepted = 0
    with tqdm(total=len(shop.events), unit="ev", desc="events", disable=not progress) as bar:
        for i in range(0, len(shop.events), BATCH):
            batch = shop.events[i:i + BATCH]
            result = await ingest(store, tenant, list(enumerate(batch)), [])
            accepted += result.accepted
            bar.update(len(batch))
    for pod in DEMO_PODS:
        if await store.get_pod(tenant, pod.id) is None:
            await store.put_pod(tenant, pod)
    return accepted


async def showcase(store: Store, tenant: str) -> tuple[str, str]:
    """A shopper with a rich history and a popular item, for the printed examples."""
    events = await store.read_events(tenant)
    counts: dict[str, int] = {}
    items: dict[str, int] = {}
    for e in events[-50_000:]:
        if e.user_id and e.type == "purchase":
            counts[e.user_id] = counts.get(e.user_id, 0) + 1
            for it in e.item_ids():
                items[it] = items.get(it, 0) + 1
    user = max(counts, key=lambda u: counts[u]) if counts else "12347"
    item = max(items, key=lambda i: items[i]) if items else ""
    return user, item


def banner(url: str, creds: dict[str, str], user: str, item: str) -> str:
    pk, sk = creds["public_key"], creds["secret_token"]
    auth = f'-H "Authorization: Bearer {pk}"'
    return f"""
endcap demo is serving the UCI Online Retail shop at {url}
  API docs:      {url}/docs
  tenant:        {creds['tenant']}
  public key:    {pk}
  secret token:  {sk}

Try (curl -g keeps the [brackets] of filters literal):
  curl -s {auth} '{url}/v1/pods/for-you/recommendations?user_id={user}&num_results=5'
  curl -s {auth} '{url}/v1/pods/product-similar/recommendations?item_id={item}'
  curl -s {auth} '{url}/v1/pods/cart-complements/recommendations?item_id={item}'
  curl -sg {auth} '{url}/v1/pods/home-bestsellers/recommendations?filters[category]=Kitchen'
  curl -s {auth} -X POST {url}/v1/events -d '{{"event_id": "e1", "type": "view", "session_id": "s1", "item_id": "{item}"}}'
  curl -s {auth} '{url}/v1/pods/recently-viewed/recommendations?session_id=s1'
  curl -s {auth} '{url}/v1/pods/search/recommendations?query=gift+for+a+gardener+under+5'
  curl -s -H "Authorization: Bearer {sk}" {url}/v1/pods
"""  # noqa: E501

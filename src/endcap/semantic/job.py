"""Embed a tenant's catalog: only new or changed texts go through the model.

Run by ``endcap embed`` (once, or ``--watch`` to follow catalog changes), by
``endcap train`` before it fits, and by the all-in-one process after imports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from endcap.catalog.model import Item
from endcap.semantic.ann import EXACT_ITEMS, VectorIndex
from endcap.semantic.artifact import Attributes, ItemEmbeddings, new_version
from endcap.semantic.provider import EmbeddingProvider, Vectors
from endcap.semantic.text import item_text, text_hash
from endcap.store.protocol import Store

log = logging.getLogger("endcap.semantic")

#: Texts sent to the provider per call (and per progress step).
BATCH = 256
#: Rebuild the index from scratch once this share of its rows are tombstones.
MAX_TOMBSTONES = 0.2


@dataclass(frozen=True, slots=True)
class EmbedReport:
    version: str | None  # None: nothing changed, nothing published
    items: int
    embedded: int
    reused: int
    removed: int
    rebuilt: bool
    seconds: float

    def line(self) -> str:
        what = f"published {self.version}" if self.version else "unchanged"
        return (f"embeddings {what}: {self.items} items, {self.embedded} embedded, "
                f"{self.reused} reused, {self.removed} removed"
                f"{', index rebuilt' if self.rebuilt else ''} ({self.seconds:.1f} s)")


def embed_texts(provider: EmbeddingProvider, texts: Sequence[str], *,
                progress: bool = False) -> Vectors:
    """Vectors of ``texts`` in batches of :data:`BATCH`, with a progress bar if asked."""
    out: list[Vectors] = []
    bar = None
    if progress and len(texts) > BATCH:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), unit="item", desc="embedding")
    for a in range(0, len(texts), BATCH):
        out.append(provider.embed(texts[a:a + BATCH]))
        if bar is not None:
            bar.update(len(texts[a:a + BATCH]))
    if bar is not None:
        bar.close()
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def update(previous: ItemEmbeddings | None, items: Sequence[Item],
           provider: EmbeddingProvider, *, progress: bool = False,
           now: float | None = None) -> tuple[ItemEmbeddings | None, EmbedReport]:
    """The embeddings of ``items`` built from ``previous``: unchanged texts keep their
    rows and vectors; new or changed ones are embedded and appended; rows of items no
    longer in the catalog become tombstones. Returns ``(None, report)`` when nothing
    changed (text, price, stock, brand or categories)."""
    start = time.perf_counter()
    if previous is not None and previous.provider != provider.name:
        log.info("embeddings were made by %s; re-embedding with %s",
                 previous.provider, provider.name)
        previous = None
    texts = [item_text(it) for it in items]
    hashes = [text_hash(t) for t in texts]
    by_id = {it.id: k for k, it in enumerate(items)}

    if previous is None:
        old_ids: list[str] = []
        old_hashes = np.zeros((0, 16), np.uint8)
    else:
        old_ids, old_hashes = list(previous.item_ids), previous.hashes
    keep_rows: dict[str, int] = {}  # item -> its old row, when its text is unchanged
    for row, iid in enumerate(old_ids):
        k = by_id.get(iid) if iid else None
        if k is not None and old_hashes[row].tobytes() == hashes[k]:
            keep_rows[iid] = row
    fresh = [k for k, it in enumerate(items) if it.id not in keep_rows]
    removed = sum(1 for iid in old_ids if iid and iid not in keep_rows)
    vectors = embed_texts(provider, [texts[k] for k in fresh], progress=progress)

    rows_after = len(old_ids) + len(fresh)
    tombstones = len(old_ids) - len(keep_rows)  # old rows not carried over as they are
    rebuild = previous is None or (
        rows_after > 0 and tombstones / rows_after > MAX_TOMBSTONES) or (
        not previous.index.hnsw and rows_after > EXACT_ITEMS)  # outgrew the exact index
    if previous is not None and not fresh and not removed:
        current_attrs = Attributes.of([items[by_id[i]] if i else None for i in old_ids])
        if _same(current_attrs, previous.attributes):
            return None, EmbedReport(None, len(items), 0, len(keep_rows), 0, False,
                                     time.perf_counter() - start)

    if rebuild or previous is None:
        kept = list(keep_rows)
        old_vecs = (previous.index.vectors([keep_rows[i] for i in kept])
                    if previous is not None else np.zeros((0, 0), np.float32))
        row_ids = kept + [items[k].id for k in fresh]
        row_hashes = [old_hashes[keep_rows[i]].tobytes() for i in kept] + \
            [hashes[k] for k in fresh]
        parts = [v for v in (old_vecs, vectors) if v.size]
        all_vecs = np.concatenate(parts) if parts else np.zeros((0, 384), np.float32)
        index = VectorIndex.build(all_vecs) if len(all_vecs) else None
        rebuilt = previous is not None
    else:
        index = VectorIndex.from_bytes(previous.index.to_bytes(), previous.dim)  # a copy
        index.add(vectors)
        row_ids = [i if i in keep_rows else "" for i in old_ids] + [items[k].id for k in fresh]
        row_hashes = [old_hashes[r].tobytes() for r in range(len(old_ids))] + \
            [hashes[k] for k in fresh]
        rebuilt = False
    if index is None:  # an empty catalog
        return None, EmbedReport(None, 0, 0, 0, removed, False, time.perf_counter() - start)
    attrs = Attributes.of([items[by_id[i]] if i else None for i in row_ids])
    t = time.time() if now is None else now
    version = new_version(t)
    emb = ItemEmbeddings(
        version=version, provider=provider.name, built_at=t, item_ids=row_ids,
        hashes=np.frombuffer(b"".join(row_hashes), np.uint8).reshape(-1, 16).copy(),
        index=index, attributes=attrs,
        stats={"items": len(items), "rows": len(row_ids), "embedded": len(fresh),
               "reused": len(keep_rows), "index": "hnsw" if index.hnsw else "exact"})
    return emb, EmbedReport(version, len(items), len(fresh), len(keep_rows), removed,
                            rebuilt, time.perf_counter() - start)


def _same(a: Attributes, b: Attributes) -> bool:
    return (np.array_equal(a.price, b.price, equal_nan=True)
            and np.array_equal(a.in_stock, b.in_stock) and a.brands == b.brands
            and np.array_equal(a.brand, b.brand) and a.categories.keys() == b.categories.keys()
            and all(np.array_equal(v, b.categories[c]) for c, v in a.categories.items()))


async def load_current(store: Store, tenant: str) -> ItemEmbeddings | None:
    version = await store.current_model(tenant, kind="embeddings")
    if version is None:
        return None
    data = await store.load_model(tenant, version, kind="embeddings")
    return None if data is None else ItemEmbeddings.from_bytes(data)


async def embed_catalog(store: Store, tenant: str, provider: EmbeddingProvider, *,
                        progress: bool = False) -> EmbedReport:
    """Bring the tenant's published embeddings up to date with its catalog."""
    import asyncio

    items = await store.all_items(tenant)
    previous = await load_current(store, tenant)
    emb, report = await asyncio.to_thread(update, previous, items, provider,
                                          progress=progress)
    if emb is not None:
        data = await asyncio.to_thread(emb.to_bytes)
        await store.publish_model(tenant, emb.version, data, kind="embeddings")
    log.info("tenant %s: %s", tenant, report.line())
    return report

"""The text an item is embedded from, and its fingerprint.

Name first (sentence models weigh the start of a text most), then brand, category
paths, facets and the description, cut to what the model reads anyway.
"""

from __future__ import annotations

import hashlib

from endcap.catalog.model import Item

#: MiniLM reads 256 word pieces; past ~1,500 characters the rest is never seen.
MAX_CHARS = 1_500


def item_text(item: Item) -> str:
    """One line of text describing ``item`` for the embedding model."""
    parts: list[str] = []
    if item.name:
        parts.append(item.name.strip())
    if item.brand:
        parts.append(f"brand: {item.brand.strip()}")
    if item.categories:
        cats = dict.fromkeys(c.strip("/").replace("/", " > ") for c in item.categories)
        parts.append("category: " + "; ".join(cats))
    for key, value in sorted(item.facets.items()):
        values = value if isinstance(value, list) else [value]
        shown = ", ".join(v for v in values if v)
        if shown:
            parts.append(f"{key}: {shown}")
    if item.description:
        parts.append(" ".join(item.description.split()))
    return ". ".join(p for p in parts if p)[:MAX_CHARS]


def text_hash(text: str) -> bytes:
    """A 16-byte fingerprint: an item whose text keeps its hash is not re-embedded."""
    return hashlib.blake2b(text.encode(), digest_size=16).digest()

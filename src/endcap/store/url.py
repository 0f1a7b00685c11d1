"""Open a store from a URL: ``memory://``, ``file:///var/lib/endcap`` (embedded),
later ``redis://`` and ``redis+cluster://``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from endcap.store.embedded import EmbeddedStore
from endcap.store.protocol import Store


class StoreURLError(ValueError):
    """The store URL cannot be opened; the message says why."""


def open_store(url: str, *, histories: bool = True) -> Store:
    """The back-end the URL names. ``file://`` paths may be relative (``file://var/x``).
    ``histories=False``: for batch roles that never read shopper histories (the embedded
    store then skips rebuilding them, seconds per million events)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    sync = query.pop("sync", ["normal"])[0]
    if query:
        raise StoreURLError(f"unknown store URL option(s): {', '.join(sorted(query))}")
    if sync not in ("normal", "full"):
        raise StoreURLError("sync must be 'normal' or 'full'")
    if parts.scheme == "memory":
        return EmbeddedStore(None, histories=histories)
    if parts.scheme == "file":
        raw = parts.netloc + parts.path
        if not raw:
            raise StoreURLError("file:// URL needs a directory, e.g. file:///var/lib/endcap")
        return EmbeddedStore(Path(raw).expanduser(), sync_full=sync == "full",
                             histories=histories)
    if parts.scheme in ("redis", "rediss", "redis+cluster"):
        raise StoreURLError("the Redis back-end is not part of this build yet")
    raise StoreURLError(
        f"unsupported store URL {url!r}: use memory:// or file:///path/to/dir"
    )

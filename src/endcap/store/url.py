"""Open a store from a URL: ``memory://``, ``file:///var/lib/endcap`` (embedded),
``redis://host:6379/0``, ``rediss://`` (TLS), ``redis+cluster://host:7000`` (Redis).

Redis options ride in the query string: ``shards`` (event-stream shards per tenant,
default 8; every process must agree), ``prefix`` (default ``endcap``), ``timeout``
(seconds per call, default 1), ``max_connections`` (default 64), ``dedupe_hours`` (how
long an ``event_id`` is remembered for real-time state, default 6), ``sync_seconds`` (how
stale a replica's cached items and pods may be, default 1), ``cache_items`` (default 200000),
``archive`` (where stream workers write Parquet and the trainer reads it, a
``file:///dir`` URL), and the TLS options ``ssl_ca_certs``, ``ssl_certfile``,
``ssl_keyfile``, ``ssl_cert_reqs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from endcap.store.embedded import EmbeddedStore
from endcap.store.protocol import Store


class StoreURLError(ValueError):
    """The store URL cannot be opened; the message says why."""


_REDIS_INT = {"shards": (1, 1024), "max_connections": (1, 10_000),
              "dedupe_hours": (1, 24 * 90), "cache_items": (0, 100_000_000)}
_REDIS_FLOAT = {"timeout": (0.01, 60.0), "sync_seconds": (0.0, 3600.0)}
_REDIS_TLS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs")


def _redis_store(url: str) -> Store:
    from endcap.store.keys import Keys
    from endcap.store.redis import RedisStore

    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    opts: dict[str, Any] = {}
    for name, (lo, hi) in {**_REDIS_INT, **_REDIS_FLOAT}.items():
        if name in query:
            raw = query.pop(name)
            try:
                value = int(raw) if name in _REDIS_INT else float(raw)
            except ValueError:
                raise StoreURLError(f"{name} must be a number, not {raw!r}") from None
            if not lo <= value <= hi:
                raise StoreURLError(f"{name} must be from {lo} to {hi}")
            opts[name] = value
    prefix = query.pop("prefix", "endcap")
    if not prefix or "{" in prefix or "}" in prefix:
        raise StoreURLError("prefix must be non-empty and hold no braces")
    archive = query.pop("archive", None)
    if archive is not None and not archive.startswith("file://"):
        raise StoreURLError("archive must be a file:///dir URL (S3 is not supported yet)")
    tls = {k: query.pop(k) for k in _REDIS_TLS if k in query}
    if query:
        raise StoreURLError(f"unknown store URL option(s): {', '.join(sorted(query))}")
    cluster = parts.scheme.endswith("+cluster")
    scheme = parts.scheme.removesuffix("+cluster")
    if tls and scheme != "rediss":
        raise StoreURLError("TLS options need a rediss:// URL")
    base = urlunsplit((scheme, parts.netloc, parts.path, urlencode(tls), ""))
    return RedisStore.from_url(
        base, cluster=cluster, timeout=opts.pop("timeout", 1.0),
        max_connections=opts.pop("max_connections", 64),
        keys=Keys(prefix=prefix, shards=opts.pop("shards", 8)),
        dedupe_seconds=int(opts.pop("dedupe_hours", 6)) * 3600,
        sync_seconds=opts.pop("sync_seconds", 1.0), cache_items=opts.pop("cache_items", 200_000),
        archive=archive)


def open_store(url: str, *, histories: bool = True) -> Store:
    """The back-end the URL names. ``file://`` paths may be relative (``file://var/x``).
    ``histories=False``: for batch roles that never read shopper histories (the embedded
    store then skips rebuilding them, seconds per million events)."""
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss", "redis+cluster", "rediss+cluster"):
        return _redis_store(url)
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
    raise StoreURLError(
        f"unsupported store URL {url!r}: use memory://, file:///path/to/dir, "
        "redis://host:port, rediss://host:port or redis+cluster://host:port"
    )

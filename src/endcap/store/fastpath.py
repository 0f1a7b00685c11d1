"""One multiplexed connection for the hot path's read: many requests' commands in flight
on a single socket, replies matched in order (Redis answers a connection in order).

redis-py spends about 45 µs of CPU per command on its pool, retries and callbacks; this
spends about 5, which is the difference between the Redis path keeping up with the
embedded one or not (bench/redis.py). It does only what the hot path needs: scripts by
SHA with an EVAL fallback, pipelined reads, AUTH and SELECT from the URL, TLS for
``rediss://``, a timeout on every call, and a fresh connection after any failure.
Everything else goes through redis-py.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import hiredis
import redis.exceptions as rexc
from redis.asyncio.connection import parse_url


def _error(reply: hiredis.ReplyError) -> rexc.ResponseError:
    text = str(reply)
    return rexc.OutOfMemoryError(text) if text.startswith("OOM") else rexc.ResponseError(text)


class _Protocol(asyncio.Protocol):
    def __init__(self, on_lost: Any) -> None:
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self._on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            fut, _ = self.waiting.popleft()
            if not fut.done():
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(rexc.ConnectionError(f"connection to Redis lost: {exc or 'closed'}"))
        self._on_lost(self)

    def fail(self, err: Exception) -> None:
        while self.waiting:
            fut, _ = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(err)


def _tls_context(url: str) -> ssl.SSLContext:
    """The TLS settings of a ``rediss://`` URL, as redis-py reads them (``ssl_ca_certs``,
    ``ssl_certfile``, ``ssl_keyfile``, ``ssl_cert_reqs``)."""
    query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    ctx = ssl.create_default_context(cafile=query.get("ssl_ca_certs"))
    if "ssl_certfile" in query:
        ctx.load_cert_chain(query["ssl_certfile"], query.get("ssl_keyfile"))
    reqs = query.get("ssl_cert_reqs", "required").lower()
    if reqs == "none":
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif reqs == "optional":
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


class MuxConnection:
    """A lazily opened, self-healing multiplexed connection to one Redis server."""

    def __init__(self, url: str, timeout: float) -> None:
        opts = parse_url(url)
        self.tls = _tls_context(url) if url.startswith("rediss://") else None
        self.host = str(opts.get("host", "127.0.0.1"))
        self.port = int(opts.get("port", 6379))
        self.db = int(opts.get("db", 0) or 0)
        self.username = opts.get("username")
        self.password = opts.get("password")
        self.timeout = timeout
        self._proto: _Protocol | None = None
        self._opening: asyncio.Future[_Protocol] | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    async def _connection(self) -> _Protocol:
        if self._proto is not None:
            return self._proto
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        try:
            return await asyncio.shield(self._opening)
        finally:
            if self._opening is not None and self._opening.done():
                self._opening = None

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: _Protocol(self._lost), self.host, self.port,
                                       ssl=self.tls,
                                       server_hostname=self.host if self.tls else None),
                self.timeout)
        except (OSError, TimeoutError) as e:
            raise rexc.ConnectionError(f"cannot connect to Redis at {self.host}:"
                                       f"{self.port}: {e}") from e
        setup: list[tuple[Any, ...]] = []
        if self.password is not None:
            setup.append(("AUTH", self.username, self.password) if self.username
                         else ("AUTH", self.password))
        if self.db:
            setup.append(("SELECT", self.db))
        for cmd in setup:
            reply = await self._send(proto, cmd)
            if isinstance(reply, hiredis.ReplyError):
                assert proto.transport is not None
                proto.transport.close()
                raise rexc.ConnectionError(f"Redis refused {cmd[0]}: {reply}")
        self._proto = proto
        self._arm(loop)
        return proto

    def _lost(self, proto: _Protocol) -> None:
        if self._proto is proto:
            self._proto = None

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._watchdog is None:
            self._watchdog = loop.call_later(self.timeout / 2, self._check)

    def _check(self) -> None:
        """Every half timeout: if the oldest call waited longer than the timeout, the
        connection is stuck; drop it (its calls fail, the next call reconnects)."""
        self._watchdog = None
        proto = self._proto
        if proto is None:
            return
        if proto.waiting and time.monotonic() - proto.waiting[0][1] > self.timeout:
            proto.fail(rexc.TimeoutError(f"Redis did not answer within {self.timeout} s"))
            self._proto = None
            if proto.transport is not None:
                proto.transport.abort()
            return
        self._arm(asyncio.get_running_loop())

    @staticmethod
    def _send(proto: _Protocol, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        proto.waiting.append((fut, time.monotonic()))
        assert proto.transport is not None
        proto.transport.write(hiredis.pack_command(args))
        return fut

    async def call(self, *args: Any) -> Any:
        proto = await self._connection()
        reply = await self._send(proto, args)
        if isinstance(reply, hiredis.ReplyError):
            raise _error(reply)
        return reply

    async def pipeline(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several commands in one write and one round trip; their replies in order.
        Not atomic (Redis may run other clients' commands in between): for reads."""
        proto = await self._connection()
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        futs = []
        for _ in commands:
            fut: asyncio.Future[Any] = loop.create_future()
            proto.waiting.append((fut, now))
            futs.append(fut)
        assert proto.transport is not None
        proto.transport.write(b"".join(map(hiredis.pack_command, commands)))
        try:
            replies = [await f for f in futs]
        finally:
            for f in futs:  # one failure fails them all: the rest are seen, not logged
                if f.done() and not f.cancelled():
                    f.exception()
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                raise _error(reply)
        return replies

    async def script(self, sha: str, body: str, keys: list[str], args: tuple[Any, ...] = ()
                     ) -> Any:
        """EVALSHA, or EVAL when the server does not know the script (a restart)."""
        proto = await self._connection()
        reply = await self._send(proto, ("EVALSHA", sha, len(keys), *keys, *args))
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await self._send(proto, ("EVAL", body, len(keys), *keys, *args))
        if isinstance(reply, hiredis.ReplyError):
            raise _error(reply)
        return reply

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None

"""A lean HTTP/1.1 client on asyncio streams: one keep-alive connection per object.

The load generator has to stay well below one core while it drives the server at
thousands of requests a second, and the general clients (httpx) cost several times more
CPU per request than this. It speaks just what endcap's server answers: a status line,
headers, and a body sized by ``Content-Length`` (or chunked, for safety).
"""

from __future__ import annotations

import asyncio
import socket
import time

#: A transport error (refused, reset, closed mid-response) is recorded as this status.
TRANSPORT_ERROR = 0


def request_bytes(method: str, path: str, host: str, headers: dict[str, str],
                  body: bytes = b"") -> bytes:
    """One request, ready to write; the connection is kept alive."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    """One keep-alive connection; :meth:`send` reconnects once it has been closed.

    Like a browser, it does not reuse a connection idle for longer than ``IDLE_REUSE``
    (below uvicorn's 5-s keep-alive timeout), and it sends a request again on a fresh
    connection when a reused one turns out to have been closed by the server before any
    byte of the answer came back."""

    IDLE_REUSE = 4.0

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._used = 0.0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader, self._writer = reader, writer
        return reader, writer

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """Write ``raw`` and read the whole response: (status, body). Raises OSError or
        asyncio.IncompleteReadError on a transport failure (the connection is closed)."""
        if self._writer is not None and time.perf_counter() - self._used > self.IDLE_REUSE:
            self.close()
        if self._writer is None or self._reader is None:
            return await self._exchange(*await self._connect(), raw)
        try:
            return await self._exchange(self._reader, self._writer, raw)
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            if isinstance(e, asyncio.IncompleteReadError) and e.partial:
                raise  # the server had begun to answer: not a stale connection
            return await self._exchange(*await self._connect(), raw)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        raw: bytes) -> tuple[int, bytes]:
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, chunked, close = _framing(head)
            if chunked:
                body = await _read_chunked(reader)
            else:
                body = await reader.readexactly(length) if length else b""
        except BaseException:
            self.close()
            raise
        self._used = time.perf_counter()
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def _framing(head: bytes) -> tuple[int, bool, bool]:
    """(Content-Length, chunked, connection: close) from a response head."""
    length, chunked, close = 0, False, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    return length, chunked, close


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class Pool:
    """Keep-alive connections to one server: an idle one is reused, else a new one is
    opened, up to ``limit`` (then a request waits for one: that wait is part of its
    latency, as it would be for a browser)."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self._idle: list[Connection] = []
        self._opened = 0
        self._free = asyncio.Condition()

    @property
    def opened(self) -> int:
        return self._opened

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """(status, body); status :data:`TRANSPORT_ERROR` when the transport failed."""
        conn = await self._acquire()
        try:
            return await conn.send(raw)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError):
            return TRANSPORT_ERROR, b""
        finally:
            await self._release(conn)

    async def _acquire(self) -> Connection:
        if self._idle:
            return self._idle.pop()
        if self._opened < self.limit:
            self._opened += 1
            return Connection(self.host, self.port)
        async with self._free:
            await self._free.wait_for(lambda: bool(self._idle))
            return self._idle.pop()

    async def _release(self, conn: Connection) -> None:
        self._idle.append(conn)
        async with self._free:
            self._free.notify()

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()

"""Shared fixtures: a real ``endcap serve`` process on a free loopback port; real Redis
(standalone and a 3-master cluster) started for the session."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.redis_servers import RedisClusterServers, RedisServer, terminate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def endcap(*args: str, env: dict[str, str] | None = None) -> str:
    """Run the ``endcap`` CLI as a user would; its stdout."""
    out = subprocess.run([sys.executable, "-m", "endcap.cli.main", *args], check=True,
                         capture_output=True, text=True, env={**os.environ, **(env or {})},
                         timeout=300)
    return out.stdout


@dataclass
class Tenant:
    id: str
    public_key: str
    secret_token: str


def create_tenant(store_url: str, tenant_id: str) -> Tenant:
    out = endcap("tenants", "create", tenant_id, "--store", store_url)
    pk = re.search(r"public key:\s+(\S+)", out)
    sk = re.search(r"secret token:\s+(\S+)", out)
    assert pk and sk, out
    return Tenant(tenant_id, pk.group(1), sk.group(1))


def clients(url: str, tenant: Tenant, timeout: float = 30) -> tuple[httpx.Client, httpx.Client]:
    """HTTP clients for ``tenant`` on a server: (public key, secret token)."""
    def client(key: str) -> httpx.Client:
        return httpx.Client(base_url=url, timeout=timeout,
                            headers={"Authorization": f"Bearer {key}"})

    return client(tenant.public_key), client(tenant.secret_token)


class Server:
    """``endcap serve`` in a child process; ``kill()`` is a real ``kill -9``."""

    def __init__(self, store_url: str, log_path: Path, **env: str) -> None:
        self.store_url = store_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, "ENDCAP_MODEL_POLL_SECONDS": "0.2", **env}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "endcap.cli.main", "serve", "--store", self.store_url,
             "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("server did not start in 60 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        terminate(self.proc)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``endcap serve`` on a store URL; every server is stopped after the test."""
    started: list[Server] = []

    def start(store_url: str, **env: str) -> Server:
        server = Server(store_url, tmp_path / f"server-{len(started)}.log", **env)
        started.append(server)
        return server.start()

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a standalone Redis: ``REDIS_URL`` if set, else one started here."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    yield from _serve(RedisServer(tmp_path_factory.mktemp("redis")))


@pytest.fixture(scope="session")
def redis_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The ``rediss://`` URL of a TLS-only Redis with a self-signed certificate."""
    yield from _serve(RedisServer(tmp_path_factory.mktemp("redis-tls"), tls=True))


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a 3-master Redis Cluster: ``REDIS_CLUSTER_URL`` if set, else started."""
    if os.environ.get("REDIS_CLUSTER_URL"):
        yield os.environ["REDIS_CLUSTER_URL"]
        return
    yield from _serve(RedisClusterServers(tmp_path_factory.mktemp("redis-cluster")))


def _serve(server: RedisServer | RedisClusterServers) -> Iterator[str]:
    try:
        yield server.url
    finally:
        server.stop()


def unique_prefix() -> str:
    """A key prefix of its own, so tests sharing one Redis never see each other's keys."""
    return "t" + uuid.uuid4().hex[:12]

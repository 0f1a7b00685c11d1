"""Real Redis for the tests: a standalone server and a 3-master Redis Cluster on free
loopback ports, started here (``REDIS_URL`` / ``REDIS_CLUSTER_URL`` point at existing
ones instead) and stopped after the test session."""

from __future__ import annotations

import random
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

INSTALL_HINT = ("redis-server and redis-cli are needed for the tests: "
                "'sudo apt-get install redis-server' (Debian/Ubuntu), "
                "'brew install redis' (macOS), or set REDIS_URL and REDIS_CLUSTER_URL")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port(cluster: bool = False) -> int:
    """A free port; for a cluster node, one whose bus port (port + 10000) is free too."""
    if not cluster:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    for _ in range(200):
        port = random.randint(20_000, 50_000)
        if _free(port) and _free(port + 10_000):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def _wait_ping(port: int, timeout: float = 20.0, ca: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw:
                s = raw if ca is None else ssl.create_default_context(
                    cafile=str(ca)).wrap_socket(raw, server_hostname="127.0.0.1")
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"redis-server on port {port} did not answer in {timeout} s")


def terminate(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL if the process has not gone within 10 s."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _self_signed(folder: Path) -> Path:
    """A certificate for 127.0.0.1 (and its key, ``key.pem``), made with openssl."""
    cert = folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(folder / "key.pem"), "-out", str(cert),
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert


class RedisServer:
    """One ``redis-server`` child; ``restart()`` keeps its port (and, with ``aof``, its
    data)."""

    def __init__(self, workdir: Path, *, port: int | None = None, cluster: bool = False,
                 aof: bool = False, tls: bool = False) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError(INSTALL_HINT)
        self.port = port or _free_port(cluster)
        self.dir = workdir / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                     "--dir", str(self.dir), "--save", "", "--daemonize", "no",
                     "--appendonly", "yes" if aof else "no", "--appendfsync", "always"]
        self.ca: Path | None = None
        if tls:
            self.ca = _self_signed(self.dir)
            self.args[1:3] = ["--port", "0", "--tls-port", str(self.port)]
            self.args += ["--tls-cert-file", str(self.ca), "--tls-key-file",
                          str(self.dir / "key.pem"), "--tls-ca-cert-file", str(self.ca),
                          "--tls-auth-clients", "no"]
        if cluster:
            self.args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                          "--cluster-node-timeout", "2000"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        if self.ca is not None:
            return f"rediss://127.0.0.1:{self.port}?ssl_ca_certs={self.ca}"
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.dir / "redis.log").open("ab")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ping(self.port, ca=self.ca)
        except BaseException:
            self.stop()  # never leave a server behind
            raise

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


class RedisClusterServers:
    """Three masters, no replicas, slots spread by ``redis-cli --cluster create``."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("redis-cli") is None:
            raise RuntimeError(INSTALL_HINT)
        self.nodes: list[RedisServer] = []
        try:
            for _ in range(3):
                self.nodes.append(RedisServer(workdir, cluster=True))
            subprocess.run(["redis-cli", "--cluster", "create",
                            *[f"127.0.0.1:{n.port}" for n in self.nodes],
                            "--cluster-replicas", "0", "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            self._wait_ok()
        except BaseException:
            self.stop()
            raise

    def _wait_ok(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = subprocess.run(["redis-cli", "-p", str(self.nodes[0].port), "cluster",
                                  "info"], capture_output=True, text=True, timeout=10).stdout
            if "cluster_state:ok" in out:
                return
            time.sleep(0.1)
        raise RuntimeError("the test Redis Cluster did not reach cluster_state:ok")

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()

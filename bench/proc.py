"""Small process helpers the benchmarks share: a free loopback port, the endcap CLI."""

from __future__ import annotations

import socket
import subprocess
import sys


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def cli(*args: str, timeout: float = 1800) -> str:
    """``endcap ARGS`` in this interpreter; its stdout (raises if it fails)."""
    out = subprocess.run([sys.executable, "-m", "endcap.cli.main", *args], check=True,
                         capture_output=True, text=True, timeout=timeout)
    return out.stdout

"""Loopback helpers: a free port, and waiting for a server to answer."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx2

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_answers(url: str, timeout: float, alive: Callable[[], bool] | None = None) -> None:
    """Poll ``url`` until it answers 200; ``alive()`` (if given) false means give up."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None and not alive():
            raise RuntimeError(f"the server for {url} exited before answering")
        try:
            if httpx2.get(url, timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.1)

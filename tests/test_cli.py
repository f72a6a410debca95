"""The ``watchlist`` command, run as a newcomer would: no configuration at all."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from tests.conftest import wait_until_serving
from webapp import ratelimit
from webapp.tables import mysql_ddl

WATCHLIST = [sys.executable, "-m", "webapp"]


def _free_port_pair() -> int:
    """A port p with p + 1 free too (the development provider takes the next port)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no two consecutive free ports")


def _clean_environ() -> dict[str, str]:
    ours = {"DATABASE_URL", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "SECRET_KEY"}
    ours |= {"OIDC_DISCOVERY_URL", "PUBLIC_URL", "API_AUDIENCES", "WATCHLIST_ENV"}
    return {name: value for name, value in os.environ.items() if name not in ours}


@contextmanager
def serving(folder: Path, *arguments: str, **environ: str) -> Iterator[str]:
    """``watchlist [arguments]`` with nothing else configured, in ``folder``, on free ports."""
    port = _free_port_pair()
    process = subprocess.Popen(
        [*WATCHLIST, *arguments, "--port", str(port)],
        cwd=folder,
        env={**_clean_environ(), **environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(
            base_url, process, lambda: process.stdout.read() if process.stdout else ""
        )
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[str]:
    """``watchlist`` with nothing configured, in an empty folder, on free ports."""
    with serving(tmp_path) as base_url:
        yield base_url


def test_serve_starts_one_process_whatever_web_concurrency_says(tmp_path: Path) -> None:
    # uvicorn reads WEB_CONCURRENCY when it is not told how many workers to start.
    with serving(tmp_path, "serve", WEB_CONCURRENCY="2") as base_url:
        assert httpx2.get(f"{base_url}/healthz").status_code == 200


def test_several_workers_need_a_real_google_client(tmp_path: Path) -> None:
    result = subprocess.run(
        [*WATCHLIST, "serve", "--workers", "2", "--port", str(_free_port_pair())],
        cwd=tmp_path,
        env=_clean_environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "--workers needs GOOGLE_CLIENT_ID" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("proxy", "trusted"), [("127.0.0.1", True), ("192.0.2.1", False)])
def test_serve_takes_the_client_address_from_a_trusted_proxy_only(
    tmp_path: Path, proxy: str, trusted: bool
) -> None:
    """``watchlist serve`` (the image's command) reads X-Forwarded-For from the addresses in
    ``FORWARDED_ALLOW_IPS`` only: the sign-in rate limit then counts each real client."""
    with serving(tmp_path, "serve", FORWARDED_ALLOW_IPS=proxy) as base_url:
        statuses = [
            httpx2.get(
                f"{base_url}/login", headers={"X-Forwarded-For": f"203.0.113.{n}"}
            ).status_code
            for n in range(ratelimit.BURST + 5)
        ]
    if trusted:
        assert 429 not in statuses, statuses  # a request from each of 25 clients
    else:
        assert 429 in statuses, statuses  # 25 from one client (the proxy): past its burst


def test_development_mode_round_trip(dev_server: str, tmp_path: Path) -> None:
    port = dev_server.rsplit(":", 1)[1]
    result = subprocess.run(
        [*WATCHLIST, "token", "alice@example.com", "--port", port],
        cwd=tmp_path,
        env=_clean_environ(),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    token = result.stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}

    me = httpx2.get(f"{dev_server}/api/me", headers=headers)
    assert me.status_code == 200
    assert me.json() == {"sub": "alice@example.com", "email": "alice@example.com", "name": "alice"}

    created = httpx2.post(f"{dev_server}/api/stocks", headers=headers, json={"symbol": "msft"})
    assert created.status_code == 201
    listed = httpx2.get(f"{dev_server}/api/stocks", headers=headers).json()
    assert [item["symbol"] for item in listed] == ["MSFT"]
    assert (tmp_path / "watchlist.db").exists()
    assert (tmp_path / ".watchlist-secret-key").exists()


def test_token_command_explains_a_missing_server(tmp_path: Path) -> None:
    port = _free_port_pair()
    result = subprocess.run(
        [*WATCHLIST, "token", "alice@example.com", "--port", str(port)],
        cwd=tmp_path,
        env=_clean_environ(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "is `uv run watchlist` running" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_to_start_without_google(tmp_path: Path) -> None:
    result = subprocess.run(
        WATCHLIST,
        cwd=tmp_path,
        env={**_clean_environ(), "WATCHLIST_ENV": "production"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "GOOGLE_CLIENT_ID" in lines[0]


def test_schema_command_prints_init_sql() -> None:
    result = subprocess.run(
        [*WATCHLIST, "schema"], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout == mysql_ddl()

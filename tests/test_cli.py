"""The ``watchlist`` command, run as a newcomer would: no configuration at all."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.conftest import wait_until_serving
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


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[str]:
    """``watchlist`` with nothing configured, in an empty folder, on free ports."""
    port = _free_port_pair()
    process = subprocess.Popen(
        [*WATCHLIST, "--port", str(port)],
        cwd=tmp_path,
        env=_clean_environ(),
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

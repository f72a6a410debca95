"""The benchmark (``bench/``) still runs: once, tiny, asserting nothing about speed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import mariadb
from tests.conftest import missing

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (
    "== Machine",
    "== Data set",
    "== Throughput and latency",
    "== Targets",
    "== Cost per item",
    "== databases against the raw driver",
    "== Memory",
    "== Quotes from a warm cache",
    "== Quotes targets",
    "== Quotes from a slow provider",
    "== Slow-provider target",
    "== Quotes fan-out",
)


def test_the_benchmark_runs_and_prints_every_section() -> None:
    try:
        mariadb.binaries()
    except mariadb.MissingServer as exc:
        missing(str(exc))
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    report = completed.stdout
    for section in SECTIONS:
        assert section in report, f"{section!r} missing from:\n{report}"
    for scenario in ("GET /watchlist", "GET /api/stocks", "POST then DELETE /api/stocks"):
        assert scenario in report

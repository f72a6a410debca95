"""The servers under test: uvicorn with uvloop and httptools, one worker per core."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from bench.net import LOOPBACK, wait_until_answers

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    pid: int
    workers: tuple[int, ...]

    def cpu_seconds(self) -> float:
        """User and system CPU time of the workers so far."""
        return sum(_cpu(pid) for pid in self.workers)

    def rss(self) -> dict[int, int]:
        """Each worker's resident memory, in bytes."""
        return {pid: psutil.Process(pid).memory_info().rss for pid in self.workers}


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def command(factory: str, port: int, workers: int) -> list[str]:
    """How ``watchlist serve --workers N`` serves: a factory, N workers, uvloop, httptools."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
    ]


class Uvicorn:
    """One uvicorn process tree: started at once, waited for with ``ready``, ``stop``ped."""

    def __init__(
        self,
        name: str,
        factory: str,
        environ: Mapping[str, str],
        *,
        port: int,
        workers: int,
        log: Path,
    ) -> None:
        self.name, self.port, self.count, self.log = name, port, workers, log
        with log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603
                command(factory, port, workers),
                cwd=ROOT,
                env={**environ, "PYTHONPATH": str(ROOT)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def ready(self) -> Server:
        """Wait until the server answers and all its workers have started."""
        url = f"http://{LOOPBACK}:{self.port}"
        wait_until_answers(
            f"{url}/healthz", START_TIMEOUT_SECONDS, lambda: self.process.poll() is None
        )
        pids = _workers(self.process.pid, self.count, self.log)
        return Server(self.name, url, self.process.pid, pids)

    def stop(self) -> None:
        _stop(self.process)


def _workers(pid: int, count: int, log: Path) -> tuple[int, ...]:
    """The worker processes of uvicorn's supervisor, once all ``count`` have started; with
    one worker, uvicorn serves from its own process, with no supervisor."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        workers = [
            child.pid
            for child in psutil.Process(pid).children()
            if "spawn_main" in " ".join(child.cmdline())
        ]
        if count == 1 and not workers:
            workers = [pid]
        started = "Application startup complete"
        if len(workers) == count and log.read_text().count(started) >= count:
            return tuple(sorted(workers))
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start {count} workers:\n{log.read_text()}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the supervisor (it stops its workers); then SIGKILL to each, by PID."""
    children = []
    with contextlib.suppress(psutil.NoSuchProcess):
        children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()

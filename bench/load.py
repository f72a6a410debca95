"""The load generator: HTTP/1.1 keep-alive connections driven from a process of its own.

``python -m bench.load URL --mode read|write --plan FILE ...`` (``run`` below starts it):
each connection sends one request at a time, as a browser or an API client does. In
``read`` mode every request is a GET of the URL; in ``write`` mode a POST of a new item
to it, then a DELETE of that item. Requests take the plan's header lines in turn (a
session cookie, a bearer token, or ``X-User`` for the bare app).

uvicorn's workers share one listening socket, and a worker that is idle when connections
arrive may take all of them and keep them for the whole run. So the connections open one
by one while the load runs, and any that land on a worker holding more than its share are
opened again, until they are spread evenly; only then does the measurement start. It
stops after ``--seconds`` or ``--max-requests``, whichever comes first; a write in flight
still deletes its item. The process prints ``start``, then ``stop``, then the result as
one line of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil  # type: ignore[import-untyped]
import uvloop

ROOT = Path(__file__).resolve().parent.parent
REQUEST_TIMEOUT_SECONDS = 10.0
RAMP_ATTEMPTS = 400


@dataclass(frozen=True)
class Options:
    host: str
    port: int
    path: str
    mode: str
    people: list[tuple[str, str]]
    connections: int
    seconds: float
    max_requests: int
    prefix: str
    workers: list[int]


class Load:
    """What every connection shares: the counts, and when to measure and to stop."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.turn = 0
        self.created = 0
        self.started = math.inf
        self.stopping = False
        self.done = asyncio.Event()
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()

    def person(self) -> int:
        self.turn = (self.turn + 1) % len(self.options.people)
        return self.turn

    def record(self, sent: float, status: int) -> None:
        if sent < self.started or self.stopping:
            return
        self.latencies.append(time.perf_counter() - sent)
        self.statuses[status] += 1
        if len(self.latencies) >= self.options.max_requests:
            self.done.set()


class Connection:
    def __init__(self, load: Load) -> None:
        self.load = load
        self.options = load.options
        self.task: asyncio.Task[None] | None = None
        self.local_port = 0

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.options.host, self.options.port
        )
        self.local_port = self.writer.get_extra_info("sockname")[1]
        self.task = asyncio.create_task(self.run())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.writer.close()

    def _request(self, method: str, path: str, person: int, body: bytes = b"") -> bytes:
        name, value = self.options.people[person]
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.options.host}", f"{name}: {value}"]
        if body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        sent = time.perf_counter()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length) if length else b""
        self.load.record(sent, status)
        return status, body

    async def run(self) -> None:
        load, options = self.load, self.options
        try:
            while not load.stopping:
                person = load.person()
                if options.mode == "read":
                    await self.exchange(self._request("GET", options.path, person))
                    continue
                load.created += 1
                symbol = f"{options.prefix}N{load.created}"
                body = json.dumps(
                    {"symbol": symbol, "name": "Bench Corp", "price": 12.5, "notes": "bench"}
                ).encode()
                status, answer = await self.exchange(
                    self._request("POST", options.path, person, body)
                )
                if status == 201:
                    item = f"{options.path}/{json.loads(answer)['id']}"
                    await self.exchange(self._request("DELETE", item, person))
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if not load.stopping:
                load.errors[type(exc).__name__] += 1


def _owners(options: Options) -> dict[int, int]:
    """Which worker holds each client port."""
    owners = {}
    for pid in options.workers:
        for connection in psutil.Process(pid).net_connections(kind="tcp"):
            if connection.laddr.port == options.port and connection.raddr:
                owners[connection.raddr.port] = pid
    return owners


async def _spread(load: Load, connections: list[Connection]) -> dict[int, int]:
    """Open the connections one by one, and again any that crowd one worker."""
    options = load.options
    share = math.ceil(options.connections / len(options.workers))
    for _ in range(options.connections):
        connection = Connection(load)
        await connection.open()
        connections.append(connection)
        await asyncio.sleep(0.005)
    counts: dict[int, int] = {}
    for _ in range(RAMP_ATTEMPTS):
        await asyncio.sleep(0.002)
        owners = _owners(options)
        counts = Counter(owners.get(c.local_port, 0) for c in connections)
        if 0 in counts:
            continue  # not accepted yet
        if max(counts.values()) <= share:
            break
        crowded = max(counts, key=lambda pid: counts[pid])
        moved = next(c for c in connections if owners[c.local_port] == crowded)
        connections.remove(moved)
        await moved.close()
        replacement = Connection(load)
        await replacement.open()
        connections.append(replacement)
    return {pid: counts.get(pid, 0) for pid in options.workers}


async def drive(options: Options) -> dict[str, object]:
    load = Load(options)
    connections: list[Connection] = []
    spread = await _spread(load, connections)
    await asyncio.sleep(0.2)  # every connection past its first request
    print("start", flush=True)
    cpu, load.started = time.process_time(), time.perf_counter()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(load.done.wait(), options.seconds)
    seconds = time.perf_counter() - load.started
    load.stopping = True
    cpu = time.process_time() - cpu
    print("stop", flush=True)
    tasks = [c.task for c in connections if c.task is not None]
    _, late = await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT_SECONDS)
    if late:
        load.errors["timeout"] += len(late)
    for connection in connections:
        await connection.close()
    latencies = sorted(load.latencies)

    def percentile(p: float) -> float:
        if not latencies:
            return 0.0
        return 1000 * latencies[min(len(latencies) - 1, math.ceil(p / 100 * len(latencies)) - 1)]

    return {
        "requests": len(latencies),
        "seconds": seconds,
        "mean_ms": 1000 * sum(latencies) / len(latencies) if latencies else 0.0,
        "p50_ms": percentile(50),
        "p95_ms": percentile(95),
        "p99_ms": percentile(99),
        "statuses": {str(status): count for status, count in load.statuses.items()},
        "errors": dict(load.errors),
        "client_cpu": cpu,
        "spread": list(spread.values()),
    }


# -- the side that starts it ---------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict[int, int]
    errors: dict[str, int]
    #: CPU seconds the load generator itself used.
    client_cpu: float = 0.0
    #: How many connections each worker held.
    spread: tuple[int, ...] = ()
    #: CPU seconds per process group (the app's workers, the database...), filled by the caller.
    cpu: dict[str, float] = field(default_factory=dict)
    #: Share of the machine's CPU that other processes took meanwhile, filled by the caller.
    others: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def cpu_ms_per_request(self, name: str) -> float:
        return 1000 * self.cpu.get(name, 0.0) / self.requests if self.requests else 0.0


def run(
    url: str,
    *,
    mode: str,
    plan: Path,
    connections: int,
    seconds: int,
    max_requests: int,
    workers: Sequence[int],
    prefix: str,
    snapshot: Callable[[], dict[str, float]],
) -> Result:
    """Run the generator in its own process; ``snapshot()`` is taken as it starts and stops
    measuring, and the result's ``cpu`` holds the differences."""
    command = [
        sys.executable,
        "-m",
        "bench.load",
        url,
        f"--mode={mode}",
        f"--plan={plan}",
        f"--connections={connections}",
        f"--seconds={seconds}",
        f"--max-requests={max_requests}",
        f"--prefix={prefix}",
        f"--workers={','.join(map(str, workers))}",
    ]
    process = subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    timer = threading.Timer(seconds + 120, process.kill)
    timer.start()
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line == "start\n":
                before = snapshot()
            elif line == "stop\n":
                after = snapshot()
            else:
                lines.append(line)
        stderr = process.stderr.read() if process.stderr else ""
        process.wait()
    finally:
        timer.cancel()
    if process.returncode != 0 or not lines or not before or not after:
        raise RuntimeError(f"the load generator failed ({process.returncode}):\n{stderr}")
    data = json.loads(lines[-1])
    return Result(
        requests=data["requests"],
        seconds=data["seconds"],
        mean_ms=data["mean_ms"],
        p50_ms=data["p50_ms"],
        p95_ms=data["p95_ms"],
        p99_ms=data["p99_ms"],
        statuses={int(status): count for status, count in data["statuses"].items()},
        errors=data["errors"],
        client_cpu=data["client_cpu"],
        spread=tuple(data["spread"]),
        cpu={name: after[name] - before[name] for name in before},
    )


@dataclass(frozen=True)
class Figures:
    """One measurement's figures: each the median over its runs (one per round)."""

    rps: float
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    #: CPU milliseconds per request, per process group.
    cpu_ms: dict[str, float]
    requests: int
    others: float


def figures(results: list[Result]) -> Figures:
    mid = statistics.median
    return Figures(
        rps=mid(r.rps for r in results),
        mean_ms=mid(r.mean_ms for r in results),
        p50_ms=mid(r.p50_ms for r in results),
        p95_ms=mid(r.p95_ms for r in results),
        p99_ms=mid(r.p99_ms for r in results),
        cpu_ms={name: mid(r.cpu_ms_per_request(name) for r in results) for name in results[0].cpu},
        requests=sum(r.requests for r in results),
        others=mid(r.others for r in results),
    )


# -- the generator's command line ------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--mode", choices=("read", "write"), required=True)
    parser.add_argument("--plan", required=True, help="a file of 'Header: value' lines")
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--max-requests", type=int, required=True)
    parser.add_argument("--prefix", default="B", help="starts each new symbol")
    parser.add_argument("--workers", required=True, help="comma-separated worker PIDs")
    args = parser.parse_args(argv)
    url = urlsplit(args.url)
    if not url.hostname or not url.port:
        parser.error("the URL needs a host and a port")
    with open(args.plan) as plan:
        people = [line.rstrip("\n").split(": ", 1) for line in plan if ": " in line]
    return Options(
        host=url.hostname,
        port=url.port,
        path=url.path,
        mode=args.mode,
        people=[(name, value) for name, value in people],
        connections=args.connections,
        seconds=args.seconds,
        max_requests=args.max_requests,
        prefix=args.prefix,
        workers=[int(pid) for pid in args.workers.split(",")],
    )


def main(argv: Sequence[str] | None = None) -> None:
    result = uvloop.run(drive(parse(argv)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

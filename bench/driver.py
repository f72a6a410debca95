"""The ``databases`` layer against the raw driver, for the watchlist's list query.

Three ways to run the same SELECT, one after another on one connection, in this
process (uvloop): aiomysql alone; ``databases`` given the SQL text (what the bare app
does); and the app's own ``Store.list_items`` (``databases`` with a SQLAlchemy Core
statement, then an ``Item`` per row).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiomysql
import sqlalchemy as sa
import uvloop
from databases import Database

from bench import bare
from webapp.store import Store

RAW_LIST = bare.LIST.replace(":sub", "%s")
BLOCKS = 5


@dataclass(frozen=True)
class Timing:
    """Per query: wall time (the database's work included) and this process's CPU time."""

    wall_us: float
    cpu_us: float


@dataclass(frozen=True)
class Comparison:
    rows: int
    runs: int
    raw: Timing
    text: Timing
    store: Timing


def compare(url: str, sub: str, runs: int) -> Comparison:
    """Time ``runs`` list queries for ``sub`` each way, interleaved in blocks."""
    return uvloop.run(_compare(url, sub, runs))


async def _compare(url: str, sub: str, runs: int) -> Comparison:
    parts = sa.make_url(url)
    database = Database(url, charset="utf8mb4", min_size=1, max_size=1)
    await database.connect()
    pool = await aiomysql.create_pool(
        host=parts.host,
        port=parts.port or 3306,
        user=parts.username,
        password=parts.password,
        db=parts.database,
        charset="utf8mb4",
        autocommit=True,
        minsize=1,
        maxsize=1,
    )
    store = Store(database)
    rows: list[int] = []

    async def raw() -> None:
        async with pool.acquire() as connection, connection.cursor() as cursor:
            await cursor.execute(RAW_LIST, (sub,) * RAW_LIST.count("%s"))
            rows.append(len(await cursor.fetchall()))

    async def text() -> None:
        await database.fetch_all(bare.LIST, {"sub": sub})

    async def app() -> None:
        await store.list_items(sub)

    ways: dict[str, Callable[[], Awaitable[None]]] = {"raw": raw, "text": text, "store": app}
    samples: dict[str, list[Timing]] = {name: [] for name in ways}
    per_block = max(1, runs // BLOCKS)
    try:
        for way in ways.values():
            await way()  # warm up: connect, compile caches
        for _ in range(BLOCKS):
            for name, way in ways.items():
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(per_block):
                    await way()
                samples[name].append(
                    Timing(
                        1e6 * (time.perf_counter() - wall) / per_block,
                        1e6 * (time.process_time() - cpu) / per_block,
                    )
                )
    finally:
        pool.close()
        await pool.wait_closed()
        await database.disconnect()

    def mid(name: str) -> Timing:
        return Timing(
            statistics.median(t.wall_us for t in samples[name]),
            statistics.median(t.cpu_us for t in samples[name]),
        )

    return Comparison(rows[-1], per_block * BLOCKS, mid("raw"), mid("text"), mid("store"))

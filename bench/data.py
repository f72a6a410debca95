"""The data set: many people with watchlists of realistic sizes, loaded in bulk INSERTs.

Most people get a random number of items; a few get exactly ``PROBE_ITEMS`` (the ones the
load generator reads and writes as), and three more get 10, 100 and 1,000 items for the
cost-per-item measurement.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pymysql

from bench.mariadb import MariaDB
from bench.net import LOOPBACK
from webapp import migrate

DATABASE = "bench"
ACCOUNT = ("bench", "bench-password")
PROBE_ITEMS = 50
SCALING_ITEMS = (10, 100, 1000)
ROWS_PER_STATEMENT = 5000
_EPOCH = datetime(1970, 1, 1)

_NAMES = ("Apex", "Blue", "Cedar", "Delta", "Ember", "Granite", "Harbor", "Iron", "Juniper")
_KINDS = ("Holdings", "Inc.", "Group", "Corp.", "Technologies", "Energy", "Bancorp", "Pharma")
_NOTES = (
    "earnings on Thursday",
    "watch the 200-day moving average; sell half above the previous high",
    "dividend raised again this quarter",
    "too expensive for now, revisit after the split",
)
_USERS = (
    "INSERT INTO users (sub, email, name, first_sign_in, last_sign_in, sessions_valid_after)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
_INSERT = (
    "INSERT INTO watchlist_items (user_sub, symbol, name, price, notes, created_at, updated_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True)
class DataSet:
    url: str
    readers: list[str]
    writers: list[str]
    #: Item count -> the person with exactly that many items.
    scaling: dict[int, str]
    users: int
    items: int


def sub(index: int) -> str:
    """A person's subject; also their email, which is what the development provider uses."""
    return f"user{index:04d}@example.com"


def create(db: MariaDB) -> str:
    """An empty database with the schema applied, and an account for it: its URL."""
    user, password = ACCOUNT
    with db.root() as connection, connection.cursor() as cursor:
        cursor.execute(
            f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        cursor.execute(f"CREATE USER '{user}'@'{LOOPBACK}' IDENTIFIED BY '{password}'")
        # Migrations read mysql.user (to grant the app's account new tables when it exists).
        cursor.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'{LOOPBACK}'")
    url = f"mysql+aiomysql://{user}:{password}@{LOOPBACK}:{db.port}/{DATABASE}"
    migrate.upgrade(url)
    return url


def load(
    db: MariaDB,
    url: str,
    *,
    users: int,
    min_items: int,
    max_items: int,
    probes: int,
    seed: int,
) -> DataSet:
    """Fill the database: ``users`` people, the first ``2 * probes`` with ``PROBE_ITEMS``."""
    rng = random.Random(seed)  # noqa: S311 (made-up data, not secrets)
    symbols = _symbol_pool(rng, max(max_items, *SCALING_ITEMS) * 3)
    sizes = {
        sub(i): PROBE_ITEMS if i < 2 * probes else rng.randint(min_items, max_items)
        for i in range(users)
    }
    scaling = {count: f"scale{count}@example.com" for count in SCALING_ITEMS}
    sizes.update({person: count for count, person in scaling.items()})
    now = datetime.now(UTC).replace(tzinfo=None)
    rows: list[tuple[Any, ...]] = []
    total = 0
    with db.root() as connection, connection.cursor() as cursor:
        cursor.execute(f"USE {DATABASE}")
        for person, count in sizes.items():
            rows.extend(_row(rng, person, symbol, now) for symbol in rng.sample(symbols, count))
            if len(rows) >= ROWS_PER_STATEMENT:
                total += _insert(cursor, rows)
        total += _insert(cursor, rows)
        cursor.execute("SHOW TABLES LIKE 'users'")
        if cursor.fetchone():
            # Everyone has signed in before: the sign-in callback records each person.
            signed_in = now - timedelta(days=1)
            cursor.executemany(
                _USERS,
                [
                    (person, person, person.partition("@")[0], signed_in, signed_in, _EPOCH)
                    for person in sizes
                ],
            )
        cursor.execute("ANALYZE TABLE watchlist_items")
    people = list(sizes)
    return DataSet(
        url=url,
        readers=people[:probes],
        writers=people[probes : 2 * probes],
        scaling=scaling,
        users=len(sizes),
        items=total,
    )


def remove_written(db: MariaDB) -> None:
    """Items a write run created but did not get to delete before it stopped."""
    with db.root() as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM bench.watchlist_items WHERE notes = 'bench'")


def _insert(cursor: pymysql.cursors.Cursor, rows: list[tuple[Any, ...]]) -> int:
    """One multi-row INSERT per ``ROWS_PER_STATEMENT`` rows (PyMySQL batches executemany)."""
    count = len(rows)
    for start in range(0, count, ROWS_PER_STATEMENT):
        cursor.executemany(_INSERT, rows[start : start + ROWS_PER_STATEMENT])
    rows.clear()
    return count


def _symbol_pool(rng: random.Random, size: int) -> list[str]:
    pool: set[str] = set()
    while len(pool) < size:
        letters = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(1, 5)))
        pool.add(letters + rng.choice(("", "", "", "", ".L", ".T", "-USD", "=X")))
    return sorted(pool)


def _row(rng: random.Random, person: str, symbol: str, now: datetime) -> tuple[Any, ...]:
    name = f"{rng.choice(_NAMES)} {rng.choice(_KINDS)}"
    price = None if rng.random() < 0.1 else Decimal(rng.randint(100, 50_000_000)) / 10_000
    notes = rng.choice(_NOTES) if rng.random() < 0.3 else ""
    created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
    updated = created + (now - created) * rng.random()
    return (person, symbol, name, price, notes, created, updated)

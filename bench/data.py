"""The data set: many people with watchlists of realistic sizes, loaded in bulk INSERTs.

Most people get a random number of items; a few get exactly ``PROBE_ITEMS`` (the ones the
load generator reads and writes as), and three more get 10, 100 and 1,000 items for the
cost-per-item measurement.

For the quotes sections, ``fanout`` more people have lists drawn from a small pool of
``quoted_symbols`` symbols that the stand-in provider knows (``bench/quotes.py``), so that
their lists overlap; the first ``probes`` of them have exactly ``quoted_items`` and are the
ones the quoted load reads as. They come from a random generator of their own, so the rest
of the data set is the same with or without them.
"""

from __future__ import annotations

import itertools
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
    "INSERT INTO watchlist_items"
    " (user_sub, symbol, name, price, notes, created_at, updated_at, list_id,"
    " alert_above, alert_below) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_PLACES = Decimal("0.0001")
#: Everyone's lists: the first, as the first visit (or 0003, for older data) makes it, which
#: holds their items, and two more, empty, so that the page shows three tabs.
_LISTS = (
    "INSERT INTO watchlists (user_sub, name, name_key, position, created_at)"
    " VALUES (%s, %s, %s, %s, %s)"
)
LIST_NAMES = ("My watchlist", "Dividends", "Ideas")


@dataclass(frozen=True)
class DataSet:
    url: str
    readers: list[str]
    writers: list[str]
    #: Item count -> the person with exactly that many items.
    scaling: dict[int, str]
    users: int
    items: int
    #: The symbols the quoted people's lists draw from, which the stand-in quotes.
    quoted_symbols: list[str]
    #: The people whose lists overlap on ``quoted_symbols`` (the fan-out's).
    fanout: list[str]
    #: The first of them, with ``quoted_items`` each: the quoted load reads as these.
    quoted_readers: list[str]
    #: Each fan-out person's item count.
    fanout_items: dict[str, int]
    #: Every symbol on a quoted reader's list.
    reader_symbols: list[str]


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
    quoted_symbols: int,
    quoted_items: int,
    fanout: int,
    fanout_min_items: int,
) -> DataSet:
    """Fill the database: ``users`` people, the first ``2 * probes`` with ``PROBE_ITEMS``;
    then ``fanout`` people with ``fanout_min_items`` to ``quoted_items`` items each from
    ``quoted_symbols`` symbols, the first ``probes`` of them with ``quoted_items``."""
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
    quoted_rng = random.Random(seed + 1)  # noqa: S311
    pool = _ticker_pool(quoted_rng, quoted_symbols)
    lists = _overlapping(quoted_rng, pool, fanout, probes, fanout_min_items, quoted_items)
    with db.root() as connection, connection.cursor() as cursor:
        cursor.execute(f"USE {DATABASE}")
        people = [*sizes, *lists]
        for start in range(0, len(people), ROWS_PER_STATEMENT):
            batch = people[start : start + ROWS_PER_STATEMENT]
            cursor.executemany(
                _LISTS,
                [
                    (person, name, name.casefold(), position, now)
                    for person in batch
                    for position, name in enumerate(LIST_NAMES)
                ],
            )
        cursor.execute("SELECT user_sub, id FROM watchlists WHERE position = 0")
        list_ids = {bytes(owner).decode(): list_id for owner, list_id in cursor.fetchall()}
        for person, count in sizes.items():
            rows.extend(_row(rng, person, symbol, now) for symbol in rng.sample(symbols, count))
            if len(rows) >= ROWS_PER_STATEMENT:
                total += _insert(cursor, rows, list_ids)
        for person, chosen in lists.items():
            rows.extend(_row(quoted_rng, person, symbol, now) for symbol in chosen)
        total += _insert(cursor, rows, list_ids)
        cursor.execute("SHOW TABLES LIKE 'users'")
        if cursor.fetchone():
            # Everyone has signed in before: the sign-in callback records each person.
            signed_in = now - timedelta(days=1)
            cursor.executemany(
                _USERS,
                [
                    (person, person, person.partition("@")[0], signed_in, signed_in, _EPOCH)
                    for person in [*sizes, *lists]
                ],
            )
        cursor.execute("ANALYZE TABLE watchlist_items")
    people = list(sizes)
    return DataSet(
        url=url,
        readers=people[:probes],
        writers=people[probes : 2 * probes],
        scaling=scaling,
        users=len(sizes) + len(lists),
        items=total,
        quoted_symbols=pool,
        fanout=list(lists),
        quoted_readers=list(lists)[:probes],
        fanout_items={person: len(chosen) for person, chosen in lists.items()},
        reader_symbols=sorted({s for chosen in list(lists.values())[:probes] for s in chosen}),
    )


def _ticker_pool(rng: random.Random, size: int) -> list[str]:
    """``size`` distinct US-style tickers (one to four letters), the kind Finnhub quotes."""
    pool: set[str] = set()
    while len(pool) < size:
        pool.add("".join(rng.choices(string.ascii_uppercase, k=rng.randint(1, 4))))
    return sorted(pool)


def _overlapping(
    rng: random.Random, pool: list[str], people: int, probes: int, fewest: int, most: int
) -> dict[str, list[str]]:
    """Each person's symbols, drawn from ``pool`` (so lists overlap), every symbol on at
    least one list; the first ``probes`` people have ``most``."""
    lists = {
        f"fanout{i:04d}@example.com": rng.sample(
            pool, most if i < probes else rng.randint(fewest, most)
        )
        for i in range(people)
    }
    listed = {symbol for chosen in lists.values() for symbol in chosen}
    # A symbol no one drew goes on the list of someone who has room for it.
    roomy = [person for person, chosen in lists.items() if len(chosen) < most]
    for symbol, person in zip(sorted(set(pool) - listed), itertools.cycle(roomy), strict=False):
        lists[person].append(symbol)
    return lists


def remove_written(db: MariaDB) -> None:
    """Items a write run created but did not get to delete before it stopped."""
    with db.root() as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM bench.watchlist_items WHERE notes = 'bench'")


def _insert(
    cursor: pymysql.cursors.Cursor, rows: list[tuple[Any, ...]], list_ids: dict[str, int]
) -> int:
    """One multi-row INSERT per ``ROWS_PER_STATEMENT`` rows (PyMySQL batches executemany),
    each row in its owner's list."""
    count = len(rows)
    for start in range(0, count, ROWS_PER_STATEMENT):
        batch = [
            (*row[:7], list_ids[row[0]], *row[7:])
            for row in rows[start : start + ROWS_PER_STATEMENT]
        ]
        cursor.executemany(_INSERT, batch)
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
    # A price target on about one item in five, either side of the person's price.
    above = below = None
    if rng.random() < 0.2:
        base = price or Decimal(rng.randint(100, 50_000_000)) / 10_000
        above = (base * Decimal("1.1")).quantize(_PLACES)
        below = (base * Decimal("0.9")).quantize(_PLACES) if rng.random() < 0.5 else None
    return (person, symbol, name, price, notes, created, updated, above, below)

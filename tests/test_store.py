"""The store on SQLite and on MariaDB/MySQL: every statement is scoped by the owner."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pymysql
import pytest
import sqlalchemy as sa
from databases import Database
from sqlalchemy.sql.visitors import replacement_traverse

from webapp import store as store_module
from webapp.migrate import upgrade
from webapp.store import (
    MAX_ID,
    DatabaseUnavailable,
    DuplicateSymbol,
    Item,
    ItemLimitReached,
    NoSuchList,
    Prepared,
    Store,
)
from webapp.tables import revoked_sessions, users, watchlist_items, watchlists
from webapp.validation import DEFAULT_ORDER, MAX_ITEMS_PER_USER, Order

ALICE, BOB = "alice-sub", "bob-sub"


def entry(symbol: str, **values: Any) -> dict[str, Any]:
    return {"symbol": symbol, "name": "", "price": None, "notes": "", **values}


def run(database_url: str, test: Callable[[Store], Awaitable[None]]) -> None:
    """Run ``test`` against a fresh store on ``database_url``, as the app connects to it."""

    async def main() -> None:
        options: dict[str, Any] = {"charset": "utf8mb4"} if database_url.startswith("mysql") else {}
        database = Database(database_url, **options)
        await database.connect()
        try:
            await test(Store(database))
        finally:
            await database.disconnect()

    upgrade(database_url)
    asyncio.run(main())


def test_create_and_read_back(database_url: str) -> None:
    async def test(store: Store) -> None:
        created = await store.create_item(
            ALICE,
            entry("BRK.B", name="Berkshire 😀", price=Decimal("412.5"), notes="a\nb"),
        )
        assert created.id > 0
        assert await store.get_item(ALICE, created.id) == created
        assert await store.list_items(ALICE) == [created]
        assert created.name == "Berkshire 😀"
        assert created.notes == "a\nb"
        assert created.created_at == created.updated_at

    run(database_url, test)


def test_a_decimal_price_round_trips_exactly(database_url: str) -> None:
    prices = [
        Decimal("123456789012.3457"),
        Decimal("999999999999.9999"),
        Decimal("0.0001"),
        Decimal("0.0000"),
        Decimal("187.25"),
    ]

    async def test(store: Store) -> None:
        for index, price in enumerate(prices):
            created = await store.create_item(ALICE, entry(f"P{index}", price=price))
            assert created.price == price
            read = await store.get_item(ALICE, created.id)
            assert read is not None
            assert isinstance(read.price, Decimal)
            assert read.price == price
            assert read.price.as_tuple().exponent == -4  # read back with its four places
            assert (await store.list_items(ALICE))[0].price == price
        no_price = await store.create_item(ALICE, entry("NONE"))
        assert (await store.get_item(ALICE, no_price.id)) == no_price
        assert no_price.price is None

    run(database_url, test)


def test_large_prices_keep_their_fourth_decimal(database_url: str) -> None:
    """Above 2**39 a double cannot tell 4-decimal prices apart; the store must not use one."""
    prices = [Decimal("999999999999.9997"), Decimal("990326962178.7359")]

    async def test(store: Store) -> None:
        for index, price in enumerate(prices):
            created = await store.create_item(ALICE, entry(f"P{index}", price=price))
            read = await store.get_item(ALICE, created.id)
            assert read is not None
            assert read.price == price

    run(database_url, test)


def test_timestamps_keep_microseconds(database_url: str) -> None:
    async def test(store: Store) -> None:
        created = await store.create_item(ALICE, entry("AAPL"))
        # The clock may land on a whole second; the next write almost surely does not.
        items = [created] + [await store.create_item(ALICE, entry(f"T{n}")) for n in range(3)]
        assert any(item.created_at.microsecond for item in items)
        for item in items:
            assert item.created_at.tzinfo is None  # naive UTC, as stored
            read = await store.get_item(ALICE, item.id)
            assert read is not None
            assert read.created_at == item.created_at
            assert read.updated_at == item.updated_at

    run(database_url, test)


def test_timestamps_are_utc(database_url: str) -> None:
    async def test(store: Store) -> None:
        before = datetime.now(UTC).replace(tzinfo=None)
        created = await store.create_item(ALICE, entry("AAPL"))
        after = datetime.now(UTC).replace(tzinfo=None)
        assert before <= created.created_at <= after

    run(database_url, test)


def test_items_are_listed_newest_first(database_url: str) -> None:
    async def test(store: Store) -> None:
        first = await store.create_item(ALICE, entry("A"))
        second = await store.create_item(ALICE, entry("B"))
        third = await store.create_item(ALICE, entry("C"))
        assert [item.id for item in await store.list_items(ALICE)] == [
            third.id,
            second.id,
            first.id,
        ]

    run(database_url, test)


def test_every_query_is_scoped_by_the_owner(database_url: str) -> None:
    async def test(store: Store) -> None:
        alices = await store.create_item(ALICE, entry("AAPL", notes="Alice's"))
        bobs = await store.create_item(BOB, entry("AAPL", notes="Bob's"))  # same symbol: fine

        assert await store.list_items(ALICE) == [alices]
        assert await store.list_items(BOB) == [bobs]
        assert await store.list_items("carol-sub") == []

        assert await store.get_item(BOB, alices.id) is None
        assert await store.update_item(BOB, alices.id, {"notes": "Bob was here"}) is None
        assert await store.update_item(BOB, alices.id, {}) is None
        assert await store.delete_item(BOB, alices.id) is False

        assert await store.get_item(ALICE, alices.id) == alices
        assert await store.list_items(BOB) == [bobs]

    run(database_url, test)


@pytest.mark.parametrize("other", ["ALICE-SUB", "alice-sub ", "Alice-sub"])
def test_subjects_are_compared_exactly(database_url: str, other: str) -> None:
    """Subjects are opaque, case-sensitive strings: no collation may merge two users."""

    async def test(store: Store) -> None:
        alices = await store.create_item(ALICE, entry("AAPL"))
        assert await store.list_items(other) == []
        assert await store.get_item(other, alices.id) is None
        assert await store.delete_item(other, alices.id) is False
        others = await store.create_item(other, entry("AAPL"))
        assert await store.list_items(ALICE) == [alices]
        assert await store.list_items(other) == [others]

    run(database_url, test)


def test_update_changes_only_the_given_fields(database_url: str) -> None:
    async def test(store: Store) -> None:
        created = await store.create_item(ALICE, entry("AAPL", name="Apple", price=Decimal(1)))
        updated = await store.update_item(ALICE, created.id, {"price": Decimal("2.5")})
        assert updated is not None
        assert updated.price == Decimal("2.5")
        assert (updated.symbol, updated.name, updated.notes) == ("AAPL", "Apple", "")
        assert updated.created_at == created.created_at
        assert updated.updated_at > created.updated_at

        unchanged = await store.update_item(ALICE, created.id, {})
        assert unchanged == updated

    run(database_url, test)


def test_delete(database_url: str) -> None:
    async def test(store: Store) -> None:
        created = await store.create_item(ALICE, entry("AAPL"))
        assert await store.delete_item(ALICE, created.id) is True
        assert await store.get_item(ALICE, created.id) is None
        assert await store.delete_item(ALICE, created.id) is False
        assert await store.update_item(ALICE, created.id, {"notes": "x"}) is None

    run(database_url, test)


def test_duplicate_symbols_are_refused_by_the_unique_index(database_url: str) -> None:
    async def test(store: Store) -> None:
        apple = await store.create_item(ALICE, entry("AAPL"))
        with pytest.raises(DuplicateSymbol):
            await store.create_item(ALICE, entry("AAPL"))
        msft = await store.create_item(ALICE, entry("MSFT"))
        with pytest.raises(DuplicateSymbol):
            await store.update_item(ALICE, msft.id, {"symbol": "AAPL"})
        # Renaming an item to its own symbol is not a duplicate.
        assert await store.update_item(ALICE, apple.id, {"symbol": "AAPL"}) is not None
        assert {item.symbol for item in await store.list_items(ALICE)} == {"AAPL", "MSFT"}

    run(database_url, test)


def test_concurrent_duplicates_leave_one_row(database_url: str) -> None:
    async def test(store: Store) -> None:
        async def create() -> Item | None:
            try:
                return await store.create_item(ALICE, entry("AAPL"))
            except DuplicateSymbol:
                return None

        results = await asyncio.gather(*(create() for _ in range(10)))
        assert sum(result is not None for result in results) == 1
        assert len(await store.list_items(ALICE)) == 1

    run(database_url, test)


def test_ids_that_cannot_exist_are_simply_missing(database_url: str) -> None:
    async def test(store: Store) -> None:
        for item_id in (0, -1, MAX_ID, MAX_ID + 1, 10**23):
            assert await store.get_item(ALICE, item_id) is None
            assert await store.update_item(ALICE, item_id, {"notes": "x"}) is None
            assert await store.delete_item(ALICE, item_id) is False

    run(database_url, test)


def test_the_item_limit_is_per_user(database_url: str) -> None:
    async def test(store: Store) -> None:
        # Seed all but the last row in one statement; the store itself adds the last one.
        now = datetime(2024, 1, 1)
        owner = {"user_sub": ALICE, "list_id": await store.first_list_id(ALICE)}
        rows = [
            {**entry(f"S{n}"), **owner, "created_at": now, "updated_at": now}
            for n in range(MAX_ITEMS_PER_USER - 1)
        ]
        await store.database.execute(watchlist_items.insert().values(rows))
        await store.create_item(ALICE, entry("LAST"))
        with pytest.raises(ItemLimitReached):
            await store.create_item(ALICE, entry("ONEMORE"))
        # A full list is still a list, and other users are not affected.
        assert len(await store.list_items(ALICE)) == MAX_ITEMS_PER_USER
        assert (await store.create_item(BOB, entry("ONEMORE"))).symbol == "ONEMORE"
        # Deleting one makes room again.
        first = (await store.list_items(ALICE))[-1]
        assert await store.delete_item(ALICE, first.id)
        await store.create_item(ALICE, entry("ONEMORE"))

    run(database_url, test)


def test_ping(database_url: str) -> None:
    async def test(store: Store) -> None:
        await store.ping()

    run(database_url, test)


def test_a_session_is_live_until_it_or_all_its_users_sessions_end(database_url: str) -> None:
    """``session_is_valid`` and ``lists_in_session`` agree on every session."""
    earlier = datetime(2024, 1, 1)

    async def test(store: Store) -> None:
        async def check(sub: str, sid: str, signed_in_at: datetime) -> list[int] | None:
            lists = await store.lists_in_session(sub, sid, signed_in_at)
            assert await store.session_is_valid(sub, sid, signed_in_at) is (lists is not None)
            return None if lists is None else [entry.item_count for entry in lists]

        await store.record_sign_in(ALICE, "alice@example.com", "Alice")
        await store.record_sign_in(BOB, "bob@example.com", "Bob")
        assert await check(ALICE, "s1", earlier) == [0]  # signed in: her first list, empty
        await store.create_item(ALICE, entry("A"))
        await store.create_item(ALICE, entry("B"))
        await store.create_item(BOB, entry("C"))
        await store.create_list(ALICE, "Empty")
        assert await check(ALICE, "s1", earlier) == [2, 0]
        assert await check("nobody", "s1", earlier) is None  # never signed in

        await store.end_session(ALICE, "s1", datetime(2999, 1, 1))
        assert await check(ALICE, "s1", earlier) is None
        assert await check(ALICE, "s2", earlier) == [2, 0]  # her other devices
        assert await check(BOB, "s3", earlier) is not None

        await store.end_all_sessions(ALICE)
        assert await check(ALICE, "s2", earlier) is None
        valid_after = await store.database.fetch_val(
            sa.select(users.c.sessions_valid_after).where(users.c.sub == ALICE)
        )
        assert await check(ALICE, "s4", valid_after) is None  # not strictly after
        later = valid_after + timedelta(microseconds=1)
        assert await check(ALICE, "s4", later) == [2, 0]
        assert await check(BOB, "s3", earlier) is not None

    run(database_url, test)


def test_a_prepared_statement_is_compiled_once_and_bound_on_each_call(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    statement = (
        sa.select(watchlist_items.c.symbol, watchlist_items.c.price)
        .where(watchlist_items.c.user_sub == sa.bindparam("sub"))
        .order_by(watchlist_items.c.symbol)
    )
    compiles: list[object] = []
    compile_ = statement.compile

    def counted(**kw: Any) -> Any:
        compiles.append(kw["dialect"])
        return compile_(**kw)

    monkeypatch.setattr(statement, "compile", counted)
    prepared = Prepared(statement)

    async def test(store: Store) -> None:
        await store.create_item(ALICE, entry("A", price=Decimal("1.5")))
        await store.create_item(ALICE, entry("B"))
        await store.create_item(BOB, entry("C", price=Decimal("123456789012.3457")))
        fetch_all = store.database.fetch_all
        rows = [tuple(row._mapping.values()) for row in await fetch_all(prepared(sub=ALICE))]
        assert rows == [("A", Decimal("1.5000")), ("B", None)]
        rows = [tuple(row._mapping.values()) for row in await fetch_all(prepared(sub=BOB))]
        assert rows == [("C", Decimal("123456789012.3457"))]
        assert await fetch_all(prepared(sub="nobody")) == []
        assert len(compiles) == 1

    run(database_url, test)


def test_prepared_statements_keep_no_database_alive(database_url: str) -> None:
    """The compiled forms go with the Database (its dialect) they were compiled for."""
    dialects: list[weakref.ref[Any]] = []

    async def test(store: Store) -> None:
        await store.list_items(ALICE)
        dialects.append(weakref.ref(store.database._backend._dialect))

    for _ in range(3):
        run(database_url, test)
    gc.collect()
    assert [dialect() for dialect in dialects] == [None, None, None]


#: Each statement with its values. The list statements are built when the test runs: built
#: when this module is imported, they would be cached before any test ran (and in mutation
#: testing's workers, which fork after collection, built by code that is not under test).
STATEMENTS: list[tuple[Callable[[], Prepared], dict[str, Any]]] = [
    (
        lambda: store_module._list_query("created_at", True, False, False),
        {"sub": ALICE, "list_id": 3},
    ),
    (
        lambda: store_module._list_query("price", False, True, True),
        {"sub": ALICE, "pattern": store_module.like_pattern("a_%")},
    ),
    (lambda: store_module._list_query("created_at", True, False, True), {"sub": ALICE}),
    (lambda: store_module._FIRST_LIST_ID, {"sub": ALICE}),
    (lambda: store_module._ALL_LISTS, {"sub": ALICE}),
    (lambda: store_module._ONE_LIST, {"sub": ALICE, "list_id": 3}),
    (
        lambda: store_module._INSERT_LIST,
        {
            "user_sub": ALICE,
            "name": "Tech",
            "name_key": "tech",
            "position": 1,
            "created_at": datetime(2024, 1, 2, 3, 4, 5, 6),
        },
    ),
    (lambda: store_module._GET, {"id": 7, "sub": ALICE}),
    (lambda: store_module._COUNT, {"sub": ALICE}),
    (lambda: store_module._DELETE, {"id": 7, "sub": ALICE}),
    (
        lambda: store_module._SESSION,
        {"sub": ALICE, "sid": "a-session", "signed_in_at": datetime(2024, 1, 2, 3, 4, 5, 6)},
    ),
    (
        lambda: store_module._LISTS_IN_SESSION,
        {"sub": ALICE, "sid": "a-session", "signed_in_at": datetime(2024, 1, 2, 3, 4, 5, 6)},
    ),
    (
        lambda: store_module._INSERT,
        {
            "user_sub": ALICE,
            **entry("AAPL", name="Apple", price=Decimal("1.25"), notes="n"),
            "created_at": datetime(2024, 1, 2, 3, 4, 5, 6),
            "updated_at": datetime(2024, 1, 2, 3, 4, 5, 6),
            "list_id": 3,
            "alert_above": Decimal("2.5"),
            "alert_below": None,
        },
    ),
]


def with_values(statement: Any, values: dict[str, Any]) -> Any:
    """``statement`` with each named bind parameter carrying its value, as built per call."""

    def bind(element: Any, **kw: Any) -> Any:
        if isinstance(element, sa.BindParameter) and element.key in values:
            return sa.bindparam(element.key, values[element.key], type_=element.type)
        return None

    return replacement_traverse(statement, {}, bind)


@pytest.mark.parametrize(("build", "values"), STATEMENTS)
def test_prepared_statements_run_as_their_statement_would(
    database_url: str, build: Callable[[], Prepared], values: dict[str, Any]
) -> None:
    """What ``databases`` sends for a prepared statement is what it sends for the statement
    itself with the same values: SQL text, processed parameters, result columns."""

    prepared = build()

    async def test(store: Store) -> None:
        connection = store.database._backend.connection()  # where databases compiles
        for _ in range(2):  # compiling, then from the cache
            sql, args, columns, _ = connection._compile(prepared(**values))
            expected = connection._compile(with_values(prepared.statement, values))
            assert (sql, args) == (expected[0], expected[1])
            assert [column[:2] for column in columns or []] == [
                column[:2] for column in expected[2] or []
            ]

    run(database_url, test)


def planted_list(list_id: int, sub: str, name: str, position: int) -> dict[str, Any]:
    """A watchlists row with its id given, as the store never writes one."""
    created_at = datetime(2024, 1, 1)
    return {
        "id": list_id,
        "user_sub": sub,
        "name": name,
        "name_key": name.casefold(),
        "position": position,
        "created_at": created_at,
    }


def planted_item(item_id: int | None, sub: str, list_id: int, symbol: str) -> dict[str, Any]:
    row = {
        **entry(symbol),
        "user_sub": sub,
        "list_id": list_id,
        "created_at": datetime(2024, 1, 1),
        "updated_at": datetime(2024, 1, 1),
    }
    return row if item_id is None else {"id": item_id, **row}


def test_ids_run_from_1_to_the_largest_bigint(database_url: str) -> None:
    """An item or a list at id ``MAX_ID`` is found, changed, imported into and deleted like
    any other; id 0 is no id (a row SQLite was made to keep there stays out of reach; MySQL
    gives a row inserted at 0 the next id)."""

    async def test(store: Store) -> None:
        await store.first_list_id(BOB)
        execute = store.database.execute
        await execute(watchlists.insert().values(planted_list(0, ALICE, "Zero", 0)))
        zero_list = await store.database.fetch_val(
            sa.select(watchlists.c.id).where(watchlists.c.name == "Zero")
        )
        await execute(watchlist_items.insert().values(planted_item(0, ALICE, zero_list, "ZERO")))
        await execute(watchlists.insert().values(planted_list(MAX_ID, ALICE, "Last", 1)))
        await execute(watchlist_items.insert().values(planted_item(MAX_ID, ALICE, MAX_ID, "LAST")))

        assert await store.get_item(ALICE, 0) is None
        assert await store.update_item(ALICE, 0, {"notes": "changed"}) is None
        assert await store.delete_item(ALICE, 0) is False
        assert await store.get_list(ALICE, 0) is None
        assert await store.list_items(ALICE, 0) == []
        with pytest.raises(NoSuchList):
            await store.import_items(ALICE, 0, [entry("ZERO", notes="imported")], ["notes"])
        notes = sa.select(watchlist_items.c.notes).where(watchlist_items.c.symbol == "ZERO")
        assert [row[0] for row in await store.database.fetch_all(notes)] == [""]

        last = await store.get_item(ALICE, MAX_ID)
        assert last is not None
        assert (last.id, last.symbol, last.list_id) == (MAX_ID, "LAST", MAX_ID)
        assert await store.list_items(ALICE, MAX_ID) == [last]
        listed = await store.get_list(ALICE, MAX_ID)
        assert listed is not None
        assert (listed.name, listed.item_count) == ("Last", 1)
        changed = await store.update_item(ALICE, MAX_ID, {"notes": "changed"})
        assert changed is not None
        assert changed.notes == "changed"
        rows = [entry("LAST", notes="imported")]
        assert await store.import_items(ALICE, MAX_ID, rows, ["notes"]) == (0, 1, [])
        assert await store.list_items(BOB, MAX_ID) == []
        assert await store.get_item(BOB, MAX_ID) is None
        assert await store.delete_item(BOB, MAX_ID) is False
        imported = await store.get_item(ALICE, MAX_ID)
        assert imported is not None
        assert imported.notes == "imported"
        assert await store.delete_item(ALICE, MAX_ID) is True
        assert await store.get_item(ALICE, MAX_ID) is None

    run(database_url, test)


@pytest.fixture
def fresh_list_queries() -> None:
    """The list statements are cached per process: built afresh, a test checks the ones it
    builds, not those an earlier test happened to build."""
    store_module._list_query.cache_clear()


def test_sorting_in_the_store_both_ways(database_url: str, fresh_list_queries: None) -> None:
    """Names sort whatever their case (a name's case folded down, so "_" comes before
    letters on both databases); the oldest first is the newest first reversed."""

    async def test(store: Store) -> None:
        made = [
            await store.create_item(ALICE, entry(symbol, name=name))
            for symbol, name in (("A", "beta"), ("B", "_under"), ("C", "Alpha"), ("D", ""))
        ]
        await store.create_item(BOB, entry("E", name="aardvark"))

        async def symbols(sort: str) -> list[str]:
            order = Order(key=sort.lstrip("-"), descending=sort.startswith("-"))
            return [item.symbol for item in await store.list_items(ALICE, order=order)]

        assert await symbols("name") == ["B", "C", "A", "D"]
        assert await symbols("-name") == ["A", "C", "B", "D"]
        assert await symbols("created_at") == [item.symbol for item in made]
        assert await symbols("-created_at") == [item.symbol for item in reversed(made)]
        assert await symbols("-created_at") == [
            item.symbol for item in await store.list_items(ALICE, order=DEFAULT_ORDER)
        ]

    run(database_url, test)


def test_only_stored_columns_are_sorted_in_sql(fresh_list_queries: None) -> None:
    with pytest.raises(ValueError, match=r"^not a stored column's sort: last_price$"):
        store_module._list_query("last_price", False, False, True)


def test_the_targeted_items_are_the_persons_with_a_target(database_url: str) -> None:
    async def test(store: Store) -> None:
        above = await store.create_item(ALICE, entry("A", alert_above=Decimal("10")))
        await store.create_item(ALICE, entry("NONE"))
        tech = await store.create_list(ALICE, "Tech")
        below = await store.create_item(ALICE, entry("B", alert_below=Decimal("5")), tech.id)
        await store.create_item(BOB, entry("A", alert_above=Decimal("1")))
        targeted = await store.targeted_items(ALICE)
        assert sorted(targeted, key=lambda item: item.id) == [above, below]

    run(database_url, test)


def test_an_import_with_a_duplicate_new_symbol_keeps_nothing(database_url: str) -> None:
    async def test(store: Store) -> None:
        old = await store.create_item(ALICE, entry("OLD"))
        first = await store.first_list_id(ALICE)
        rows = [entry("OLD", notes="changed"), entry("NEW"), entry("NEW")]
        with pytest.raises(DuplicateSymbol):
            await store.import_items(ALICE, first, rows, ["notes"])
        assert await store.list_items(ALICE) == [old]

    run(database_url, test)


def test_deleting_a_list_deletes_its_items_and_nothing_else(database_url: str) -> None:
    async def test(store: Store) -> None:
        kept = await store.create_item(ALICE, entry("KEPT"))
        tech = await store.create_list(ALICE, "Tech")
        gone = [await store.create_item(ALICE, entry(s), tech.id) for s in ("NVDA", "AMD")]
        bobs = await store.create_item(BOB, entry("NVDA"))

        assert await store.delete_list(ALICE, tech.id) == 2
        assert [await store.get_item(ALICE, item.id) for item in gone] == [None, None]
        assert await store.list_items(ALICE) == [kept]
        assert [entry.name for entry in await store.lists(ALICE)] == ["My watchlist"]
        assert await store.list_items(BOB) == [bobs]
        # Its items are no longer counted against the limit either.
        count = sa.select(sa.func.count()).select_from(watchlist_items)
        assert await store.database.fetch_val(count) == 2

    run(database_url, test)


async def hand_over(store: Store, list_id: int) -> None:
    """What may happen between the store's look-up of Alice's list and its next statement:
    the list is deleted (by another of her requests) and its id goes to a new list of Bob's,
    with an item in it. (SQLite reuses the highest rowid; here the id is given outright.)"""
    execute = store.database.execute
    await execute(watchlist_items.delete().where(watchlist_items.c.list_id == list_id))
    await execute(watchlists.delete().where(watchlists.c.id == list_id))
    await execute(watchlists.insert().values(planted_list(list_id, BOB, "Bob's", 1)))
    await execute(watchlist_items.insert().values(planted_item(None, BOB, list_id, "BOB")))


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Chips"},
        {"position": 0},
        {"position": 5},
        {"delete": True},
    ],
)
def test_a_list_that_changes_hands_meanwhile_is_not_touched(
    database_url: str, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any]
) -> None:
    """Every statement of a change to a list is scoped by its owner, not only the look-up
    before it: Bob's list, which took the id of Alice's, keeps its name, place and items."""

    async def test(store: Store) -> None:
        await store.first_list_id(BOB)
        first = await store.create_item(ALICE, entry("KEPT"))
        tech = await store.create_list(ALICE, "Tech")
        await store.create_item(ALICE, entry("NVDA"), tech.id)
        look_up = store.lists if "delete" in change else store.get_list

        async def then_hand_over(*args: Any) -> Any:
            found = await look_up(*args)
            monkeypatch.undo()  # once
            await hand_over(store, tech.id)
            return found

        monkeypatch.setattr(store, "lists" if "delete" in change else "get_list", then_hand_over)
        if "delete" in change:
            await store.delete_list(ALICE, tech.id)
        else:
            assert await store.update_list(ALICE, tech.id, **change) is None

        bobs = await store.get_list(BOB, tech.id)
        assert bobs is not None
        assert (bobs.name, bobs.position, bobs.item_count) == ("Bob's", 1, 1)
        assert [item.symbol for item in await store.list_items(BOB, tech.id)] == ["BOB"]
        assert [(entry.name, entry.position) for entry in await store.lists(BOB)] == [
            ("My watchlist", 0),
            ("Bob's", 1),
        ]
        assert await store.list_items(ALICE) == [first]

    run(database_url, test)


def test_an_item_that_changes_hands_during_an_import_is_not_touched(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each update of an import is scoped by the owner and the list, not only the read of
    the list before it: Alice's item, deleted after the import read her list and its id
    given to an item of Bob's, is Bob's and keeps his values."""

    async def test(store: Store) -> None:
        bobs_list = await store.first_list_id(BOB)
        item = await store.create_item(ALICE, entry("AAPL", notes="hers"))
        count = store.database.fetch_val  # the import's last read before its writes

        async def then_hand_over(*args: Any, **kwargs: Any) -> Any:
            found = await count(*args, **kwargs)
            monkeypatch.undo()  # once
            execute = store.database.execute
            await execute(watchlist_items.delete().where(watchlist_items.c.id == item.id))
            await execute(
                watchlist_items.insert().values(planted_item(item.id, BOB, bobs_list, "AAPL"))
            )
            return found

        monkeypatch.setattr(store.database, "fetch_val", then_hand_over)
        rows = [entry("AAPL", notes="imported")]
        await store.import_items(ALICE, item.list_id, rows, ["notes"])

        bobs = await store.get_item(BOB, item.id)
        assert bobs is not None
        assert (bobs.symbol, bobs.notes, bobs.list_id) == ("AAPL", "", bobs_list)
        assert await store.list_items(ALICE) == []

    run(database_url, test)


def test_signing_out_forgets_only_the_persons_expired_revocations(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2030, 6, 1, 12, 0, 0)
    monkeypatch.setattr(store_module, "_now", lambda: now)
    signed_in_at = datetime(2030, 1, 1)
    tomorrow = now + timedelta(days=1)

    async def test(store: Store) -> None:
        await store.record_sign_in(ALICE, "alice@example.com", "Alice")
        await store.end_session(ALICE, "a-live", tomorrow)
        await store.end_session(ALICE, "a-live", tomorrow)  # signed out twice: still out
        await store.database.execute(
            revoked_sessions.insert().values(
                [
                    {"sid": "a-expired", "user_sub": ALICE, "expires_at": now - timedelta(1)},
                    {"sid": "a-now", "user_sub": ALICE, "expires_at": now},
                    {"sid": "b-expired", "user_sub": BOB, "expires_at": now - timedelta(1)},
                ]
            )
        )
        await store.end_session(ALICE, "a-other", tomorrow)
        sids = sa.select(revoked_sessions.c.sid).order_by(revoked_sessions.c.sid)
        remaining = [row[0] for row in await store.database.fetch_all(sids)]
        # Hers that expired before now are gone; one expiring this very moment is kept.
        assert remaining == ["a-live", "a-now", "a-other", "b-expired"]
        assert await store.session_is_valid(ALICE, "a-live", signed_in_at) is False
        assert await store.session_is_valid(ALICE, "a-new", signed_in_at) is True

    run(database_url, test)


class Scripted:
    """A stand-in for a ``databases.Database`` whose calls fail in turn with the errors
    given (``None``: that call answers), then answer ``None``."""

    def __init__(self, *errors: BaseException | None, max_size: int | None = None) -> None:
        self.options = {} if max_size is None else {"max_size": max_size}
        self.errors = list(errors)
        self.calls = 0

    async def answer(self, *args: Any) -> None:
        self.calls += 1
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error

    fetch_one = fetch_all = fetch_val = execute = answer


def scripted_store(*errors: BaseException | None, max_size: int | None = None) -> Store:
    return Store(cast(Database, Scripted(*errors, max_size=max_size)))


def calls(store: Store) -> int:
    return cast(Scripted, store.database).calls


#: Errors that mean the connection died under a statement (a read runs again).
LOST = [
    pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
    pymysql.err.OperationalError(2006, "MySQL server has gone away"),
    pymysql.err.OperationalError(2055, "Lost connection to server at 'reading initial'"),
    pymysql.err.OperationalError(1927, "Connection was killed"),
    pymysql.err.OperationalError(4031, "The client was disconnected by the server"),
    pymysql.err.InterfaceError(0, "Not connected"),
    ConnectionResetError("Connection reset by peer"),
]
#: Errors that mean the database is out of reach just now (503, and nothing runs again).
UNREACHABLE = [
    pymysql.err.OperationalError(2002, "Can't connect to local server through socket"),
    pymysql.err.OperationalError(2003, "Can't connect to MySQL server on '127.0.0.1'"),
    pymysql.err.OperationalError(1040, "Too many connections"),
    pymysql.err.OperationalError(1053, "Server shutdown in progress"),
    pymysql.err.OperationalError(1317, "Query execution was interrupted"),
    sqlite3.OperationalError("database is locked"),
    TimeoutError(),
]
#: Errors of a broken deployment or a bug: neither an outage nor run again.
FAULTS = [
    pymysql.err.OperationalError(1045, "Access denied for user 'watchlist_app'"),
    pymysql.err.ProgrammingError(1146, "Table 'watchlist.users' doesn't exist"),
    pymysql.err.IntegrityError(1062, "Duplicate entry 'x' for key 'PRIMARY'"),
    sqlite3.OperationalError("no such table: users"),
    ValueError(2013, "not the driver's error: its number is no MySQL code"),
]


@pytest.mark.parametrize("error", LOST + UNREACHABLE + FAULTS, ids=repr)
def test_what_a_read_and_a_write_do_on_each_error(error: Exception) -> None:
    async def test() -> None:
        read = scripted_store(error)
        write = scripted_store(error)
        if error in FAULTS:
            with pytest.raises(type(error)) as raised:
                await read.get_item(ALICE, 1)
            assert raised.value is error
            with pytest.raises(type(error)) as raised:
                await write.end_all_sessions(ALICE)
            assert raised.value is error
        else:
            if error in LOST:
                assert await read.get_item(ALICE, 1) is None  # on another connection
            else:
                with pytest.raises(DatabaseUnavailable) as unavailable:
                    await read.get_item(ALICE, 1)
                assert unavailable.value.__cause__ is error
                assert str(unavailable.value) == str(error)
            with pytest.raises(DatabaseUnavailable) as unavailable:
                await write.end_all_sessions(ALICE)  # never twice: it may have been done
            assert unavailable.value.__cause__ is error
            assert str(unavailable.value) == str(error)
        assert (calls(read), calls(write)) == (2 if error in LOST else 1, 1)

    asyncio.run(test())


@pytest.mark.parametrize(("max_size", "attempts"), [(None, 2), (1, 2), (3, 4)])
def test_a_read_runs_again_once_per_pooled_connection(max_size: int | None, attempts: int) -> None:
    """Each dead connection in the pool can fail a read once; then a new one is made."""
    lost = pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")

    async def test() -> None:
        recovers = scripted_store(*[lost] * (attempts - 1), max_size=max_size)
        assert await recovers.get_item(ALICE, 1) is None
        assert calls(recovers) == attempts
        gives_up = scripted_store(*[lost] * attempts, max_size=max_size)
        with pytest.raises(DatabaseUnavailable) as unavailable:
            await gives_up.get_item(ALICE, 1)
        assert unavailable.value.__cause__ is lost
        assert calls(gives_up) == attempts

    asyncio.run(test())


@pytest.mark.parametrize(
    ("error", "duplicate"),
    [
        (pymysql.err.IntegrityError(1062, "Duplicate entry 's1' for key 'PRIMARY'"), True),
        (sqlite3.IntegrityError("UNIQUE constraint failed: revoked_sessions.sid"), True),
        (pymysql.err.IntegrityError(1048, "Column 'user_sub' cannot be null"), False),
        (pymysql.err.IntegrityError(), False),
        (sqlite3.IntegrityError("NOT NULL constraint failed: revoked_sessions.user_sub"), False),
    ],
    ids=repr,
)
def test_only_a_duplicate_key_is_an_already_done_write(error: Exception, duplicate: bool) -> None:
    """A session signed out already (its row is there) is no error; other refusals are."""

    async def test() -> None:
        store = scripted_store(None, error)  # the clean-up, then the insert
        if duplicate:
            await store.end_session(ALICE, "s1", datetime(2030, 1, 1))
        else:
            with pytest.raises(type(error)) as raised:
                await store.end_session(ALICE, "s1", datetime(2030, 1, 1))
            assert raised.value is error
        assert calls(store) == 2

    asyncio.run(test())


def test_a_sign_in_keeps_what_the_columns_hold(database_url: str) -> None:
    """An email is at most 320 characters (RFC 5321's 64 + @ + 255), a name 255: longer
    claims are cut to them, at the first sign-in and at every later one, on every database."""
    email, name = "a" * 310 + "@example.org", "N" * 300

    async def test(store: Store) -> None:
        async def row() -> tuple[str, str]:
            found = await store.database.fetch_one(
                sa.select(users.c.email, users.c.name).where(users.c.sub == ALICE)
            )
            assert found is not None
            return found[0], found[1]

        await store.record_sign_in(ALICE, email, name)
        assert await row() == (email[:320], "N" * 255)
        await store.record_sign_in(ALICE, "b" * 400, "M" * 256)
        assert await row() == ("b" * 320, "M" * 255)

    run(database_url, test)


def test_a_first_sign_in_that_loses_a_race_refreshes_the_row_that_won(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first sign-ins of one person at once (two tabs, two processes): both find no
    row, one inserts it, and the other's insert, refused as a duplicate, refreshes that
    row with its own claims instead of failing. Nobody else's row is touched."""
    earlier = datetime(2024, 1, 1)

    async def test(store: Store) -> None:
        await store.record_sign_in(BOB, "bob@example.com", "Bob")
        check = store._fetch_val

        async def raced(query: Any) -> Any:
            found = await check(query)
            # The other sign-in lands between this one's check and its insert.
            await store.database.execute(
                users.insert().values(
                    sub=ALICE,
                    email="other-tab@example.com",
                    name="Other tab",
                    first_sign_in=earlier,
                    last_sign_in=earlier,
                    sessions_valid_after=earlier,
                )
            )
            return found

        monkeypatch.setattr(store, "_fetch_val", raced)
        await store.record_sign_in(ALICE, "alice@example.com", "Alice")
        columns = (users.c.email, users.c.name, users.c.first_sign_in)
        found: dict[str, tuple[Any, ...]] = {}
        for sub in (ALICE, BOB):
            row = await store.database.fetch_one(sa.select(*columns).where(users.c.sub == sub))
            assert row is not None, sub
            found[sub] = (row[0], row[1], row[2])
        # The winner's row (its first sign-in kept), refreshed with this one's claims.
        assert found[ALICE] == ("alice@example.com", "Alice", earlier)
        assert found[BOB][:2] == ("bob@example.com", "Bob")
        assert await store.database.fetch_val(sa.select(sa.func.count()).select_from(users)) == 2

    run(database_url, test)


def test_a_person_who_has_lists_gets_them_in_one_read(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``lists`` reads once for someone who has lists: the first list is only made, and
    read again, for a person who has none."""

    async def test(store: Store) -> None:
        await store.create_list(ALICE, "Tech")
        await store.first_list_id(BOB)
        reads: list[str] = []

        def counting(name: str) -> Callable[..., Awaitable[Any]]:
            read = getattr(store.database, name)

            async def counted(query: Any, values: Any = None) -> Any:
                reads.append(name)
                return await read(query, values)

            return counted

        for name in ("fetch_all", "fetch_one", "fetch_val"):
            monkeypatch.setattr(store.database, name, counting(name))
        alices = await store.lists(ALICE)
        assert [entry.name for entry in alices] == ["My watchlist", "Tech"]
        assert reads == ["fetch_all"]
        assert [entry.name for entry in await store.lists(BOB)] == ["My watchlist"]
        assert reads == ["fetch_all", "fetch_all"]

    run(database_url, test)


def test_the_first_list_is_the_one_in_first_place_whatever_its_name(database_url: str) -> None:
    """A person who renamed "My watchlist", or moved another list first, gets that first
    list back and no new "My watchlist" beside it."""

    async def test(store: Store) -> None:
        first = await store.first_list_id(ALICE)
        await store.update_list(ALICE, first, name="Main")
        assert await store.first_list_id(ALICE) == first
        tech = await store.create_list(ALICE, "Tech")
        await store.update_list(ALICE, tech.id, position=0)
        assert await store.first_list_id(ALICE) == tech.id
        assert [entry.name for entry in await store.lists(ALICE)] == ["Tech", "Main"]
        assert await store.first_list_id(BOB) not in (first, tech.id)  # Bob's own, made now

    run(database_url, test)

"""The store on SQLite and on MariaDB/MySQL: every statement is scoped by the owner."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from databases import Database
from sqlalchemy.sql.visitors import replacement_traverse

from webapp import store as store_module
from webapp.migrate import upgrade
from webapp.store import MAX_ID, DuplicateSymbol, Item, ItemLimitReached, Prepared, Store
from webapp.tables import users, watchlist_items
from webapp.validation import MAX_ITEMS_PER_USER

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


STATEMENTS = [
    (store_module._list_query("created_at", True, False, False), {"sub": ALICE, "list_id": 3}),
    (
        store_module._list_query("price", False, True, True),
        {"sub": ALICE, "pattern": store_module.like_pattern("a_%")},
    ),
    (store_module._list_query("created_at", True, False, True), {"sub": ALICE}),
    (store_module._FIRST_LIST_ID, {"sub": ALICE}),
    (store_module._ALL_LISTS, {"sub": ALICE}),
    (store_module._ONE_LIST, {"sub": ALICE, "list_id": 3}),
    (
        store_module._INSERT_LIST,
        {
            "user_sub": ALICE,
            "name": "Tech",
            "name_key": "tech",
            "position": 1,
            "created_at": datetime(2024, 1, 2, 3, 4, 5, 6),
        },
    ),
    (store_module._GET, {"id": 7, "sub": ALICE}),
    (store_module._COUNT, {"sub": ALICE}),
    (store_module._DELETE, {"id": 7, "sub": ALICE}),
    (
        store_module._SESSION,
        {"sub": ALICE, "sid": "a-session", "signed_in_at": datetime(2024, 1, 2, 3, 4, 5, 6)},
    ),
    (
        store_module._LISTS_IN_SESSION,
        {"sub": ALICE, "sid": "a-session", "signed_in_at": datetime(2024, 1, 2, 3, 4, 5, 6)},
    ),
    (
        store_module._INSERT,
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


@pytest.mark.parametrize(("prepared", "values"), STATEMENTS)
def test_prepared_statements_run_as_their_statement_would(
    database_url: str, prepared: Prepared, values: dict[str, Any]
) -> None:
    """What ``databases`` sends for a prepared statement is what it sends for the statement
    itself with the same values: SQL text, processed parameters, result columns."""

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

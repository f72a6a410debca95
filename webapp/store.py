"""The watchlist store: the only module that runs SQL.

Every statement is scoped by the owner's ``user_sub``; an item that belongs to
someone else is indistinguishable from one that does not exist.

When the database is down, restarting or refusing connections, every method raises
``DatabaseUnavailable`` (the app answers 503). A read whose connection turns out to be
dead runs again on another one; a write never runs twice, because a write whose
connection broke may have been committed all the same.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar, cast

import pymysql
import sqlalchemy as sa
from databases import Database
from pymysql.constants import CR, ER
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import Compiled

from webapp import money
from webapp.tables import revoked_sessions, users, watchlist_items, watchlists
from webapp.validation import (
    DEFAULT_ORDER,
    FIRST_LIST_NAME,
    MAX_ITEMS_PER_USER,
    MAX_LISTS_PER_USER,
    SQL_SORT_KEYS,
    Order,
)

logger = logging.getLogger(__name__)

_MYSQL_DUPLICATE_ENTRY = 1062
#: Ids outside BIGINT's range cannot exist; SQLite would raise on them.
MAX_ID = 2**63 - 1

#: The connection broke, or was already closed when it was used: a read can run again.
_LOST_CONNECTION = frozenset(
    {
        CR.CR_SERVER_GONE_ERROR,  # 2006
        CR.CR_SERVER_LOST,  # 2013
        CR.CR_SERVER_LOST_EXTENDED,  # 2055
        1927,  # MariaDB's ER_CONNECTION_KILLED: the server ended the connection (shutdown)
        4031,  # MySQL's ER_CLIENT_INTERACTION_TIMEOUT: closed after wait_timeout
    }
)
#: The server cannot be reached, or will not take the statement just now.
_UNAVAILABLE = _LOST_CONNECTION | {
    CR.CR_CONNECTION_ERROR,  # 2002: nothing listens on the socket
    CR.CR_CONN_HOST_ERROR,  # 2003: nothing listens at the address, or the connect timed out
    ER.CON_COUNT_ERROR,  # 1040: too many connections
    ER.SERVER_SHUTDOWN,  # 1053: the server is shutting down
    ER.QUERY_INTERRUPTED,  # 1317: the server stopped the statement (on shutdown), undone
}

T = TypeVar("T")


class DuplicateSymbol(Exception):
    """The user already has an item with this symbol."""


class ItemLimitReached(Exception):
    """The user already has ``MAX_ITEMS_PER_USER`` items."""


class DuplicateListName(Exception):
    """The user already has a list of this name (whatever its case)."""


class ListLimitReached(Exception):
    """The user already has ``MAX_LISTS_PER_USER`` lists."""


class LastList(Exception):
    """The user's only list cannot be deleted."""


class NoSuchList(Exception):
    """The user has no list with this id."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached just now; the request may succeed if tried again.

    After a write, the write may or may not have been done: the connection can break
    after the server committed and before it said so.
    """


class Item(NamedTuple):
    """One entry of a list. A named tuple rather than a frozen dataclass: a page builds one
    per row, and a tuple is built five times faster (the benchmark's 50-row pages)."""

    id: int
    symbol: str
    name: str
    price: Decimal | None
    notes: str
    created_at: datetime
    updated_at: datetime
    list_id: int
    alert_above: Decimal | None
    alert_below: Decimal | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "symbol": self.symbol,
            "name": self.name,
            "price": money.to_json(self.price),
            "notes": self.notes,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "list_id": self.list_id,
            "alert_above": money.to_json(self.alert_above),
            "alert_below": money.to_json(self.alert_below),
        }


@dataclass(frozen=True)
class WatchList:
    """One of a person's named lists."""

    id: int
    name: str
    position: int
    created_at: datetime
    item_count: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "position": self.position,
            "item_count": self.item_count,
            "created_at": _iso(self.created_at),
        }


def _iso(moment: datetime) -> str:
    # Times are naive UTC everywhere (_now, and what both databases return).
    return moment.isoformat(timespec="microseconds") + "Z"


_EPOCH = datetime(1970, 1, 1)


def _now() -> datetime:
    # Stored naive in UTC: DATETIME has no zone on MySQL, and SQLite has no type.
    return datetime.now(UTC).replace(tzinfo=None)


_COLUMNS = (
    watchlist_items.c.id,
    watchlist_items.c.symbol,
    watchlist_items.c.name,
    watchlist_items.c.price,
    watchlist_items.c.notes,
    watchlist_items.c.created_at,
    watchlist_items.c.updated_at,
    watchlist_items.c.list_id,
    watchlist_items.c.alert_above,
    watchlist_items.c.alert_below,
)


class Prepared:
    """A fixed Core statement, compiled once per dialect rather than on every call.

    ``databases`` compiles each statement it is given every time it runs it, which for
    the small statements here costs more CPU than their round trip to the database
    (``bench/``: 0.27 ms of a 0.43 ms session check). A ``Prepared`` statement is called
    with its bound values and gives ``databases`` an object that compiles to the cached
    form with those values: the same SQL text, the same bind and result processing.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement

    def __call__(self, **values: Any) -> ClauseElement:
        # Duck-typed: databases only calls the statement's compile().
        return cast(ClauseElement, _Bound(self, values))

    def compiled(self, dialect: Dialect, compile_kwargs: Mapping[str, Any]) -> Compiled:
        # Kept on the dialect (one per Database), so that it goes with it: a compiled
        # statement refers to its dialect, which a cache keyed by the dialect would keep alive.
        cache: dict[Prepared, Compiled] = vars(dialect).setdefault(_CACHE_ATTRIBUTE, {})
        compiled = cache.get(self)
        if compiled is None:
            compiled = self.statement.compile(dialect=dialect, compile_kwargs=compile_kwargs)
            cache[self] = compiled
        return compiled


_CACHE_ATTRIBUTE = "_watchlist_prepared"


class _Bound:
    """A prepared statement and one call's values, as ``databases`` compiles a statement."""

    __slots__ = ("_prepared", "_values")

    def __init__(self, prepared: Prepared, values: dict[str, Any]) -> None:
        self._prepared = prepared
        self._values = values

    def compile(self, *, dialect: Dialect, compile_kwargs: Mapping[str, Any]) -> _BoundCompiled:
        return _BoundCompiled(self._prepared.compiled(dialect, compile_kwargs), self._values)


class _BoundCompiled:
    """The cached compiled statement, answering for this call's values."""

    __slots__ = ("_compiled", "_values")

    def __init__(self, compiled: Compiled, values: dict[str, Any]) -> None:
        self._compiled = compiled
        self._values = values

    def __getattr__(self, name: str) -> Any:
        return getattr(self._compiled, name)

    @property
    def params(self) -> Mapping[str, Any]:
        # databases reads only the names here (for its debug log); construct_params, which
        # it calls next, does the binding once.
        return self._values

    def construct_params(self) -> MutableMapping[str, Any] | None:
        return self._compiled.construct_params(self._values)


def _item(row: Any) -> Item:
    # The row's values in _COLUMNS' order, which is Item's, straight from the SQLAlchemy
    # row (a Record's attribute access looks up the column map and type each time).
    return Item(*row._mapping)


_SUB: sa.BindParameter[str] = sa.bindparam("sub")
_ID: sa.BindParameter[int] = sa.bindparam("id")
_LIST_ID: sa.BindParameter[int] = sa.bindparam("list_id")
# The person's first list, by their order: what /watchlist and /api/stocks show.
# (No LIMIT: Prepared statements carry only the call's values, and LIMIT 1 is a bound one.)
_FIRST_POSITION = (
    sa.select(sa.func.min(watchlists.c.position))
    .where(watchlists.c.user_sub == _SUB)
    .scalar_subquery()
)
_FIRST_LIST_ID_SELECT = sa.select(sa.func.min(watchlists.c.id)).where(
    watchlists.c.user_sub == _SUB, watchlists.c.position == _FIRST_POSITION
)
_FIRST_LIST = _FIRST_LIST_ID_SELECT.scalar_subquery()
_ITEMS = watchlist_items.c
_NEWEST_FIRST = (_ITEMS.created_at.desc(), _ITEMS.id.desc())


def _order_by(key: str, descending: bool) -> tuple[sa.ColumnElement[Any], ...]:
    """The ORDER BY of a stored column's sort; ties newest first. An empty name and no
    price go last whichever the direction."""
    if key == "created_at":
        return _NEWEST_FIRST if descending else (_ITEMS.created_at.asc(), _ITEMS.id.asc())

    def way(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return column.desc() if descending else column.asc()

    if key == "symbol":
        return (way(_ITEMS.symbol), *_NEWEST_FIRST)
    if key == "name":
        # A literal, not a bound value: a Prepared statement binds only its call's values.
        empty = _ITEMS.name == sa.literal_column("''")
        return (empty.asc(), way(sa.func.lower(_ITEMS.name)), *_NEWEST_FIRST)
    if key == "price":
        # A price has exactly four decimals, as text on SQLite and as DECIMAL(16, 4) on
        # MySQL: its length, then its digits, is its numeric order on both, exactly.
        length = sa.func.length(_ITEMS.price)
        return (_ITEMS.price.is_(None).asc(), way(length), way(_ITEMS.price), *_NEWEST_FIRST)
    raise ValueError(f"not a stored column's sort: {key}")


#: What a filter's text must be found in: the symbol, the name or the notes. LIKE ignores
#: case: on MySQL by the columns' collation (utf8mb4_unicode_ci, accents too), on SQLite
#: for ASCII letters only.
_FILTERED = sa.or_(
    *(
        column.like(sa.bindparam("pattern"), escape="/")
        for column in (_ITEMS.symbol, _ITEMS.name, _ITEMS.notes)
    )
)


@functools.cache
def _list_query(key: str, descending: bool, filtered: bool, first: bool) -> Prepared:
    """One list's items (the user's first list, or ``list_id``) in an order, perhaps
    narrowed by a filter: each combination a prepared statement of its own."""
    list_id = _FIRST_LIST if first else _LIST_ID
    where = [_ITEMS.user_sub == _SUB, _ITEMS.list_id == list_id]
    if filtered:
        where.append(_FILTERED)
    return Prepared(sa.select(*_COLUMNS).where(*where).order_by(*_order_by(key, descending)))


_TARGETED = Prepared(
    sa.select(*_COLUMNS).where(
        _ITEMS.user_sub == _SUB,
        sa.or_(_ITEMS.alert_above.is_not(None), _ITEMS.alert_below.is_not(None)),
    )
)

#: An item's targets when it is given none.
_NO_TARGETS = {"alert_above": None, "alert_below": None}


def like_pattern(text: str) -> str:
    """``text`` as a LIKE pattern that finds it anywhere, with LIKE's own characters (and
    the escape character) escaped."""
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


_LIST_COLUMNS = (
    watchlists.c.id,
    watchlists.c.name,
    watchlists.c.position,
    watchlists.c.created_at,
    sa.func.count(watchlist_items.c.id),
)
_LISTS = (
    sa.select(*_LIST_COLUMNS)
    .select_from(
        watchlists.outerjoin(
            watchlist_items,
            sa.and_(
                watchlist_items.c.list_id == watchlists.c.id,
                watchlist_items.c.user_sub == watchlists.c.user_sub,
            ),
        )
    )
    .where(watchlists.c.user_sub == _SUB)
    .group_by(watchlists.c.id, watchlists.c.name, watchlists.c.position, watchlists.c.created_at)
    .order_by(watchlists.c.position, watchlists.c.id)
)
_ALL_LISTS = Prepared(_LISTS)
_ONE_LIST = Prepared(_LISTS.where(watchlists.c.id == _LIST_ID))
_INSERT_LIST = Prepared(
    watchlists.insert().values(
        {
            column: sa.bindparam(column.key, type_=column.type)
            for column in watchlists.c
            if column is not watchlists.c.id
        }
    )
)
_GET = Prepared(
    sa.select(*_COLUMNS).where(watchlist_items.c.id == _ID, watchlist_items.c.user_sub == _SUB)
)
_COUNT = Prepared(
    sa.select(sa.func.count())
    .select_from(watchlist_items)
    .where(watchlist_items.c.user_sub == _SUB)
)
# The select itself, not one of the subquery: databases names each result column by
# str(), which compiles a subquery again on every call (300 us of CPU; min(id), 20 us).
_FIRST_LIST_ID = Prepared(_FIRST_LIST_ID_SELECT)
_INSERT = Prepared(
    watchlist_items.insert().values(
        {
            column: sa.bindparam(column.key, type_=column.type)
            for column in watchlist_items.c
            if column is not watchlist_items.c.id
        }
    )
)
_DELETE = Prepared(
    watchlist_items.delete().where(watchlist_items.c.id == _ID, watchlist_items.c.user_sub == _SUB)
)
# A session is live while its user exists, it began after the user's last "sign out
# everywhere", and it was not signed out itself.
_SESSION_ROWS = users.outerjoin(revoked_sessions, revoked_sessions.c.sid == sa.bindparam("sid"))
_LIVE_SESSION = (
    users.c.sub == _SUB,
    users.c.sessions_valid_after < sa.bindparam("signed_in_at"),
    revoked_sessions.c.sid.is_(None),
)
_SESSION = Prepared(sa.select(users.c.sub).select_from(_SESSION_ROWS).where(*_LIVE_SESSION))
# The user's lists, only while the session is live: no row when it is not, one row of
# NULLs when the user has no list yet (the outer join's).
_LISTS_IN_SESSION = Prepared(
    sa.select(*_LIST_COLUMNS)
    .select_from(
        _SESSION_ROWS.outerjoin(watchlists, watchlists.c.user_sub == users.c.sub).outerjoin(
            watchlist_items,
            sa.and_(
                watchlist_items.c.list_id == watchlists.c.id,
                watchlist_items.c.user_sub == watchlists.c.user_sub,
            ),
        )
    )
    .where(*_LIVE_SESSION)
    .group_by(watchlists.c.id, watchlists.c.name, watchlists.c.position, watchlists.c.created_at)
    .order_by(watchlists.c.position, watchlists.c.id)
)


def _is_duplicate(exc: Exception) -> bool:
    if isinstance(exc, pymysql.err.IntegrityError):
        return bool(exc.args) and exc.args[0] == _MYSQL_DUPLICATE_ENTRY
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)


def _mysql_code(exc: Exception) -> int | None:
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


def is_lost_connection(exc: Exception) -> bool:
    """The connection died under the statement, or was closed before it was used."""
    if isinstance(exc, pymysql.err.InterfaceError):
        return True  # aiomysql's "Not connected": the connection was already closed
    return _mysql_code(exc) in _LOST_CONNECTION or isinstance(exc, ConnectionError)


def is_unavailable(exc: Exception) -> bool:
    """The database is down, restarting, overloaded or locked: nothing wrong with the request."""
    if is_lost_connection(exc) or _mysql_code(exc) in _UNAVAILABLE:
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return "database is locked" in str(exc)
    return isinstance(exc, TimeoutError)  # asyncio's too


@contextmanager
def _outage_as_unavailable() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if is_unavailable(exc):
            raise DatabaseUnavailable(str(exc)) from exc
        raise


class Store:
    """Watchlist items, per user, over a connected ``databases.Database``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        # Each dead connection in the pool can fail a read once (and leaves the pool);
        # the attempt after them all gets a new connection.
        self._read_attempts = int(database.options.get("max_size", 1)) + 1

    async def _read(self, run: Callable[[], Awaitable[T]]) -> T:
        """Run a read; while its connection turns out to be dead, again on another one."""
        with _outage_as_unavailable():
            for _ in range(self._read_attempts - 1):
                try:
                    return await run()
                except Exception as exc:
                    if not is_lost_connection(exc):
                        raise
                    logger.info("a database connection was lost (%s); reading again", exc)
            return await run()

    async def _write(self, statement: ClauseElement) -> Any:
        """Run a write once: never again after a failure, which may have come after the commit."""
        with _outage_as_unavailable():
            return await self.database.execute(statement)

    async def _fetch_all(self, query: ClauseElement) -> list[Any]:
        rows: list[Any] = await self._read(lambda: self.database.fetch_all(query))
        return rows

    async def _fetch_one(self, query: ClauseElement) -> Any:
        return await self._read(lambda: self.database.fetch_one(query))

    async def _fetch_val(self, query: ClauseElement | str) -> Any:
        return await self._read(lambda: self.database.fetch_val(query))

    async def ping(self) -> None:
        await self._fetch_val("SELECT 1")

    async def list_items(
        self, user_sub: str, list_id: int | None = None, order: Order = DEFAULT_ORDER
    ) -> list[Item]:
        """The items of one of the user's lists (their first by default), in ``order``:
        narrowed by its filter, and sorted by its key when that is a stored column (else
        newest first, for the caller to sort by the quotes)."""
        values: dict[str, Any] = {"sub": user_sub}
        if list_id is not None:
            if not 0 < list_id <= MAX_ID:
                return []
            values["list_id"] = list_id
        if order.q:
            values["pattern"] = like_pattern(order.q)
        if order.key in SQL_SORT_KEYS:
            key, descending = order.key, order.descending
        else:
            key, descending = DEFAULT_ORDER.key, DEFAULT_ORDER.descending
        query = _list_query(key, descending, bool(order.q), list_id is None)
        return [_item(row) for row in await self._fetch_all(query(**values))]

    async def targeted_items(self, user_sub: str) -> list[Item]:
        """The user's items, in all their lists, that have a price target."""
        return [_item(row) for row in await self._fetch_all(_TARGETED(sub=user_sub))]

    async def get_item(self, user_sub: str, item_id: int) -> Item | None:
        if not 0 < item_id <= MAX_ID:
            return None
        row = await self._fetch_one(_GET(id=item_id, sub=user_sub))
        return None if row is None else _item(row)

    async def create_item(
        self, user_sub: str, values: Mapping[str, Any], list_id: int | None = None
    ) -> Item:
        """Insert a new item into one of the user's lists (their first by default); the
        unique index, not a prior look-up, rejects a symbol already in that list."""
        if list_id is None:
            list_id = await self.first_list_id(user_sub)
        elif await self.get_list(user_sub, list_id) is None:
            raise NoSuchList()
        if await self._fetch_val(_COUNT(sub=user_sub)) >= MAX_ITEMS_PER_USER:
            raise ItemLimitReached()
        now = _now()
        row = {
            **_NO_TARGETS,
            **values,
            "created_at": now,
            "updated_at": now,
            "list_id": list_id,
        }
        try:
            item_id = await self._write(_INSERT(user_sub=user_sub, **row))
        except Exception as exc:
            if _is_duplicate(exc):
                raise DuplicateSymbol() from None
            raise
        return Item(id=item_id, **row)

    async def update_item(
        self, user_sub: str, item_id: int, values: Mapping[str, Any]
    ) -> Item | None:
        """Change the given fields (``list_id`` moves it to another of the user's lists);
        ``None`` when the user has no such item."""
        if not 0 < item_id <= MAX_ID:
            return None
        if "list_id" in values and await self.get_list(user_sub, values["list_id"]) is None:
            raise NoSuchList()
        if values:
            statement = (
                watchlist_items.update()
                .where(watchlist_items.c.id == item_id, watchlist_items.c.user_sub == user_sub)
                .values(**values, updated_at=_now())
            )
            try:
                await self._write(statement)
            except Exception as exc:
                if _is_duplicate(exc):
                    raise DuplicateSymbol() from None
                raise
        return await self.get_item(user_sub, item_id)

    async def delete_item(self, user_sub: str, item_id: int) -> bool:
        """Delete the item; ``False`` when the user has no such item."""
        if await self.get_item(user_sub, item_id) is None:
            return False
        await self._write(_DELETE(id=item_id, sub=user_sub))
        return True

    # Lists.

    async def lists(self, user_sub: str) -> list[WatchList]:
        """The user's lists in their order, with their item counts; a person who has none
        yet gets the first one, "My watchlist"."""
        rows = await self._fetch_all(_ALL_LISTS(sub=user_sub))
        if not rows:
            await self.first_list_id(user_sub)
            rows = await self._fetch_all(_ALL_LISTS(sub=user_sub))
        return [WatchList(*row._mapping) for row in rows]

    async def get_list(self, user_sub: str, list_id: int) -> WatchList | None:
        if not isinstance(list_id, int) or not 0 < list_id <= MAX_ID:
            return None
        row = await self._fetch_one(_ONE_LIST(sub=user_sub, list_id=list_id))
        return None if row is None else WatchList(*row._mapping)

    async def first_list_id(self, user_sub: str) -> int:
        """The user's first list, made ("My watchlist") if they have none yet."""
        first = await self._fetch_val(_FIRST_LIST_ID(sub=user_sub))
        if first is not None:
            return int(first)
        try:
            return int(await self._insert_list(user_sub, FIRST_LIST_NAME, 0))
        except DuplicateListName:
            # Made meanwhile by a concurrent request of the same person.
            return int(await self._fetch_val(_FIRST_LIST_ID(sub=user_sub)))

    async def _insert_list(self, user_sub: str, name: str, position: int) -> int:
        values = {
            "user_sub": user_sub,
            "name": name,
            "name_key": name.casefold(),
            "position": position,
            "created_at": _now(),
        }
        try:
            list_id: int = await self._write(_INSERT_LIST(**values))
        except Exception as exc:
            if _is_duplicate(exc):
                raise DuplicateListName() from None
            raise
        return list_id

    async def create_list(self, user_sub: str, name: str) -> WatchList:
        """A new list at the end of the user's order; the unique key refuses a name the
        user already has, whatever its case."""
        existing = await self.lists(user_sub)
        if len(existing) >= MAX_LISTS_PER_USER:
            raise ListLimitReached()
        list_id = await self._insert_list(user_sub, name, len(existing))
        created = await self.get_list(user_sub, list_id)
        assert created is not None
        return created

    async def update_list(
        self, user_sub: str, list_id: int, *, name: str | None = None, position: int | None = None
    ) -> WatchList | None:
        """Rename the list, or move it to ``position`` (0 is first; past the end is last);
        ``None`` when the user has no such list."""
        current = await self.get_list(user_sub, list_id)
        if current is None:
            return None
        mine = (watchlists.c.id == list_id, watchlists.c.user_sub == user_sub)
        if name is not None and name != current.name:
            try:
                await self._write(
                    watchlists.update().where(*mine).values(name=name, name_key=name.casefold())
                )
            except Exception as exc:
                if _is_duplicate(exc):
                    raise DuplicateListName() from None
                raise
        if position is not None:
            order = [entry.id for entry in await self.lists(user_sub) if entry.id != list_id]
            order.insert(min(max(position, 0), len(order)), list_id)
            await self._renumber(user_sub, order)
        return await self.get_list(user_sub, list_id)

    async def _renumber(self, user_sub: str, order: list[int]) -> None:
        """Give the lists in ``order`` the positions 0, 1, 2, ... where they differ."""
        positions = {entry.id: entry.position for entry in await self.lists(user_sub)}
        for position, list_id in enumerate(order):
            if positions.get(list_id) != position:
                await self._write(
                    watchlists.update()
                    .where(watchlists.c.id == list_id, watchlists.c.user_sub == user_sub)
                    .values(position=position)
                )

    async def delete_list(self, user_sub: str, list_id: int) -> int | None:
        """Delete the list and its items; the number of items deleted, or ``None`` when the
        user has no such list. Raises ``LastList`` for the user's only list."""
        lists = await self.lists(user_sub)
        if not any(entry.id == list_id for entry in lists):
            return None
        if len(lists) == 1:
            raise LastList()
        deleted: int = next(entry.item_count for entry in lists if entry.id == list_id)
        await self._write(
            watchlist_items.delete().where(
                watchlist_items.c.list_id == list_id, watchlist_items.c.user_sub == user_sub
            )
        )
        await self._write(
            watchlists.delete().where(watchlists.c.id == list_id, watchlists.c.user_sub == user_sub)
        )
        await self._renumber(user_sub, [entry.id for entry in lists if entry.id != list_id])
        return deleted

    # Who has signed in, and which of their sessions are over.

    async def record_sign_in(self, sub: str, email: str, name: str) -> None:
        """Create or refresh the user's row at sign-in."""
        now = _now()
        values = {"email": email[:320], "name": name[:255], "last_sign_in": now}
        where = users.c.sub == sub
        if await self._fetch_val(sa.select(sa.func.count()).where(where)):
            await self._write(users.update().where(where).values(**values))
            return
        try:
            await self._write(
                users.insert().values(
                    sub=sub, first_sign_in=now, sessions_valid_after=_EPOCH, **values
                )
            )
        except Exception as exc:
            if not _is_duplicate(exc):
                raise
            # A concurrent first sign-in inserted the row: refresh it instead.
            await self._write(users.update().where(where).values(**values))

    async def session_is_valid(self, sub: str, sid: str, signed_in_at: datetime) -> bool:
        """Whether a session is still live: its user exists, it was signed in after the
        user's last "sign out everywhere", and it was not signed out itself. One query."""
        values = {"sub": sub, "sid": sid, "signed_in_at": signed_in_at}
        return await self._fetch_one(_SESSION(**values)) is not None

    async def lists_in_session(
        self, sub: str, sid: str, signed_in_at: datetime
    ) -> list[WatchList] | None:
        """``lists``, while the session is live (``session_is_valid``); else ``None``.

        The check and the lists in one query: a page needs one more, for the items of the
        list it shows."""
        values = {"sub": sub, "sid": sid, "signed_in_at": signed_in_at}
        rows = await self._fetch_all(_LISTS_IN_SESSION(**values))
        if not rows:
            return None
        if rows[0]._mapping[0] is None:  # no list yet: make the first
            return await self.lists(sub)
        return [WatchList(*row._mapping) for row in rows]

    async def end_session(self, sub: str, sid: str, expires_at: datetime) -> None:
        """Refuse this session from now on (and forget sessions that expired anyway)."""
        now = _now()
        await self._write(
            revoked_sessions.delete().where(
                revoked_sessions.c.user_sub == sub, revoked_sessions.c.expires_at < now
            )
        )
        try:
            await self._write(
                revoked_sessions.insert().values(sid=sid, user_sub=sub, expires_at=expires_at)
            )
        except Exception as exc:
            if not _is_duplicate(exc):  # already signed out: nothing more to do
                raise

    async def end_all_sessions(self, sub: str) -> None:
        """Refuse every session the user signed in before now ("sign out everywhere")."""
        await self._write(
            users.update().where(users.c.sub == sub).values(sessions_valid_after=_now())
        )

    # Importing a file's rows.

    async def import_items(
        self, user_sub: str, list_id: int, rows: list[dict[str, Any]], fields: list[str]
    ) -> tuple[int, int, list[int]]:
        """Put each row (an entry's values, and perhaps its ``created_at``) in one of the
        user's lists, in one transaction: every row or, on any failure, none. A row whose
        symbol the list already has changes that item's ``fields``; the others are new
        items, until the user has ``MAX_ITEMS_PER_USER``.

        Returns how many items were added and changed, and the indices of the rows left
        out at the limit. Raises ``NoSuchList``, or ``DuplicateSymbol`` when one of the new
        symbols was added to the list meanwhile."""
        if not 0 < list_id <= MAX_ID:
            raise NoSuchList()
        now = _now()
        mine = (watchlist_items.c.user_sub == user_sub, watchlist_items.c.list_id == list_id)
        new: list[dict[str, Any]] = []
        left_out: list[int] = []
        updated = 0
        # BEGIN and COMMIT by hand on one connection, held until the end: databases'
        # transaction() keeps its connection from the pool for good when the ROLLBACK fails
        # (the connection died), and shutting down then waits for it forever. Every
        # statement runs once, on this connection, never again on another.
        with _outage_as_unavailable():
            async with self.database.connection():
                await self.database.execute("BEGIN")
                try:
                    found = await self.database.fetch_one(_ONE_LIST(sub=user_sub, list_id=list_id))
                    if found is None:
                        raise NoSuchList()
                    listed = sa.select(watchlist_items.c.symbol, watchlist_items.c.id).where(*mine)
                    existing = {row[0]: row[1] for row in await self.database.fetch_all(listed)}
                    count = await self.database.fetch_val(_COUNT(sub=user_sub))
                    room = MAX_ITEMS_PER_USER - count
                    for index, values in enumerate(rows):
                        item_id = existing.get(values["symbol"])
                        if item_id is not None:
                            changes = {field: values[field] for field in fields}
                            await self.database.execute(
                                watchlist_items.update()
                                .where(watchlist_items.c.id == item_id, *mine)
                                .values(**changes, updated_at=now)
                            )
                            updated += 1
                        elif len(new) < room:
                            new.append(
                                {
                                    **_NO_TARGETS,
                                    **values,
                                    "user_sub": user_sub,
                                    "list_id": list_id,
                                    "created_at": values.get("created_at") or now,
                                    "updated_at": now,
                                }
                            )
                        else:
                            left_out.append(index)
                    # A few hundred rows a statement: well within either database's bound
                    # values.
                    for start in range(0, len(new), 250):
                        batch = watchlist_items.insert().values(new[start : start + 250])
                        try:
                            await self.database.execute(batch)
                        except Exception as exc:
                            if _is_duplicate(exc):
                                raise DuplicateSymbol() from None
                            raise
                except BaseException:
                    try:
                        await self.database.execute("ROLLBACK")
                    except Exception as exc:
                        # Its connection is gone, and the server undoes the transaction.
                        logger.info("an import's rollback failed too (%s)", exc)
                    raise
                await self.database.execute("COMMIT")
        return len(new), updated, left_out

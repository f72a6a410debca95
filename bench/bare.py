"""The stack's own limit: the benchmark's three requests with nothing in the way.

Starlette, ``databases`` with aiomysql and Jinja2, as the app uses them, but no
authentication, no session, no middleware and no validation: the person is named in
an ``X-User`` header. Each endpoint runs the same SQL statements as the app's (the page's
list without the session check the app joins to it) and answers the same bytes:
``templates/watchlist.html`` rendered whole, or the same JSON.
With ``QUOTES_PROVIDER=finnhub`` (and ``QUOTES_BASE_URL`` of the benchmark's stand-in,
``QUOTES_TTL`` and ``BENCH_QUOTED_SYMBOLS``), it shows the same quotes as the app with a
warm cache, from a dict of ``Seen`` built once at start (``bench.quotes.seen``), with the
same template context the app's ``pages._quotes`` gives and the same JSON; otherwise
quotes are off, as in the app in production by default.
Each row becomes a named tuple, read from ``Record._mapping`` (the values, in order) rather
than through the ``Record``'s attributes (a look-up on every access).
Served like the app: ``uvicorn bench.bare:create_app --factory`` with ``DATABASE_URL``
(``bench/servers.py``).
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
from databases import Database
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bench import quotes
from webapp import money
from webapp.api import ItemsResponse
from webapp.pages import PAGE_DEFAULTS, View, view_context
from webapp.quotes import LABELS
from webapp.quotes.cache import Seen
from webapp.targets import by_quotes, is_quote_key, target
from webapp.templating import FILTERS
from webapp.validation import clean_order

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
Tab = collections.namedtuple("Tab", ["id", "name", "position", "created_at", "item_count"])
Row = collections.namedtuple(
    "Row",
    [
        "id",
        "symbol",
        "name",
        "price",
        "notes",
        "created_at",
        "updated_at",
        "list_id",
        "alert_above",
        "alert_below",
    ],
)
#: The columns the app reads of an item, in its order.
COLUMNS = (
    "id, symbol, name, price, notes, created_at, updated_at, list_id, alert_above, alert_below"
)
#: The person's first list, as the app finds it.
FIRST_LIST = (
    "(SELECT min(id) FROM watchlists WHERE user_sub = :sub AND position ="
    " (SELECT min(position) FROM watchlists WHERE user_sub = :sub))"
)
LIST = (
    f"SELECT {COLUMNS} FROM watchlist_items"  # noqa: S608 (constants only)
    f" WHERE user_sub = :sub AND list_id = {FIRST_LIST} ORDER BY created_at DESC, id DESC"
)
#: The person's lists with their counts (the tabs), in order.
LISTS = (
    "SELECT watchlists.id, watchlists.name, watchlists.position, watchlists.created_at,"
    " count(watchlist_items.id) FROM watchlists LEFT OUTER JOIN watchlist_items"
    " ON watchlist_items.list_id = watchlists.id"
    " AND watchlist_items.user_sub = watchlists.user_sub"
    " WHERE watchlists.user_sub = :sub"
    " GROUP BY watchlists.id, watchlists.name, watchlists.position, watchlists.created_at"
    " ORDER BY watchlists.position, watchlists.id"
)
#: The items of one list: what the page shows once it has the lists.
LIST_ITEMS = (
    f"SELECT {COLUMNS} FROM watchlist_items"  # noqa: S608 (constants only)
    " WHERE user_sub = :sub AND list_id = :list_id ORDER BY created_at DESC, id DESC"
)
ONE = f"SELECT {COLUMNS} FROM watchlist_items WHERE id = :id AND user_sub = :sub"  # noqa: S608
#: The person's items with a price target, in all their lists (the tabs' counts).
TARGETED = (
    f"SELECT {COLUMNS} FROM watchlist_items WHERE user_sub = :sub"  # noqa: S608 (constants only)
    " AND (alert_above IS NOT NULL OR alert_below IS NOT NULL)"
)
COUNT = "SELECT count(*) FROM watchlist_items WHERE user_sub = :sub"
INSERT = (
    "INSERT INTO watchlist_items"
    " (user_sub, symbol, name, price, notes, created_at, updated_at, list_id)"
    " VALUES (:sub, :symbol, :name, :price, :notes, :created_at, :updated_at, :list_id)"
)
DELETE = "DELETE FROM watchlist_items WHERE id = :id AND user_sub = :sub"


#: The app runs in production here, where quotes are off unless QUOTES_PROVIDER is set.
NO_QUOTES = {"quotes_on": False, "quotes": {}, "quotes_label": "", "quotes_ttl": 0}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds") + "Z"


def _quote(known: dict[str, Seen], symbol: str) -> Any:
    seen = known.get(symbol)
    return seen.quote if seen else None


def _json(row: Any, known: dict[str, Seen]) -> dict[str, Any]:
    seen = known.get(row.symbol)
    return {
        "id": row.id,
        "symbol": row.symbol,
        "name": row.name,
        "price": money.to_json(row.price),
        "notes": row.notes,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "list_id": row.list_id,
        "alert_above": money.to_json(row.alert_above),
        "alert_below": money.to_json(row.alert_below),
        "quote": None if seen is None else seen.as_json(),
        "target": target(row, seen.quote if seen else None).as_json(),
    }


def create_app() -> Starlette:
    database = Database(os.environ["DATABASE_URL"], charset="utf8mb4", min_size=1, max_size=10)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(FILTERS)
    env.globals["dev_sign_in"] = False
    page = env.get_template("watchlist.html")
    quoted = os.environ.get("QUOTES_PROVIDER") == "finnhub"
    known: dict[str, Seen] = {}
    #: What the app's ``pages._quotes`` gives the template, once its cache is warm.
    shown: dict[str, Any] = NO_QUOTES
    if quoted:
        ttl = max(1, round(float(os.environ["QUOTES_TTL"])))
        shown = {
            "quotes_on": True,
            "quotes": known,
            "quotes_label": LABELS["finnhub"],
            "quotes_ttl": ttl,
            "poll_seconds": ttl,
        }

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def watchlist(request: Request) -> Response:
        sub = request.headers["x-user"]
        lists = [Tab(*record._mapping) for record in await database.fetch_all(LISTS, {"sub": sub})]
        current = lists[0]
        values = {"sub": sub, "list_id": current.id}
        items = [Row(*record._mapping) for record in await database.fetch_all(LIST_ITEMS, values)]
        user = {"sub": sub, "email": sub, "name": sub.partition("@")[0], "picture": None}
        # The order the app's pages take from ?sort=: a quote-derived key sorts here, on
        # the quotes shown (the benchmark asks for the default and for -change_percent).
        order = clean_order(request.query_params.get("sort"), None)
        reached: dict[int, int] = {}
        if quoted:
            if is_quote_key(order.key):
                items = by_quotes(items, known, order.key, descending=order.descending)  # type: ignore[arg-type,assignment]
            # The app's tabs count the reached targets of every list, from one more query.
            for row in await database.fetch_all(TARGETED, {"sub": sub}):
                targeted = Row(*row._mapping)
                if target(targeted, _quote(known, targeted.symbol)).reached:  # type: ignore[arg-type]
                    reached[targeted.list_id] = reached.get(targeted.list_id, 0) + 1
        view = View(user, lists, current, items, order, reached=reached)  # type: ignore[arg-type]
        context = {**PAGE_DEFAULTS, **view_context(view), "user": user, **shown}
        return HTMLResponse(page.render(context))

    async def stocks(request: Request) -> Response:
        sub = request.headers["x-user"]
        if request.method == "GET":
            items = await database.fetch_all(LIST, {"sub": sub})
            return ItemsResponse([_json(Row(*item._mapping), known) for item in items])
        body = await request.json()
        await database.fetch_val(COUNT, {"sub": sub})
        now = datetime.now(UTC).replace(tzinfo=None)
        price = body.get("price")
        values = {
            "symbol": body["symbol"],
            "name": body.get("name", ""),
            "price": None if price is None else Decimal(str(price)),
            "notes": body.get("notes", ""),
            "created_at": now,
            "updated_at": now,
            "list_id": await database.fetch_val(f"SELECT {FIRST_LIST}", {"sub": sub}),
        }
        no_targets = {"alert_above": None, "alert_below": None}
        item_id = await database.execute(INSERT, {"sub": sub, **values})
        item = _json(SimpleNamespace(id=item_id, **values, **no_targets), known)
        return ItemsResponse(item, status_code=201, headers={"Location": f"/api/stocks/{item_id}"})

    async def stock(request: Request) -> Response:
        values = {"id": request.path_params["item_id"], "sub": request.headers["x-user"]}
        if await database.fetch_one(ONE, values) is None:
            return Response(status_code=404)
        await database.execute(DELETE, values)
        return Response(status_code=204)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await database.connect()
        if quoted:
            symbols = os.environ["BENCH_QUOTED_SYMBOLS"].split(",")
            known.update(await quotes.seen(os.environ["QUOTES_BASE_URL"], symbols))
        try:
            yield
        finally:
            await database.disconnect()

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/watchlist", watchlist, methods=["GET"]),
            Route("/api/stocks", stocks, methods=["GET", "POST"]),
            Route("/api/stocks/{item_id:int}", stock, methods=["DELETE"]),
        ],
        lifespan=lifespan,
    )

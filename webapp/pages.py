"""The HTML pages: a landing page, and each of a person's lists edited in place with htmx.

Every URL answers a whole page to a normal request and the matching block of the same
template to an htmx request. Without JavaScript, the forms post normally and answer with
a redirect (or the page with its errors).

A list's page is ``/lists/{id}``; the first list's is ``/watchlist`` (``/lists/{id}`` of
the first list shows the same). Its items are ``/watchlist/{item_id}``, whatever list
they are in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import QueryParams
from starlette.endpoints import HTTPEndpoint
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from webapp import compat, money
from webapp.auth import login_url
from webapp.identity import verified_lists, verified_user
from webapp.limits import read_form
from webapp.quotes import LABELS
from webapp.quotes.cache import QuoteCache, with_name
from webapp.store import (
    DuplicateListName,
    DuplicateSymbol,
    Item,
    ItemLimitReached,
    LastList,
    ListLimitReached,
    NoSuchList,
    Store,
    WatchList,
)
from webapp.targets import by_quotes, is_quote_key
from webapp.templating import is_htmx, render, target_at
from webapp.validation import (
    DEFAULT_ORDER,
    DEFAULT_SORT,
    FIELDS,
    MAX_ITEMS_PER_USER,
    MAX_LISTS_PER_USER,
    InvalidEntry,
    Order,
    clean_entry,
    clean_list,
    clean_order,
    clean_transfer,
)

PAGE = "watchlist.html"
#: How soon the page asks again while quotes it shows are being looked up.
PENDING_POLL_SECONDS = 1
User = dict[str, Any]
Handler = Callable[[Request, User], Awaitable[Response]]
#: Where a Cancel may ask focus to go back to, in ``?focus=`` of the list's page.
RETURN_FOCUS = ("rename", "delete")
FULL = f"cannot be added: you can keep at most {MAX_ITEMS_PER_USER:,} symbols across your lists"
NAME_TAKEN = "is already taken by one of your lists"
TOO_MANY_LISTS = (
    f"You have {MAX_LISTS_PER_USER} lists, the most you can have: delete one to make another."
)


#: The page as it first shows: nothing being edited, moved, renamed or confirmed.
PAGE_DEFAULTS: dict[str, Any] = {
    "values": {},
    "errors": {},
    "editing": None,
    "moving": None,
    "focus": None,
    "focus_row": None,
    "panel": None,
    "list_values": {},
    "list_errors": {},
    "notice": None,
    "tabs_oob": False,
    "reached": {},
    "table_alone": False,
    "import_report": None,
}


def signed_in(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Run ``handler`` with the signed-in user; send anyone else to sign in and back."""

    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        user = await verified_user(request)
        if user is None:
            return _sign_in_again(request)
        return await handler(request, user)

    return endpoint


def _sign_in_again(request: Request) -> Response:
    """To sign in, then back to this page (or to the watchlist after a post)."""
    back = login_url(request) if request.method == "GET" else "/login?next=/watchlist"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": back})
    return RedirectResponse(back, status_code=303)


def _status(request: Request, status_code: int) -> int:
    """An error's status for a whole page; htmx fragments that show the error answer 200.

    A 4xx to an htmx request would be logged by the browser as a failed load, though the
    form with its inline errors is exactly the answer the person needs.
    """
    return 200 if is_htmx(request) else status_code


def _store(request: Request) -> Store:
    store: Store = request.state.store
    return store


def _path_id(request: Request, name: str) -> int:
    value: int = request.path_params[name]
    return value


async def _form(request: Request, fields: tuple[str, ...] = FIELDS) -> dict[str, str]:
    """The given fields from a posted form; anything else in it is ignored."""
    async with read_form(request, max_fields=20) as form:
        return {field: str(form.get(field, "")) for field in fields if field in form}


def url_of(lists: list[WatchList], list_id: int) -> str:
    """A list's page: ``/watchlist`` for the first, ``/lists/{id}`` for the others."""
    return "/watchlist" if lists and lists[0].id == list_id else f"/lists/{list_id}"


def _find(lists: list[WatchList], list_id: int) -> WatchList | None:
    return next((entry for entry in lists if entry.id == list_id), None)


def _no_such_list() -> HTTPException:
    return HTTPException(404)


class View:
    """One of the user's lists as its page shows it: all their lists (the tabs), the one
    shown, and its items in the order asked for (``?sort=`` and ``?q=``)."""

    def __init__(
        self,
        user: User,
        lists: list[WatchList],
        current: WatchList,
        items: list[Item],
        order: Order = DEFAULT_ORDER,
        order_error: str | None = None,
        reached: dict[int, int] | None = None,
    ) -> None:
        self.user = user
        self.lists = lists
        self.current = current
        self.items = items
        self.order = order
        #: What was wrong with the order asked for (the default was used instead).
        self.order_error = order_error
        #: How many items of each list have reached a target (with quotes on).
        self.reached = reached or {}

    @property
    def url(self) -> str:
        return url_of(self.lists, self.current.id)

    @property
    def query(self) -> str:
        """The order as a query string (``?sort=...&q=...``), empty for the default."""
        return order_query(self.order)

    @property
    def here(self) -> str:
        """The list's page in its current order: where its forms post and it polls."""
        return self.url + self.query


def order_query(order: Order, **changes: str) -> str:
    """``order`` (with ``changes``) as the query string of a list's page; empty for the
    default order and no filter."""
    params = {"sort": order.sort, "q": order.q, **changes}
    if params["sort"] == DEFAULT_SORT:
        del params["sort"]
    if not params["q"]:
        del params["q"]
    return "?" + urlencode(params) if params else ""


def _order_of(request: Request) -> tuple[Order, str | None]:
    """The order the request asks for: its own query's, or for an htmx post, that of the
    page it was sent from (``HX-Current-URL``; a post that shows another list passes its
    own). A bad one is the default, and why."""
    params = request.query_params
    if "sort" not in params and "q" not in params and is_htmx(request) and request.method == "POST":
        current = urlsplit(request.headers.get("hx-current-url", ""))
        params = QueryParams(current.query)
    try:
        return clean_order(params.get("sort"), params.get("q")), None
    except InvalidEntry as exc:
        return DEFAULT_ORDER, " ".join(
            f"{field.capitalize()} {rule}." for field, rule in exc.errors.items()
        )


async def _view(
    request: Request, user: User, list_id: int | None, order: Order | None = None
) -> View:
    """The user's list ``list_id`` (their first for ``None``); a 404 when it is not theirs."""
    store = _store(request)
    lists = await store.lists(user["sub"])
    return await _view_of(request, user, lists, list_id, order)


async def _view_of(
    request: Request,
    user: User,
    lists: list[WatchList],
    list_id: int | None,
    order: Order | None = None,
) -> View:
    """The view of one of ``lists``, in ``order`` (by default the one the request asks
    for): stored columns sorted by the database, the others here on the cached quotes."""
    current = lists[0] if list_id is None else _find(lists, list_id)
    if current is None:
        raise _no_such_list()
    error = None
    if order is None:
        order, error = _order_of(request)
    items = await _store(request).list_items(user["sub"], current.id, order)
    cache: QuoteCache | None = request.state.quotes
    if cache is not None and is_quote_key(order.key):
        quotes = cache.peek([item.symbol for item in items])
        items = by_quotes(items, quotes, order.key, descending=order.descending)
    reached = await _reached(request, user)
    return View(user, lists, current, items, order, error, reached)


async def _reached(request: Request, user: User) -> dict[int, int]:
    """How many items of each of the user's lists have reached a target, at the cached
    quotes (none without quotes: then nothing is read)."""
    cache: QuoteCache | None = request.state.quotes
    if cache is None:
        return {}
    targeted = await _store(request).targeted_items(user["sub"])
    quotes = cache.peek(sorted({item.symbol for item in targeted}))
    reached: dict[int, int] = {}
    for item in targeted:
        if target_at(item, quotes.get(item.symbol)).reached:
            reached[item.list_id] = reached.get(item.list_id, 0) + 1
    return reached


def view_context(view: View, block: str | None = None) -> dict[str, Any]:
    """What the template shows of a view (besides the quotes, and what is being edited)."""
    return {
        "lists": view.lists,
        "current": view.current,
        "items": view.items,
        "order": view.order,
        "reached": view.reached,
        "page_url": view.url,
        "here": view.here,
        "query": view.query,
        "sort_links": _sort_links(view),
        "sort_choices": SORT_CHOICES,
        "urls": {entry.id: url_of(view.lists, entry.id) for entry in view.lists},
        # A block that replaces the page's content carries the page's title for htmx.
        "titled": block == "watchlist",
        "max_lists": MAX_LISTS_PER_USER,
    }


def _page(
    request: Request,
    view: View,
    *,
    status_code: int = 200,
    block: str | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    """The list's page, or one of its blocks, with the cached quotes of its items."""
    full = {
        **PAGE_DEFAULTS,
        "notice": view.order_error,
        **context,
        **view_context(view, block),
        **_quotes(request, view.items),
    }
    response = render(request, PAGE, full, user=view.user, status_code=status_code, block=block)
    if headers:
        response.headers.update(headers)
    return response


#: The order menu: each sort, what it says, and whether it needs quotes.
SORT_CHOICES = (
    ("-created_at", "Newest first", False),
    ("created_at", "Oldest first", False),
    ("symbol", "Symbol, A to Z", False),
    ("-symbol", "Symbol, Z to A", False),
    ("name", "Name, A to Z", False),
    ("-name", "Name, Z to A", False),
    ("-change_percent", "Biggest gain today", True),
    ("change_percent", "Biggest loss today", True),
    ("-last_price", "Last price, highest first", True),
    ("last_price", "Last price, lowest first", True),
    ("distance_percent", "Nearest a target", True),
    ("-distance_percent", "Farthest from a target", True),
    ("-price", "My price, highest first", False),
    ("price", "My price, lowest first", False),
)
#: The columns whose header sorts by them, by their sort key.
SORTABLE = ("symbol", "name", "last_price", "change_percent", "price", "distance_percent")


def _sort_links(view: View) -> dict[str, dict[str, str]]:
    """Each sortable column's link (ascending first; descending when it is the current
    ascending order) and its ``aria-sort``."""
    links = {}
    for key in (*SORTABLE, "created_at"):
        current = view.order.key == key
        descending = current and not view.order.descending
        state = ("descending" if view.order.descending else "ascending") if current else ""
        sort = f"-{key}" if descending else key
        links[key] = {"url": view.url + order_query(view.order, sort=sort), "aria": state}
    return links


def _answer(request: Request, view: View, *, status_code: int = 200, **context: Any) -> Response:
    """The whole page, or for htmx the list's block (which replaces ``#watchlist``)."""
    if is_htmx(request):
        return _page(request, view, block="watchlist", **context)
    return _page(request, view, status_code=status_code, **context)


def _quotes(request: Request, items: list[Item]) -> dict[str, Any]:
    """What the page shows of quotes: from the cache at once, never waiting for one. The
    symbols it has nothing fresh for are looked up meanwhile, and the page asks again
    soon while they are."""
    cache: QuoteCache | None = request.state.quotes
    if cache is None:
        return {"quotes_on": False, "quotes": {}, "quotes_label": "", "quotes_ttl": 0}
    symbols = [item.symbol for item in items]
    ttl = max(1, round(cache.ttl))
    return {
        "quotes_on": True,
        "quotes": cache.peek(symbols),
        "quotes_label": LABELS.get(cache.provider.name, cache.provider.name),
        "quotes_ttl": ttl,
        "poll_seconds": PENDING_POLL_SECONDS if cache.looking_up(symbols) else ttl,
    }


#: Where a notice waits in the session for the page a redirect leads to (without
#: JavaScript), which shows it once.
NOTICE_KEY = "notice"


def _redirect(request: Request, view: View, notice: str) -> Response:
    """To the list's page, which then says what was done."""
    request.session[NOTICE_KEY] = notice
    return RedirectResponse(view.url, status_code=303)


def _pushed(view: View) -> dict[str, str]:
    """For htmx: the address bar follows to the list now shown."""
    return {"HX-Push-Url": view.url}


async def home(request: Request) -> Response:
    """The landing page; to a client that asks for JSON only, the earlier service's answer."""
    response: Response
    if compat.wants_json_only(request):
        response = JSONResponse(compat.ROOT_MESSAGE)
    elif await verified_user(request) is not None:
        response = RedirectResponse("/watchlist", status_code=303)
    else:
        response = render(request, "landing.html", user=None)
    # The same address answers HTML or JSON: caches must keep them apart.
    response.headers.append("Vary", "Accept")
    return response


async def _signed_in_view(request: Request, list_id: int | None) -> View | Response:
    """For the pages anyone may open: the view, or the way to sign in. The session check
    and the lists in one query, the items in another: the page's two round trips."""
    found = await verified_lists(request)
    if found is None:
        return _sign_in_again(request)
    user, lists = found
    return await _view_of(request, user, lists, list_id)


async def list_page(request: Request) -> Response:
    """``/watchlist`` (the first list) or ``/lists/{id}``."""
    list_id = request.path_params.get("list_id")
    view = await _signed_in_view(request, list_id)
    if isinstance(view, Response):
        return view
    if is_htmx(request) and request.headers.get("hx-target") == "list-table":
        # The filter as it is typed, or a column's sort: only the table changes, and the
        # address bar shows the order in its shortest form.
        headers = {"HX-Push-Url": view.here}
        return _page(request, view, block="table", table_alone=True, headers=headers)
    focus = request.query_params.get("focus")
    notice = request.session.pop(NOTICE_KEY, None)
    # What an import without JavaScript did (webapp/csvroutes.py), shown once.
    report = request.session.pop("import_report", None)
    return _answer(
        request,
        view,
        status_code=422 if view.order_error else 200,
        focus=focus if focus in RETURN_FOCUS else None,
        notice=notice if isinstance(notice, str) else view.order_error,
        import_report=report if isinstance(report, dict) else None,
    )


async def quotes(request: Request) -> Response:
    """The quotes poll: every row's live cells, swapped in out of band, and the next poll."""
    view = await _signed_in_view(request, request.path_params.get("list_id"))
    if isinstance(view, Response):
        return view
    if not is_htmx(request):
        return RedirectResponse(view.url, status_code=303)
    return _page(request, view, block="quotes")


@signed_in
async def add(request: Request, user: User) -> Response:
    sub = user["sub"]
    store = _store(request)
    list_id = request.path_params.get("list_id")
    values = await _form(request)
    try:
        entry = clean_entry(values, from_form=True)
        await store.create_item(sub, await with_name(request, entry), list_id)
    except InvalidEntry as exc:
        errors, status_code = exc.errors, 422
    except DuplicateSymbol:
        errors, status_code = {"symbol": "is already in this list"}, 409
    except ItemLimitReached:
        errors, status_code = {"symbol": FULL}, 422
    except NoSuchList:
        raise _no_such_list() from None
    else:
        view = await _view(request, user, list_id)
        if not is_htmx(request):
            return RedirectResponse(view.url, status_code=303)
        return _page(request, view, block="watchlist", focus="add")
    view = await _view(request, user, list_id)
    return _answer(
        request, view, status_code=status_code, values=values, errors=errors, focus="add"
    )


async def _one(request: Request, user: User) -> Item | None:
    return await _store(request).get_item(user["sub"], _path_id(request, "item_id"))


def _gone(request: Request, user: User) -> Response:
    """The item is not (or no longer) the user's: a fragment that says so, or the page."""
    if is_htmx(request):
        return render(request, "_gone.html", user=user)
    return RedirectResponse("/watchlist", status_code=303)


async def _row(request: Request, user: User, item: Item, block: str, **context: Any) -> Response:
    """One row of the item's list, for htmx: as it shows, or as a form."""
    lists = await _store(request).lists(user["sub"])
    current = _find(lists, item.list_id)
    if current is None:  # its list went meanwhile, and the item with it
        return _gone(request, user)
    reached = await _reached(request, user) if block == "tabs" else {}
    view = View(user, lists, current, [item], reached=reached)
    return _page(request, view, block=block, item=item, **context)


async def _item_view(request: Request, user: User, item: Item) -> View:
    return await _view(request, user, item.list_id)


@signed_in
async def row(request: Request, user: User) -> Response:
    """One row: what Cancel brings back."""
    item = await _one(request, user)
    if item is None:
        return _gone(request, user)
    if not is_htmx(request):
        view = await _item_view(request, user, item)
        return RedirectResponse(view.url, status_code=303)
    return await _row(request, user, item, "row", focus="row")


def _edit_values(item: Item) -> dict[str, str]:
    values = {"symbol": item.symbol, "name": item.name, "notes": item.notes}
    for field in ("price", "alert_above", "alert_below"):
        values[field] = money.form_value(getattr(item, field))
    return values


@signed_in
async def edit(request: Request, user: User) -> Response:
    """The row as a form: a fragment for htmx, or the page with that row open."""
    item = await _one(request, user)
    if item is None:
        return _gone(request, user)
    context: dict[str, Any] = {"values": _edit_values(item), "focus": "edit"}
    if is_htmx(request):
        return await _row(request, user, item, "edit_row", **context)
    view = await _item_view(request, user, item)
    return _page(request, view, editing=item.id, **context)


@signed_in
async def update(request: Request, user: User) -> Response:
    sub = user["sub"]
    store = _store(request)
    item_id = _path_id(request, "item_id")
    values = await _form(request)
    try:
        item = await store.update_item(sub, item_id, clean_entry(values, from_form=True))
    except InvalidEntry as exc:
        errors, status_code = exc.errors, 422
    except DuplicateSymbol:
        errors, status_code = {"symbol": "is already in this list"}, 409
    else:
        if item is None:
            return _gone(request, user)
        if not is_htmx(request):
            view = await _item_view(request, user, item)
            return RedirectResponse(view.url, status_code=303)
        return await _row(request, user, item, "row", focus="row")
    current = await store.get_item(sub, item_id)
    if current is None:
        return _gone(request, user)
    context: dict[str, Any] = {"values": values, "errors": errors, "focus": "edit"}
    if is_htmx(request):
        return await _row(request, user, current, "edit_row", **context)
    view = await _item_view(request, user, current)
    return _page(request, view, status_code=status_code, editing=item_id, **context)


@signed_in
async def delete(request: Request, user: User) -> Response:
    store = _store(request)
    item = await _one(request, user)
    if item is not None:
        await store.delete_item(user["sub"], item.id)
    if not is_htmx(request):
        if item is None:
            return RedirectResponse("/watchlist", status_code=303)
        view = await _item_view(request, user, item)
        return RedirectResponse(view.url, status_code=303)
    if item is None:
        # Gone already: htmx swaps the row out for nothing.
        return Response(status_code=200, headers={"Vary": "HX-Request"})
    # The row goes (nothing in its place); the tabs' counts follow, out of band.
    return await _row(request, user, item, "tabs", tabs_oob=True)


# Moving and copying an item to another list.


@signed_in
async def transfer_form(request: Request, user: User) -> Response:
    """The row as a "move or copy to" form: a fragment for htmx, or the page with it open."""
    item = await _one(request, user)
    if item is None:
        return _gone(request, user)
    if is_htmx(request):
        return await _row(request, user, item, "move_row", focus="move")
    view = await _item_view(request, user, item)
    return _page(request, view, moving=item.id, focus="move")


@signed_in
async def transfer(request: Request, user: User) -> Response:
    """Move or copy the item to another of the user's lists; the page of the list it was
    in answers, with what was done, or the form with what stopped it."""
    sub = user["sub"]
    store = _store(request)
    item = await _one(request, user)
    if item is None:
        return _gone(request, user)
    values = await _form(request, ("list_id", "action"))
    errors: dict[str, str] = {}
    status_code = 422
    target: WatchList | None = None
    try:
        target_id, action = clean_transfer(values)
        target = await store.get_list(sub, target_id)
        if target is None:
            raise NoSuchList()
        if action == "move":
            if target.id == item.list_id:
                raise DuplicateSymbol()
            await store.update_item(sub, item.id, {"list_id": target.id})
        else:
            copied = {field: getattr(item, field) for field in FIELDS}
            await store.create_item(sub, copied, target.id)
    except InvalidEntry as exc:
        errors = exc.errors
    except NoSuchList:
        errors = {"list_id": "is not one of your lists"}
    except DuplicateSymbol:
        errors, status_code = {"list_id": f"already has {item.symbol}"}, 409
    except ItemLimitReached:
        errors = {"list_id": FULL}
    view = await _view(request, user, item.list_id)
    if errors:
        return _answer(
            request,
            view,
            status_code=status_code,
            moving=item.id,
            values=values,
            errors=errors,
            focus="move",
        )
    assert target is not None
    done = "Copied" if action == "copy" else "Moved"
    notice = f"{done} {item.symbol} to “{target.name}”."
    if not is_htmx(request):
        return _redirect(request, view, notice)
    if action == "copy":
        return _page(request, view, block="watchlist", notice=notice, focus_row=item.id)
    after = _after(view, item)
    focus = None if after else "add"  # the list is empty now: on to adding
    return _page(request, view, block="watchlist", notice=notice, focus_row=after, focus=focus)


def _after(view: View, gone: Item) -> int | None:
    """The row that takes the place of one that left: the one that followed it in the
    list's order, else the one before it (``None`` once the list is empty)."""
    rest = [item for item in view.items if item.id != gone.id]
    later = [item for item in rest if (item.created_at, item.id) < (gone.created_at, gone.id)]
    if later:
        return later[0].id
    return rest[-1].id if rest else None


# The lists themselves.


@signed_in
async def create_list(request: Request, user: User) -> Response:
    store = _store(request)
    values = await _form(request, ("name", "current"))
    try:
        name = clean_list({"name": values.get("name", "")})["name"]
        created = await store.create_list(user["sub"], name)
    except InvalidEntry as exc:
        errors, status_code = exc.errors, 422
    except DuplicateListName:
        errors, status_code = {"name": NAME_TAKEN}, 409
    except ListLimitReached:
        errors, status_code = {}, 422
    else:
        view = await _view(request, user, created.id, DEFAULT_ORDER)
        notice = f"Made the list “{created.name}”: add its first symbol."
        if not is_htmx(request):
            return _redirect(request, view, notice)
        return _page(
            request, view, block="watchlist", focus="add", notice=notice, headers=_pushed(view)
        )
    lists = await store.lists(user["sub"])
    current = values.get("current", "")
    shown = int(current) if current.isascii() and current.isdigit() and len(current) < 19 else 0
    view = await _view_of(request, user, lists, shown if _find(lists, shown) else None)
    return _answer(
        request,
        view,
        status_code=status_code,
        panel="new",
        list_values={"name": values.get("name", "")},
        list_errors=errors,
        notice=None if errors else TOO_MANY_LISTS,
        focus="new-list",
    )


@signed_in
async def rename_form(request: Request, user: User) -> Response:
    view = await _view(request, user, _path_id(request, "list_id"))
    name = {"name": view.current.name}
    return _answer(request, view, panel="rename", list_values=name, focus="rename-input")


@signed_in
async def rename(request: Request, user: User) -> Response:
    store = _store(request)
    list_id = _path_id(request, "list_id")
    values = await _form(request, ("name",))
    try:
        name = clean_list({"name": values.get("name", "")})["name"]
        renamed = await store.update_list(user["sub"], list_id, name=name)
    except InvalidEntry as exc:
        errors, status_code = exc.errors, 422
    except DuplicateListName:
        errors, status_code = {"name": NAME_TAKEN}, 409
    else:
        if renamed is None:
            raise _no_such_list()
        view = await _view(request, user, list_id)
        if not is_htmx(request):
            return RedirectResponse(view.url, status_code=303)
        return _page(request, view, block="watchlist", focus="rename")
    view = await _view(request, user, list_id)
    return _answer(
        request,
        view,
        status_code=status_code,
        panel="rename",
        list_values=values,
        list_errors=errors,
        focus="rename-input",
    )


@signed_in
async def move_list(request: Request, user: User) -> Response:
    """Move the list one place left or right in the user's order."""
    list_id = _path_id(request, "list_id")
    view = await _view(request, user, list_id)
    direction = (await _form(request, ("direction",))).get("direction")
    if direction not in ("left", "right"):
        notice = "Direction must be left or right."
        return _answer(request, view, status_code=422, notice=notice)
    index = view.lists.index(view.current)
    position = max(index - 1, 0) if direction == "left" else index + 1
    await _store(request).update_list(user["sub"], list_id, position=position)
    view = await _view(request, user, list_id)
    if not is_htmx(request):
        return RedirectResponse(view.url, status_code=303)
    index = view.lists.index(view.current)
    at_end = index == 0 if direction == "left" else index == len(view.lists) - 1
    other = {"left": "right", "right": "left"}[direction]
    focus = f"move-{other if at_end else direction}"
    return _page(request, view, block="watchlist", focus=focus, headers=_pushed(view))


@signed_in
async def delete_list_form(request: Request, user: User) -> Response:
    """The confirmation, which says how many symbols go with the list."""
    view = await _view(request, user, _path_id(request, "list_id"))
    return _answer(request, view, panel="delete", focus="confirm")


@signed_in
async def delete_list(request: Request, user: User) -> Response:
    store = _store(request)
    list_id = _path_id(request, "list_id")
    before = await store.lists(user["sub"])
    gone = _find(before, list_id)
    if gone is None:
        raise _no_such_list()
    try:
        deleted = await store.delete_list(user["sub"], list_id)
    except LastList:
        view = await _view_of(request, user, before, list_id)
        return _answer(request, view, status_code=409, panel="delete", focus="confirm")
    if deleted is None:  # deleted meanwhile
        raise _no_such_list()
    # Show the list to its left (or the new first one).
    index = before.index(gone)
    neighbour = before[index - 1] if index else before[1]
    view = await _view(request, user, neighbour.id, DEFAULT_ORDER)
    symbols = "no symbols" if deleted == 0 else f"{deleted:,} symbol{'s' if deleted != 1 else ''}"
    notice = f"Deleted “{gone.name}” and {symbols}."
    if not is_htmx(request):
        return _redirect(request, view, notice)
    return _page(
        request, view, block="watchlist", notice=notice, focus="tab", headers=_pushed(view)
    )


# A URL with a handler per method is one endpoint, so that a 405 lists all its methods.
class ListPage(HTTPEndpoint):
    get = staticmethod(list_page)
    post = staticmethod(add)


class ItemPage(HTTPEndpoint):
    get = staticmethod(row)
    post = staticmethod(update)


class RenamePage(HTTPEndpoint):
    get = staticmethod(rename_form)
    post = staticmethod(rename)


class DeleteListPage(HTTPEndpoint):
    get = staticmethod(delete_list_form)
    post = staticmethod(delete_list)


class TransferPage(HTTPEndpoint):
    get = staticmethod(transfer_form)
    post = staticmethod(transfer)


routes = [
    Route("/", home, methods=["GET"]),
    Route("/watchlist", ListPage),
    Route("/watchlist/quotes", quotes, methods=["GET"]),
    Route("/watchlist/{item_id:int}", ItemPage),
    Route("/watchlist/{item_id:int}/edit", edit, methods=["GET"]),
    Route("/watchlist/{item_id:int}/delete", delete, methods=["POST"]),
    Route("/watchlist/{item_id:int}/move", TransferPage),
    Route("/lists", create_list, methods=["POST"]),
    Route("/lists/{list_id:int}", ListPage),
    Route("/lists/{list_id:int}/quotes", quotes, methods=["GET"]),
    Route("/lists/{list_id:int}/rename", RenamePage),
    Route("/lists/{list_id:int}/move", move_list, methods=["POST"]),
    Route("/lists/{list_id:int}/delete", DeleteListPage),
]

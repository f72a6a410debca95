"""The HTML pages: a landing page, and the watchlist edited in place with htmx.

Every URL answers a whole page to a normal request and the matching block of
the same template to an htmx request. Without JavaScript, the forms post
normally and answer with a redirect (or the page with its errors).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp import money
from webapp.auth import login_url
from webapp.identity import verified_items, verified_user
from webapp.limits import read_form
from webapp.quotes import LABELS
from webapp.quotes.cache import QuoteCache, with_name
from webapp.store import DuplicateSymbol, Item, ItemLimitReached, Store
from webapp.templating import is_htmx, render
from webapp.validation import FIELDS, MAX_ITEMS_PER_USER, InvalidEntry, clean_entry

PAGE = "watchlist.html"
#: How soon the page asks again while quotes it shows are being looked up.
PENDING_POLL_SECONDS = 1
User = dict[str, Any]
Handler = Callable[[Request, User], Awaitable[Response]]


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


async def _form(request: Request) -> dict[str, str]:
    """The entry's fields from a posted form; anything else in it is ignored."""
    async with read_form(request, max_fields=20) as form:
        return {field: str(form.get(field, "")) for field in FIELDS if field in form}


def _page(
    request: Request,
    user: User,
    items: list[Item],
    *,
    status_code: int = 200,
    block: str | None = None,
    **context: Any,
) -> Response:
    context.setdefault("values", {})
    context.setdefault("errors", {})
    context.setdefault("editing", None)
    context.setdefault("focus", None)
    context["items"] = items
    return _render(request, user, context, items, status_code=status_code, block=block)


def _render(
    request: Request,
    user: User,
    context: dict[str, Any],
    items: list[Item],
    *,
    status_code: int = 200,
    block: str | None = None,
) -> Response:
    """The watchlist page, or one of its blocks, with the cached quotes of ``items``."""
    context = {**context, **_quotes(request, items)}
    return render(request, PAGE, context, user=user, status_code=status_code, block=block)


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


async def home(request: Request) -> Response:
    if await verified_user(request) is not None:
        return RedirectResponse("/watchlist", status_code=303)
    return render(request, "landing.html", user=None)


async def watchlist(request: Request) -> Response:
    # The session check and the list in one query: the page's one round trip.
    found = await verified_items(request)
    if found is None:
        return _sign_in_again(request)
    user, items = found
    return _page(request, user, items, block="watchlist" if is_htmx(request) else None)


async def quotes(request: Request) -> Response:
    """The quotes poll: every row's live cells, swapped in out of band, and the next poll."""
    found = await verified_items(request)
    if found is None:
        return _sign_in_again(request)
    if not is_htmx(request):
        return RedirectResponse("/watchlist", status_code=303)
    user, items = found
    return _render(request, user, {"items": items}, items, block="quotes")


@signed_in
async def add(request: Request, user: User) -> Response:
    sub = user["sub"]
    store = _store(request)
    values = await _form(request)
    try:
        await store.create_item(sub, await with_name(request, clean_entry(values, from_form=True)))
    except InvalidEntry as exc:
        errors, status_code = exc.errors, 422
    except DuplicateSymbol:
        errors, status_code = {"symbol": "is already on your watchlist"}, 409
    except ItemLimitReached:
        errors = {"symbol": f"cannot be added: a watchlist holds at most {MAX_ITEMS_PER_USER:,}"}
        status_code = 422
    else:
        if not is_htmx(request):
            return RedirectResponse("/watchlist", status_code=303)
        items = await store.list_items(sub)
        return _page(request, user, items, block="watchlist", focus="add")
    items = await store.list_items(sub)
    return _page(
        request,
        user,
        items,
        status_code=_status(request, status_code),
        block="watchlist" if is_htmx(request) else None,
        values=values,
        errors=errors,
        focus="add",
    )


async def _one(request: Request, user: User) -> Item | None:
    item_id: int = request.path_params["item_id"]
    return await _store(request).get_item(user["sub"], item_id)


def _gone(request: Request, user: User) -> Response:
    """The item is not (or no longer) the user's: a fragment that says so, or the page."""
    if is_htmx(request):
        return render(request, "_gone.html", user=user)
    return RedirectResponse("/watchlist", status_code=303)


def _row(request: Request, user: User, item: Item) -> Response:
    return _render(request, user, {"item": item, "focus": "row"}, [item], block="row")


@signed_in
async def row(request: Request, user: User) -> Response:
    """One row: what Cancel brings back."""
    item = await _one(request, user)
    if item is None:
        return _gone(request, user)
    if not is_htmx(request):
        return RedirectResponse("/watchlist", status_code=303)
    return _row(request, user, item)


@signed_in
async def edit(request: Request, user: User) -> Response:
    """The row as a form: a fragment for htmx, or the page with that row open."""
    item = await _one(request, user)
    if item is None:
        return _gone(request, user)
    values = {"symbol": item.symbol, "name": item.name, "notes": item.notes}
    values["price"] = money.form_value(item.price)
    context: dict[str, Any] = {"item": item, "values": values, "errors": {}, "focus": "edit"}
    if is_htmx(request):
        return _render(request, user, context, [item], block="edit_row")
    items = await _store(request).list_items(user["sub"])
    return _page(request, user, items, **{**context, "editing": item.id})


@signed_in
async def update(request: Request, user: User) -> Response:
    sub = user["sub"]
    store = _store(request)
    item_id: int = request.path_params["item_id"]
    values = await _form(request)
    try:
        item = await store.update_item(sub, item_id, clean_entry(values, from_form=True))
    except InvalidEntry as exc:
        errors, status_code = exc.errors, 422
    except DuplicateSymbol:
        errors, status_code = {"symbol": "is already on your watchlist"}, 409
    else:
        if item is None:
            return _gone(request, user)
        if not is_htmx(request):
            return RedirectResponse("/watchlist", status_code=303)
        return _row(request, user, item)
    current = await store.get_item(sub, item_id)
    if current is None:
        return _gone(request, user)
    context: dict[str, Any] = {
        "item": current,
        "values": values,
        "errors": errors,
        "focus": "edit",
    }
    if is_htmx(request):
        return _render(request, user, context, [current], block="edit_row")
    items = await store.list_items(sub)
    return _page(request, user, items, status_code=status_code, **{**context, "editing": item_id})


@signed_in
async def delete(request: Request, user: User) -> Response:
    item_id: int = request.path_params["item_id"]
    await _store(request).delete_item(user["sub"], item_id)
    if is_htmx(request):
        # An empty answer: htmx swaps the row out for nothing.
        return Response(status_code=200, headers={"Vary": "HX-Request"})
    return RedirectResponse("/watchlist", status_code=303)


# A URL with a handler per method is one endpoint, so that a 405 lists all its methods.
class WatchlistPage(HTTPEndpoint):
    get = staticmethod(watchlist)
    post = staticmethod(add)


class ItemPage(HTTPEndpoint):
    get = staticmethod(row)
    post = staticmethod(update)


routes = [
    Route("/", home, methods=["GET"]),
    Route("/watchlist", WatchlistPage),
    Route("/watchlist/quotes", quotes, methods=["GET"]),
    Route("/watchlist/{item_id:int}", ItemPage),
    Route("/watchlist/{item_id:int}/edit", edit, methods=["GET"]),
    Route("/watchlist/{item_id:int}/delete", delete, methods=["POST"]),
]

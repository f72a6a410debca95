"""The JSON API under ``/api``: bearer ID tokens in, the caller's own watchlist out.

The API never reads the session cookie; each request proves who it is with an
``Authorization: Bearer <ID token>`` header.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.endpoints import HTTPEndpoint
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from webapp import csvroutes, money, openapi, surfaces
from webapp.quotes.cache import QuoteCache, Seen, with_name
from webapp.store import (
    DuplicateListName,
    DuplicateSymbol,
    Item,
    ItemLimitReached,
    LastList,
    ListLimitReached,
    NoSuchList,
    Store,
)
from webapp.targets import by_quotes, is_quote_key, target
from webapp.templating import render
from webapp.tokens import IdTokenVerifier, InvalidToken, ProviderUnavailable
from webapp.validation import (
    MAX_ITEMS_PER_USER,
    MAX_LISTS_PER_USER,
    InvalidEntry,
    clean_entry,
    clean_list,
    clean_order,
    target_errors,
)

MAX_BODY_BYTES = 64 * 1024
#: A move to a list id the caller does not have (no schema can say which ids are theirs).
NOT_YOUR_LIST = "is not one of your lists"


class ItemsResponse(JSONResponse):
    """JSON whose prices are numbers of exactly their stored digits (``webapp.money``)."""

    def render(self, content: Any) -> bytes:
        return money.dumps(content)


class ApiError(Exception):
    """An error answered as ``{"detail": ..., "errors": {...}}``."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        errors: dict[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.errors = errors or {}
        self.headers = headers


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(
        {"detail": exc.detail, "errors": exc.errors},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def caller(request: Request) -> dict[str, Any]:
    """The verified claims of the caller's ID token."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "Send an ID token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    verifier: IdTokenVerifier = request.state.verifier
    try:
        return await verifier.verify(token.strip())
    except InvalidToken as exc:
        raise ApiError(
            401,
            str(exc),
            headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc}"'
            },
        ) from None
    except ProviderUnavailable:
        raise ApiError(
            503,
            "The identity provider cannot be reached to check the token; try again shortly.",
            headers={"Retry-After": "30"},
        ) from None


def _constant(name: str) -> Decimal:
    # NaN and Infinity are not JSON, but Python's parser reads them: let validation name the field.
    return Decimal(name)


def _number(text: str) -> Decimal:
    """A JSON number, exactly: no float rounding, no limit on an integer's digits."""
    try:
        return Decimal(text)
    except InvalidOperation:
        # Only an exponent Decimal cannot hold (10**18 or more) gets here. Keep the signs
        # and a magnitude past the rules' limits, so that validation names the field.
        mantissa, _, exponent = text.lower().partition("e")
        if Decimal(mantissa).is_zero():
            return Decimal(0)
        sign = "-" if mantissa.startswith("-") else ""
        exponent_sign = "-" if exponent.startswith("-") else "+"
        return Decimal(f"{sign}1E{exponent_sign}999999")


def _is_json(content_type: str) -> bool:
    media_type, *parameters = content_type.split(";")
    charsets = [
        value.strip().strip('"').lower()
        for name, _, value in (parameter.partition("=") for parameter in parameters)
        if name.strip().lower() == "charset"
    ]
    return media_type.strip().lower() == "application/json" and charsets in ([], ["utf-8"])


async def _entry(request: Request, *, partial: bool, movable: bool = False) -> dict[str, Any]:
    """The request's JSON body, validated as a (partial) watchlist entry; ``movable``
    allows ``list_id`` (a move to another list)."""
    data = await _object(request)
    try:
        return clean_entry(data, partial=partial, movable=movable)
    except InvalidEntry as exc:
        raise ApiError(422, "Some fields are invalid.", exc.errors) from None


async def _list_fields(request: Request, *, partial: bool) -> dict[str, Any]:
    """The request's JSON body, validated as a list's (changed) fields."""
    data = await _object(request)
    try:
        return clean_list(data, partial=partial)
    except InvalidEntry as exc:
        raise ApiError(422, "Some fields are invalid.", exc.errors) from None


async def _object(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object, numbers read exactly."""
    if not _is_json(request.headers.get("content-type", "")):
        raise ApiError(415, "Send the body as 'Content-Type: application/json' (UTF-8).")
    body = await request.body()
    try:
        data = json.loads(
            body.decode("utf-8"),
            parse_float=_number,
            parse_int=_number,
            parse_constant=_constant,
        )
    except (ValueError, RecursionError):
        raise ApiError(422, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(422, "The body must be a JSON object.")
    return data


def _store(request: Request) -> Store:
    store: Store = request.state.store
    return store


async def _quotes(request: Request, symbols: list[str]) -> dict[str, Seen]:
    """The cached quotes of ``symbols``, after waiting at most ``QUOTES_TIMEOUT`` for the
    ones not known yet."""
    cache: QuoteCache | None = request.state.quotes
    if cache is None or not symbols:
        return {}
    return await cache.get(symbols)


#: How an item is answered: as /api does (``_item``), or as the earlier service did.
Shape = Callable[[Item, dict[str, Seen]], dict[str, Any]]


def _item(item: Item, quotes: dict[str, Seen]) -> dict[str, Any]:
    seen = quotes.get(item.symbol)
    answer = item.as_json()
    answer["quote"] = None if seen is None else seen.as_json()
    answer["target"] = target(item, seen.quote if seen else None).as_json()
    return answer


def _not_found(item_id: int) -> ApiError:
    return ApiError(404, f"You have no watchlist item with id {item_id}.")


def _duplicate(symbol: str) -> ApiError:
    return ApiError(
        409,
        f"{symbol} is already on your watchlist.",
        {"symbol": "is already on your watchlist"},
    )


def _mount_path(request: Request) -> str:
    """Where the API is mounted, as clients see it (``/api``)."""
    root_path: str = request.scope.get("root_path", "")
    return root_path


async def index(request: Request) -> Response:
    """What this API is, and where its description lives.

    Needs no token.
    ---
    operationId: getApiIndex
    tags: [about]
    security: []
    responses:
      "200":
        description: The API's name and version, and links to its description.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Index"}
    """
    mount_path = _mount_path(request)
    return JSONResponse(
        {
            "name": openapi.TITLE,
            "version": openapi.VERSION,
            "links": {"openapi": f"{mount_path}/openapi.json", "docs": f"{mount_path}/docs"},
        }
    )


async def openapi_document(request: Request) -> Response:
    """This API's OpenAPI 3.1 document, generated from these endpoints' docstrings."""
    from webapp import compat  # which is built on this module

    mount_path = _mount_path(request)
    return JSONResponse(
        openapi.document(
            routes,
            mount_path,
            max_body_bytes=MAX_BODY_BYTES,
            aliases=compat.routes,
            aliases_path=mount_path.removesuffix(surfaces.API_PREFIX),
        )
    )


async def docs(request: Request) -> Response:
    """The OpenAPI document as an interactive page (Swagger UI)."""
    # Nobody is shown as signed in: nothing under /api looks at the cookie.
    context = {"openapi_url": f"{_mount_path(request)}/openapi.json"}
    return render(request, "api_docs.html", context, user=None)


async def me(request: Request) -> Response:
    """The caller's identity, from their ID token.
    ---
    operationId: getMe
    tags: [identity]
    responses:
      "200":
        description: The token's subject, email and name.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Identity"}
      "401": {$ref: "#/components/responses/Unauthorized"}
      "503": {$ref: "#/components/responses/Unavailable"}
    """
    claims = await caller(request)
    return JSONResponse(
        {"sub": claims["sub"], "email": claims.get("email"), "name": claims.get("name")}
    )


class Stocks(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        """The caller's watchlist, newest first.
        ---
        operationId: listStocks
        tags: [watchlist]
        parameters:
          - {$ref: "#/components/parameters/Sort"}
          - {$ref: "#/components/parameters/Q"}
        responses:
          "200":
            description: Every item, newest first unless `sort` says otherwise.
            content:
              application/json:
                schema: {$ref: "#/components/schemas/ItemList"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "422": {$ref: "#/components/responses/Invalid"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        return await listed(request, claims["sub"], None)

    async def post(self, request: Request) -> Response:
        """Add an item to the caller's watchlist.

        Answers 201 with the item and its ``Location``; 409 when the symbol is already listed.
        ---
        operationId: createStock
        tags: [watchlist]
        requestBody: {$ref: "#/components/requestBodies/NewItem"}
        responses:
          "201":
            description: The new item.
            headers:
              Location:
                description: The item's URL.
                required: true
                schema: {type: string, format: uri-reference}
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Item"}
            links:
              getStock:
                operationId: getStock
                parameters: {item_id: "$response.body#/id"}
                description: Read the new item.
              updateStock:
                operationId: updateStock
                parameters: {item_id: "$response.body#/id"}
                description: Change the new item.
              deleteStock:
                operationId: deleteStock
                parameters: {item_id: "$response.body#/id"}
                description: Remove the new item.
          "401": {$ref: "#/components/responses/Unauthorized"}
          "409": {$ref: "#/components/responses/Conflict"}
          "413": {$ref: "#/components/responses/TooLarge"}
          "415": {$ref: "#/components/responses/UnsupportedMediaType"}
          "422": {$ref: "#/components/responses/Invalid"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        return await created(request, claims["sub"], None)


async def listed(request: Request, sub: str, list_id: int | None, shape: Shape = _item) -> Response:
    """The items of one list (the first when ``list_id`` is ``None``), with their quotes."""
    store = _store(request)
    if list_id is not None and await store.get_list(sub, list_id) is None:
        raise _no_list(list_id)
    try:
        order = clean_order(request.query_params.get("sort"), request.query_params.get("q"))
    except InvalidEntry as exc:
        raise ApiError(422, "Some parameters are invalid.", exc.errors) from None
    items = await store.list_items(sub, list_id, order)
    quotes = await _quotes(request, [item.symbol for item in items])
    if is_quote_key(order.key):
        items = by_quotes(items, quotes, order.key, descending=order.descending)
    return ItemsResponse([shape(item, quotes) for item in items])


async def created(
    request: Request,
    sub: str,
    list_id: int | None,
    shape: Shape = _item,
    items_url: str = "/api/stocks",
) -> Response:
    """A new item in one list (the first when ``list_id`` is ``None``): 201 and its URL
    under ``items_url``."""
    store = _store(request)
    values = await with_name(request, await _entry(request, partial=False))
    try:
        # The store checks that the list is the caller's (NoSuchList): one look-up, there.
        item = await store.create_item(sub, values, list_id)
    except NoSuchList:
        raise _no_list(list_id or 0) from None
    except DuplicateSymbol:
        raise _duplicate(values["symbol"]) from None
    except ItemLimitReached:
        raise ApiError(
            422, f"Your watchlist is full: it holds at most {MAX_ITEMS_PER_USER:,} items."
        ) from None
    return ItemsResponse(
        shape(item, await _quotes(request, [item.symbol])),
        status_code=201,
        headers={"Location": f"{items_url}/{item.id}"},
    )


class Stock(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        """One item of the caller's watchlist.
        ---
        operationId: getStock
        tags: [watchlist]
        parameters: [{$ref: "#/components/parameters/ItemId"}]
        responses:
          "200":
            description: The item.
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Item"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        return await read(request, claims["sub"])

    async def patch(self, request: Request) -> Response:
        """Change some of an item's fields.
        ---
        operationId: updateStock
        tags: [watchlist]
        parameters: [{$ref: "#/components/parameters/ItemId"}]
        requestBody: {$ref: "#/components/requestBodies/ItemChangesOrMove"}
        responses:
          "200":
            description: The changed item.
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Item"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "409": {$ref: "#/components/responses/Conflict"}
          "413": {$ref: "#/components/responses/TooLarge"}
          "415": {$ref: "#/components/responses/UnsupportedMediaType"}
          "422": {$ref: "#/components/responses/Invalid"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        return await changed(request, claims["sub"])

    async def put(self, request: Request) -> Response:
        """Change some of an item's fields, as PATCH does.

        The system this API replaces sent partial bodies with PUT, so PUT takes the same
        partial body as PATCH and means the same.
        ---
        operationId: putStock
        tags: [watchlist]
        parameters: [{$ref: "#/components/parameters/ItemId"}]
        requestBody: {$ref: "#/components/requestBodies/ItemChangesOrMove"}
        responses:
          "200":
            description: The changed item.
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Item"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "409": {$ref: "#/components/responses/Conflict"}
          "413": {$ref: "#/components/responses/TooLarge"}
          "415": {$ref: "#/components/responses/UnsupportedMediaType"}
          "422": {$ref: "#/components/responses/Invalid"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        return await changed(request, claims["sub"])

    async def delete(self, request: Request) -> Response:
        """Remove an item from the caller's watchlist.
        ---
        operationId: deleteStock
        tags: [watchlist]
        parameters: [{$ref: "#/components/parameters/ItemId"}]
        responses:
          "204":
            description: The item is gone.
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        return await deleted(request, claims["sub"])


async def read(request: Request, sub: str, shape: Shape = _item) -> Response:
    """The item ``item_id`` of the caller's, in any of their lists."""
    item_id = request.path_params["item_id"]
    item = await _store(request).get_item(sub, item_id)
    if item is None:
        raise _not_found(item_id)
    return ItemsResponse(shape(item, await _quotes(request, [item.symbol])))


async def changed(
    request: Request, sub: str, shape: Shape = _item, *, movable: bool = True
) -> Response:
    """Some of the item's fields changed (and with ``movable``, maybe its list)."""
    values = await _entry(request, partial=True, movable=movable)
    item_id = request.path_params["item_id"]
    store = _store(request)
    if len({"alert_above", "alert_below"} & set(values)) == 1:
        # One target changes: it must still be on its side of the other.
        current = await store.get_item(sub, item_id)
        if current is None:
            raise _not_found(item_id)
        targets = {"alert_above": current.alert_above, "alert_below": current.alert_below}
        errors = target_errors({**targets, **values})
        if errors:
            raise ApiError(422, "Some fields are invalid.", errors)
    try:
        item = await store.update_item(sub, item_id, values)
    except NoSuchList:
        # 422, not 404: the item is there; the field names no list of the caller's.
        raise ApiError(422, "Some fields are invalid.", {"list_id": NOT_YOUR_LIST}) from None
    except DuplicateSymbol:
        symbol = values.get("symbol")
        if symbol is None:  # a move: the item's own symbol is in the other list
            current = await store.get_item(sub, item_id)
            symbol = current.symbol if current else ""
        raise _duplicate(symbol) from None
    if item is None:
        raise _not_found(item_id)
    return ItemsResponse(shape(item, await _quotes(request, [item.symbol])))


async def deleted(request: Request, sub: str) -> Response:
    """The item ``item_id`` of the caller's removed: 204."""
    item_id = request.path_params["item_id"]
    if not await _store(request).delete_item(sub, item_id):
        raise _not_found(item_id)
    return Response(status_code=204)


def _no_list(list_id: int) -> ApiError:
    return ApiError(404, f"You have no list with id {list_id}.")


def _duplicate_list(name: str) -> ApiError:
    return ApiError(
        409,
        f"You already have a list named {name}.",
        {"name": "is already the name of one of your lists"},
    )


class Lists(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        """The caller's lists, in their order, with how many items each holds.

        Everyone has at least one: a person who has made none has "My watchlist".
        ---
        operationId: listLists
        tags: [lists]
        responses:
          "200":
            description: Every list, in the caller's order.
            content:
              application/json:
                schema: {$ref: "#/components/schemas/ListList"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        lists = await _store(request).lists(claims["sub"])
        return JSONResponse([entry.as_json() for entry in lists])

    async def post(self, request: Request) -> Response:
        """Make a new list, last in the caller's order.

        Answers 201 with the list and its ``Location``; 409 when the caller already has a
        list of that name, whatever its case; 422 past 20 lists.
        ---
        operationId: createList
        tags: [lists]
        requestBody: {$ref: "#/components/requestBodies/NewList"}
        responses:
          "201":
            description: The new list.
            headers:
              Location:
                description: The list's URL.
                required: true
                schema: {type: string, format: uri-reference}
            content:
              application/json:
                schema: {$ref: "#/components/schemas/List"}
            links:
              getList:
                operationId: getList
                parameters: {list_id: "$response.body#/id"}
                description: Read the new list.
              updateList:
                operationId: updateList
                parameters: {list_id: "$response.body#/id"}
                description: Rename or move the new list.
              deleteList:
                operationId: deleteList
                parameters: {list_id: "$response.body#/id"}
                description: Delete the new list.
              listListStocks:
                operationId: listListStocks
                parameters: {list_id: "$response.body#/id"}
                description: The new list's items.
              createListStock:
                operationId: createListStock
                parameters: {list_id: "$response.body#/id"}
                description: Add an item to the new list.
          "401": {$ref: "#/components/responses/Unauthorized"}
          "409": {$ref: "#/components/responses/ListConflict"}
          "413": {$ref: "#/components/responses/TooLarge"}
          "415": {$ref: "#/components/responses/UnsupportedMediaType"}
          "422": {$ref: "#/components/responses/Invalid"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        values = await _list_fields(request, partial=False)
        try:
            created = await _store(request).create_list(claims["sub"], values["name"])
        except DuplicateListName:
            raise _duplicate_list(values["name"]) from None
        except ListLimitReached:
            raise ApiError(
                422, f"You have {MAX_LISTS_PER_USER} lists, the most there can be."
            ) from None
        return JSONResponse(
            created.as_json(), status_code=201, headers={"Location": f"/api/lists/{created.id}"}
        )


class OneList(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        """One of the caller's lists.
        ---
        operationId: getList
        tags: [lists]
        parameters: [{$ref: "#/components/parameters/ListId"}]
        responses:
          "200":
            description: The list.
            content:
              application/json:
                schema: {$ref: "#/components/schemas/List"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        list_id = request.path_params["list_id"]
        found = await _store(request).get_list(claims["sub"], list_id)
        if found is None:
            raise _no_list(list_id)
        return JSONResponse(found.as_json())

    async def patch(self, request: Request) -> Response:
        """Rename a list, or move it in the caller's order (``position`` 0 is first).
        ---
        operationId: updateList
        tags: [lists]
        parameters: [{$ref: "#/components/parameters/ListId"}]
        requestBody: {$ref: "#/components/requestBodies/ListChanges"}
        responses:
          "200":
            description: The changed list.
            content:
              application/json:
                schema: {$ref: "#/components/schemas/List"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "409": {$ref: "#/components/responses/ListConflict"}
          "413": {$ref: "#/components/responses/TooLarge"}
          "415": {$ref: "#/components/responses/UnsupportedMediaType"}
          "422": {$ref: "#/components/responses/Invalid"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        values = await _list_fields(request, partial=True)
        list_id = request.path_params["list_id"]
        try:
            changed = await _store(request).update_list(claims["sub"], list_id, **values)
        except DuplicateListName:
            raise _duplicate_list(values["name"]) from None
        if changed is None:
            raise _no_list(list_id)
        return JSONResponse(changed.as_json())

    async def delete(self, request: Request) -> Response:
        """Delete a list and every item in it; the caller's last list cannot be (409).
        ---
        operationId: deleteList
        tags: [lists]
        parameters: [{$ref: "#/components/parameters/ListId"}]
        responses:
          "204":
            description: The list and its items are gone.
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "409": {$ref: "#/components/responses/ListConflict"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        list_id = request.path_params["list_id"]
        try:
            deleted = await _store(request).delete_list(claims["sub"], list_id)
        except LastList:
            raise ApiError(409, "This is your last list: a watchlist needs one.") from None
        if deleted is None:
            raise _no_list(list_id)
        return Response(status_code=204)


class ListStocks(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        """The items of one of the caller's lists, newest first.
        ---
        operationId: listListStocks
        tags: [lists]
        parameters:
          - {$ref: "#/components/parameters/ListId"}
          - {$ref: "#/components/parameters/Sort"}
          - {$ref: "#/components/parameters/Q"}
        responses:
          "200":
            description: The list's items, newest first unless `sort` says otherwise.
            content:
              application/json:
                schema: {$ref: "#/components/schemas/ItemList"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "422": {$ref: "#/components/responses/Invalid"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        return await listed(request, claims["sub"], request.path_params["list_id"])

    async def post(self, request: Request) -> Response:
        """Add an item to one of the caller's lists, as ``POST /api/stocks`` does to the first.
        ---
        operationId: createListStock
        tags: [lists]
        parameters: [{$ref: "#/components/parameters/ListId"}]
        requestBody: {$ref: "#/components/requestBodies/NewItem"}
        responses:
          "201":
            description: The new item.
            headers:
              Location:
                description: The item's URL.
                required: true
                schema: {type: string, format: uri-reference}
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Item"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "409": {$ref: "#/components/responses/Conflict"}
          "413": {$ref: "#/components/responses/TooLarge"}
          "415": {$ref: "#/components/responses/UnsupportedMediaType"}
          "422": {$ref: "#/components/responses/Invalid"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        claims = await caller(request)
        return await created(request, claims["sub"], request.path_params["list_id"])


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (404, 405, 413) under ``/api``, in the API's error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 413:
        return error_response(too_large())
    messages = {
        404: "There is no such API endpoint.",
        405: "This endpoint does not accept that method.",
    }
    detail = messages.get(exc.status_code, str(exc.detail))
    return error_response(ApiError(exc.status_code, detail, headers=exc.headers))


def too_large() -> ApiError:
    return ApiError(413, f"The body is too large: at most {MAX_BODY_BYTES // 1024} KiB.")


routes = [
    Route("/", index, methods=["GET"]),
    # The document and its page describe the API rather than being part of it.
    Route("/openapi.json", openapi_document, methods=["GET"], include_in_schema=False),
    Route("/docs", docs, methods=["GET"], include_in_schema=False),
    Route("/me", me, methods=["GET"]),
    Route("/stocks", Stocks),
    Route("/stocks/{item_id:int}", Stock),
    Route("/lists", Lists),
    Route("/lists/{list_id:int}", OneList),
    Route("/lists/{list_id:int}/stocks", ListStocks),
    *csvroutes.api_routes,
]

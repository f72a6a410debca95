"""The earlier service's routes, for its clients: ``/health``, ``/me``, ``/stocks``,
``/stocks/{id}`` and ``/docs``, beside ``/api``.

A thin layer: each route is its ``/api`` twin's handler (``webapp.api``) with the earlier
service's answer shape, so the rules, the isolation and the errors are the same ones. They
are the API's (``webapp.surfaces``): bearer tokens only, JSON errors, no cross-site check.
"""

from __future__ import annotations

from typing import Any

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from webapp import api, surfaces
from webapp.quotes.cache import Seen
from webapp.store import Item

#: What ``GET /`` answers a client that asks for JSON only, as the earlier service did.
ROOT_MESSAGE = {"message": "Stock Watchlist API"}


def _shape(sub: str) -> api.Shape:
    """The earlier service's item: no list, notes, targets or quote; its owner's ``sub``."""

    def shape(item: Item, quotes: dict[str, Seen]) -> dict[str, Any]:
        current = item.as_json()
        return {
            **{field: current[field] for field in ("id", "symbol", "name", "price")},
            "user_id": sub,
            **{field: current[field] for field in ("created_at", "updated_at")},
        }

    return shape


async def _sub(request: Request) -> str:
    claims = await api.caller(request)
    sub: str = claims["sub"]
    return sub


def wants_json_only(request: Request) -> bool:
    """Whether the request's ``Accept`` names JSON and nothing a browser would take."""
    accepted = {
        part.split(";", 1)[0].strip().lower()
        for part in request.headers.get("accept", "").split(",")
        if part.strip()
    }
    return accepted == {"application/json"}


async def health(request: Request) -> Response:
    """Whether the process is alive (the earlier service's health check).

    Needs no token and asks nothing of the database: `/readyz` says whether it is ready.
    ---
    operationId: legacyHealth
    tags: [earlier service]
    deprecated: true
    security: []
    responses:
      "200":
        description: The process answers.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Health"}
    """
    return JSONResponse({"status": "healthy"})


async def me(request: Request) -> Response:
    """The caller's identity, as the earlier service gave it. Use `GET /api/me`.
    ---
    operationId: legacyGetMe
    tags: [earlier service]
    deprecated: true
    responses:
      "200":
        description: The token's subject and email; `preferred_username` is the email.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/LegacyIdentity"}
      "401": {$ref: "#/components/responses/Unauthorized"}
      "503": {$ref: "#/components/responses/Unavailable"}
    """
    claims = await api.caller(request)
    email = claims.get("email")
    return JSONResponse({"sub": claims["sub"], "email": email, "preferred_username": email})


async def docs(request: Request) -> Response:
    """The interactive documentation lives at ``/api/docs``."""
    return RedirectResponse(f"{_root(request)}{surfaces.API_PREFIX}/docs", status_code=307)


def _root(request: Request) -> str:
    root_path: str = request.scope.get("root_path", "")
    return root_path


class Stocks(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        """The caller's first list, newest first. Use `GET /api/stocks`.
        ---
        operationId: legacyListStocks
        tags: [earlier service]
        deprecated: true
        parameters:
          - {$ref: "#/components/parameters/Sort"}
          - {$ref: "#/components/parameters/Q"}
        responses:
          "200":
            description: Every item of the first list, in the earlier service's shape.
            content:
              application/json:
                schema: {type: array, items: {$ref: "#/components/schemas/LegacyItem"}}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "422": {$ref: "#/components/responses/Invalid"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        sub = await _sub(request)
        return await api.listed(request, sub, None, _shape(sub))

    async def post(self, request: Request) -> Response:
        """Add an item to the caller's first list. Use `POST /api/stocks`.
        ---
        operationId: legacyCreateStock
        tags: [earlier service]
        deprecated: true
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
                schema: {$ref: "#/components/schemas/LegacyItem"}
            links:
              legacyGetStock:
                operationId: legacyGetStock
                parameters: {item_id: "$response.body#/id"}
              legacyPutStock:
                operationId: legacyPutStock
                parameters: {item_id: "$response.body#/id"}
              legacyDeleteStock:
                operationId: legacyDeleteStock
                parameters: {item_id: "$response.body#/id"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "409": {$ref: "#/components/responses/Conflict"}
          "413": {$ref: "#/components/responses/TooLarge"}
          "415": {$ref: "#/components/responses/UnsupportedMediaType"}
          "422": {$ref: "#/components/responses/Invalid"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        sub = await _sub(request)
        return await api.created(request, sub, None, _shape(sub), f"{_root(request)}/stocks")


class Stock(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        """One item of the caller's, in any list. Use `GET /api/stocks/{item_id}`.
        ---
        operationId: legacyGetStock
        tags: [earlier service]
        deprecated: true
        parameters: [{$ref: "#/components/parameters/ItemId"}]
        responses:
          "200":
            description: The item.
            content:
              application/json:
                schema: {$ref: "#/components/schemas/LegacyItem"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        sub = await _sub(request)
        return await api.read(request, sub, _shape(sub))

    async def put(self, request: Request) -> Response:
        """Change some of an item's fields (the earlier service's partial PUT of `name` and
        `price`; the other fields of `PATCH /api/stocks/{item_id}` but `list_id` too).
        ---
        operationId: legacyPutStock
        tags: [earlier service]
        deprecated: true
        parameters: [{$ref: "#/components/parameters/ItemId"}]
        requestBody: {$ref: "#/components/requestBodies/ItemChanges"}
        responses:
          "200":
            description: The changed item.
            content:
              application/json:
                schema: {$ref: "#/components/schemas/LegacyItem"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "409": {$ref: "#/components/responses/Conflict"}
          "413": {$ref: "#/components/responses/TooLarge"}
          "415": {$ref: "#/components/responses/UnsupportedMediaType"}
          "422": {$ref: "#/components/responses/Invalid"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        sub = await _sub(request)
        return await api.changed(request, sub, _shape(sub), movable=False)

    async def delete(self, request: Request) -> Response:
        """Remove an item. Use `DELETE /api/stocks/{item_id}`.
        ---
        operationId: legacyDeleteStock
        tags: [earlier service]
        deprecated: true
        parameters: [{$ref: "#/components/parameters/ItemId"}]
        responses:
          "204":
            description: The item is gone.
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        return await api.deleted(request, await _sub(request))


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/me", me, methods=["GET"]),
    Route("/docs", docs, methods=["GET"], include_in_schema=False),
    Route("/stocks", Stocks),
    Route("/stocks/{item_id:int}", Stock),
]

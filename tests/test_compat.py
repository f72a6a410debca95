"""The earlier service's routes, as its clients call them: its own client flow through a
real uvicorn with real ID tokens, on SQLite and MariaDB; isolation and every error code
through the aliases; the cookie and cross-site rules of the API; the OpenAPI document."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from tests.conftest import bearer, sign_in
from tests.provider import Provider
from tests.test_api import live_server
from webapp import money

LEGACY_FIELDS = ["id", "symbol", "name", "price", "user_id", "created_at", "updated_at"]


@pytest.fixture
def alice(provider: Provider) -> dict[str, str]:
    return bearer(provider.token(sub="alice-sub", email="alice@example.com", name="Alice"))


@pytest.fixture
def bob(provider: Provider) -> dict[str, str]:
    return bearer(provider.token(sub="bob-sub", email="bob@example.com"))


def test_the_earlier_clients_flow_passes(
    database_url: str, provider: Provider, alice: dict[str, str]
) -> None:
    """health, root, docs, me, list, create, list again, get, update with PUT, delete."""
    with live_server(database_url, provider) as url, httpx2.Client(base_url=url) as http:
        health = http.get("/health")
        assert (health.status_code, health.json()) == (200, {"status": "healthy"})

        root = http.get("/", headers={"Accept": "application/json"})
        assert (root.status_code, root.json()) == (200, {"message": "Stock Watchlist API"})

        docs = http.get("/docs", follow_redirects=True)
        assert docs.status_code == 200
        assert docs.url.path == "/api/docs"
        assert "swagger" in docs.text.lower()

        me = http.get("/me", headers=alice)
        assert me.status_code == 200
        assert me.json() == {
            "sub": "alice-sub",
            "email": "alice@example.com",
            "preferred_username": "alice@example.com",
        }

        assert http.get("/stocks", headers=alice).json() == []

        made = http.post(
            "/stocks", json={"symbol": "aapl", "name": "Apple", "price": 187.25}, headers=alice
        )
        assert made.status_code == 201, made.text
        item = made.json()
        assert list(item) == LEGACY_FIELDS
        assert item["symbol"] == "AAPL"
        assert item["price"] == 187.25
        assert item["user_id"] == "alice-sub"
        assert made.headers["location"] == f"/stocks/{item['id']}"

        assert http.get("/stocks", headers=alice).json() == [item]
        assert http.get(f"/stocks/{item['id']}", headers=alice).json() == item

        changed = http.put(
            f"/stocks/{item['id']}", json={"name": "Apple Inc.", "price": 190}, headers=alice
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["name"] == "Apple Inc."
        assert changed.json()["price"] == 190
        assert changed.json()["created_at"] == item["created_at"]

        # The same item through /api: one store, two shapes.
        twin = http.get(f"/api/stocks/{item['id']}", headers=alice).json()
        assert (twin["name"], twin["price"], twin["notes"]) == ("Apple Inc.", 190, "")

        assert http.delete(f"/stocks/{item['id']}", headers=alice).status_code == 204
        assert http.get(f"/stocks/{item['id']}", headers=alice).status_code == 404


def test_prices_keep_their_digits(sqlite_client: TestClient, alice: dict[str, str]) -> None:
    made = sqlite_client.post(
        "/stocks",
        content=b'{"symbol": "BRK.B", "price": 999999999999.9999}',  # past a float's digits
        headers={**alice, "Content-Type": "application/json"},
    )
    assert made.status_code == 201, made.text
    assert b'"price":999999999999.9999,' in made.content
    assert json.loads(made.content, parse_float=Decimal)["price"] == Decimal("999999999999.9999")


def test_one_person_never_reaches_anothers_items(
    sqlite_client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    item = sqlite_client.post("/stocks", json={"symbol": "AAPL"}, headers=alice).json()
    url = f"/stocks/{item['id']}"
    for method, body in (("GET", None), ("PUT", {"name": "mine"}), ("DELETE", None)):
        answer = sqlite_client.request(method, url, json=body, headers=bob)
        # Never 403: whether the id exists is not Bob's to know.
        assert answer.status_code == 404, (method, answer.text)
        assert answer.json() == {
            "detail": f"You have no watchlist item with id {item['id']}.",
            "errors": {},
        }
    assert sqlite_client.get("/stocks", headers=bob).json() == []
    assert sqlite_client.get(url, headers=alice).json() == item


def test_the_cookie_is_ignored_and_no_cross_site_check_applies(
    sqlite_client: TestClient, alice: dict[str, str]
) -> None:
    sign_in(sqlite_client)  # a signed-in session cookie rides along, and counts for nothing
    for path in ("/me", "/stocks"):
        refused = sqlite_client.get(path)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["detail"].startswith("Send an ID token")
    # A token is not a cookie: a request from another site carries it on purpose.
    cross = {"Origin": "https://elsewhere.example", "Sec-Fetch-Site": "cross-site"}
    made = sqlite_client.post("/stocks", json={"symbol": "MSFT"}, headers={**alice, **cross})
    assert made.status_code == 201, made.text


ERRORS: list[tuple[str, str, dict[str, str], Any, int, str]] = [
    # method, path, extra headers, body (bytes as is, else JSON), status, detail's start
    ("GET", "/stocks", {"Authorization": "Bearer not-a-token"}, None, 401, ""),
    ("GET", "/stocks/999999", {}, None, 404, "You have no watchlist item with id 999999."),
    ("PUT", "/stocks/999999", {}, {"name": "x"}, 404, "You have no watchlist item"),
    ("DELETE", "/stocks/999999", {}, None, 404, "You have no watchlist item"),
    ("GET", "/stocks/abc", {}, None, 404, "There is no such API endpoint."),
    ("PATCH", "/stocks", {}, {}, 405, "This endpoint does not accept that method."),
    ("POST", "/stocks", {}, {"symbol": "AAPL"}, 409, "AAPL is already on your watchlist."),
    ("POST", "/stocks", {}, b"x" * (65 * 1024), 413, "The body is too large: at most 64 KiB."),
    ("POST", "/stocks", {"Content-Type": "text/plain"}, b"{}", 415, "Send the body as"),
    ("POST", "/stocks", {}, {"symbol": "no spaces"}, 422, "Some fields are invalid."),
    ("POST", "/stocks", {}, b"{not json", 422, "The body is not valid JSON."),
    ("PUT", "/stocks/{id}", {}, {"price": -1}, 422, "Some fields are invalid."),
    ("PUT", "/stocks/{id}", {}, {"list_id": 1}, 422, "Some fields are invalid."),
    ("GET", "/stocks", {}, None, 200, ""),
    ("GET", "/stocks?sort=colour", {}, None, 422, "Some parameters are invalid."),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "status", "detail"), ERRORS)
def test_every_error_is_the_apis(
    sqlite_client: TestClient,
    alice: dict[str, str],
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any,
    status: int,
    detail: str,
) -> None:
    item = sqlite_client.post("/stocks", json={"symbol": "AAPL"}, headers=alice).json()
    content = body if isinstance(body, bytes) else None if body is None else money.dumps(body)
    sent = {**alice, "Content-Type": "application/json", **headers}
    answer = sqlite_client.request(
        method, path.replace("{id}", str(item["id"])), content=content, headers=sent
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    if status >= 400:
        assert set(answer.json()) == {"detail", "errors"}
        assert answer.json()["detail"].startswith(detail)
    # Nothing the errors sent changed the item.
    assert sqlite_client.get(f"/stocks/{item['id']}", headers=alice).json() == item


def test_the_root_answers_browsers_a_page_and_json_clients_json(
    sqlite_client: TestClient,
) -> None:
    for accept in ("text/html,application/xhtml+xml,*/*;q=0.8", "*/*", ""):
        page = sqlite_client.get("/", headers={"Accept": accept} if accept else {})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Accept" in page.headers["vary"]
    answer = sqlite_client.get("/", headers={"Accept": "application/json"})
    assert answer.json() == {"message": "Stock Watchlist API"}
    assert "Accept" in answer.headers["vary"]


def test_the_aliases_are_documented_as_deprecated_twins(sqlite_client: TestClient) -> None:
    paths = sqlite_client.get("/api/openapi.json").json()["paths"]
    twins = {
        ("/health", "get"): None,
        ("/me", "get"): ("/api/me", "get"),
        ("/stocks", "get"): ("/api/stocks", "get"),
        ("/stocks", "post"): ("/api/stocks", "post"),
        ("/stocks/{item_id}", "get"): ("/api/stocks/{item_id}", "get"),
        ("/stocks/{item_id}", "put"): ("/api/stocks/{item_id}", "patch"),
        ("/stocks/{item_id}", "delete"): ("/api/stocks/{item_id}", "delete"),
    }
    legacy = {(path, method) for path, operations in paths.items() for method in operations} - {
        (path, method) for path in paths if path.startswith("/api") for method in paths[path]
    }
    assert legacy == set(twins)
    for (path, method), twin in twins.items():
        operation = paths[path][method]
        assert operation["deprecated"] is True, (path, method)
        if twin is not None:
            assert twin[0] in operation["summary"] or twin[0] in operation.get("description", "")
            assert twin[1] in paths[twin[0]]


def test_surfaces_knows_every_alias_as_the_apis() -> None:
    """surfaces.py lists the aliases' paths by hand (it cannot import compat, which is built
    on it): they must stay the routes compat serves, and nothing beside them."""
    from webapp import compat, surfaces

    paths = {route.path for route in compat.routes}
    assert {path for path in paths if "{" not in path} == surfaces.COMPAT_PATHS
    assert all(surfaces.is_api(path.replace("{item_id:int}", "7")) for path in paths)
    for page in ("/", "/watchlist", "/lists/1", "/stocksx", "/healthz", "/apix", "/static/x"):
        assert not surfaces.is_api(page), page

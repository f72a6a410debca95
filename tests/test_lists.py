"""Several named lists per person, through the API: create, rename, reorder, delete, the
items of one list, moving an item, the limits, and isolation between people. On SQLite,
MariaDB and through the least-privilege account."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from tests.conftest import bearer
from tests.provider import Provider
from tests.test_api import assert_error, create, live_server
from webapp.validation import MAX_LISTS_PER_USER


@pytest.fixture
def alice(provider: Provider) -> dict[str, str]:
    return bearer(provider.token())


@pytest.fixture
def bob(provider: Provider) -> dict[str, str]:
    return bearer(provider.token(sub="bob-sub", email="bob@example.com", name="Bob"))


def make_list(client: TestClient, headers: dict[str, str], name: str) -> dict[str, Any]:
    response = client.post("/api/lists", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/lists/{made['id']}"
    return made


def names(client: TestClient, headers: dict[str, str]) -> list[str]:
    lists = client.get("/api/lists", headers=headers).json()
    assert [entry["position"] for entry in lists] == list(range(len(lists)))
    return [entry["name"] for entry in lists]


def test_a_newcomer_has_one_list_and_old_clients_use_it(
    client: TestClient, alice: dict[str, str]
) -> None:
    (first,) = client.get("/api/lists", headers=alice).json()
    assert (first["name"], first["position"], first["item_count"]) == ("My watchlist", 0, 0)
    assert set(first) == {"id", "name", "position", "item_count", "created_at"}
    item = create(client, alice, symbol="AAPL")
    assert item["list_id"] == first["id"]
    assert client.get(f"/api/lists/{first['id']}", headers=alice).json()["item_count"] == 1
    assert client.get(f"/api/lists/{first['id']}/stocks", headers=alice).json() == (
        client.get("/api/stocks", headers=alice).json()
    )


def test_make_rename_reorder_and_delete_lists(client: TestClient, alice: dict[str, str]) -> None:
    tech = make_list(client, alice, "  Tech  ")
    assert (tech["name"], tech["position"], tech["item_count"]) == ("Tech", 1, 0)
    dividends = make_list(client, alice, "Dividends")
    assert names(client, alice) == ["My watchlist", "Tech", "Dividends"]

    moved = client.patch(f"/api/lists/{dividends['id']}", json={"position": 0}, headers=alice)
    assert moved.status_code == 200
    assert moved.json()["position"] == 0
    assert names(client, alice) == ["Dividends", "My watchlist", "Tech"]
    client.patch(f"/api/lists/{dividends['id']}", json={"position": 19}, headers=alice)
    assert names(client, alice) == ["My watchlist", "Tech", "Dividends"], "past the end: last"

    renamed = client.patch(f"/api/lists/{tech['id']}", json={"name": "Chips"}, headers=alice)
    assert renamed.json()["name"] == "Chips"
    # Renaming to its own name in another case is fine; to another list's is not.
    assert (
        client.patch(f"/api/lists/{tech['id']}", json={"name": "CHIPS"}, headers=alice).status_code
        == 200
    )
    taken = client.patch(f"/api/lists/{tech['id']}", json={"name": "dividends"}, headers=alice)
    assert assert_error(taken, 409, "name")["errors"]["name"] == (
        "is already the name of one of your lists"
    )

    client.post(f"/api/lists/{tech['id']}/stocks", json={"symbol": "NVDA"}, headers=alice)
    assert client.delete(f"/api/lists/{tech['id']}", headers=alice).status_code == 204
    assert names(client, alice) == ["My watchlist", "Dividends"]
    assert_error(client.get(f"/api/lists/{tech['id']}/stocks", headers=alice), 404)
    assert client.get("/api/stocks", headers=alice).json() == []

    first = client.get("/api/lists", headers=alice).json()[0]["id"]
    assert client.delete(f"/api/lists/{dividends['id']}", headers=alice).status_code == 204
    last = assert_error(client.delete(f"/api/lists/{first}", headers=alice), 409)
    assert "last list" in last["detail"]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"name": "is required"}),
        ({"name": "   "}, {"name": "is required"}),
        ({"name": "x" * 101}, {"name": "must be at most 100 characters"}),
        ({"name": "a\tb"}, {"name": "must not contain control characters"}),
        ({"name": 7}, {"name": "must be a string"}),
        ({"name": "ok", "position": 1}, {"position": "is not a known field"}),
        ({"name": "ok", "id": 1}, {"id": "is read-only"}),
    ],
)
def test_a_new_lists_fields_are_checked(
    sqlite_client: TestClient, alice: dict[str, str], body: dict[str, Any], errors: dict[str, str]
) -> None:
    response = sqlite_client.post("/api/lists", json=body, headers=alice)
    assert assert_error(response, 422, *errors)["errors"] == errors


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"position": -1}, {"position": "must be a whole number from 0 to 19"}),
        ({"position": 1.5}, {"position": "must be a whole number from 0 to 19"}),
        ({"position": "1"}, {"position": "must be a whole number"}),
        ({"position": True}, {"position": "must be a whole number"}),
        ({"name": ""}, {"name": "is required"}),
        ({"item_count": 3}, {"item_count": "is read-only"}),
    ],
)
def test_a_lists_changes_are_checked(
    sqlite_client: TestClient, alice: dict[str, str], body: dict[str, Any], errors: dict[str, str]
) -> None:
    first = sqlite_client.get("/api/lists", headers=alice).json()[0]["id"]
    response = sqlite_client.patch(f"/api/lists/{first}", json=body, headers=alice)
    assert assert_error(response, 422, *errors)["errors"] == errors


def test_a_symbol_in_several_lists_and_moving_an_item(
    client: TestClient, alice: dict[str, str]
) -> None:
    first = client.get("/api/lists", headers=alice).json()[0]["id"]
    tech = make_list(client, alice, "Tech")
    in_first = create(client, alice, symbol="AAPL")
    in_tech = client.post(f"/api/lists/{tech['id']}/stocks", json={"symbol": "aapl"}, headers=alice)
    assert in_tech.status_code == 201, "the same symbol in another list"
    assert in_tech.json()["list_id"] == tech["id"]
    again = client.post(f"/api/lists/{tech['id']}/stocks", json={"symbol": "AAPL"}, headers=alice)
    assert_error(again, 409, "symbol")

    # A move into a list that has the symbol is a clean 409; elsewhere it moves.
    clash = client.patch(
        f"/api/stocks/{in_first['id']}", json={"list_id": tech["id"]}, headers=alice
    )
    assert "AAPL is already" in assert_error(clash, 409, "symbol")["detail"]
    msft = create(client, alice, symbol="MSFT")
    moved = client.patch(f"/api/stocks/{msft['id']}", json={"list_id": tech["id"]}, headers=alice)
    assert moved.status_code == 200
    assert moved.json()["list_id"] == tech["id"]
    assert [
        i["symbol"] for i in client.get(f"/api/lists/{tech['id']}/stocks", headers=alice).json()
    ] == ["MSFT", "AAPL"]
    assert [
        i["symbol"] for i in client.get(f"/api/lists/{first}/stocks", headers=alice).json()
    ] == ["AAPL"]
    for bad, rule in [
        (0, "must be a list's id, a whole number from 1"),
        ("1", "must be a list's id, a whole number"),
    ]:
        response = client.patch(f"/api/stocks/{msft['id']}", json={"list_id": bad}, headers=alice)
        assert assert_error(response, 422, "list_id")["errors"]["list_id"] == rule
    nowhere = client.patch(f"/api/stocks/{msft['id']}", json={"list_id": 999999}, headers=alice)
    assert assert_error(nowhere, 422, "list_id")["errors"]["list_id"] == "is not one of your lists"


def test_someone_elses_list_is_not_there(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    mine = make_list(client, alice, "Private")
    create(client, alice, symbol="AAPL")
    url = f"/api/lists/{mine['id']}"
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"name": "Taken"}),
        ("DELETE", url, None),
        ("GET", f"{url}/stocks", None),
        ("POST", f"{url}/stocks", {"symbol": "MSFT"}),
    ]:
        response = client.request(method, path, json=body, headers=bob)
        assert_error(response, 404)
        assert str(mine["id"]) in response.json()["detail"]
    bobs = create(client, bob, symbol="TSLA")
    into = client.patch(f"/api/stocks/{bobs['id']}", json={"list_id": mine["id"]}, headers=bob)
    assert_error(into, 422, "list_id")
    assert names(client, bob) == ["My watchlist"]
    assert names(client, alice) == ["My watchlist", "Private"]
    assert client.get(url, headers=alice).json()["item_count"] == 0


def test_at_most_twenty_lists(sqlite_client: TestClient, alice: dict[str, str]) -> None:
    for number in range(1, MAX_LISTS_PER_USER):
        make_list(sqlite_client, alice, f"List {number}")
    over = sqlite_client.post("/api/lists", json={"name": "One more"}, headers=alice)
    assert assert_error(over, 422)["detail"] == "You have 20 lists, the most there can be."
    assert len(names(sqlite_client, alice)) == MAX_LISTS_PER_USER


def test_two_lists_of_one_name_made_at_once_give_one_list_and_a_409(
    database_url: str, provider: Provider, alice: dict[str, str]
) -> None:
    async def fire(base_url: str) -> list[httpx2.Response]:
        async with httpx2.AsyncClient(base_url=base_url, timeout=30) as http:
            assert (await http.get("/api/lists", headers=alice)).status_code == 200
            return await asyncio.gather(
                *(
                    http.post("/api/lists", json={"name": name}, headers=alice)
                    for name in ("Ideas", "IDEAS")
                )
            )

    with live_server(database_url, provider) as base_url:
        answers = sorted(response.status_code for response in asyncio.run(fire(base_url)))
        assert answers == [201, 409]
        listed = httpx2.get(f"{base_url}/api/lists", headers=alice).json()
        assert [entry["name"].casefold() for entry in listed].count("ideas") == 1

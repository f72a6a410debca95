"""The JSON API under ``/api``: bearer ID tokens, the caller's own watchlist, one error shape."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx2
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.conftest import bearer, insert_items, make_settings
from tests.provider import Provider, SigningKey
from webapp.app import create_app
from webapp.validation import MAX_ITEMS_PER_USER

JSON = {"Content-Type": "application/json"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
MAX_BODY = 64 * 1024


@pytest.fixture
def alice(provider: Provider) -> dict[str, str]:
    return bearer(provider.token())


@pytest.fixture
def bob(provider: Provider) -> dict[str, str]:
    return bearer(provider.token(sub="bob-sub", email="bob@example.com", name="Bob"))


def assert_error(response: httpx2.Response, status: int, *fields: str) -> dict[str, Any]:
    """The response is the API's error shape, and its errors name exactly ``fields``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["errors"], dict)
    assert all(isinstance(message, str) and message for message in body["errors"].values())
    assert set(body["errors"]) == set(fields)
    return body


def create(client: TestClient, headers: dict[str, str], **values: Any) -> dict[str, Any]:
    response = client.post("/api/stocks", json=values, headers=headers)
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


def send(
    client: TestClient,
    headers: dict[str, str],
    body: str | bytes,
    *,
    method: str = "POST",
    url: str = "/api/stocks",
) -> httpx2.Response:
    content = body.encode() if isinstance(body, str) else body
    return client.request(method, url, content=content, headers={**headers, **JSON})


def moment(timestamp: str) -> datetime:
    assert TIMESTAMP.fullmatch(timestamp), timestamp
    return datetime.fromisoformat(timestamp.removesuffix("Z"))


# --- CRUD -----------------------------------------------------------------------------------


def test_crud_round_trip(client: TestClient, alice: dict[str, str]) -> None:
    assert client.get("/api/stocks", headers=alice).json() == []

    response = client.post(
        "/api/stocks",
        json={"symbol": " brk.b ", "name": "Berkshire Hathaway", "price": 412.5, "notes": "Hold"},
        headers=alice,
    )
    assert response.status_code == 201
    item = response.json()
    assert response.headers["location"] == f"/api/stocks/{item['id']}"
    fields = {"id", "symbol", "name", "price", "notes", "created_at", "updated_at", "list_id"}
    assert set(item) == {*fields, "alert_above", "alert_below", "quote", "target"}
    assert item["target"] == {"reached": None, "distance_percent": None}
    assert item["list_id"] == client.get("/api/lists", headers=alice).json()[0]["id"]
    assert item["quote"] is None, "quotes are off in these tests"
    assert isinstance(item["id"], int)
    assert (item["symbol"], item["name"], item["price"], item["notes"]) == (
        "BRK.B",
        "Berkshire Hathaway",
        412.5,
        "Hold",
    )
    assert item["created_at"] == item["updated_at"]
    moment(item["created_at"])

    fetched = client.get(response.headers["location"], headers=alice)
    assert fetched.status_code == 200
    assert fetched.json() == item

    second = create(client, alice, symbol="^GSPC")
    assert (second["name"], second["price"], second["notes"]) == ("", None, "")
    third = create(client, alice, symbol="EURUSD=X", price=1.0842)
    listed = client.get("/api/stocks", headers=alice).json()
    assert [entry["id"] for entry in listed] == [third["id"], second["id"], item["id"]]
    assert listed[2] == item

    patched = client.patch(f"/api/stocks/{item['id']}", json={"price": 420}, headers=alice)
    assert patched.status_code == 200
    after_patch = patched.json()
    assert after_patch["price"] == 420
    assert (after_patch["symbol"], after_patch["name"], after_patch["notes"]) == (
        "BRK.B",
        "Berkshire Hathaway",
        "Hold",
    )
    assert after_patch["created_at"] == item["created_at"]
    assert moment(after_patch["updated_at"]) > moment(item["updated_at"])

    put = client.put(
        f"/api/stocks/{item['id']}", json={"notes": "Sell\nsoon", "price": None}, headers=alice
    )
    assert put.status_code == 200
    after_put = put.json()
    assert (after_put["notes"], after_put["price"], after_put["name"]) == (
        "Sell\nsoon",
        None,
        "Berkshire Hathaway",
    )
    assert after_put["created_at"] == item["created_at"]
    assert moment(after_put["updated_at"]) > moment(after_patch["updated_at"])
    assert client.get(f"/api/stocks/{item['id']}", headers=alice).json() == after_put

    renamed = client.patch(f"/api/stocks/{item['id']}", json={"symbol": "brk-a"}, headers=alice)
    assert renamed.json()["symbol"] == "BRK-A"

    deleted = client.delete(f"/api/stocks/{item['id']}", headers=alice)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(client.get(f"/api/stocks/{item['id']}", headers=alice), 404)
    assert_error(client.delete(f"/api/stocks/{item['id']}", headers=alice), 404)
    assert_error(client.patch(f"/api/stocks/{item['id']}", json={}, headers=alice), 404)
    listed = client.get("/api/stocks", headers=alice).json()
    assert [entry["id"] for entry in listed] == [third["id"], second["id"]]


def test_values_round_trip_exactly(client: TestClient, alice: dict[str, str]) -> None:
    for symbol, price in [("A", "999999999999.9999"), ("B", "123456789012.3457"), ("C", "0")]:
        response = send(client, alice, f'{{"symbol": "{symbol}", "price": {price}}}')
        assert response.status_code == 201, response.text
        item = json.loads(response.text, parse_float=Decimal)
        assert item["price"] == Decimal(price)
        fetched = client.get(response.headers["location"], headers=alice)
        assert json.loads(fetched.text, parse_float=Decimal)["price"] == Decimal(price)

    name = "Société Générale 😀 " + "n" * 236
    notes = "Ünïcödé ✓\n\ttabbed\r\n" + "x" * 1970
    item = create(client, alice, symbol="GLE.PA", name=name, notes=notes)
    stored = client.get(f"/api/stocks/{item['id']}", headers=alice).json()
    assert stored["name"] == name.strip()
    assert stored["notes"] == notes.replace("\r\n", "\n")


ROUTES = [
    ("GET", "/api/me"),
    ("GET", "/api/stocks"),
    ("POST", "/api/stocks"),
    ("GET", "/api/stocks/1"),
    ("PATCH", "/api/stocks/1"),
    ("PUT", "/api/stocks/1"),
    ("DELETE", "/api/stocks/1"),
]


def test_authentication(
    sqlite_client: TestClient, provider: Provider, subtests: pytest.Subtests
) -> None:
    response = sqlite_client.get("/api/me", headers=bearer(provider.token()))
    assert response.json() == {"sub": "alice-sub", "email": "alice@example.com", "name": "Alice"}

    other_key = SigningKey.generate(provider.key.kid)
    refused = [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic YTpi",
        "Bearer not-a-jwt",
        f"Bearer {provider.token(key=other_key)}",
        f"Bearer {provider.token(exp=1)}",
        f"Bearer {provider.token(aud='someone-else')}",
        f"Bearer {provider.unsigned_token()}",
    ]
    for authorization in refused:
        for method, url in ROUTES:
            with subtests.test(authorization=authorization, method=method, url=url):
                headers = dict(JSON)
                if authorization is not None:
                    headers["Authorization"] = authorization
                response = sqlite_client.request(
                    method, url, content=b'{"symbol": "A"}', headers=headers
                )
                assert_error(response, 401)
                assert response.headers["www-authenticate"].startswith("Bearer")


# --- Isolation ------------------------------------------------------------------------------


def test_users_cannot_reach_each_others_items(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    alices = create(client, alice, symbol="AAPL", name="Apple", price=187.25, notes="mine")
    url = f"/api/stocks/{alices['id']}"

    assert_error(client.get(url, headers=bob), 404)
    assert client.head(url, headers=bob).status_code == 404
    for method in ("PATCH", "PUT"):
        assert_error(send(client, bob, '{"notes": "Bob was here"}', method=method, url=url), 404)
        assert_error(send(client, bob, "{}", method=method, url=url), 404)
    assert_error(client.delete(url, headers=bob), 404)
    # A 404 for someone else's item reads exactly like one for a missing item.
    missing = client.get("/api/stocks/999999", headers=bob).json()
    assert client.get(url, headers=bob).json()["detail"] == missing["detail"].replace(
        "999999", str(alices["id"])
    )

    assert client.get(url, headers=alice).json() == alices
    assert client.get("/api/stocks", headers=bob).json() == []

    # The same symbol is allowed for both users; each list holds only its owner's items.
    bobs = create(client, bob, symbol="AAPL", notes="his")
    create(client, bob, symbol="MSFT")
    alice_ids = {item["id"] for item in client.get("/api/stocks", headers=alice).json()}
    bob_ids = {item["id"] for item in client.get("/api/stocks", headers=bob).json()}
    assert alice_ids == {alices["id"]}
    assert bobs["id"] in bob_ids
    assert len(bob_ids) == 2
    assert not alice_ids & bob_ids

    # Bob's own symbols do not turn his attempts on Alice's item into conflicts.
    for method in ("PATCH", "PUT"):
        assert_error(send(client, bob, '{"symbol": "MSFT"}', method=method, url=url), 404)

    # Alice's rename of her item to a symbol only Bob has is not a duplicate either.
    renamed = client.patch(url, json={"symbol": "MSFT"}, headers=alice)
    assert renamed.status_code == 200
    assert_error(client.delete(url, headers=bob), 404)
    assert client.get(url, headers=alice).status_code == 200


# --- Duplicates -----------------------------------------------------------------------------


def test_a_duplicate_symbol_is_a_conflict(client: TestClient, alice: dict[str, str]) -> None:
    apple = create(client, alice, symbol="AAPL", notes="first")
    for symbol in ("AAPL", " aapl "):
        response = client.post("/api/stocks", json={"symbol": symbol}, headers=alice)
        body = assert_error(response, 409, "symbol")
        assert "AAPL" in body["detail"]

    msft = create(client, alice, symbol="MSFT")
    url = f"/api/stocks/{msft['id']}"
    for method in ("PATCH", "PUT"):
        response = send(client, alice, '{"symbol": "aapl", "notes": "x"}', method=method, url=url)
        assert_error(response, 409, "symbol")
    assert client.get(url, headers=alice).json() == msft
    listed = client.get("/api/stocks", headers=alice).json()
    assert [item["symbol"] for item in listed] == ["MSFT", "AAPL"]
    assert listed[1] == apple


@contextmanager
def live_server(database_url: str, provider: Provider, **overrides: object) -> Iterator[str]:
    """The app under a real uvicorn on a free loopback port, for truly concurrent requests."""
    app = create_app(make_settings(database_url, provider, **overrides))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.01)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_concurrent_identical_creates_leave_one_row(
    database_url: str, provider: Provider, alice: dict[str, str]
) -> None:
    async def fire(base_url: str) -> list[httpx2.Response]:
        async with httpx2.AsyncClient(base_url=base_url, timeout=30) as http:
            # Warm the key cache so that the creates race each other, not the key fetch.
            assert (await http.get("/api/stocks", headers=alice)).status_code == 200
            return await asyncio.gather(
                *(
                    http.post("/api/stocks", json={"symbol": "AAPL"}, headers=alice)
                    for _ in range(20)
                )
            )

    with live_server(database_url, provider) as base_url:
        responses = asyncio.run(fire(base_url))
        listed = httpx2.get(f"{base_url}/api/stocks", headers=alice).json()

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 19
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "symbol")
    assert [item["symbol"] for item in listed] == ["AAPL"]


# --- The validation matrix over HTTP ----------------------------------------------------------

VALID_BODIES: list[tuple[str, str, object]] = [
    ('{"symbol": "A", "name": "' + "n" * 255 + '"}', "name", "n" * 255),
    ('{"symbol": "A", "notes": "' + "n" * 2000 + '"}', "notes", "n" * 2000),
    ('{"symbol": "A", "notes": "' + "n\\r\\n" * 666 + 'nn"}', "notes", "n\n" * 666 + "nn"),
    ('{"symbol": "A", "price": 0}', "price", 0),
    ('{"symbol": "A", "price": 0.0001}', "price", 0.0001),
    ('{"symbol": "A", "price": 999999999999.9999}', "price", 999999999999.9999),
    ('{"symbol": "A", "price": 999999999999}', "price", 999999999999),
    ('{"symbol": "A", "price": 1.12340}', "price", 1.1234),
    ('{"symbol": "A", "price": 1E+2}', "price", 100),
    ('{"symbol": "A", "price": -0}', "price", 0),
    ('{"symbol": "A", "price": -0.0}', "price", 0),
    ('{"symbol": "A", "price": 0e-1000000000000000000}', "price", 0),
    ('{"symbol": "A", "price": null}', "price", None),
    ('{"symbol": " a ", "name": null, "notes": null}', "symbol", "A"),
    ('{"symbol": "^' + "a" * 20 + '"}', "symbol", "^" + "A" * 20),
    ('{"symbol": "7203.T", "name": "Toyota \\u30c8\\u30e8\\u30bf"}', "name", "Toyota トヨタ"),
    ('{"symbol": "A", "name": "\\ud83d\\ude00"}', "name", "😀"),
]


def test_valid_bodies_at_the_limits(
    sqlite_client: TestClient, alice: dict[str, str], subtests: pytest.Subtests
) -> None:
    for body, field, expected in VALID_BODIES:
        with subtests.test(body=body[:60]):
            response = send(sqlite_client, alice, body)
            assert response.status_code == 201, response.text
            value = response.json()[field]
            assert value == expected
            if field == "price" and value is not None:
                assert not str(value).startswith("-")
            assert (
                sqlite_client.delete(response.headers["location"], headers=alice).status_code == 204
            )


INVALID_BODIES = [
    ('{"name": "Apple"}', ["symbol"]),
    ('{"symbol": ""}', ["symbol"]),
    ('{"symbol": "   "}', ["symbol"]),
    ('{"symbol": null}', ["symbol"]),
    ('{"symbol": 123}', ["symbol"]),
    ('{"symbol": true}', ["symbol"]),
    ('{"symbol": ["AAPL"]}', ["symbol"]),
    ('{"symbol": {"code": "AAPL"}}', ["symbol"]),
    ('{"symbol": "' + "A" * 21 + '"}', ["symbol"]),
    ('{"symbol": "AA PL"}', ["symbol"]),
    ('{"symbol": "\\uff21\\uff21\\uff30\\uff2c"}', ["symbol"]),  # full-width AAPL
    ('{"symbol": "\\ufb00"}', ["symbol"]),  # the "ff" ligature, which upper-cases to "FF"
    ('{"symbol": "\\ud800"}', ["symbol"]),
    ('{"symbol": "A\\u0000"}', ["symbol"]),
    ('{"symbol": "A", "name": "' + "n" * 256 + '"}', ["name"]),
    ('{"symbol": "A", "name": 5}', ["name"]),
    ('{"symbol": "A", "name": "a\\u0000b"}', ["name"]),
    ('{"symbol": "A", "name": "a\\nb"}', ["name"]),
    ('{"symbol": "A", "name": "\\udfff"}', ["name"]),
    ('{"symbol": "A", "notes": "' + "n" * 2001 + '"}', ["notes"]),
    ('{"symbol": "A", "notes": "bell\\u0007"}', ["notes"]),
    ('{"symbol": "A", "notes": "\\ud800"}', ["notes"]),
    ('{"symbol": "A", "notes": false}', ["notes"]),
    ('{"symbol": "A", "price": 1000000000000}', ["price"]),
    ('{"symbol": "A", "price": 1e12}', ["price"]),
    ('{"symbol": "A", "price": 999999999999.99995}', ["price"]),
    ('{"symbol": "A", "price": 1.00001}', ["price"]),
    ('{"symbol": "A", "price": -0.01}', ["price"]),
    ('{"symbol": "A", "price": -1}', ["price"]),
    ('{"symbol": "A", "price": true}', ["price"]),
    ('{"symbol": "A", "price": "187.25"}', ["price"]),
    ('{"symbol": "A", "price": [1]}', ["price"]),
    ('{"symbol": "A", "price": {}}', ["price"]),
    ('{"symbol": "A", "price": NaN}', ["price"]),
    ('{"symbol": "A", "price": Infinity}', ["price"]),
    ('{"symbol": "A", "price": -Infinity}', ["price"]),
    ('{"symbol": "A", "price": ' + str(10**4000) + "}", ["price"]),
    ('{"symbol": "A", "price": 1' + "0" * 5000 + "}", ["price"]),
    ('{"symbol": "A", "price": 1' + "0" * 5000 + ".5}", ["price"]),
    ('{"symbol": "A", "price": 1e1000000000000000000}', ["price"]),
    ('{"symbol": "A", "price": -1e1000000000000000000}', ["price"]),
    ('{"symbol": "A", "price": 1e-1000000000000000000}', ["price"]),
    ('{"symbol": "A", "price": 1e-999999999999999999}', ["price"]),
    ('{"symbol": "A", "price": 1e999999999999999999}', ["price"]),
    ('{"symbol": "A", "ticker": "B"}', ["ticker"]),
    ('{"symbol": "A", "Symbol": "B"}', ["Symbol"]),
    ('{"symbol": "A", "id": 7}', ["id"]),
    ('{"symbol": "A", "created_at": "2024-01-01T00:00:00Z"}', ["created_at"]),
    ('{"symbol": "A", "updated_at": null}', ["updated_at"]),
    (
        '{"symbol": "", "name": 1, "price": -1, "notes": [], "id": 1, "x": 0}',
        ["symbol", "name", "price", "notes", "id", "x"],
    ),
]


def test_invalid_fields_are_named(
    sqlite_client: TestClient, alice: dict[str, str], subtests: pytest.Subtests
) -> None:
    for body, fields in INVALID_BODIES:
        with subtests.test(body=body[:60]):
            assert_error(send(sqlite_client, alice, body), 422, *fields)
    assert sqlite_client.get("/api/stocks", headers=alice).json() == []


UPDATES = [
    ('{"symbol": ""}', ["symbol"]),
    ('{"symbol": null}', ["symbol"]),
    ('{"symbol": "A B"}', ["symbol"]),
    ('{"name": "' + "n" * 256 + '"}', ["name"]),
    ('{"name": "\\u0000"}', ["name"]),
    ('{"notes": "' + "n" * 2001 + '"}', ["notes"]),
    ('{"price": -0.01}', ["price"]),
    ('{"price": NaN}', ["price"]),
    ('{"price": Infinity}', ["price"]),
    ('{"price": 1.23456}', ["price"]),
    ('{"price": 1000000000000}', ["price"]),
    ('{"price": "1"}', ["price"]),
    ('{"id": 2}', ["id"]),
    ('{"created_at": "2024-01-01T00:00:00Z"}', ["created_at"]),
    ('{"updated_at": "2024-01-01T00:00:00Z", "notes": "x"}', ["updated_at"]),
    ('{"colour": "red"}', ["colour"]),
]


def test_invalid_updates_are_named_and_change_nothing(
    sqlite_client: TestClient, alice: dict[str, str], subtests: pytest.Subtests
) -> None:
    item = create(sqlite_client, alice, symbol="AAPL", price=1)
    url = f"/api/stocks/{item['id']}"
    for method in ("PATCH", "PUT"):
        for body, fields in UPDATES:
            with subtests.test(method=method, body=body[:60]):
                assert_error(send(sqlite_client, alice, body, method=method, url=url), 422, *fields)
        with subtests.test(method=method, body="{}"):
            response = send(sqlite_client, alice, "{}", method=method, url=url)
            assert response.status_code == 200
            assert response.json() == item
    assert sqlite_client.get(url, headers=alice).json() == item


NOT_JSON = [
    b"",
    b" ",
    b"not json",
    b'{"symbol": "A"',
    b"{'symbol': 'A'}",
    b'{"symbol": "A",}',
    b'{"symbol": "A"} trailing',
    b'{"symbol": "A"}{"symbol": "B"}',
    b'{"symbol": "\xff"}',  # invalid UTF-8
    b'{"symbol": "\xc0\xaf"}',  # an overlong encoding
    b'{"symbol": "\xed\xa0\x80"}',  # an encoded surrogate is not UTF-8
    b'\xef\xbb\xbf{"symbol": "A"}',  # a byte order mark
    b'{"symbol": "A", "price": 1.}',
    b'{"symbol": "A", "price": 01}',
    b'{"symbol": "A", "price": +1}',
    b'{"symbol": "A", "price": 0x10}',
    b"[" * 60_000,  # deeply nested, within the size limit
    b'{"a":' * 12_000,
    b'{"symbol": "A", "notes": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
]


def test_a_body_that_is_not_json_is_422(
    sqlite_client: TestClient, alice: dict[str, str], subtests: pytest.Subtests
) -> None:
    item = create(sqlite_client, alice, symbol="MSFT")
    for body in NOT_JSON:
        for method, url in [
            ("POST", "/api/stocks"),
            ("PATCH", f"/api/stocks/{item['id']}"),
            ("PUT", f"/api/stocks/{item['id']}"),
        ]:
            with subtests.test(method=method, body=body[:40]):
                assert_error(send(sqlite_client, alice, body, method=method, url=url), 422)
    assert sqlite_client.get("/api/stocks", headers=alice).json() == [item]


def test_a_body_that_is_not_an_object_is_422(
    sqlite_client: TestClient, alice: dict[str, str], subtests: pytest.Subtests
) -> None:
    item = create(sqlite_client, alice, symbol="MSFT")
    for body in ["[]", '[{"symbol": "A"}]', '"AAPL"', "1", "1.5", "null", "true", "NaN"]:
        for method, url in [
            ("POST", "/api/stocks"),
            ("PATCH", f"/api/stocks/{item['id']}"),
            ("PUT", f"/api/stocks/{item['id']}"),
        ]:
            with subtests.test(method=method, body=body):
                response = send(sqlite_client, alice, body, method=method, url=url)
                assert "object" in assert_error(response, 422)["detail"]
    assert sqlite_client.get("/api/stocks", headers=alice).json() == [item]


def test_only_json_bodies_are_read(
    sqlite_client: TestClient, alice: dict[str, str], subtests: pytest.Subtests
) -> None:
    item = create(sqlite_client, alice, symbol="MSFT")
    refused = [
        None,
        "",
        "text/plain",
        "text/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json-patch+json",
        "application/jsonx",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
    ]
    for content_type in refused:
        headers = dict(alice)
        if content_type is not None:
            headers["Content-Type"] = content_type
        for method, url in [
            ("POST", "/api/stocks"),
            ("PATCH", f"/api/stocks/{item['id']}"),
            ("PUT", f"/api/stocks/{item['id']}"),
        ]:
            with subtests.test(method=method, content_type=content_type):
                response = sqlite_client.request(
                    method, url, content=b'{"symbol": "A"}', headers=headers
                )
                assert_error(response, 415)
    assert sqlite_client.get("/api/stocks", headers=alice).json() == [item]

    accepted = [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json; charset=utf-8; profile=watchlist",
    ]
    for content_type in accepted:
        with subtests.test(content_type=content_type):
            response = sqlite_client.post(
                "/api/stocks",
                content=b'{"symbol": "A"}',
                headers={**alice, "Content-Type": content_type},
            )
            assert response.status_code == 201, response.text
            sqlite_client.delete(response.headers["location"], headers=alice)


def padded(size: int) -> bytes:
    """A valid body of exactly ``size`` bytes."""
    body = b'{"symbol": "A"}'
    return body + b" " * (size - len(body))


def test_bodies_over_64_kib_are_413(sqlite_client: TestClient, alice: dict[str, str]) -> None:
    response = send(sqlite_client, alice, padded(MAX_BODY))
    assert response.status_code == 201
    assert sqlite_client.delete(response.headers["location"], headers=alice).status_code == 204

    for body in (padded(MAX_BODY + 1), b"[" * 100_000, padded(10 * 1024 * 1024)):
        assert send(sqlite_client, alice, body).status_code == 413

    def chunks() -> Iterator[bytes]:
        yield b'{"symbol": "A", "notes": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    for method, url in [("POST", "/api/stocks"), ("PATCH", "/api/stocks/1")]:
        response = sqlite_client.request(method, url, content=chunks(), headers={**alice, **JSON})
        assert "content-length" not in response.request.headers
        assert_error(response, 413)
    assert sqlite_client.get("/api/stocks", headers=alice).json() == []


def test_a_body_over_64_kib_with_a_content_length_is_413_in_the_error_shape(
    sqlite_client: TestClient, alice: dict[str, str]
) -> None:
    assert_error(send(sqlite_client, alice, padded(MAX_BODY + 1)), 413)


def test_routing_errors_are_json(
    sqlite_client: TestClient, alice: dict[str, str], subtests: pytest.Subtests
) -> None:
    for item_id in ["0", "00", "9223372036854775807", "9223372036854775808", "9" * 23]:
        url = f"/api/stocks/{item_id}"
        for method in ("GET", "DELETE", "PATCH", "PUT"):
            with subtests.test(method=method, url=url):
                assert_error(
                    send(sqlite_client, alice, '{"notes": "x"}', method=method, url=url), 404
                )

    for url in ["/api/nope", "/api/stocks/abc", "/api/stocks/-1", "/api/stocks/1/x"]:
        with subtests.test(url=url):
            assert_error(sqlite_client.get(url, headers=alice, follow_redirects=False), 404)

    not_allowed = [
        ("POST", "/api/stocks/1", {"GET", "HEAD", "PATCH", "PUT", "DELETE"}),
        ("DELETE", "/api/stocks", {"GET", "HEAD", "POST"}),
        ("PUT", "/api/stocks", {"GET", "HEAD", "POST"}),
        ("PATCH", "/api/stocks", {"GET", "HEAD", "POST"}),
        ("POST", "/api/me", {"GET", "HEAD"}),
        ("DELETE", "/api/me", {"GET", "HEAD"}),
    ]
    for method, url, allowed in not_allowed:
        with subtests.test(method=method, url=url):
            response = send(sqlite_client, alice, "{}", method=method, url=url)
            assert_error(response, 405)
            assert {name.strip() for name in response.headers["allow"].split(",")} == allowed


def test_the_item_limit(
    sqlite_client: TestClient, sqlite_url: str, alice: dict[str, str], bob: dict[str, str]
) -> None:
    # Alice's first list, made with her first item; then the rest in one statement.
    first_list = create(sqlite_client, alice, symbol="FIRST")["list_id"]
    insert_items(sqlite_url, "alice-sub", first_list, MAX_ITEMS_PER_USER - 2)
    last = create(sqlite_client, alice, symbol="LAST")
    body = assert_error(
        sqlite_client.post("/api/stocks", json={"symbol": "ONEMORE"}, headers=alice), 422
    )
    assert "1,000" in body["detail"]
    listed = sqlite_client.get("/api/stocks", headers=alice).json()
    assert len(listed) == MAX_ITEMS_PER_USER
    assert listed[0] == last
    create(sqlite_client, bob, symbol="ONEMORE")
    assert sqlite_client.delete(f"/api/stocks/{last['id']}", headers=alice).status_code == 204
    create(sqlite_client, alice, symbol="ONEMORE")


def test_a_price_comes_back_with_exactly_its_digits(
    client: TestClient, alice: dict[str, str]
) -> None:
    """999999999999.0003 is not a float: it must not pass through one on the way out."""
    body = '{"symbol": "BIG", "price": 999999999999.0003}'
    created = client.post("/api/stocks", content=body, headers={**alice, **JSON})
    assert created.status_code == 201, created.text
    assert '"price":999999999999.0003' in created.text
    for response in (
        client.get("/api/stocks", headers=alice),
        client.get(created.headers["location"], headers=alice),
    ):
        assert '"price":999999999999.0003' in response.text
        assert "E+" not in response.text


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    price=st.decimals(
        min_value=0, max_value=Decimal("999999999999.9999"), places=4, allow_nan=False
    )
    | st.decimals(min_value=0, max_value=Decimal(100), places=4, allow_nan=False)
)
def test_any_valid_price_round_trips_exactly(
    client: TestClient, alice: dict[str, str], price: Decimal
) -> None:
    """POST a price as its JSON digits, GET it back: the same number, to the last digit."""
    text = format(price, "f")
    created = client.post(
        "/api/stocks", content=f'{{"symbol": "RT", "price": {text}}}', headers={**alice, **JSON}
    )
    assert created.status_code == 201, created.text
    try:
        for response in (
            created,
            client.get(created.headers["location"], headers=alice),
            client.get("/api/stocks", headers=alice),
        ):
            body = json.loads(response.text, parse_float=Decimal, parse_int=Decimal)
            (item,) = body if isinstance(body, list) else [body]
            assert item["price"] == price
            assert re.search(r'"price":(-?\d+(\.\d+)?)[,}]', response.text), response.text
    finally:
        client.delete(created.headers["location"], headers=alice)

"""Price targets, sorting and filtering in the API: every sort key both ways on SQLite and
MariaDB (and through the app's least-privilege account), quote-derived keys against a
Finnhub stand-in on loopback, filters with LIKE's own characters, targets at their
boundaries."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import ClientFactory, bearer
from tests.provider import Provider
from tests.quotes import standin
from webapp import money
from webapp.validation import SORT_KEYS

#: symbol -> (last price, previous close, name) for the stand-in.
KNOWN = {
    "AAPL": ("189.50", "187.25", "Apple Inc"),  # +1.2016%
    "MSFT": ("401.10", "405.00", "Microsoft Corp"),  # -0.9630%
    "NVDA": ("100.00", "100.00", "NVIDIA"),  # 0%
    "BRK.B": ("9.50", "9.00", "Berkshire"),  # +5.5556%
}
#: Added oldest first; NOPE has no quote (the stand-in does not know it).
ENTRIES: list[dict[str, Any]] = [
    {"symbol": "AAPL", "name": "apple", "price": 10, "alert_above": 200},
    {"symbol": "MSFT", "name": "Microsoft", "price": Decimal("9.5"), "alert_below": 400},
    {"symbol": "NOPE", "name": "", "price": None, "alert_above": 1},
    {"symbol": "NVDA", "name": "Nvidia", "price": Decimal("100.25")},
    {"symbol": "BRK.B", "name": "Berkshire 50%_off", "price": 2, "notes": 'Éclair: it\'s "fine"'},
]


@pytest.fixture
def finnhub() -> Iterator[standin.Finnhub]:
    with standin.serve() as server:
        server.known = dict(KNOWN)
        yield server


@pytest.fixture
def quoted(make_client: ClientFactory, database_url: str, finnhub: standin.Finnhub) -> TestClient:
    return make_client(
        database_url,
        quotes_provider="finnhub",
        quotes_api_key=standin.KEY,
        quotes_base_url=finnhub.base_url,
        quotes_timeout=3.0,
        quotes_calls_per_minute=standin.CALLS_PER_MINUTE,
    )


@pytest.fixture
def alice(provider: Provider) -> dict[str, str]:
    return bearer(provider.token(sub="alice-sub", email="alice@example.com"))


def json_headers(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Content-Type": "application/json"}


def fill(client: TestClient, headers: dict[str, str]) -> None:
    for entry in ENTRIES:
        response = client.post(
            "/api/stocks", content=money.dumps(entry), headers=json_headers(headers)
        )
        assert response.status_code == 201, response.text


def order(client: TestClient, headers: dict[str, str], **params: str) -> list[str]:
    response = client.get("/api/stocks", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["symbol"] for item in response.json()]


NEWEST_FIRST = ["BRK.B", "NVDA", "NOPE", "MSFT", "AAPL"]
#: Each key's order ascending; None-valued items last whichever the direction.
ASCENDING = {
    "symbol": (["AAPL", "BRK.B", "MSFT", "NOPE", "NVDA"], []),
    # Whatever the case; the empty name last.
    "name": (["AAPL", "BRK.B", "MSFT", "NVDA"], ["NOPE"]),
    "price": (["BRK.B", "MSFT", "AAPL", "NVDA"], ["NOPE"]),
    "created_at": (list(reversed(NEWEST_FIRST)), []),
    "last_price": (["BRK.B", "NVDA", "AAPL", "MSFT"], ["NOPE"]),
    "change_percent": (["MSFT", "NVDA", "AAPL", "BRK.B"], ["NOPE"]),
    # AAPL: 200 from 189.50 is 5.54%; MSFT: 400 from 401.10 is 0.27%; the others have no
    # target (NOPE has one, but no quote).
    "distance_percent": (["MSFT", "AAPL"], ["BRK.B", "NVDA", "NOPE"]),
}


def test_the_default_order_is_newest_first(quoted: TestClient, alice: dict[str, str]) -> None:
    fill(quoted, alice)
    assert order(quoted, alice) == NEWEST_FIRST
    assert order(quoted, alice, sort="-created_at") == NEWEST_FIRST


def test_every_sort_key_both_ways(quoted: TestClient, alice: dict[str, str]) -> None:
    fill(quoted, alice)
    assert set(ASCENDING) == set(SORT_KEYS)
    for key, (valued, missing) in ASCENDING.items():
        up = order(quoted, alice, sort=key)
        down = order(quoted, alice, sort=f"-{key}")
        assert up == valued + missing, key
        # Reversed, and those without a value still last, in their default order.
        assert down == list(reversed(valued)) + missing, key


def test_sorting_a_list_by_id_and_filtering_it(quoted: TestClient, alice: dict[str, str]) -> None:
    made = quoted.post(
        "/api/lists", content=money.dumps({"name": "Tech"}), headers=json_headers(alice)
    ).json()
    url = f"/api/lists/{made['id']}/stocks"
    for entry in ENTRIES[:3]:
        assert (
            quoted.post(url, content=money.dumps(entry), headers=json_headers(alice)).status_code
            == 201
        )
    listed = quoted.get(url, params={"sort": "-change_percent", "q": "m"}, headers=alice)
    # MSFT by its symbol, AAPL by its name ("apple" has no m; "Apple Inc" is not stored).
    assert [item["symbol"] for item in listed.json()] == ["MSFT"]
    listed = quoted.get(url, params={"sort": "price"}, headers=alice)
    assert [item["symbol"] for item in listed.json()] == ["MSFT", "AAPL", "NOPE"]


#: Filter texts and what each finds, newest first.
FILTERS: list[tuple[str, list[str]]] = [
    ("%", ["BRK.B"]),  # only the name with a real %
    ("_", ["BRK.B"]),
    ("50%_", ["BRK.B"]),
    ("%_o", ["BRK.B"]),
    ("/", []),  # the escape character, found as itself (nowhere here)
    ('"fine"', ["BRK.B"]),
    ("it's", ["BRK.B"]),
    ("Éclair", ["BRK.B"]),  # non-ASCII (in the case it was written: see the README)
    ("clair: it", ["BRK.B"]),
    ("APPLE", ["AAPL"]),  # ASCII whatever its case
    ("msft", ["MSFT"]),  # the symbol
    (".b", ["BRK.B"]),
    ("  nvidia  ", ["NVDA"]),  # trimmed
    ("zzz", []),
    ("", NEWEST_FIRST),
]


def test_filters_find_text_in_symbol_name_or_notes(
    quoted: TestClient, alice: dict[str, str]
) -> None:
    fill(quoted, alice)
    for q, expected in FILTERS:
        assert order(quoted, alice, q=q) == expected, q
    # With a sort, the filter still applies.
    assert order(quoted, alice, q="o", sort="symbol") == ["BRK.B", "MSFT", "NOPE"]


def test_a_filter_with_slashes_and_percent_signs_finds_them_literally(
    client: TestClient, alice: dict[str, str]
) -> None:
    for symbol, notes in (("A", "a/b"), ("B", "a//b"), ("C", "100%"), ("D", "1000")):
        client.post(
            "/api/stocks",
            content=money.dumps({"symbol": symbol, "notes": notes}),
            headers=json_headers(alice),
        )
    assert order(client, alice, q="a/b") == ["A"]
    assert order(client, alice, q="//") == ["B"]
    assert order(client, alice, q="0%") == ["C"]
    assert order(client, alice, q="00") == ["D", "C"]


def test_an_unknown_sort_key_is_a_422_listing_the_allowed_ones(
    client: TestClient, alice: dict[str, str]
) -> None:
    for sort in ("colour", "-", "--symbol", "symbol,name", "SYMBOL", "", " symbol"):
        response = client.get("/api/stocks", params={"sort": sort}, headers=alice)
        assert response.status_code == 422
        body = response.json()
        assert body["detail"] == "Some parameters are invalid."
        assert list(body["errors"]) == ["sort"]
        for key in SORT_KEYS:
            assert key in body["errors"]["sort"]
    response = client.get("/api/stocks", params={"q": "x" * 101}, headers=alice)
    assert response.json()["errors"] == {"q": "must be at most 100 characters"}
    assert client.get("/api/lists/999/stocks?sort=nope", headers=alice).status_code == 404


def targets(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    listed = client.get("/api/stocks", headers=headers).json()
    return {item["symbol"]: item["target"] for item in listed}


def test_targets_at_their_boundaries_and_without_quotes(
    quoted: TestClient, alice: dict[str, str]
) -> None:
    cases = [
        {"symbol": "AAPL", "alert_above": Decimal("189.50")},  # at it: reached
        {"symbol": "MSFT", "alert_below": Decimal("401.10")},  # at it: reached
        {"symbol": "NVDA", "alert_above": Decimal("100.01"), "alert_below": Decimal("99.99")},
        {"symbol": "BRK.B", "alert_above": Decimal("9.4999")},  # just past it
        {"symbol": "NOPE", "alert_above": 5},  # no quote: unknown
    ]
    for entry in cases:
        assert (
            quoted.post(
                "/api/stocks", content=money.dumps(entry), headers=json_headers(alice)
            ).status_code
            == 201
        )
    assert targets(quoted, alice) == {
        "AAPL": {"reached": "above", "distance_percent": 0},
        "MSFT": {"reached": "below", "distance_percent": 0},
        "NVDA": {"reached": None, "distance_percent": 0.01},
        "BRK.B": {"reached": "above", "distance_percent": 0},  # 0.0001 of 9.50: 0.00%
        "NOPE": {"reached": None, "distance_percent": None},
    }
    body = quoted.get("/api/stocks?sort=distance_percent", headers=alice).json()
    # Ties keep newest first; no value last.
    assert [item["symbol"] for item in body] == ["BRK.B", "MSFT", "AAPL", "NVDA", "NOPE"]


def test_target_rules(client: TestClient, alice: dict[str, str]) -> None:
    both = {
        "alert_above": "must be greater than alert_below",
        "alert_below": "must be less than alert_above",
    }
    refused = client.post(
        "/api/stocks",
        content=money.dumps({"symbol": "A", "alert_above": 5, "alert_below": 5}),
        headers=json_headers(alice),
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == both
    made = client.post(
        "/api/stocks",
        content=money.dumps({"symbol": "A", "alert_above": 10, "alert_below": 5}),
        headers=json_headers(alice),
    ).json()
    assert (made["alert_above"], made["alert_below"]) == (10, 5)
    url = f"/api/stocks/{made['id']}"
    # One target changed: checked against the stored other.
    for change in ({"alert_below": 10}, {"alert_above": Decimal("4.9999")}):
        response = client.patch(url, content=money.dumps(change), headers=json_headers(alice))
        assert response.status_code == 422, change
        assert response.json()["errors"] == both
    assert (
        client.patch(
            url, content=money.dumps({"alert_below": None}), headers=json_headers(alice)
        ).status_code
        == 200
    )
    changed = client.patch(
        url, content=money.dumps({"alert_above": 3}), headers=json_headers(alice)
    ).json()
    assert (changed["alert_above"], changed["alert_below"]) == (3, None)
    exact = client.patch(
        url,
        content=money.dumps({"alert_above": Decimal("999999999999.9999")}),
        headers=json_headers(alice),
    ).json()
    assert str(exact["alert_above"]) == "999999999999.9999" or exact["alert_above"] == Decimal(
        "999999999999.9999"
    )
    assert client.patch(
        url, content=money.dumps({"alert_above": -1}), headers=json_headers(alice)
    ).json()["errors"] == {"alert_above": "must be at least 0"}
    # Someone else's item is 404, whatever the targets.
    assert (
        client.patch(
            "/api/stocks/999999",
            content=money.dumps({"alert_above": 1}),
            headers=json_headers(alice),
        ).status_code
        == 404
    )


def test_prices_of_targets_keep_their_digits_in_json(
    client: TestClient, alice: dict[str, str]
) -> None:
    made = client.post(
        "/api/stocks",
        content=b'{"symbol": "A", "alert_above": 999999999999.9999, "alert_below": 0.0001}',
        headers={**alice, "Content-Type": "application/json"},
    )
    assert made.status_code == 201
    assert (
        b'"alert_above": 999999999999.9999' in made.content
        or b'"alert_above":999999999999.9999' in made.content
    )
    assert b"0.0001" in made.content

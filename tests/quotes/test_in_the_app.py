"""Quotes as people see them: the page renders at once from the cache and fills in by
htmx; the API answers from the cache within the timeout; a failing provider leaves
stale prices, never an error. Against the demo provider, and a Finnhub stand-in over
HTTP on loopback."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from tests.conftest import ClientFactory, bearer, sign_in
from tests.provider import Provider
from tests.quotes import standin

HTMX = {"HX-Request": "true"}


@pytest.fixture
def finnhub() -> Iterator[standin.Finnhub]:
    with standin.serve() as server:
        yield server


@pytest.fixture
def demo(make_client: ClientFactory, sqlite_url: str) -> TestClient:
    client = make_client(sqlite_url, quotes_provider="demo")
    sign_in(client)
    return client


def _finnhub_client(
    make_client: ClientFactory, sqlite_url: str, finnhub: standin.Finnhub, **overrides: object
) -> TestClient:
    client = make_client(
        sqlite_url,
        quotes_provider="finnhub",
        quotes_api_key=standin.KEY,
        quotes_base_url=finnhub.base_url,
        **{"quotes_timeout": 2.0, "quotes_calls_per_minute": standin.CALLS_PER_MINUTE, **overrides},
    )
    sign_in(client)
    return client


def _add(client: TestClient, symbol: str, **fields: str) -> int:
    response = client.post("/watchlist", data={"symbol": symbol, **fields}, headers=HTMX)
    assert response.status_code == 200, response.text
    found = re.search(
        rf'<tr id="item-(\d+)">\s*<td data-label="Symbol" class="symbol">'
        rf"{re.escape(symbol)}<",
        response.text,
    )
    assert found, response.text
    return int(found.group(1))


def _cell(html: str, kind: str, item_id: int) -> str:
    found = re.search(rf'<td id="{kind}-{item_id}"[^>]*>(.*?)</td>', html, re.S)
    assert found, f"no {kind} cell for item {item_id}"
    return found.group(1)


def _eventually(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.05)


def test_the_demo_page_shows_prices_changes_and_where_they_come_from(demo: TestClient) -> None:
    item_id = _add(demo, "AAPL", price="150")
    page = demo.get("/watchlist").text
    assert "<strong>Demo prices</strong>" in page
    headers = [
        " ".join(re.sub(r"<[^>]+>", " ", cell).split())
        for cell in re.findall(r"<th[^>]*>(.*?)</th>", page, re.S)
    ]
    assert headers[:6] == ["Symbol", "Name", "Last", "Change", "My price", "Target"]
    last = _cell(page, "last", item_id)
    assert re.search(
        r'<span class="quote-price">\d[\d,]*\.\d\d</span> <span class="currency">'
        r"USD</span>",
        last,
    )
    assert re.search(r'<time datetime="[^"]+">\d\d:\d\d UTC</time>', last)
    # The direction is said in words and agrees with the figure; at the day's first step
    # (just after midnight UTC) the demo price is the previous close, so it is unchanged.
    change = _cell(page, "change", item_id)
    percent = re.search(r"\(([+-]\d+\.\d\d|0\.00)%\)", change)
    assert percent, change
    if percent.group(1) == "0.00":
        assert change.startswith('<span class="visually-hidden">unchanged</span>'), change
        assert "▲" not in change
        assert "▼" not in change
    else:
        arrow, said = ("▲", "up") if percent.group(1).startswith("+") else ("▼", "down")
        assert (
            f'<span aria-hidden="true">{arrow}</span><span class="visually-hidden">{said}</span>'
            in change
        )
    assert 'id="mine-' in page
    assert "from your price" in page
    # Everything was known when the page was made: the next poll is a ttl away.
    assert 'hx-trigger="every 60s, quotes:refresh"' in page


def test_the_poll_answers_each_rows_live_cells_out_of_band(demo: TestClient) -> None:
    first, second = _add(demo, "AAPL"), _add(demo, "BRK.B")
    answer = demo.get("/watchlist/quotes", headers=HTMX)
    assert answer.status_code == 200
    assert "HX-Request" in answer.headers["vary"]
    for item_id in (first, second):
        assert re.search(
            rf'<template><td id="last-{item_id}"[^>]* hx-swap-oob="true">', answer.text
        )
        assert re.search(rf'<td id="change-{item_id}"[^>]* hx-swap-oob="true">', answer.text)
        assert re.search(rf'<span id="mine-{item_id}"[^>]* hx-swap-oob="true">', answer.text)
    assert '<div id="quotes-poll" hidden hx-get="/watchlist/quotes"' in answer.text
    assert "<tr" not in answer.text, "only the live cells: forms and focus stay as they are"
    # The row being edited has the same cells, so the poll always finds its targets.
    editing = demo.get(f"/watchlist/{first}/edit", headers=HTMX).text
    for kind in ("last", "change"):
        assert f'<td id="{kind}-{first}"' in editing
    assert f'<span id="mine-{first}"' in editing
    assert demo.get("/watchlist/quotes", follow_redirects=False).status_code == 303


def test_signed_out_the_poll_sends_you_to_sign_in(
    make_client: ClientFactory, sqlite_url: str
) -> None:
    client = make_client(sqlite_url, quotes_provider="demo")
    answer = client.get("/watchlist/quotes", headers=HTMX)
    assert answer.status_code == 204
    assert answer.headers["hx-redirect"].startswith("/login")


def test_the_page_never_waits_for_a_slow_provider(
    make_client: ClientFactory, sqlite_url: str, finnhub: standin.Finnhub
) -> None:
    client = _finnhub_client(make_client, sqlite_url, finnhub)
    finnhub.delay = 0.5
    item_id = _add(client, "AAPL", name="Apple")  # a name: no lookup to fill it in
    page = client.get("/watchlist").text
    assert "no quote yet" in _cell(page, "last", item_id), "rendered before the answer came"
    assert 'hx-trigger="every 1s, quotes:refresh"' in page, "asks again soon"

    def filled() -> bool:
        return "189.50" in _cell(
            client.get("/watchlist/quotes", headers=HTMX).text, "last", item_id
        )

    _eventually(filled)
    page = client.get("/watchlist").text
    assert "Quotes from Finnhub" in page
    assert "+2.25" in _cell(page, "change", item_id)
    assert "(+1.20%)" in _cell(page, "change", item_id)
    assert 'hx-trigger="every 60s, quotes:refresh"' in page


def test_a_new_symbol_gets_the_providers_name_and_an_unknown_one_is_kept(
    make_client: ClientFactory, sqlite_url: str, finnhub: standin.Finnhub
) -> None:
    client = _finnhub_client(make_client, sqlite_url, finnhub)
    apple = _add(client, "AAPL")
    unknown = _add(client, "NOPE")
    page = client.get("/watchlist").text
    assert re.search(
        rf'<tr id="item-{apple}">.*?<td data-label="Name" class="name">Apple Inc</td>', page, re.S
    )
    assert "no quote from Finnhub" in _cell(page, "last", unknown)
    assert standin.KEY not in page


def test_a_failing_provider_leaves_stale_prices_never_an_error(
    make_client: ClientFactory, sqlite_url: str, finnhub: standin.Finnhub
) -> None:
    client = _finnhub_client(make_client, sqlite_url, finnhub, quotes_ttl=1.0)
    item_id = _add(client, "AAPL")
    assert "189.50" in _cell(client.get("/watchlist").text, "last", item_id)
    finnhub.failing = 500

    def marked_stale() -> bool:
        page = client.get("/watchlist")
        assert page.status_code == 200
        return "stale" in _cell(page.text, "last", item_id)

    _eventually(marked_stale)
    last = _cell(client.get("/watchlist").text, "last", item_id)
    assert "189.50" in last, "the last known price stays"
    assert client.get("/watchlist/quotes", headers=HTMX).status_code == 200


def test_the_api_gives_each_item_its_quote_exactly(
    make_client: ClientFactory, sqlite_url: str, finnhub: standin.Finnhub, provider: Provider
) -> None:
    client = _finnhub_client(make_client, sqlite_url, finnhub)
    token = bearer(provider.token())
    created = client.post("/api/stocks", json={"symbol": "msft"}, headers=token)
    assert created.status_code == 201
    assert created.json()["name"] == "Microsoft Corp"
    client.post("/api/stocks", json={"symbol": "NOPE"}, headers=token)
    listed = client.get("/api/stocks", headers=token)
    items = {item["symbol"]: item for item in json.loads(listed.text, parse_float=Decimal)}
    quote = items["MSFT"]["quote"]
    assert quote["price"] == Decimal("401.10")
    assert quote["previous_close"] == Decimal("405.00")
    assert quote["change"] == Decimal("-3.90")
    assert quote["change_percent"] == Decimal("-0.9630")
    assert (quote["currency"], quote["market_state"], quote["source"]) == (
        "USD",
        "unknown",
        "finnhub",
    )
    assert quote["stale"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", quote["as_of"])
    assert '"change":-3.9,' in listed.text, "exact digits, as JSON numbers"
    assert items["NOPE"]["quote"] is None

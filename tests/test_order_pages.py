"""Targets, sorting and filtering in the pages: column headers that sort, a filter box,
both kept in the URL; target fields in the forms; "Target reached" in the row and a count
in the tab, from the cached quotes (a Finnhub stand-in on loopback)."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.conftest import ClientFactory, sign_in
from tests.quotes import standin

HTMX = {"HX-Request": "true"}


@pytest.fixture
def finnhub() -> Iterator[standin.Finnhub]:
    with standin.serve() as server:
        server.known = {
            "AAPL": ("189.50", "187.25", "Apple Inc"),  # +1.20%
            "MSFT": ("401.10", "405.00", "Microsoft Corp"),  # -0.96%
            "NVDA": ("100.00", "90.00", "NVIDIA"),  # +11.11%
        }
        yield server


@pytest.fixture
def alice(make_client: ClientFactory, database_url: str, finnhub: standin.Finnhub) -> TestClient:
    client = make_client(
        database_url,
        quotes_provider="finnhub",
        quotes_api_key=standin.KEY,
        quotes_base_url=finnhub.base_url,
        quotes_timeout=3.0,
        quotes_calls_per_minute=standin.CALLS_PER_MINUTE,
    )
    sign_in(client)
    return client


def symbols(page: str) -> list[str]:
    return re.findall(r'<td data-label="Symbol" class="symbol">([^<]*)</td>', page)


def add(client: TestClient, symbol: str, url: str = "/watchlist", **fields: str) -> str:
    response = client.post(url, data={"symbol": symbol, **fields}, headers=HTMX)
    assert response.status_code == 200, response.text
    return response.text


def settled(client: TestClient, url: str = "/watchlist") -> str:
    """The page once every quote it shows is in the cache (the first view looks them up)."""
    deadline = time.monotonic() + 10
    while True:
        page = client.get(url).text
        if "no quote yet" not in page or time.monotonic() > deadline:
            return page
        time.sleep(0.05)


def fill(client: TestClient) -> None:
    add(client, "AAPL", name="Apple", price="150", alert_above="189.50")
    add(client, "MSFT", name="microsoft", notes="50% cloud_business")
    add(client, "NVDA", name="Nvidia", price="90.5", alert_below="80")
    settled(client)


def sort_state(page: str) -> dict[str, str]:
    """The column the page says it is sorted by (``aria-sort``), and which way."""
    found = re.findall(r'aria-sort="(\w+)">\s*<a id="sort-(\w+)"', page)
    return {key: state for state, key in found}


def reached_counts(page: str) -> list[str]:
    """What each tab says of its reached targets, as text."""
    pattern = r'<span id="reached-\d+" class="reached-count">(.*?)</span></a>'
    return [
        " ".join(re.sub(r"<[^>]+>", " ", text).split()) for text in re.findall(pattern, page, re.S)
    ]


def link_of(page: str, key: str) -> str:
    found = re.search(rf'<a id="sort-{key}" class="sort" href="([^"]+)"', page)
    assert found, key
    return html.unescape(found.group(1))


def test_headers_sort_and_say_so(alice: TestClient) -> None:
    fill(alice)
    page = alice.get("/watchlist").text
    assert symbols(page) == ["NVDA", "MSFT", "AAPL"]  # newest first
    assert sort_state(page) == {"created_at": "descending"}
    assert link_of(page, "symbol") == "/watchlist?sort=symbol"
    assert link_of(page, "created_at") == "/watchlist?sort=created_at"

    by_symbol = alice.get(link_of(page, "symbol")).text
    assert symbols(by_symbol) == ["AAPL", "MSFT", "NVDA"]
    assert sort_state(by_symbol) == {"symbol": "ascending"}
    assert link_of(by_symbol, "symbol") == "/watchlist?sort=-symbol"  # again: reversed
    reversed_page = alice.get(link_of(by_symbol, "symbol")).text
    assert symbols(reversed_page) == ["NVDA", "MSFT", "AAPL"]
    assert sort_state(reversed_page) == {"symbol": "descending"}
    # Back to the default: a clean URL.
    assert link_of(alice.get("/watchlist?sort=created_at").text, "created_at") == "/watchlist"

    by_change = alice.get("/watchlist?sort=-change_percent").text
    assert symbols(by_change) == ["NVDA", "AAPL", "MSFT"]
    by_distance = alice.get("/watchlist?sort=distance_percent").text
    assert symbols(by_distance) == ["AAPL", "NVDA", "MSFT"]  # 0%, 20%, no target
    assert symbols(alice.get("/watchlist?sort=-distance_percent").text) == ["NVDA", "AAPL", "MSFT"]
    assert symbols(alice.get("/watchlist?sort=price").text) == ["NVDA", "AAPL", "MSFT"]
    assert symbols(alice.get("/watchlist?sort=-last_price").text) == ["MSFT", "AAPL", "NVDA"]
    assert symbols(alice.get("/watchlist?sort=name").text) == ["AAPL", "MSFT", "NVDA"]


def test_the_filter_narrows_the_rows_and_keeps_the_sort(alice: TestClient) -> None:
    fill(alice)
    for q, expected in (("a", ["NVDA", "AAPL"]), ("50%", ["MSFT"]), ("_b", ["MSFT"]), ("%x", [])):
        page = alice.get("/watchlist", params={"q": q}).text
        assert symbols(page) == expected, q
    page = alice.get("/watchlist", params={"q": "a", "sort": "symbol"}).text
    assert symbols(page) == ["AAPL", "NVDA"]
    # The filter form carries the sort; the headers carry the filter.
    assert '<option value="symbol" selected>' in page
    assert link_of(page, "name") == "/watchlist?sort=name&q=a"
    assert 'value="a"' in page
    # Nothing matches: says so, with the way back.
    empty = alice.get("/watchlist", params={"q": "zzz"}).text
    assert "No symbol in “My watchlist” has “zzz” in its symbol, name or notes." in empty
    # The poll asks for the same rows.
    assert 'hx-get="/watchlist/quotes?sort=symbol&amp;q=a"' in page


def test_typing_a_filter_swaps_only_the_table(alice: TestClient) -> None:
    fill(alice)
    table = alice.get(
        "/watchlist", params={"q": "msft"}, headers={**HTMX, "HX-Target": "list-table"}
    ).text
    # The table, and the order menu out of band (a header's sort changes it too).
    menu, _ = table.split('<div id="list-table"', 1)
    assert menu.strip().startswith('<select id="filter-sort" name="sort"')
    assert 'hx-swap-oob="true"' in menu
    assert '<option value="-created_at" selected>Newest first</option>' in menu
    assert "list-tabs" not in table
    assert "add-form" not in table
    assert symbols(table) == ["MSFT"]


def test_a_bad_sort_in_the_page_says_so_and_shows_the_default(alice: TestClient) -> None:
    fill(alice)
    page = alice.get("/watchlist", params={"sort": "colour"})
    assert symbols(page.text) == ["NVDA", "MSFT", "AAPL"]
    assert "Sort must be one of symbol, name, last_price" in html.unescape(page.text)
    long = alice.get("/watchlist", params={"q": "x" * 101}).text
    assert "Q must be at most 100 characters." in long


def test_an_add_from_a_sorted_page_answers_it_sorted(alice: TestClient) -> None:
    add(alice, "MSFT")
    add(alice, "AAPL")
    sorted_add = alice.post(
        "/watchlist",
        data={"symbol": "NVDA"},
        headers={**HTMX, "HX-Current-URL": "http://testserver/watchlist?sort=symbol"},
    ).text
    assert symbols(sorted_add) == ["AAPL", "MSFT", "NVDA"]
    # Without JavaScript the form's own address carries the order.
    page = alice.get("/watchlist?sort=-symbol").text
    assert 'action="/watchlist?sort=-symbol"' in page
    done = alice.post("/watchlist?sort=-symbol", data={"symbol": "AMD"}, follow_redirects=False)
    assert done.status_code == 303


def test_targets_in_the_forms(alice: TestClient) -> None:
    bad = add(alice, "AAPL", alert_above="150", alert_below="150")
    assert "Alert above must be greater than alert_below." in bad
    assert "Alert below must be less than alert_above." in bad
    assert 'value="150"' in bad
    assert symbols(bad) == []
    add(alice, "AAPL", alert_above="200.5", alert_below="150")
    [item_id] = re.findall(r'<tr id="item-(\d+)">', alice.get("/watchlist").text)
    form = alice.get(f"/watchlist/{item_id}/edit", headers=HTMX).text
    assert (
        f'id="edit-{item_id}-alert_above" form="edit-{item_id}" name="alert_above" value="200.5"'
        in form
    )
    assert 'name="alert_below" value="150"' in form
    saved = alice.post(
        f"/watchlist/{item_id}",
        data={"symbol": "AAPL", "alert_above": "", "alert_below": "abc"},
        headers=HTMX,
    ).text
    assert "Alert below must be a number, like 187.25." in saved
    cleared = alice.post(f"/watchlist/{item_id}", data={"symbol": "AAPL"}, headers=HTMX).text
    assert "above 200.5" not in cleared


def test_a_reached_target_shows_in_the_row_and_the_tab(alice: TestClient) -> None:
    fill(alice)
    page = settled(alice)
    aapl = re.search(
        r'<span id="target-\d+" class="target-state reached">(.*?)</span>\s*</td>', page, re.S
    )
    assert aapl, page
    text = " ".join(re.sub(r"<[^>]+>", " ", aapl.group(1)).split())
    assert text == "Target reached at or above 189.50"
    assert 'class="distance">20.00% away' in page  # NVDA: 80 from 100
    assert reached_counts(page) == [", 1 at target"]
    # The poll brings the targets and the tab's count out of band.
    poll = alice.get("/watchlist/quotes", headers=HTMX).text
    assert poll.count('class="target-state') == 3
    assert re.search(r'<span id="reached-\d+" class="reached-count" hx-swap-oob="true">', poll)


def test_another_lists_reached_targets_count_in_its_tab(alice: TestClient) -> None:
    made = alice.post("/lists", data={"name": "Tech"}, follow_redirects=False)
    tech = made.headers["location"]
    add(alice, "MSFT", tech, alert_below="500")
    settled(alice, tech)
    page = settled(alice)
    assert reached_counts(page) == ["", ", 1 at target"]

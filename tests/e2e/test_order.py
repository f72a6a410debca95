"""Price targets, sorting and filtering a list in a real browser: a target reached says
so in the row and in the list's tab; the column headers and the Order menu sort, the
filter narrows as it is typed, and the address bar keeps both, through the back and
forward buttons and a reload. Without JavaScript the same is a plain form and links."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.conftest import (
    CLIENT_ID,
    FIRST,
    Server,
    Watch,
    csp_violations,
    settled,
    sign_in_at_provider,
    start_server,
    stop_server,
    watch_context,
)
from tests.quotes import standin

#: What the stand-in answers besides its own AAPL (189.50, +1.20% today) and MSFT
#: (401.10, -0.96%): symbol -> (price, previous close, name).
MORE_PRICES = {
    "IBM": ("250.00", "240.00", "International Business Machines"),  # +4.17%
    "BAC": ("35.00", "34.00", "Bank of America Corp"),  # +2.94%
}
#: What is added, oldest first: symbol, name, and the fields that set a target.
ITEMS: list[tuple[str, str, dict[str, str]]] = [
    ("AAPL", "Apple Inc.", {"Alert below": "150"}),
    ("MSFT", "Microsoft Corporation", {"Alert above": "400"}),  # at 401.10: reached
    ("IBM", "International Business Machines", {}),
    ("BAC", "Bank of America Corporation", {}),
]


@pytest.fixture
def finnhub() -> Iterator[standin.Finnhub]:
    with standin.serve() as stand_in:
        stand_in.known.update(MORE_PRICES)
        yield stand_in


@pytest.fixture
def quoted(
    tmp_path: Path, oidc_provider: str, mysql_url: str, finnhub: standin.Finnhub
) -> Iterator[Server]:
    """The app on MariaDB with quotes from the Finnhub stand-in: known, fixed prices."""
    running = start_server(
        tmp_path,
        {
            "DATABASE_URL": mysql_url,
            "GOOGLE_CLIENT_ID": CLIENT_ID,
            "GOOGLE_CLIENT_SECRET": "e2e-secret",
            "OIDC_DISCOVERY_URL": oidc_provider,
            "SECRET_KEY": "e2e-secret-key-" + "s" * 32,
            "QUOTES_PROVIDER": "finnhub",
            "QUOTES_API_KEY": standin.KEY,
            "QUOTES_BASE_URL": finnhub.base_url,
            "QUOTES_CALLS_PER_MINUTE": str(standin.CALLS_PER_MINUTE),
        },
    )
    yield running
    stop_server(running)


def add(page: Page, symbol: str, name: str, fields: dict[str, str], *, js: bool) -> None:
    """Add an item through the page's form, and wait for the swap (or the next page)."""
    form = page.locator("#add-form")
    form.get_by_label("Symbol").fill(symbol)
    form.get_by_label("Name").fill(name)
    for label, value in fields.items():
        form.get_by_label(label).fill(value)
    button = form.get_by_role("button", name="Add")
    if js:
        with page.expect_response(lambda response: response.request.method == "POST"):
            button.click()
        settled(page)
    else:
        with page.expect_event("load"):
            button.click()
    expect(
        page.locator("#rows td.symbol", has_text=re.compile(f"^{re.escape(symbol)}$"))
    ).to_be_visible()


def sign_in_and_add(page: Page, server: Server, email: str, *, js: bool) -> None:
    page.goto(f"{server.url}/watchlist")
    sign_in_at_provider(page, email)
    page.wait_for_url(f"{server.url}/watchlist")
    for symbol, name, fields in ITEMS:
        add(page, symbol, name, fields, js=js)


def swap(page: Page, control: Locator, key: str | None = None) -> None:
    """Click ``control`` (or with ``key``, press it there, as from the keyboard) and wait
    for htmx's answer, swapped and settled."""
    with page.expect_response(lambda response: "/quotes" not in response.url):
        if key is None:
            control.click()
        else:
            control.press(key)
    settled(page)


def expect_rows(page: Page, expected: list[str]) -> None:
    expect(page.locator("#rows tr td.symbol")).to_have_text(expected)


def expect_address(page: Page, server: Server, path: str, **query: str) -> None:
    """The address bar shows ``path`` with exactly ``query`` (in any order; an empty
    parameter counts as absent)."""

    def wanted(url: str) -> bool:
        parts = urlsplit(url)
        return (
            f"{parts.scheme}://{parts.netloc}" == server.url
            and parts.path == path
            and dict(parse_qsl(parts.query)) == query
        )

    try:
        page.wait_for_url(wanted, timeout=5_000)
    except PlaywrightTimeoutError:
        raise AssertionError(f"the address is {page.url}, not {path} with {query}") from None


def expect_sorted_by(page: Page, key: str, direction: str) -> None:
    """One header says it is the order (``aria-sort``), the one for ``key``."""
    expect(page.locator("thead th[aria-sort]")).to_have_count(1)
    header = page.locator("thead th").filter(has=page.locator(f"#sort-{key}"))
    expect(header).to_have_attribute("aria-sort", direction)
    expect(header.locator(".sort-mark")).to_have_text("▲" if direction == "ascending" else "▼")


def expect_filter(page: Page, q: str, sort: str) -> None:
    """The filter form shows the order the table is in."""
    expect(page.locator("#filter-q")).to_have_value(q)
    expect(page.locator("#filter-sort")).to_have_value(sort)


def expect_target_reached(page: Page) -> None:
    """MSFT's row says, in words, that its target is reached; no other row does, and the
    list's tab counts it."""
    row = page.locator("#rows tr").filter(has=page.locator("td.symbol", has_text="MSFT"))
    badge = row.locator("td.target span.target-state.reached .badge")
    expect(badge).to_have_text("Target reached")
    expect(badge).to_be_visible()
    expect(row.locator("td.target")).to_contain_text("at or above 400.00")
    expect(page.locator("#rows .target-state.reached")).to_have_count(1)
    tab = page.locator("#list-tabs a[aria-current='page']")
    expect(tab.locator("span.reached-count")).to_have_text(re.compile(r"(^|\W)1 at target$"))
    said = page.get_by_role("link", name=re.compile(rf"^{FIRST} ?, 4 symbols ?, 1 at target$"))
    expect(said).to_have_attribute("aria-current", "page")


def caret(page: Page) -> list[int]:
    selection: list[int] = page.evaluate(
        "[document.activeElement.selectionStart, document.activeElement.selectionEnd]"
    )
    return selection


def test_targets_sort_and_filter(page: Page, context: BrowserContext, quoted: Server) -> None:
    watched = watch_context(context, quoted.url)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in_and_add(page, quoted, "order@example.com", js=True)
    # Every quote in: the page asks again a second after an add.
    expect(page.locator("#rows .pending")).to_have_count(0)
    expect_rows(page, ["BAC", "IBM", "MSFT", "AAPL"])  # newest first
    expect_filter(page, "", "-created_at")
    expect_sorted_by(page, "created_at", "descending")
    expect_target_reached(page)
    aapl = page.locator("#rows tr").filter(has=page.locator("td.symbol", has_text="AAPL"))
    expect(aapl.locator("td.target .target-state")).not_to_have_class(re.compile("reached"))
    expect(aapl.locator("td.target")).to_contain_text("below 150.00")

    # A column's header sorts by it, from the keyboard too: focus stays on the header.
    symbol = page.locator("#sort-symbol")
    swap(page, symbol, "Enter")
    expect_rows(page, ["AAPL", "BAC", "IBM", "MSFT"])
    expect_address(page, quoted, "/watchlist", sort="symbol")
    expect_sorted_by(page, "symbol", "ascending")
    expect(symbol).to_be_focused()
    swap(page, symbol, "Enter")
    expect_rows(page, ["MSFT", "IBM", "BAC", "AAPL"])
    expect_address(page, quoted, "/watchlist", sort="-symbol")
    expect_sorted_by(page, "symbol", "descending")
    expect(symbol).to_be_focused()

    # The Order menu: by the day's change, from the quotes.
    order = page.get_by_label("Order", exact=True)
    order.focus()
    with page.expect_response(lambda response: "/quotes" not in response.url):
        order.select_option(label="Biggest gain today")
    settled(page)
    expect_rows(page, ["IBM", "BAC", "AAPL", "MSFT"])
    expect_address(page, quoted, "/watchlist", sort="-change_percent")
    expect_sorted_by(page, "change_percent", "descending")
    expect(order).to_be_focused()
    expect_target_reached(page)

    # The filter narrows the rows as it is typed, once the typing pauses; the field keeps
    # focus and its caret (it is outside what is swapped).
    search = page.get_by_label("Filter", exact=True)
    search.click()
    with page.expect_response(lambda response: "/quotes" not in response.url):
        search.press_sequentially("corp")
    settled(page)
    expect_rows(page, ["BAC", "MSFT"])
    expect_address(page, quoted, "/watchlist", q="corp", sort="-change_percent")
    expect(search).to_be_focused()
    assert caret(page) == [4, 4]
    expect_sorted_by(page, "change_percent", "descending")
    # The headers keep the filter.
    expect(symbol).to_have_attribute(
        "href", re.compile(r"^/watchlist\?(?=.*sort=symbol)(?=.*q=corp)")
    )

    # The browser's back and forward buttons: each state again, from the server.
    page.go_back()
    expect_address(page, quoted, "/watchlist", sort="-change_percent")
    expect_rows(page, ["IBM", "BAC", "AAPL", "MSFT"])
    expect_filter(page, "", "-change_percent")
    expect_sorted_by(page, "change_percent", "descending")
    settled(page)
    page.go_back()
    expect_address(page, quoted, "/watchlist", sort="-symbol")
    expect_rows(page, ["MSFT", "IBM", "BAC", "AAPL"])
    expect_filter(page, "", "-symbol")
    settled(page)
    page.go_forward()
    page.go_forward()
    expect_address(page, quoted, "/watchlist", q="corp", sort="-change_percent")
    expect_rows(page, ["BAC", "MSFT"])
    expect_filter(page, "corp", "-change_percent")
    expect_sorted_by(page, "change_percent", "descending")
    expect_target_reached(page)
    settled(page)

    # A reload keeps the order and the filter.
    page.reload()
    expect_address(page, quoted, "/watchlist", q="corp", sort="-change_percent")
    expect_rows(page, ["BAC", "MSFT"])
    expect_filter(page, "corp", "-change_percent")
    expect_sorted_by(page, "change_percent", "descending")
    expect_target_reached(page)

    # A filter that matches nothing says so, and how to see every row again.
    with page.expect_response(lambda response: "/quotes" not in response.url):
        search.fill("zzz")
    settled(page)
    expect(page.locator("#rows tr")).to_have_count(0)
    empty = page.locator(".empty-state")
    expect(empty).to_be_visible()
    expect(empty).to_have_text(
        f"No symbol in “{FIRST}” has “zzz” in its symbol, name or notes. Show them all."
    )
    expect(page.locator(".table-wrap")).to_be_hidden()
    expect_address(page, quoted, "/watchlist", q="zzz", sort="-change_percent")
    with page.expect_event("load"):
        empty.get_by_role("link", name="Show them all").click()
    expect_address(page, quoted, "/watchlist", sort="-change_percent")
    expect_rows(page, ["IBM", "BAC", "AAPL", "MSFT"])
    expect_filter(page, "", "-change_percent")
    expect_target_reached(page)

    assert watched.dialogs == []
    assert csp_violations(page) == []
    assert watched.console_errors == []
    assert watched.failed_requests == []
    assert watched.external_requests == []


def test_the_order_menu_and_the_filter_keep_a_headers_order(
    page: Page, context: BrowserContext, quoted: Server
) -> None:
    """The headers and the Order menu are two ways to one order: after a header sorts the
    table, the menu says so, and typing in the filter (which sends the menu's value along)
    keeps the header's order."""
    watched = watch_context(context, quoted.url)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in_and_add(page, quoted, "headers@example.com", js=True)
    symbol = page.locator("#sort-symbol")
    swap(page, symbol)
    swap(page, symbol)
    expect_address(page, quoted, "/watchlist", sort="-symbol")
    expect_rows(page, ["MSFT", "IBM", "BAC", "AAPL"])
    search = page.get_by_label("Filter", exact=True)
    search.click()
    with page.expect_response(lambda response: "/quotes" not in response.url):
        search.press_sequentially("corp")
    settled(page)
    expect_address(page, quoted, "/watchlist", q="corp", sort="-symbol")
    expect_rows(page, ["MSFT", "BAC"])
    expect_sorted_by(page, "symbol", "descending")
    expect_filter(page, "corp", "-symbol")
    assert csp_violations(page) == []
    assert watched.clean(), watched


def shown(page: Page) -> dict[str, Any]:
    """What the list's page shows: its rows, the filter form, and the empty state's words."""
    empty = page.locator(".empty-state:visible")
    return {
        "rows": page.locator("#rows tr td.symbol").all_inner_texts(),
        "q": page.locator("#filter-q").input_value(),
        "sort": page.locator("#filter-sort").input_value(),
        "empty": empty.inner_text() if empty.count() else "",
    }


def expect_as_its_address_says(page: Page) -> None:
    """The page shows what its address shows when loaded afresh."""
    settled(page)
    before = shown(page)
    page.reload()
    assert shown(page) == before, f"{page.url} shows otherwise once reloaded"


def test_adding_keeps_the_order_and_filter_of_the_address(
    page: Page, context: BrowserContext, quoted: Server
) -> None:
    """The add form sits outside the swapped table: after the order and the filter change
    in place, a symbol added shows in the order the address bar says."""
    watched = watch_context(context, quoted.url)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in_and_add(page, quoted, "adding@example.com", js=True)
    page.goto(f"{quoted.url}/watchlist?sort=symbol")
    order = page.get_by_label("Order", exact=True)
    with page.expect_response(lambda response: "/quotes" not in response.url):
        order.select_option(label="Name, Z to A")
    settled(page)
    search = page.get_by_label("Filter", exact=True)
    with page.expect_response(lambda response: "/quotes" not in response.url):
        search.fill("corp")
    settled(page)
    expect_address(page, quoted, "/watchlist", q="corp", sort="-name")
    expect_rows(page, ["MSFT", "BAC"])
    add(page, "XOM", "Exxon Mobil Corporation", {}, js=True)
    expect_rows(page, ["MSFT", "XOM", "BAC"])
    expect_filter(page, "corp", "-name")
    expect_address(page, quoted, "/watchlist", q="corp", sort="-name")
    expect_as_its_address_says(page)
    assert csp_violations(page) == []
    assert watched.clean(), watched


def test_another_list_shows_as_its_address_says(
    page: Page, context: BrowserContext, quoted: Server
) -> None:
    """A filter typed in one list: a new list, and another list's tab, open as their
    address shows them (the address bar and a reload agree with the page)."""
    watched = watch_context(context, quoted.url)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in_and_add(page, quoted, "tabs@example.com", js=True)
    search = page.get_by_label("Filter", exact=True)
    with page.expect_response(lambda response: "/quotes" not in response.url):
        search.fill("corp")
    settled(page)
    expect_rows(page, ["BAC", "MSFT"])
    form = page.locator("form.new-list")
    form.get_by_label("New list name").fill("Energy")
    with page.expect_response(lambda response: response.request.method == "POST"):
        form.get_by_role("button", name="Create list").click()
    expect(page.locator("h1#list-title")).to_have_text("Energy")
    expect_as_its_address_says(page)
    with page.expect_response(lambda response: "/quotes" not in response.url):
        page.locator("#list-tabs li a", has_text=FIRST).click()
    expect(page.locator("h1#list-title")).to_have_text(FIRST)
    expect_as_its_address_says(page)
    assert csp_violations(page) == []
    assert watched.clean(), watched


def test_enter_in_the_filter_asks_once(page: Page, context: BrowserContext, quoted: Server) -> None:
    """Typing and pressing Enter at once, as people do: one request, one step of history."""
    watched = watch_context(context, quoted.url)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in_and_add(page, quoted, "enter@example.com", js=True)
    asked: list[str] = []
    page.on(
        "request",
        lambda request: (
            asked.append(request.url) if urlsplit(request.url).path == "/watchlist" else None
        ),
    )
    search = page.get_by_label("Filter", exact=True)
    search.click()
    search.press_sequentially("bank")
    with page.expect_response(lambda response: "/quotes" not in response.url):
        search.press("Enter")
    settled(page)
    expect_rows(page, ["BAC"])
    expect_address(page, quoted, "/watchlist", q="bank")
    page.wait_for_timeout(600)  # past the typing's debounce: anything else would be sent
    assert asked == [f"{quoted.url}/watchlist?q=bank&sort=-created_at"]
    page.go_back()
    expect_address(page, quoted, "/watchlist")
    expect_rows(page, ["BAC", "IBM", "MSFT", "AAPL"])
    expect_filter(page, "", "-created_at")
    assert csp_violations(page) == []
    assert watched.clean(), watched


@pytest.fixture
def plain(
    browser: Browser, browser_context_args: dict[str, Any], quoted: Server
) -> Iterator[tuple[Page, Watch]]:
    """A page in a context of its own with JavaScript off, and what went wrong in it."""
    context = browser.new_context(
        **browser_context_args, java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    watched = watch_context(context, quoted.url)
    yield context.new_page(), watched
    context.close()


def test_without_javascript_the_filter_is_a_form_and_headers_are_links(
    plain: tuple[Page, Watch], quoted: Server
) -> None:
    page, watched = plain
    sign_in_and_add(page, quoted, "plain@example.com", js=False)
    expect_rows(page, ["BAC", "IBM", "MSFT", "AAPL"])

    # The filter form: typed and chosen, then sent with its Show button.
    page.get_by_label("Filter", exact=True).fill("corp")
    page.get_by_label("Order", exact=True).select_option(label="Name, Z to A")
    with page.expect_event("load"):
        page.locator("form.filter").get_by_role("button", name="Show").click()
    expect_address(page, quoted, "/watchlist", q="corp", sort="-name")
    expect_rows(page, ["MSFT", "BAC"])
    expect_filter(page, "corp", "-name")
    expect_sorted_by(page, "name", "descending")

    # A column's header is a link to the sorted page, the filter kept.
    with page.expect_event("load"):
        page.locator("#sort-symbol").click()
    expect_address(page, quoted, "/watchlist", q="corp", sort="symbol")
    expect_rows(page, ["BAC", "MSFT"])
    expect_filter(page, "corp", "symbol")
    expect_sorted_by(page, "symbol", "ascending")

    assert watched.console_errors == []
    # Going from page to page without JavaScript can cut the last one's favicon short.
    favicon = f"GET {quoted.url}/static/favicon.svg: net::ERR_ABORTED"
    assert [failed for failed in watched.failed_requests if failed != favicon] == []
    assert watched.external_requests == []

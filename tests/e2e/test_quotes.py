"""Live quotes in a real browser: demo prices that move without a reload, and a
provider that starts failing leaves stale prices on the page, never an error."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import (
    CLIENT_ID,
    Server,
    csp_violations,
    sign_in_at_provider,
    start_server,
    stop_server,
    watch_context,
)
from tests.quotes import standin


def _server(tmp_path: Path, oidc_provider: str, **quotes: str) -> Server:
    return start_server(
        tmp_path,
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'watchlist.db'}",
            "GOOGLE_CLIENT_ID": CLIENT_ID,
            "GOOGLE_CLIENT_SECRET": "e2e-secret",
            "OIDC_DISCOVERY_URL": oidc_provider,
            "SECRET_KEY": "e2e-secret-key-" + "s" * 32,
            **quotes,
        },
    )


@pytest.fixture
def demo_server(tmp_path: Path, oidc_provider: str) -> Iterator[Server]:
    running = _server(tmp_path, oidc_provider, QUOTES_PROVIDER="demo", QUOTES_TTL="2")
    yield running
    stop_server(running)


@pytest.fixture
def finnhub() -> Iterator[standin.Finnhub]:
    with standin.serve() as server:
        yield server


@pytest.fixture
def finnhub_server(
    tmp_path: Path, oidc_provider: str, finnhub: standin.Finnhub
) -> Iterator[Server]:
    running = _server(
        tmp_path,
        oidc_provider,
        QUOTES_PROVIDER="finnhub",
        QUOTES_API_KEY=standin.KEY,
        QUOTES_BASE_URL=finnhub.base_url,
        QUOTES_CALLS_PER_MINUTE=str(standin.CALLS_PER_MINUTE),
        QUOTES_TTL="1",
    )
    yield running
    stop_server(running)


def _signed_in_with(page: Page, server: Server, *symbols: str) -> None:
    page.goto(f"{server.url}/watchlist")
    sign_in_at_provider(page, "alice@example.com", "Alice")
    page.wait_for_url(f"{server.url}/watchlist")
    form = page.locator("#add-form")
    for symbol in symbols:
        form.get_by_label("Symbol").fill(symbol)
        with page.expect_response(lambda r: r.request.method == "POST"):
            form.get_by_role("button", name="Add").click()
        expect(page.locator(f"#rows td.symbol:text-is('{symbol}')")).to_be_visible()
    page.evaluate("window.__noReload = true")


def test_demo_quotes_move_without_a_reload(
    page: Page, context: BrowserContext, demo_server: Server
) -> None:
    watched = watch_context(context, demo_server.url)
    _signed_in_with(page, demo_server, "AAPL", "^GSPC")
    expect(page.locator(".quotes-source")).to_contain_text("Demo prices")
    row = page.locator("#rows tr", has_text="^GSPC")
    price = row.locator("td.last .quote-price")
    expect(price).to_have_text(re.compile(r"^\d[\d,]*\.\d\d$"))
    change = row.locator("td.change")
    # ▲ or ▼, and the same said in words for a screen reader.
    expect(change.locator(".visually-hidden")).to_have_text(re.compile(r"^(up|down|unchanged)$"))
    # The time is the reader's own, in their zone and their locale's format ("03:50 PM"
    # here), in place of the server's "15:50 UTC".
    expect(row.locator("td.last time")).to_have_text(re.compile(r"^\d{1,2}:\d\d( [AP]M)?$"))
    first = price.inner_text()
    # The demo walk steps every few seconds, and the page asks again every QUOTES_TTL.
    expect(price).not_to_have_text(first, timeout=30_000)
    assert page.evaluate("window.__noReload") is True, "updated in place"
    # Polling keeps focus where it is.
    row.get_by_role("link", name="Edit ^GSPC").focus()
    first = price.inner_text()
    expect(price).not_to_have_text(first, timeout=30_000)
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Edit ^GSPC"
    assert csp_violations(page) == []
    assert watched.clean(), watched


def test_a_failing_provider_leaves_stale_prices_on_the_page(
    page: Page, context: BrowserContext, finnhub_server: Server, finnhub: standin.Finnhub
) -> None:
    watched = watch_context(context, finnhub_server.url)
    _signed_in_with(page, finnhub_server, "AAPL")
    last = page.locator("#rows tr", has_text="AAPL").locator("td.last")
    expect(last.locator(".quote-price")).to_have_text("189.50")
    finnhub.failing = 500
    expect(last.locator(".stale-marker")).to_have_text("stale", timeout=20_000)
    expect(last.locator(".quote-price")).to_have_text("189.50")
    assert page.evaluate("window.__noReload") is True
    assert watched.clean(), watched

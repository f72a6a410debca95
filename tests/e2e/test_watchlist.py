"""The whole product in a real browser: sign in, manage the watchlist in place, sign out."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import Server, Watch, add, csp_violations, settled, sign_in_at_provider


def rows(page: Page) -> list[str]:
    symbols: list[str] = page.locator("#rows tr td.symbol").all_inner_texts()
    return symbols


def test_sign_in_manage_and_sign_out(page: Page, watch: Watch, server: Server) -> None:
    # Signed out, a deep link leads through sign-in and back to the same URL.
    page.goto(f"{server.url}/watchlist?from=e2e")
    sign_in_at_provider(page, "alice@example.com", "Alice Example")
    page.wait_for_url(f"{server.url}/watchlist?from=e2e")
    expect(page.locator(".empty-state")).to_be_visible()
    expect(page.locator(".who")).to_have_text("Alice Example")
    page.evaluate("window.__noReload = true")

    add(page, "aapl", "Apple", "187.25", "core holding")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.locator("#add-form").get_by_label("Symbol")).to_have_value("")
    expect(page.locator("#add-form").get_by_label("Symbol")).to_be_focused()
    add(page, "MSFT", "Microsoft", "410.5")
    add(page, "^GSPC", "S&P 500")
    expect(page.locator("#rows tr")).to_have_count(3)
    assert rows(page) == ["^GSPC", "MSFT", "AAPL"]
    expect(page.locator(".empty-state")).to_be_hidden()

    # Invalid and duplicate symbols: inline errors, typed values kept, nothing added.
    add(page, "$$$", "Bad", "12")
    expect(page.locator("#add-symbol-error")).to_contain_text("Symbol must be 1 to 20 letters")
    expect(page.locator("#add-form").get_by_label("Name")).to_have_value("Bad")
    expect(page.locator("#add-form").get_by_label("Price")).to_have_value("12")
    add(page, "aapl", "Again")
    expect(page.locator("#add-symbol-error")).to_have_text("Symbol is already in this list.")
    expect(page.locator("#rows tr")).to_have_count(3)

    # Edit in place: an error first, then a save.
    page.get_by_role("link", name="Edit MSFT").click()
    price = page.locator("#rows tr.editing").get_by_label("Price")
    expect(page.locator("#rows tr.editing").get_by_label("Symbol")).to_be_focused()
    price.fill("-1")
    page.locator("#rows tr.editing").get_by_role("button", name="Save").click()
    expect(page.locator("#rows tr.editing .field-error")).to_have_text("Price must be at least 0.")
    settled(page)
    price = page.locator("#rows tr.editing").get_by_label("Price")
    price.fill("415.75")
    price.press("Enter")
    expect(page.locator("#rows tr.editing")).to_have_count(0)
    msft = page.locator("#rows tr", has_text="MSFT")
    expect(msft.locator("td.mine .my-price")).to_have_text("415.75")
    expect(page.get_by_role("link", name="Edit MSFT")).to_be_focused()

    # Cancel restores the row.
    page.get_by_role("link", name="Edit AAPL").click()
    page.locator("#rows tr.editing").get_by_label("Name").fill("changed")
    page.locator("#rows tr.editing").get_by_role("link", name="Cancel").click()
    expect(page.locator("#rows tr", has_text="AAPL").locator("td").nth(1)).to_have_text("Apple")

    # Delete with a confirmation; focus moves to the row that takes the deleted one's place.
    page.get_by_role("button", name="Delete ^GSPC").click()
    expect(page.locator("#rows tr")).to_have_count(2)
    assert watch.dialogs == ["Remove ^GSPC from “My watchlist”?"]
    expect(page.get_by_role("link", name="Edit MSFT")).to_be_focused()
    assert page.evaluate("window.__noReload") is True

    # The same state after a reload.
    page.reload()
    assert rows(page) == ["MSFT", "AAPL"]
    assert csp_violations(page) == []

    # From the keyboard: deleting the last row focuses the one before it; deleting the only
    # one, the add form.
    add(page, "IBM")
    page.get_by_role("button", name="Delete AAPL").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#rows tr")).to_have_count(2)
    expect(page.get_by_role("link", name="Edit MSFT")).to_be_focused()
    for symbol in ("IBM", "MSFT"):
        page.get_by_role("button", name=f"Delete {symbol}").focus()
        page.keyboard.press("Enter")
        settled(page)
    expect(page.locator("#rows tr")).to_have_count(0)
    expect(page.locator(".empty-state")).to_be_visible()
    expect(page.locator("#add-form").get_by_label("Symbol")).to_be_focused()

    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(f"{server.url}/")
    expect(page.get_by_role("link", name="Sign in with Google")).to_be_visible()
    page.goto(f"{server.url}/watchlist")
    sign_in_at_provider(page, "bob@example.com")
    page.wait_for_url(f"{server.url}/watchlist")
    expect(page.locator(".who")).to_have_text("bob")  # no name typed: the local part
    expect(page.locator(".empty-state")).to_be_visible()
    expect(page.locator("#rows tr")).to_have_count(0)
    assert csp_violations(page) == []
    assert watch.clean(), watch


def test_forms_work_without_javascript(
    browser_context_args: dict[str, object], context: BrowserContext, server: Server
) -> None:
    """Adding and deleting fall back to plain form posts and redirects."""
    page = context.browser.new_page(java_script_enabled=False) if context.browser else None
    assert page is not None
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith("http://127.0.0.1:")
            else route.abort()
        ),
    )
    page.goto(f"{server.url}/watchlist")
    sign_in_at_provider(page, "carol@example.com")
    page.wait_for_url(f"{server.url}/watchlist")
    page.locator("#add-form").get_by_label("Symbol").fill("nvda")
    page.locator("#add-form").get_by_role("button", name="Add").click()
    page.wait_for_url(f"{server.url}/watchlist")
    assert page.locator("#rows tr td.symbol").all_inner_texts() == ["NVDA"]
    page.locator("#add-form").get_by_label("Symbol").fill("bad symbol!")
    page.locator("#add-form").get_by_role("button", name="Add").click()
    expect(page.locator("#add-symbol-error")).to_contain_text("must be 1 to 20")
    page.get_by_role("button", name="Delete NVDA").click()
    page.wait_for_url(re.compile(r".*/watchlist$"))
    assert page.locator("#rows tr").count() == 0
    page.close()

"""The development sign-in in a real browser: the app's look with no network, an inline
error, and recently used identities for one-click switching."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Watch, csp_violations, sign_in_at_provider

ACCENT = "rgb(15, 118, 110)"  # app.css's --accent


def sign_out(page: Page, server: Server) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(f"{server.url}/")


def test_the_sign_in_page_looks_like_the_app_offline(
    page: Page, watch: Watch, server: Server
) -> None:
    page.goto(f"{server.url}/watchlist")
    page.wait_for_url("http://127.0.0.1:*/oauth2/authorize*")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator(".dev-banner")).to_contain_text("Development sign-in")
    sign_in = page.get_by_role("button", name="Sign in", exact=True)
    assert sign_in.evaluate("b => getComputedStyle(b).backgroundColor") == ACCENT
    expect(page.get_by_label("Email")).to_be_focused()

    # The browser accepts "dora@localhost"; the provider's rule wants a domain with a dot.
    page.get_by_label("Email").fill("dora@localhost")
    sign_in.click()
    error = page.locator("#sign-in-email-error")
    expect(error).to_have_text("Email must be an address like name@example.com.")
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Email")).to_have_value("dora@localhost")
    assert csp_violations(page) == []

    sign_in_at_provider(page, "dora@example.com", "Dora")
    page.wait_for_url(f"{server.url}/watchlist")
    expect(page.locator(".who")).to_have_text("Dora")
    assert watch.external_requests == []
    assert watch.clean(), watch


def test_recent_identities_switch_in_one_click(page: Page, watch: Watch, server: Server) -> None:
    page.goto(f"{server.url}/watchlist")
    expect(page.locator(".identities")).to_have_count(0)  # nobody yet
    sign_in_at_provider(page, "erin@example.com", "Erin")
    page.wait_for_url(f"{server.url}/watchlist")
    sign_out(page, server)

    page.goto(f"{server.url}/watchlist")
    sign_in_at_provider(page, "frank@example.com")
    page.wait_for_url(f"{server.url}/watchlist")
    expect(page.locator(".who")).to_have_text("frank")
    sign_out(page, server)

    page.goto(f"{server.url}/watchlist")
    page.wait_for_url("http://127.0.0.1:*/oauth2/authorize*")
    recent = page.locator(".identities button")
    expect(recent).to_have_count(2)
    expect(recent.first).to_contain_text("frank@example.com")  # the latest first
    assert csp_violations(page) == []
    page.get_by_role("button", name="Erin erin@example.com").click()
    page.wait_for_url(f"{server.url}/watchlist")
    expect(page.locator(".who")).to_have_text("Erin")
    # Not watch.clean(): leaving the start page at once may abort its favicon's request.
    assert watch.external_requests == []
    assert watch.console_errors == []

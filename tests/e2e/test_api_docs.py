"""The API's docs page in a real browser: Swagger UI under the site's strict CSP, with a
pasted ID token, trying a request against the real server."""

from __future__ import annotations

import httpx2
from playwright.sync_api import Page, expect

from tests.e2e.conftest import CLIENT_ID, Server, Watch, csp_violations
from webapp.devprovider import issue_id_token


def id_token(discovery_url: str, email: str) -> str:
    """An ID token for the e2e server's client, from the loopback provider's code flow."""
    provider = discovery_url.removesuffix("/.well-known/openid-configuration")
    return issue_id_token(provider, email, client_id=CLIENT_ID, client_secret="e2e-secret")


def test_try_an_authorized_request_from_the_docs_page(
    page: Page, watch: Watch, server: Server, oidc_provider: str
) -> None:
    token = id_token(oidc_provider, "dora@example.com")
    response = page.goto(f"{server.url}/api/docs")
    assert response is not None
    assert response.status == 200
    # The site's own policy, unchanged for this page.
    site_policy = httpx2.get(f"{server.url}/").headers["content-security-policy"]
    assert response.headers["content-security-policy"] == site_policy
    assert "script-src 'self';" in site_policy
    assert "style-src 'self';" in site_policy
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Stock Watchlist API")

    for operation in ("getMe", "listStocks", "createStock", "getStock", "putStock"):
        expect(page.locator(f"[id$='-{operation}']")).to_have_count(1)

    # Authorize: paste the token alone, as the scheme's description says.
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    expect(dialog).to_contain_text("ID token")
    dialog.get_by_label("auth-bearer-value").fill(token)
    dialog.get_by_role("button", name="Apply credentials").click()
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # Try it out: GET /api/me with the pasted token reaches the real server.
    me = page.locator("#operations-identity-getMe")
    me.locator(".opblock-summary").click()
    me.get_by_role("button", name="Try it out").click()
    with page.expect_response(f"{server.url}/api/me") as answered:
        me.get_by_role("button", name="Execute").click()
    assert answered.value.status == 200
    assert answered.value.request.headers["authorization"] == f"Bearer {token}"
    live = me.locator(".live-responses-table")
    expect(live.locator("tbody .response-col_status")).to_have_text("200")
    expect(live.locator("tbody .response-col_description")).to_contain_text('"dora@example.com"')

    # The prefilled example body is a valid new item: 201, then it is in the list.
    create = page.locator("#operations-watchlist-createStock")
    create.locator(".opblock-summary").click()
    create.get_by_role("button", name="Try it out").click()
    with page.expect_response(f"{server.url}/api/stocks") as answered:
        create.get_by_role("button", name="Execute").click()
    assert answered.value.status == 201, answered.value.text()
    expect(create.locator(".live-responses-table tbody .response-col_status")).to_have_text("201")
    listing = page.locator("#operations-watchlist-listStocks")
    listing.locator(".opblock-summary").click()
    listing.get_by_role("button", name="Try it out").click()
    listing.get_by_role("button", name="Execute").click()
    expect(
        listing.locator(".live-responses-table tbody .response-col_description")
    ).to_contain_text('"AAPL"')

    # The schemas render too: a new item's rules, fully expanded.
    title = page.locator(".json-schema-2020-12__title", has_text="NewItem")
    new_item = page.locator("section.models article", has=title).first
    new_item.get_by_role("button", name="Expand all").click()
    expect(new_item).to_contain_text("Trimmed and upper-cased")
    expect(new_item).to_contain_text("≤ 255 characters")

    assert csp_violations(page) == []
    assert watch.clean(), watch
